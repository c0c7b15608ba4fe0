"""Fixture run directories for the dashboard tests, written to the results contract.

The performance audit's numbers and `predictions.parquet` come from auditkit's own code
(`evaluate_predictions`, `write_predictions`) on seeded probabilities; the other audits'
results follow docs/audit-outputs.md name for name. One text in every artifact carries a
`<script>` payload so the tests can check that the app escapes what it renders.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from auditkit.api.results import (
    AuditResult,
    DataSummary,
    ErrorInfo,
    Manifest,
    Metric,
    ModelInfo,
    RunResults,
    Stage,
    Table,
    save_results,
)
from auditkit.audits.performance import PerformanceConfig, evaluate_predictions, write_predictions

LABELS = ["negative", "neutral", "positive"]
XSS = '<script>alert("xss")</script>'
TEST_FP = "f" * 64
N_TEST = 60


def test_texts(n: int = N_TEST) -> list[str]:
    texts = [f"headline number {i} about quarterly sales" for i in range(n)]
    texts[1] = f"profits fell {XSS} sharply"
    return texts


def gold(n: int = N_TEST) -> np.ndarray:
    return np.arange(n) % 3


def probabilities(y: np.ndarray, wrong: set[int], seed: int) -> np.ndarray:
    """Confident-ish probabilities whose argmax is gold except on the rows in `wrong`."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet([1, 1, 1], size=len(y)) * 0.3
    for i, label in enumerate(y):
        target = (label + 1) % 3 if i in wrong else label
        probs[i, target] += 0.7
    return probs / probs.sum(axis=1, keepdims=True)


def manifest(test_fp: str = TEST_FP, started: str = "2026-11-24T05:00:00+00:00") -> Manifest:
    return Manifest(
        auditkit_version="0.1.0",
        packages={"torch": "2.13.0+cpu", "transformers": "4.57.6", "captum": None},
        git_commit="0123456789abcdef",
        host="fixture-host",
        platform="Linux",
        python="3.11.7",
        device="cpu",
        torch_threads=2,
        seed=0,
        dataset_fingerprint="d" * 64,
        split_fingerprints={"train": "e" * 64, "test": test_fp},
        model=ModelInfo(
            id="sentence-transformers/all-MiniLM-L6-v2",
            source="packaged",
            location="/x",
            revision=None,
            fingerprint="a" * 64,
            parameters=22714371,
            fine_tuned=True,
        ),
        command="auditkit run suites/finance_sentiment.yaml",
        started_at=started,
        finished_at=started,
    )


def data_summary() -> DataSummary:
    return DataSummary(
        source="csv",
        origin="suites/data/finance_news_sample.csv",
        label_names=LABELS,
        rows_read={"train": 180, "test": N_TEST},
        dropped={},
        duplicates_found=0,
        conflicting_duplicates=0,
        train_test_overlap=0,
        test_split_made=True,
        validation_split_made=False,
        split_sizes={"train": 180, "test": N_TEST},
        class_counts={"test": {"negative": 20, "neutral": 20, "positive": 20}},
        warnings=[],
    )


def performance(run_dir: Path, wrong: set[int], seed: int) -> AuditResult:
    """The real performance audit's result and predictions.parquet on seeded probabilities."""
    y, texts = gold(), test_texts()
    probs = probabilities(y, wrong, seed)
    result = evaluate_predictions(probs, y, LABELS, PerformanceConfig(bootstrap=200), seed=0)
    ctx = SimpleNamespace(
        data=SimpleNamespace(label_names=LABELS), artifact_path=lambda name: run_dir / name
    )
    result.artifacts["predictions"] = write_predictions(ctx, texts, y, probs)
    return result


def _m(value, low=None, high=None, hib=None, unit=None) -> Metric:
    return Metric(value=value, ci_low=low, ci_high=high, higher_is_better=hib, unit=unit)


def _jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path.name


def robustness(run_dir: Path) -> AuditResult:
    r = AuditResult(name="robustness")
    r.metrics = {
        "deepwordbug.clean_accuracy": _m(0.9, 0.8, 0.97, True),
        "deepwordbug.accuracy_under_attack": _m(0.35, 0.22, 0.5, True),
        "deepwordbug.attack_success_rate": _m(0.6111, 0.45, 0.75, False),
        "deepwordbug.perturbed_word_share": _m(0.12, None, None, None),
        "deepwordbug.avg_queries": _m(44.0, unit="queries"),
        "deepwordbug.n_examples": _m(20, unit="examples"),
        "invariance.typo.flip_rate": _m(0.05, 0.01, 0.1, False),
        "adversarial_training.deepwordbug.attack_success_rate": _m(0.4, 0.25, 0.55, False),
    }
    r.tables["attacks"] = Table(
        columns=[
            "recipe",
            "n",
            "clean_accuracy",
            "accuracy_under_attack",
            "attack_success_rate",
            "perturbed_word_share",
            "avg_queries",
            "valid_attack_share",
            "accuracy_under_valid_attack",
            "seconds",
        ],
        rows=[["deepwordbug", 20, 0.9, 0.35, 0.6111, 0.12, 44.0, 0.8, 0.5, 12.5]],
    )
    r.tables["invariance"] = Table(
        columns=["perturbation", "n", "changed", "flips", "flip_rate", "ci_low", "ci_high"],
        rows=[["typo", 60, 58, 3, 0.05, 0.01, 0.1]],
    )
    base = {"recipe": "deepwordbug", "label": 0, "label_name": "negative", "queries": 40}
    rows = [
        {
            **base,
            "phase": "before",
            "idx": 1,
            "original": f"profits fell {XSS} sharply",
            "perturbed": f"profits fe1l {XSS} sharply",
            "pred_before": "negative",
            "pred_after": "positive",
            "proba_before": [0.8, 0.1, 0.1],
            "proba_after": [0.2, 0.1, 0.7],
            "outcome": "succeeded",
            "changed_words": [["fell", "fe1l"]],
            "perturbed_word_share": 0.25,
            "similarity": 0.9,
            "valid": True,
        },
        {
            **base,
            "phase": "before",
            "idx": 4,
            "original": "sales dropped in europe",
            "perturbed": "sales dropped in europe",
            "pred_before": "negative",
            "pred_after": "negative",
            "proba_before": [0.9, 0.05, 0.05],
            "proba_after": [0.9, 0.05, 0.05],
            "outcome": "failed",
            "changed_words": [],
            "perturbed_word_share": 0.0,
            "similarity": 1.0,
            "valid": True,
        },
    ]
    r.artifacts["attacks"] = _jsonl(run_dir / "robustness_attacks.jsonl", rows)
    flips = [
        {
            "perturbation": "typo",
            "idx": 9,
            "original": "orders were flat <b>unchanged</b>",
            "perturbed": "ordres were flat <b>unchanged</b>",
            "label_name": "neutral",
            "pred_before": "neutral",
            "pred_after": "negative",
            "proba_before": [0.1, 0.8, 0.1],
            "proba_after": [0.6, 0.3, 0.1],
        }
    ]
    r.artifacts["invariance_flips"] = _jsonl(run_dir / "robustness_invariance_flips.jsonl", flips)
    return r


def fairness(run_dir: Path) -> AuditResult:
    r = AuditResult(name="fairness")
    r.metrics = {
        "gender.counterfactual_flip_rate": _m(0.0833, 0.03, 0.15, False),
        "gender.demographic_parity_difference": _m(0.07, 0.02, 0.12, False),
        "gender.equalized_odds_difference": _m(0.1, 0.04, 0.18, False),
        "gender.n_probes": _m(48, unit="probes"),
    }
    r.tables["group_metrics"] = Table(
        columns=["attribute", "group", "n", "accuracy", "accuracy_ci_low", "accuracy_ci_high"]
        + ["macro_f1", "macro_f1_ci_low", "macro_f1_ci_high"]
        + [f"selection_rate_{c}" for c in LABELS],
        rows=[
            ["gender", "female", 24, 0.875, 0.75, 0.96, 0.86, 0.7, 0.95, 0.3, 0.4, 0.3],
            ["gender", "male", 24, 0.9167, 0.79, 1.0, 0.9, 0.75, 1.0, 0.35, 0.33, 0.32],
        ],
    )
    r.tables["flip_rates"] = Table(
        columns=[
            "attribute",
            "group_a",
            "group_b",
            "n",
            "flip_rate",
            "ci_low",
            "ci_high",
            "mean_abs_delta_p",
        ],
        rows=[["gender", "female", "male", 24, 0.0833, 0.03, 0.15, 0.04]],
    )
    flips = [
        {
            "attribute": "gender",
            "probe_id": 7,
            "group_a": "female",
            "group_b": "male",
            "text_a": f"She said {XSS} profits rose",
            "text_b": f"He said {XSS} profits rose",
            "pred_a": "neutral",
            "pred_b": "positive",
            "proba_a": [0.1, 0.5, 0.4],
            "proba_b": [0.1, 0.3, 0.6],
            "delta_p": 0.2,
        }
    ]
    r.artifacts["flips"] = _jsonl(run_dir / "fairness_flips.jsonl", flips)
    return r


def explanations(run_dir: Path) -> AuditResult:
    r = AuditResult(name="explanations")
    r.metrics = {
        "integrated_gradients.comprehensiveness": _m(0.31, 0.25, 0.37, True),
        "integrated_gradients.sufficiency": _m(0.12, 0.08, 0.16, False),
        "integrated_gradients.comprehensiveness_vs_random": _m(0.2, 0.14, 0.26, True),
        "integrated_gradients.delta_within_tolerance": _m(0.95),
        "occlusion.comprehensiveness": _m(0.27, 0.2, 0.33, True),
        "random.comprehensiveness": _m(0.11, 0.07, 0.15, True),
    }
    r.tables["faithfulness"] = Table(
        columns=["method", "k", "comprehensiveness", "sufficiency"],
        rows=[
            ["integrated_gradients", "aopc", 0.31, 0.12],
            ["occlusion", "aopc", 0.27, 0.15],
            ["random", "aopc", 0.11, 0.3],
        ],
    )
    words = ["profits", "fell", XSS, "sharply"]
    common = {"idx": 1, "kind": "sample", "pair_id": None, "text": " ".join(words)}
    common |= {"words": words, "target": "negative", "probability": 0.8}
    common |= {"label_name": "negative", "pred_name": "negative", "steps": 20}
    rows = [
        {
            **common,
            "method": "integrated_gradients",
            "scores": [0.1, 0.9, -0.4, 0.2],
            "delta": 0.01,
        },
        {**common, "method": "occlusion", "scores": [0.05, 0.7, 0.0, -0.1], "delta": None},
    ]
    pair = {"pair_id": 1, "target": "positive", "probability": 0.6, "label_name": "positive"}
    pair |= {"method": "integrated_gradients", "delta": 0.02, "steps": 20}
    rows += [
        {**pair, "idx": 2, "kind": "adversarial_original", "text": "sales rose",
         "words": ["sales", "rose"], "scores": [0.1, 0.8], "pred_name": "positive"},
        {**pair, "idx": 2, "kind": "adversarial_perturbed", "text": "sales r0se",
         "words": ["sales", "r0se"], "scores": [0.3, -0.2], "pred_name": "negative"},
    ]  # fmt: skip
    r.artifacts["attributions"] = _jsonl(run_dir / "attributions.jsonl", rows)
    return r


def efficiency() -> AuditResult:
    r = AuditResult(name="efficiency")
    r.metrics = {
        "fp32.bs1.latency_p50_ms": _m(17.9, 17.0, 18.8, False, "ms"),
        "fp32.bs1.throughput_per_s": _m(55.8, None, None, True, "examples/s"),
        "fp32.bs32.latency_p50_ms": _m(510.0, 490.0, 530.0, False, "ms"),
        "fp32.bs32.throughput_per_s": _m(102.0, None, None, True, "examples/s"),
        "int8_dynamic.bs1.latency_p50_ms": _m(10.6, 10.1, 11.2, False, "ms"),
        "int8_dynamic.accuracy_delta": _m(-0.002),
        "peak_memory_mb": _m(812.5, unit="MB"),
        "energy_j_per_1k": _m(431.0, unit="J"),
    }
    r.tables["latency"] = Table(
        columns=[
            "variant",
            "batch_size",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "iqr_ms",
            "iterations",
            "throughput_per_s",
            "tokens_per_s",
        ],
        rows=[
            ["fp32", 1, 17.9, 19.0, 21.0, 1.0, 50, 55.8, 1700.0],
            ["fp32", 32, 510.0, 530.0, 560.0, 12.0, 10, 102.0, 3100.0],
            ["int8_dynamic", 1, 10.6, 11.0, 12.5, 0.5, 50, 94.3, 2900.0],
            ["int8_dynamic", 32, 984.0, 1000.0, 1100.0, 20.0, 10, 66.0, 2000.0],
        ],
    )
    r.tables["tradeoffs"] = Table(
        columns=[
            "variant",
            "batch_size",
            "p50_ms",
            "throughput_per_s",
            "accuracy",
            "accuracy_delta",
            "macro_f1",
            "macro_f1_delta",
            "available",
            "note",
        ],
        rows=[
            ["fp32", 1, 17.9, 55.8, 0.95, 0.0, 0.94, 0.0, True, ""],
            ["int8_dynamic", 1, 10.6, 94.3, 0.948, -0.002, 0.935, -0.005, True, "1.7x faster"],
            ["bf16", 1, None, None, None, None, None, None, False, "no bf16 kernels on this CPU"],
        ],
    )
    r.tables["energy"] = Table(
        columns=["what", "joules", "j_per_1k", "co2e_g", "method", "source"],
        rows=[["inference fp32", 43.1, 431.0, 0.005, "estimated", "codecarbon"]],
    )
    return r


def write_run(
    root: Path,
    run_id: str,
    *,
    audits: tuple[str, ...] = ("performance",),
    wrong: set[int] | None = None,
    seed: int = 0,
    test_fp: str = TEST_FP,
    started: str = "2026-11-24T05:00:00+00:00",
    suite: str = "finance_sentiment",
    failed: dict[str, str] | None = None,
    gate: dict | None = None,
) -> Path:
    """One run directory under root/suite/run_id, with the named audits and their artifacts."""
    run_dir = root / suite / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    results = RunResults(
        run_id=run_id,
        status="ok",
        suite_name=suite,
        suite={"name": suite},
        suite_hash="b" * 16,
        manifest=manifest(test_fp, started),
        data=data_summary(),
        stages=[Stage(name="data", wall_time_s=1.5), Stage(name="train", wall_time_s=30.0)],
    )
    wrong = {3, 7, 11, 20} if wrong is None else wrong
    builders = {
        "performance": lambda: performance(run_dir, wrong, seed),
        "robustness": lambda: robustness(run_dir),
        "fairness": lambda: fairness(run_dir),
        "explanations": lambda: explanations(run_dir),
        "efficiency": efficiency,
        "toxicity": lambda: AuditResult(
            name="toxicity", metrics={"toxic_share": _m(0.015, 0.0, 0.04, False)}
        ),
    }
    for name in audits:
        results.audits[name] = builders[name]()
        results.audits[name].name = name
    for name, message in (failed or {}).items():
        results.audits[name] = AuditResult(
            name=name,
            status="failed",
            error=ErrorInfo(type="AuditkitError", message=message, traceback="Traceback: ..."),
        )
        results.status = "failed"
    save_results(results, run_dir)
    if gate is not None:
        (run_dir / "gate.json").write_text(json.dumps(gate), encoding="utf-8")
    return run_dir


def full_root(root: Path) -> Path:
    """A full run (every audit), a partial failed one, an old-schema one, and a 'latest' link."""
    full = write_run(
        root,
        "20261124-050000-full",
        audits=("performance", "robustness", "fairness", "explanations", "efficiency", "toxicity"),
        started="2026-11-24T05:00:00+00:00",
        gate={
            "passed": True,
            "baseline": {"run_id": "20261124-040000-part"},
            "checks": [{"metric": "performance.accuracy", "verdict": "pass", "fails": False}],
        },
    )
    write_run(
        root,
        "20261124-040000-part",
        audits=("performance",),
        failed={"robustness": "recipe 'textfooler' needs counter-fitted embeddings"},
        started="2026-11-24T04:00:00+00:00",
        gate={
            "passed": False,
            "checks": [
                {"metric": "performance.accuracy", "verdict": "regressed", "fails": True},
                {"metric": "performance.ece", "verdict": "inconclusive", "fails": False},
            ],
        },
    )
    old = root / "finance_sentiment" / "20251001-000000-old"
    old.mkdir(parents=True)
    (old / "results.json").write_text(json.dumps({"schema_version": "0.9", "run_id": "x"}))
    (root / "finance_sentiment" / "latest").symlink_to(full.name, target_is_directory=True)
    return root


def comparable_root(root: Path) -> Path:
    """Two runs on the same test set: the newer one fixes 12 mistakes and makes 1 new one."""
    write_run(root, "20261124-010000-base", wrong=set(range(0, 26, 2)) | {41}, seed=1,
              started="2026-11-24T01:00:00+00:00")  # fmt: skip
    write_run(root, "20261124-020000-cand", wrong={0, 5}, seed=2,
              started="2026-11-24T02:00:00+00:00")  # fmt: skip
    return root

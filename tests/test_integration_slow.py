"""Real MiniLM, real data: the default suite end to end, and a Financial PhraseBank subset."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditkit.api.outputs import check
from auditkit.api.registry import outputs
from auditkit.api.results import load_results
from tests.conftest import FPB_DIR

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def fpb_dir() -> Path:
    folder = Path(os.environ.get("AUDITKIT_FPB_DIR", FPB_DIR))
    if not (folder / "sentences_50agree.csv").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the shared Financial PhraseBank at {folder}")
        pytest.skip(f"Financial PhraseBank not found at {folder} (set AUDITKIT_FPB_DIR)")
    return folder


def test_phrasebank_subset_one_epoch_beats_majority(tmp_path):
    """1200 train / 400 test, 1 epoch: must clearly beat always-neutral (0.59)."""
    from auditkit.runner import run_suite
    from auditkit.suite import load_suite

    suite_file = tmp_path / "fpb.yaml"
    suite_file.write_text(
        f"""
name: fpb_subset
seed: 0
model: {{id: sentence-transformers/all-MiniLM-L6-v2, max_length: 128}}
data:
  source: csv
  path: {fpb_dir()}/sentences_50agree.csv
  text_column: sentence
  labels: [negative, neutral, positive]
  validation_size: 0
  sample: {{train: 1200, test: 400}}
training: {{epochs: 1, batch_size: 16, learning_rate: 1.0e-4, warmup_ratio: 0.1}}
audits:
  performance: {{bootstrap: 1000}}
"""
    )
    results, _ = run_suite(load_suite(suite_file), out_dir=tmp_path / "out")
    assert results.data.split_sizes == {"train": 1200, "test": 400}
    perf = results.audits["performance"]
    majority = perf.metrics["majority_baseline_accuracy"].value
    assert majority == pytest.approx(0.59, abs=0.02)
    acc = perf.metrics["accuracy"]
    # measured 0.708 [0.665, 0.750] (seeded, deterministic on CPU); floor leaves 2.8 points
    assert acc.value >= 0.68, f"accuracy {acc.value:.3f}"
    assert acc.ci_low > majority + 0.05  # clearly, not by noise
    assert perf.metrics["macro_f1"].value >= 0.55
    assert (
        results.training.padded_tokens_per_epoch < results.training.padded_tokens_per_epoch_random
    )


def test_default_suite_end_to_end(tmp_path):
    """The README's main command, on the embedded default suite, through the CLI.

    With AUDITKIT_REUSE_CACHE (set by .ci/run to the cache its first command just filled) the
    three fine-tunes are cache hits, so CI does not train the same models twice.
    """
    env = dict(os.environ)
    if os.environ.get("AUDITKIT_REUSE_CACHE"):
        env["AUDITKIT_CACHE_DIR"] = os.environ["AUDITKIT_REUSE_CACHE"]
    done = subprocess.run(
        [sys.executable, "-m", "auditkit", "run", "suites/finance_sentiment.yaml", "--out",
         str(tmp_path), "--no-progress"],
        cwd=ROOT, capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    run_dirs = [p for p in (tmp_path / "finance_sentiment").iterdir() if p.name != "latest"]
    assert len(run_dirs) == 1
    results = load_results(run_dirs[0] / "results.json")
    assert results.data.split_sizes["test"] == 132
    perf = results.audits["performance"]
    assert perf.metrics["accuracy"].ci_low > perf.metrics["majority_baseline_accuracy"].value
    assert perf.metrics["macro_f1"].value >= 0.75
    assert results.manifest.model.source == "packaged"
    eff = results.audits["efficiency"]
    assert eff.status == "ok", eff.error
    trade = eff.tables["tradeoffs"].records()
    assert {r["variant"] for r in trade if r["available"]} >= {"fp32", "int8_dynamic"}
    assert abs(eff.metrics["int8_dynamic.accuracy_delta"].value) <= 0.05
    train = next(s for s in results.stages if s.name == "train")
    assert train.energy_j > 0 and train.energy_method in ("measured", "estimated")
    fair = results.audits["fairness"]
    assert fair.status == "ok", fair.error
    for attribute in ("gender", "region"):
        flip = fair.metrics[f"{attribute}.counterfactual_flip_rate"]
        assert flip.ci_low <= flip.value <= flip.ci_high
        assert fair.metrics[f"{attribute}.n_probes"].value >= 40
        assert f"mitigation.{attribute}.counterfactual_flip_rate" in fair.metrics
    rob = results.audits["robustness"]
    assert rob.status == "ok", rob.error
    for recipe in ("deepwordbug", "pruthi2019"):
        m = rob.metrics
        assert m[f"{recipe}.accuracy_under_attack"].value <= m[f"{recipe}.clean_accuracy"].value
        assert f"adversarial_training.{recipe}.accuracy_under_attack" in m
    assert {r[0] for r in rob.tables["invariance"].rows} >= {"typos", "names", "numbers"}
    expl = results.audits["explanations"]
    assert expl.status == "ok", expl.error
    assert expl.metrics["integrated_gradients.comprehensiveness_vs_random"].value > 1
    for name, audit in results.audits.items():  # what they wrote is what they declare
        assert check(outputs(name), audit) == [], name

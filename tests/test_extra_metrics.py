"""`performance.extra_metrics`: `evaluate` metrics loaded offline from local modules, with the
built-in metrics' bootstrap resamples; and auditkit's own ECE shipped as an evaluate module."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditkit.errors import SuiteError
from tests.conftest import write_toy_suite

# written for this test: the share of wrong predictions, and plain accuracy
ERROR_RATE = """
import datasets
import evaluate


class ErrorRate(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="share of wrong predictions", citation="", inputs_description="",
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, weight=1.0):
        wrong = sum(p != r for p, r in zip(predictions, references))
        return {"error_rate": weight * wrong / len(references), "n": len(references)}
"""
ACCURACY = ERROR_RATE.replace("ErrorRate", "Accuracy").replace(
    'return {"error_rate": weight * wrong / len(references), "n": len(references)}',
    'return {"accuracy": 1 - wrong / len(references)}',
)


@pytest.fixture(scope="module")
def audited(tmp_path_factory, tiny_bert):
    from auditkit.runner import run_suite
    from auditkit.suite import load_suite

    folder = tmp_path_factory.mktemp("extra")
    (folder / "metrics").mkdir()
    (folder / "metrics" / "error_rate.py").write_text(ERROR_RATE)
    (folder / "accuracy").mkdir()
    (folder / "accuracy" / "accuracy.py").write_text(ACCURACY)
    audits = """  performance:
    bootstrap: 200
    extra_metrics:
      - {metric: metrics/error_rate.py, direction: lower, result: error_rate, kwargs: {weight: 2}}
      - {metric: ./accuracy, direction: higher, name: local_accuracy}
      - {metric: "auditkit:ece", direction: lower, inputs: probabilities}
"""
    suite = load_suite(write_toy_suite(folder, tiny_bert, audits=audits))
    results, run_dir = run_suite(suite, out_dir=folder / "r")
    return results, run_dir


def test_a_local_module_loads_offline_and_matches_a_hand_computation(audited):
    results, run_dir = audited
    perf = results.audits["performance"]
    assert perf.status == "ok", perf.error
    preds = pd.read_parquet(run_dir / perf.artifacts["predictions"])
    wrong = (
        float((preds["pred"] != preds["label"]).mean())
        if "pred" in preds
        else float(1 - preds["correct"].mean())
    )
    m = perf.metrics["extra.error_rate"]
    assert m.value == pytest.approx(2 * wrong)  # kwargs reach compute
    assert m.higher_is_better is False and m.ci_low <= m.value <= m.ci_high


def test_a_local_accuracy_agrees_with_the_built_in_one_on_the_same_resamples(audited):
    perf = audited[0].audits["performance"]
    mine, built_in = perf.metrics["extra.local_accuracy"], perf.metrics["accuracy"]
    assert mine.value == pytest.approx(built_in.value)
    assert (mine.ci_low, mine.ci_high) == pytest.approx((built_in.ci_low, built_in.ci_high))


def test_auditkits_ece_module_is_the_audits_ece(audited):
    perf = audited[0].audits["performance"]
    mine, built_in = perf.metrics["extra.ece"], perf.metrics["ece"]
    assert mine.value == pytest.approx(built_in.value, abs=1e-12)
    assert (mine.ci_low, mine.ci_high) == pytest.approx((built_in.ci_low, built_in.ci_high))


def test_the_shipped_ece_loads_by_path_for_other_projects():
    import evaluate

    from auditkit import evaluate_modules
    from auditkit.metrics import expected_calibration_error

    rng = np.random.default_rng(0)
    probs = rng.dirichlet([1, 1, 1], 200)
    y = rng.integers(0, 3, 200)
    out = evaluate.load(evaluate_modules.path("ece")).compute(
        prediction_scores=probs.tolist(), references=y.tolist(), n_bins=10
    )
    assert out["ece"] == pytest.approx(expected_calibration_error(probs, y, 10), abs=1e-12)


def test_bad_extra_metrics_are_clear_errors(tmp_path, tiny_bert):
    from auditkit.suite import load_suite

    audits = (
        "  performance:\n    extra_metrics:\n      - {metric: nope/missing.py, direction: higher}\n"
    )
    with pytest.raises(SuiteError, match=r"extra_metrics\[0\].metric: 'nope/missing.py'"):
        load_suite(write_toy_suite(tmp_path, tiny_bert, audits=audits))
    audits = ("  performance:\n    extra_metrics:\n      - {metric: a.py, direction: higher}\n"
              "      - {metric: b/a.py, direction: lower}\n")  # fmt: skip
    with pytest.raises(SuiteError, match="repeat a name"):
        load_suite(write_toy_suite(tmp_path, tiny_bert, audits=audits))


@pytest.mark.network
def test_a_hub_metric_by_name():
    import evaluate

    assert evaluate.load("accuracy").compute(predictions=[0, 1], references=[0, 0]) == {
        "accuracy": 0.5
    }

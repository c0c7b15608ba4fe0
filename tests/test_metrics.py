"""Metrics against scikit-learn and hand-computed values; the bootstrap is seeded and sane."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss

from auditkit import metrics as M
from auditkit.audits.performance import PerformanceConfig, evaluate_predictions


@pytest.fixture
def preds():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 500)
    logits = rng.normal(size=(500, 3)) + 2.0 * np.eye(3)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return probs, y


def test_confusion_and_f1_match_sklearn(preds):
    probs, y = preds
    pred = probs.argmax(1)
    cm = M.confusion_counts(y, pred, 3)
    np.testing.assert_array_equal(cm, confusion_matrix(y, pred, labels=[0, 1, 2]))
    out = M.f1_from_confusion(cm)
    assert out["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert out["weighted_f1"] == pytest.approx(f1_score(y, pred, average="weighted"))
    assert out["accuracy"] == pytest.approx(accuracy_score(y, pred))


def test_batched_confusion_equals_one_at_a_time(preds):
    probs, y = preds
    pred = probs.argmax(1)
    idx = M.bootstrap_indices(len(y), 7, seed=3)
    batched = M.f1_from_confusion(M.confusion_counts(y, pred, 3, idx))["macro_f1"]
    single = [
        f1_score(y[i], pred[i], labels=[0, 1, 2], average="macro", zero_division=0) for i in idx
    ]
    np.testing.assert_allclose(batched, single)


def test_f1_of_absent_class_is_zero_like_sklearn():
    y, pred = np.array([0, 0, 1, 1]), np.array([0, 0, 1, 0])
    out = M.f1_from_confusion(M.confusion_counts(y, pred, 3))
    expected = f1_score(y, pred, labels=[0, 1, 2], average="macro", zero_division=0)
    assert out["macro_f1"] == pytest.approx(expected)


def test_ece_hand_computed():
    # two bins used (of 10): conf 0.95 x2 (one right) and conf 0.65 x2 (both right)
    probs = np.array([[0.95, 0.05], [0.95, 0.05], [0.35, 0.65], [0.35, 0.65]])
    y = np.array([0, 1, 1, 1])
    # bin 9: acc 0.5, conf 0.95 -> gap 0.45, weight 0.5; bin 6: acc 1, conf 0.65 -> 0.35, 0.5
    assert M.expected_calibration_error(probs, y, n_bins=10) == pytest.approx(
        0.5 * 0.45 + 0.5 * 0.35
    )


def test_batched_ece_equals_loop(preds):
    probs, y = preds
    idx = M.bootstrap_indices(len(y), 5, seed=1)
    batched = M.expected_calibration_error(probs, y, 15, idx)
    loop = [M.expected_calibration_error(probs[i], y[i], 15) for i in idx]
    np.testing.assert_allclose(batched, loop)


def test_confidence_of_one_lands_in_last_bin():
    assert M.calibration_bins(np.array([0.0, 0.5, 1.0]), 15).tolist() == [0, 7, 14]


def test_brier_and_nll(preds):
    probs, y = preds
    onehot = np.eye(3)[y]
    assert M.brier_score(probs, y) == pytest.approx(np.mean(np.sum((probs - onehot) ** 2, 1)))
    assert M.negative_log_likelihood(probs, y) == pytest.approx(
        log_loss(y, probs, labels=[0, 1, 2])
    )
    perfect = np.eye(3)[y]
    assert M.brier_score(perfect, y) == 0.0


def test_bootstrap_is_seeded_and_brackets_the_estimate(preds):
    probs, y = preds
    correct = (probs.argmax(1) == y).astype(float)
    a = M.bootstrap(lambda idx: correct[idx].mean(1), len(y), n_resamples=1000, seed=0)
    b = M.bootstrap(lambda idx: correct[idx].mean(1), len(y), n_resamples=1000, seed=0)
    assert a[:2] == b[:2]
    assert a[0] < correct.mean() < a[1]
    # normal approximation of a proportion's 95% interval half-width
    half = 1.96 * np.sqrt(correct.mean() * (1 - correct.mean()) / len(y))
    assert (a[1] - a[0]) / 2 == pytest.approx(half, rel=0.15)
    assert len(a[2]) == 1000


def test_bootstrap_chunks_large_inputs_identically_shaped():
    values = np.arange(50_000) % 2
    low, high, dist = M.bootstrap(lambda idx: values[idx].mean(1), len(values), n_resamples=200)
    assert dist.shape == (200,) and low < 0.5 < high


def test_evaluate_predictions_metrics_and_tables(preds):
    probs, y = preds
    result = evaluate_predictions(
        probs, y, ["a", "b", "c"], PerformanceConfig(bootstrap=200), seed=0
    )
    m = result.metrics
    pred = probs.argmax(1)
    assert m["accuracy"].value == pytest.approx(accuracy_score(y, pred))
    assert m["accuracy"].ci_low < m["accuracy"].value < m["accuracy"].ci_high
    assert m["macro_f1"].value == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["ece"].higher_is_better is False and m["accuracy"].higher_is_better is True
    cm = result.tables["confusion_matrix"]
    assert cm.columns == ["gold", "a", "b", "c"]
    assert [row[1:] for row in cm.rows] == confusion_matrix(y, pred).tolist()
    assert sum(r[2] for r in result.tables["reliability"].rows) == len(y)
    per_class = result.tables["per_class"].records()
    assert [r["support"] for r in per_class] == np.bincount(y).tolist()
    assert result.warnings == []


def test_evaluate_predictions_warns_when_no_better_than_majority():
    y = np.array([0] * 80 + [1] * 20)
    probs = np.tile([0.9, 0.1], (100, 1))
    result = evaluate_predictions(probs, y, ["a", "b"], PerformanceConfig(bootstrap=200), seed=0)
    assert result.metrics["majority_baseline_accuracy"].value == pytest.approx(0.8)
    assert any("majority-class baseline" in w for w in result.warnings)
    assert any("never predicts ['b']" in w for w in result.warnings)

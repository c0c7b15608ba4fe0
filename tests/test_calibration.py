"""Temperature scaling in the performance audit (auditkit/audits/performance/calibration.py)."""

from __future__ import annotations

import numpy as np
import pytest

from auditkit import metrics as M
from auditkit.api.results import load_results
from auditkit.audits.performance import calibration as C


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def overconfident():
    """Labels drawn from softmax(z); the "model" says softmax(3 z): three times too sure."""
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1.5, size=(6000, 3))
    y = np.array([rng.choice(3, p=p) for p in _softmax(z)])
    return _softmax(3 * z), y


def test_fits_the_temperature_that_undoes_overconfidence(overconfident):
    probs, y = overconfident
    t = C.fit_temperature(probs[:3000], y[:3000])
    assert t == pytest.approx(3.0, rel=0.1)
    after = C.scale(probs[3000:], t)
    before_ece = M.expected_calibration_error(probs[3000:], y[3000:])
    assert M.expected_calibration_error(after, y[3000:]) < before_ece / 3
    assert (after.argmax(1) == probs[3000:].argmax(1)).all()  # accuracy cannot change


def test_real_model_logits_times_three_need_three_times_the_temperature(trained_toy_handle):
    """NLL(scale(p³, T)) = NLL(scale(p, T/3)): the fit must find exactly that factor.

    The toy model gets every test sentence right, which would send T to its lower bound, so a
    fifth of the gold labels are flipped (seeded): the optimum is then inside the bounds."""
    handle, bundle = trained_toy_handle
    texts, y = bundle.test["text"], np.asarray(bundle.test["label"])
    probs = handle.predict_proba(texts)
    rng = np.random.default_rng(0)
    flip = rng.random(len(y)) < 0.2
    y = np.where(flip, (y + 1 + rng.integers(0, 2, len(y))) % probs.shape[1], y)
    sharp = C.scale(probs, 1 / 3)  # the same model with its logits multiplied by 3
    t0, t3 = C.fit_temperature(probs, y), C.fit_temperature(sharp, y)
    assert 0.06 < t0 < 19  # an interior optimum, not a bound
    assert t3 / t0 == pytest.approx(3.0, rel=1e-3)
    np.testing.assert_allclose(C.scale(sharp, t3), C.scale(probs, t0), atol=1e-4)
    assert (C.scale(sharp, t3).argmax(1) == probs.argmax(1)).all()


def test_without_validation_each_half_is_scaled_by_the_other_halfs_fit(overconfident):
    probs, y = overconfident[0][:400], overconfident[1][:400]
    fitted = C.calibrate(probs, y, None, None, seed=3)
    assert "cross-fitted" in fitted.how and len(fitted.temperatures) == 2
    order = np.random.default_rng(3).permutation(400)
    first, second = order[:200], order[200:]
    t_first, t_second = fitted.temperatures
    assert t_first == pytest.approx(C.fit_temperature(probs[first], y[first]))
    np.testing.assert_allclose(fitted.probs[second], C.scale(probs[second], t_first))
    np.testing.assert_allclose(fitted.probs[first], C.scale(probs[first], t_second))
    with_val = C.calibrate(probs, y, probs[:100], y[:100], seed=3)
    assert with_val.temperatures == (pytest.approx(C.fit_temperature(probs[:100], y[:100])),)


def test_changes_carry_paired_intervals(overconfident):
    probs, y = overconfident[0][:1000], overconfident[1][:1000]
    after = C.scale(probs, 3.0)
    found = {c.metric: c for c in C.changes(probs, after, y, bins=15, n_resamples=300,
                                            seed=0, confidence=0.95)}  # fmt: skip
    assert set(found) == {"ece", "brier", "nll"}
    for c in found.values():
        assert c.ci_kind == "paired" and c.after < c.before
        assert c.ci_low <= c.delta <= c.ci_high < 0  # a real improvement, clear of zero
    assert found["nll"].before == pytest.approx(M.negative_log_likelihood(probs, y))


@pytest.mark.slow
def test_the_audit_reports_before_and_after_and_leaves_accuracy(toy_suite, tmp_path):
    from auditkit.progress import Progress
    from auditkit.runner import run_suite
    from auditkit.suite import load_suite

    suite = load_suite(toy_suite())
    results, run_dir = run_suite(suite, out_dir=tmp_path, progress=Progress(False))
    perf = load_results(run_dir).audits["performance"]
    assert perf.status == "ok", perf.error
    t = perf.metrics["calibration.temperature"]
    assert results.data.split_sizes["validation"] > 0  # so the fit used it, not test halves
    assert 0.05 <= t.value <= 20 and t.description.startswith("fitted on the validation split")
    rows = {r["metric"]: r for r in perf.tables["calibration_changes"].records()}
    assert set(rows) == {"ece", "brier", "nll"}
    assert rows["ece"]["before"] == pytest.approx(perf.metrics["ece"].value)
    assert rows["ece"]["after"] == pytest.approx(perf.metrics["calibration.ece"].value)
    # NLL is what the fit minimises on validation; on test it may not drop, but it is reported
    assert rows["nll"]["before"] == pytest.approx(perf.metrics["nll"].value)

    off = load_suite(toy_suite(audits="  performance:\n    calibration: {temperature: false}\n"))
    results, _ = run_suite(off, out_dir=tmp_path / "off", progress=Progress(False))
    metrics = results.audits["performance"].metrics
    assert not [k for k in metrics if k.startswith("calibration.")]
    assert metrics["accuracy"].value == perf.metrics["accuracy"].value  # same model, same test


def test_classwise_ece_matches_a_hand_computation():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1]])
    y = np.array([0, 1, 1, 2])
    bins = 2  # [0, .5) and [.5, 1]
    expected = []
    for c in range(3):
        p, hit = probs[:, c], (y == c).astype(float)
        gap = 0.0
        for low, high in ((0, 0.5), (0.5, 1.01)):
            m = (p >= low) & (p < high)
            gap += abs((hit[m] - p[m]).sum())
        expected.append(gap / len(y))
    np.testing.assert_allclose(M.classwise_ece(probs, y, bins), expected)
    idx = np.array([[0, 1, 2, 3], [3, 3, 0, 1]])
    batched = M.classwise_ece(probs, y, bins, idx)
    np.testing.assert_allclose(batched[0], expected)
    np.testing.assert_allclose(batched[1], M.classwise_ece(probs[idx[1]], y[idx[1]], bins))

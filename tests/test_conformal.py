"""Split conformal prediction sets (auditkit/conformal.py), in the performance audit, per
fairness group, and `calibration.apply` (the temperature stored in the model's config)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from auditkit import conformal as C


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _exchangeable(rng, n: int, k: int = 4, spread: float = 1.5):
    """Probabilities and labels drawn from them: one exchangeable sample."""
    p = _softmax(rng.normal(0, spread, size=(n, k)))
    y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    return p, np.minimum(y, k - 1)


@pytest.mark.parametrize("score", C.SCORES)
def test_sets_are_exactly_crepes_non_smoothed_sets(score):
    """The threshold rule equals crepes' p-value rule ((#cal >= s) + 1) / (n + 1) >= alpha.
    Sizes where alpha (n + 1) is a whole number are left out: crepes compares against
    1 - (1 - alpha), which differs from alpha in the last bit."""
    from crepes import ConformalClassifier

    rng = np.random.default_rng(0)
    for n in (18, 21, 50, 98, 137):
        for alpha in (0.05, 0.1, 0.2, 0.3):
            p, y = _exchangeable(rng, n + 200, k=3)
            cal = C.calibrate(p[:n], y[:n], score, alpha)
            scores_cal = C.nonconformity(p[:n], score)[np.arange(n), y[:n]]
            theirs = (
                ConformalClassifier()
                .fit(scores_cal)
                .predict_set(C.nonconformity(p[n:], score), confidence=1 - alpha, smoothing=False)
            )
            np.testing.assert_array_equal(cal.sets(p[n:]), theirs.astype(bool), f"{n} {alpha}")


@pytest.mark.parametrize("score", C.SCORES)
@pytest.mark.parametrize("alpha", [0.1, 0.05])
def test_coverage_over_many_splits_is_between_the_two_conformal_bounds(score, alpha):
    """Vovk's bounds for continuous scores: 1 - alpha <= E[coverage] <= 1 - alpha + 1/(n+1).
    Over 2000 random splits the mean's standard error is about 0.0007; the slack is 0.003."""
    rng = np.random.default_rng(1)
    n_cal, n_test, slack = 100, 200, 0.003
    covered = []
    for _ in range(2000):
        p, y = _exchangeable(rng, n_cal + n_test)
        cal = C.calibrate(p[:n_cal], y[:n_cal], score, alpha)
        covered.append(cal.sets(p[n_cal:])[np.arange(n_test), y[n_cal:]].mean())
    mean = float(np.mean(covered))
    assert 1 - alpha - slack <= mean <= 1 - alpha + 1 / (n_cal + 1) + slack


def test_a_model_that_ignores_its_input_still_gets_coverage_by_bigger_sets():
    """Uninformative probabilities: coverage holds anyway, paid for with set size."""
    rng = np.random.default_rng(2)
    k, n = 3, 3000
    p = _softmax(rng.normal(0, 0.05, size=(n, k)))
    y = rng.integers(0, k, size=n)
    cal = C.calibrate(p[:1000], y[:1000], "lac", 0.1)
    found = C.coverage(cal.sets(p[1000:]), y[1000:], n_resamples=200)
    assert found.coverage >= 0.88 and found.set_size > 2.5  # about 0.9 * 3 labels
    assert found.coverage_ci[0] <= found.coverage <= found.coverage_ci[1]


def test_aps_scores_are_the_mass_of_every_class_at_least_as_likely():
    p = np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]])
    np.testing.assert_allclose(C.nonconformity(p, "aps"), [[0.5, 0.8, 1.0], [1.0, 0.6, 0.9]])
    np.testing.assert_allclose(C.nonconformity(p, "lac"), 1 - p)
    with pytest.raises(ValueError, match="unknown conformal score"):
        C.nonconformity(p, "raps")


def test_smaller_alpha_gives_nested_larger_sets():
    rng = np.random.default_rng(3)
    p, y = _exchangeable(rng, 600)
    for score in C.SCORES:
        loose = C.calibrate(p[:300], y[:300], score, 0.2).sets(p[300:])
        tight = C.calibrate(p[:300], y[:300], score, 0.05).sets(p[300:])
        assert (tight | ~loose).all()  # every set at 0.2 is inside its set at 0.05


def test_too_few_calibration_examples_give_full_sets():
    p, y = _exchangeable(np.random.default_rng(4), 30, k=3)
    assert C.min_calibration(0.05) == 20 and C.min_calibration(0.1) == 10
    cal = C.calibrate(p[:19], y[:19], "lac", 0.05)
    assert np.isinf(cal.threshold) and cal.sets(p[19:]).all()
    assert np.isfinite(C.calibrate(p[:20], y[:20], "lac", 0.05).threshold)


def test_cross_fit_calibrates_each_half_on_the_other():
    p, y = _exchangeable(np.random.default_rng(5), 400)
    sets, (first, second) = C.cross_fit_sets(p, y, "aps", 0.1, seed=7)
    a, b = C.halves(400, 7)
    np.testing.assert_array_equal(sets[b], C.calibrate(p[a], y[a], "aps", 0.1).sets(p[b]))
    np.testing.assert_array_equal(sets[a], C.calibrate(p[b], y[b], "aps", 0.1).sets(p[a]))
    assert first.n == second.n == 200


def test_coverage_intervals_are_exact_binomial_ones():
    sets = np.zeros((40, 3), dtype=bool)
    sets[:, 0] = True
    y = np.zeros(40, dtype=np.int64)
    found = C.coverage(sets, y, n_resamples=200)
    assert found.coverage == 1.0 and found.singleton_share == 1.0 and found.set_size == 1.0
    low, high = found.coverage_ci
    assert high == 1.0 and low == pytest.approx(0.025 ** (1 / 40))  # Clopper-Pearson at k = n


def test_alpha_keys_name_each_level_once():
    keys = {a: C.alpha_key(a) for a in (0.1, 0.05, 0.025, 0.2, 0.01, 0.005, 0.15)}
    assert keys == {0.1: "a10", 0.05: "a05", 0.025: "a025", 0.2: "a20", 0.01: "a01",
                    0.005: "a005", 0.15: "a15"}  # fmt: skip


def test_config_refuses_bad_levels_and_apply_without_a_fit():
    from pydantic import ValidationError

    from auditkit.audits.performance.config import PerformanceConfig

    with pytest.raises(ValidationError, match="between 0 and 1"):
        PerformanceConfig(conformal={"alphas": [0.1, 1.5]})
    with pytest.raises(ValidationError, match="repeat"):
        PerformanceConfig(conformal={"alphas": [0.1, 0.10]})
    with pytest.raises(ValidationError, match=r"needs calibration\.temperature"):
        PerformanceConfig(calibration={"temperature": False, "apply": True})


def test_fairness_coverage_per_group_matches_a_hand_count():
    from auditkit.audits.fairness.coverage import by_group

    cal = C.Calibration("lac", 0.1, threshold=0.5, n=0)  # classes with p >= 0.5
    # 4 probes x 2 groups: group b's variant of probes 2 and 3 drops the gold class
    probs = np.array(
        [
            [[0.9, 0.1], [0.8, 0.2]],
            [[0.2, 0.8], [0.3, 0.7]],
            [[0.6, 0.4], [0.4, 0.6]],
            [[0.7, 0.3], [0.2, 0.8]],
        ]
    )
    y = np.array([0, 1, 0, 0])
    found = by_group("gender", probs, y, ["a", "b"], [cal], {"n_resamples": 200, "seed": 0})
    rows = {r[1]: r for r in found.rows}
    assert rows["a"][5] == 1.0 and rows["b"][5] == 0.5
    gap = found.metrics["gender.conformal.lac.a10.coverage_gap"]
    assert gap.value == 0.5 and gap.ci_low <= 0.5 <= gap.ci_high
    flat = by_group(
        "column.desk", probs[:, 0], y, ["x", "x", "y", "y"], [cal], {"n_resamples": 200}
    )
    assert [r[5] for r in flat.rows] == [1.0, 1.0]
    assert flat.metrics["column.desk.conformal.lac.a10.coverage_gap"].value == 0.0


def _context(handle, bundle, suite, tmp_path, results=None):
    from auditkit.api.audit import AuditContext

    return AuditContext(model=handle, data=bundle, suite=suite, run_dir=tmp_path, seed=0,
                        device="cpu", results=results)  # fmt: skip


@pytest.fixture
def own_handle(trained_toy_handle, tmp_path):
    """A copy of the trained toy model, so a stored temperature stays in this test."""
    from auditkit.models import ModelHandle
    from auditkit.suite import load_suite
    from tests.conftest import build_tiny_bert, write_toy_suite

    handle, bundle = trained_toy_handle
    mine = ModelHandle(copy.deepcopy(handle.model), handle.tokenizer,
                       label_names=handle.label_names, max_length=handle.max_length)  # fmt: skip
    suite = load_suite(write_toy_suite(tmp_path, build_tiny_bert(tmp_path / "tiny")))
    return mine, bundle, suite


def test_the_audit_reports_sets_whose_coverage_it_can_recount(own_handle, tmp_path):
    from auditkit.audits.performance.audit import PerformanceAudit
    from auditkit.audits.performance.config import PerformanceConfig

    handle, bundle, suite = own_handle
    result = PerformanceAudit(PerformanceConfig(bootstrap=200)).run(
        _context(handle, bundle, suite, tmp_path)
    )
    y = np.asarray(bundle.test["label"])
    probs = handle.predict_proba(bundle.test["text"])
    val_probs = handle.predict_proba(bundle.validation["text"])
    y_val = np.asarray(bundle.validation["label"])
    rows = result.tables["conformal"].records()
    assert [(r["score"], r["alpha"]) for r in rows] == [
        ("lac", 0.1), ("lac", 0.05), ("aps", 0.1), ("aps", 0.05)
    ]  # fmt: skip
    for r in rows:
        cal = C.calibrate(val_probs, y_val, r["score"], r["alpha"])
        sets = cal.sets(probs)
        key = f"conformal.{r['score']}.{C.alpha_key(r['alpha'])}"
        assert r["threshold"] == pytest.approx(cal.threshold)
        assert result.metrics[f"{key}.coverage"].value == pytest.approx(
            sets[np.arange(len(y)), y].mean()
        )
        assert result.metrics[f"{key}.set_size"].value == pytest.approx(sets.sum(1).mean())
        per_class = [
            c for c in result.tables["conformal_by_class"].records()
            if (c["score"], c["alpha"]) == (r["score"], r["alpha"])
        ]  # fmt: skip
        weighted = sum(c["coverage"] * c["n"] for c in per_class if c["n"]) / len(y)
        assert weighted == pytest.approx(r["coverage"])  # the classes add up to the whole
        worst = min(c["coverage"] for c in per_class if c["n"])
        assert result.metrics[f"{key}.worst_class_coverage"].value == worst


def test_apply_stores_the_temperature_so_later_queries_are_calibrated(own_handle, tmp_path):
    """calibration.apply: predict_proba and the explanations' forward use T afterwards;
    accuracy (the argmax) does not move, and the model's cached files are not touched."""
    import torch

    from auditkit.audits.explanations.methods import ProbabilityForward
    from auditkit.audits.performance import calibration as cal
    from auditkit.audits.performance.audit import PerformanceAudit
    from auditkit.audits.performance.config import PerformanceConfig
    from auditkit.models import temperature_of

    handle, bundle, suite = own_handle
    texts = list(bundle.test["text"])
    raw = handle.predict_proba(texts)
    config = PerformanceConfig(bootstrap=200, calibration={"apply": True})
    result = PerformanceAudit(config).run(_context(handle, bundle, suite, tmp_path))

    t = result.metrics["calibration.temperature"].value
    assert temperature_of(handle.model) == pytest.approx(t) != 1.0
    assert result.config["calibration"]["applied_temperature"] == pytest.approx(t)
    after = handle.predict_proba(texts)
    np.testing.assert_allclose(after, cal.scale(raw, t), atol=2e-5)
    assert (after.argmax(1) == raw.argmax(1)).all()
    ids = handle.tokenizer(texts[:4], padding=True, return_tensors="pt")
    with torch.no_grad():
        forward = ProbabilityForward(handle.model)(ids["input_ids"], ids["attention_mask"])
    np.testing.assert_allclose(forward.numpy(), after[:4], atol=2e-5)

    import pandas as pd

    written = pd.read_parquet(tmp_path / result.artifacts["predictions"])
    np.testing.assert_allclose(written["confidence"], after.max(1), atol=2e-5)
    assert result.metrics["ece"].value == pytest.approx(
        PerformanceAudit(PerformanceConfig(bootstrap=200))
        .run(_context(_uncalibrated(handle), bundle, suite, tmp_path / "raw"))
        .metrics["ece"]
        .value
    )  # the audit's own `ece` is the model's before scaling, with or without apply


def _uncalibrated(handle):
    from auditkit.models import TEMPERATURE_ATTR, ModelHandle

    model = copy.deepcopy(handle.model)
    setattr(model.config, TEMPERATURE_ATTR, None)
    return ModelHandle(model, handle.tokenizer, label_names=handle.label_names,
                       max_length=handle.max_length)  # fmt: skip


def test_apply_warns_when_other_audits_already_ran(own_handle, tmp_path):
    from auditkit.api.results import AuditResult, RunResults
    from auditkit.audits.performance.audit import PerformanceAudit
    from auditkit.audits.performance.config import PerformanceConfig

    handle, bundle, suite = own_handle
    earlier = RunResults.model_construct(audits={"fairness": AuditResult(name="fairness")})
    config = PerformanceConfig(bootstrap=200, calibration={"apply": True})
    result = PerformanceAudit(config).run(_context(handle, bundle, suite, tmp_path, earlier))
    assert any("fairness ran before performance" in w for w in result.warnings)

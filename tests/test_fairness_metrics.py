"""fairlearn group metrics and counterfactual flips against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from auditkit.audits.fairness.metrics import (
    equalized_odds_one_vs_rest,
    flip_report,
    group_report,
    grouped_confusions,
    metric_frame,
    rates_from_confusions,
)

# Two groups, two classes. Group a: rows 0-3, group b: rows 4-8.
Y = np.array([0, 1, 1, 0, 1, 1, 0, 0, 1])
PRED = np.array([0, 1, 0, 0, 1, 1, 1, 0, 0])
GROUP = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1])
BOOT = {"n_resamples": 400, "seed": 0, "confidence": 0.9}

# By hand:
#   a: accuracy 3/4; predicts class 1 once in 4 -> selection rates (3/4, 1/4)
#      F1: class 0 = 2*2/(3+2) = 0.8, class 1 = 2*1/(1+2) = 2/3 -> macro 0.7333
#      class 1 as positive: TPR 1/2, FPR 0/2; class 0 as positive: TPR 2/2, FPR 1/2
#   b: accuracy 3/5; predicts class 1 three times in 5 -> selection rates (2/5, 3/5)
#      F1: class 0 = 2*1/(2+2) = 0.5, class 1 = 2*2/(3+3) = 2/3 -> macro 0.5833
#      class 1 as positive: TPR 2/3, FPR 1/2; class 0 as positive: TPR 1/2, FPR 1/3
ACC = [0.75, 0.6]
MACRO_F1 = [0.8 / 2 + 1 / 3, 0.25 + 1 / 3]
SELECTION = [[0.75, 0.25], [0.4, 0.6]]
DP_DIFF = [0.35, 0.35]
DP_RATIO = [0.4 / 0.75, 0.25 / 0.6]
EO = [max(1 - 0.5, 0.5 - 1 / 3), max(2 / 3 - 0.5, 0.5 - 0.0)]  # 0.5 for both classes


def test_metric_frame_matches_hand_computed():
    frame = metric_frame(Y, PRED, ["a" if g == 0 else "b" for g in GROUP], k=2)
    by = frame.by_group.loc[["a", "b"]]
    np.testing.assert_allclose(by["accuracy"], ACC)
    np.testing.assert_allclose(by["macro_f1"], MACRO_F1)
    np.testing.assert_allclose(by[["selection_rate_0", "selection_rate_1"]], SELECTION)
    diff = frame.difference(method="between_groups")
    np.testing.assert_allclose(diff[["selection_rate_0", "selection_rate_1"]], DP_DIFF)
    sensitive = ["a" if g == 0 else "b" for g in GROUP]
    assert equalized_odds_one_vs_rest(Y, PRED, sensitive, 1) == pytest.approx(EO[1])
    assert equalized_odds_one_vs_rest(Y, PRED, sensitive, 0) == pytest.approx(EO[0])


def test_group_report_values_and_cis():
    gr = group_report(Y, PRED, GROUP, ["a", "b"], 2, **BOOT)
    np.testing.assert_allclose(gr.n, [4, 5])
    np.testing.assert_allclose(gr.accuracy, ACC)
    np.testing.assert_allclose(gr.macro_f1, MACRO_F1)
    np.testing.assert_allclose(gr.selection_rate, SELECTION)
    np.testing.assert_allclose(gr.dp_difference, DP_DIFF)
    np.testing.assert_allclose(gr.dp_ratio, DP_RATIO)
    np.testing.assert_allclose(gr.eo_difference, EO)
    for key in ("accuracy.a", "macro_f1.b", "demographic_parity_difference"):
        low, high = gr.ci[key]
        assert 0 <= low < high <= 1, key
    low, high = gr.ci["accuracy.b"]
    assert low <= 0.6 <= high


def test_batched_confusions_reproduce_fairlearn():
    """The bootstrap's vectorised route gives fairlearn's numbers on the full sample."""
    full = rates_from_confusions(grouped_confusions(Y, PRED, GROUP, 2, 2, None))
    np.testing.assert_allclose(full["accuracy"], ACC)
    np.testing.assert_allclose(full["macro_f1"], MACRO_F1)
    np.testing.assert_allclose(full["dp_difference"], DP_DIFF)
    np.testing.assert_allclose(full["dp_ratio"], DP_RATIO)
    np.testing.assert_allclose(full["eo_difference"], EO)
    # one "resample" that is the sample itself, plus one that is row 0 repeated
    idx = np.stack([np.arange(len(Y)), np.zeros(len(Y), dtype=int)])
    batched = rates_from_confusions(grouped_confusions(Y, PRED, GROUP, 2, 2, idx))
    np.testing.assert_allclose(batched["accuracy"][0], ACC)
    assert batched["accuracy"][1, 0] == 1.0 and np.isnan(batched["accuracy"][1, 1])


def test_three_classes_one_against_the_rest():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 300)
    pred = np.where(rng.random(300) < 0.7, y, rng.integers(0, 3, 300))
    group = rng.integers(0, 3, 300)
    names = ["x", "y", "z"]
    gr = group_report(y, pred, group, names, 3, **BOOT)
    for c in range(3):
        rates = [np.mean(pred[group == g] == c) for g in range(3)]
        assert gr.dp_difference[c] == pytest.approx(max(rates) - min(rates))
        assert gr.dp_ratio[c] == pytest.approx(min(rates) / max(rates))
        from fairlearn.metrics import equalized_odds_difference

        expected = equalized_odds_difference(y == c, pred == c, sensitive_features=group)
        assert gr.eo_difference[c] == pytest.approx(expected)


def test_flip_report_by_hand():
    probs = np.array(
        [
            [[0.9, 0.1], [0.6, 0.4]],  # same class, |dp| 0.3
            [[0.2, 0.8], [0.7, 0.3]],  # flips, |dp| 0.5
            [[0.4, 0.6], [0.45, 0.55]],  # same class, |dp| 0.05
        ]
    )
    fr = flip_report(probs, ["a", "b"], **BOOT)
    assert fr.pairs == [("a", "b")]
    assert fr.flip_rate == pytest.approx(1 / 3)
    assert fr.pair_flip_rate[0] == pytest.approx(1 / 3)
    assert fr.mean_abs_delta_p == pytest.approx((0.3 + 0.5 + 0.05) / 3)
    np.testing.assert_allclose(fr.mean_abs_delta_p_per_class, [(0.3 + 0.5 + 0.05) / 3] * 2)
    assert fr.flip_ci[0] <= 1 / 3 <= fr.flip_ci[1]


def test_flip_rate_with_three_groups_counts_any_change():
    onehot = np.eye(2)
    pred = np.array([[0, 0, 0], [0, 0, 1], [1, 1, 1], [1, 0, 1]])
    fr = flip_report(onehot[pred], ["a", "b", "c"], **BOOT)
    assert fr.flip_rate == pytest.approx(0.5)
    assert fr.pairs == [("a", "b"), ("a", "c"), ("b", "c")]
    np.testing.assert_allclose(fr.pair_flip_rate, [0.25, 0.25, 0.5])
    np.testing.assert_allclose(fr.pair_delta, [0.25, 0.25, 0.5])


def test_counterfactual_clusters_resample_whole_probes():
    """Variants of one probe move together: resampling probes keeps groups the same size."""
    n_probes, g = 6, 2
    y = np.repeat([0, 1, 0, 1, 0, 1], g)
    pred = np.array([0, 0, 1, 0, 0, 0, 1, 1, 0, 1, 1, 0])
    group = np.tile(np.arange(g), n_probes)
    clusters = np.arange(n_probes * g).reshape(n_probes, g)
    gr = group_report(y, pred, group, ["a", "b"], 2, clusters=clusters, **BOOT)
    np.testing.assert_allclose(gr.n, [6, 6])
    np.testing.assert_allclose(gr.accuracy, [1.0, 0.5])
    # group a predicts class 1 in 3/6 probes, group b in 2/6
    assert gr.dp_difference[1] == pytest.approx(1 / 6)


def test_threshold_optimizer_narrows_the_parity_gap_on_held_out_probes():
    from auditkit.audits.fairness.config import ThresholdSpec
    from auditkit.audits.fairness.postprocess import threshold_optimizer_rows
    from auditkit.audits.fairness.probes import Probe, ProbeSet

    rng = np.random.default_rng(0)
    n = 200
    labels = rng.integers(0, 2, n)
    base = np.clip(0.25 + 0.5 * labels + rng.normal(0, 0.15, n), 0, 1)
    p_pos = np.stack([np.clip(base + 0.3, 0, 1), base], axis=1)  # group a is scored higher
    probs = np.stack([1 - p_pos, p_pos], axis=-1)  # (n, 2 groups, 2 classes)
    probes = [Probe("g", i, "test", i, int(labels[i]), {"a": "x", "b": "y"}) for i in range(n)]
    spec = ThresholdSpec(positive_class="positive", attribute="g")
    rows, metrics = threshold_optimizer_rows(
        ProbeSet("g", ["a", "b"], probes), probs, spec, ["negative", "positive"], seed=0
    )
    table = {r[2]: r for r in rows}
    before, after = table["demographic_parity_difference"][3:5]
    assert before > 0.15 and after < before / 2, (before, after)
    assert metrics["threshold_optimizer.g.demographic_parity_difference"].value == after
    assert set(table) == {
        "demographic_parity_difference", "equalized_odds_difference",
        "counterfactual_flip_rate", "accuracy",
    }  # fmt: skip

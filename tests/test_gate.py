"""The gate's decisions on hand-built runs: paired tests, CI comparison, bounds, policies, inputs.

Snapshots here are built from real probability arrays through the performance audit's own
`evaluate_predictions`, so every metric and CI is computed, not typed in.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from auditkit.api.results import ModelInfo
from auditkit.audits.performance import PerformanceConfig, evaluate_predictions
from auditkit.errors import AuditkitError, SuiteError
from auditkit.gate.baseline import (
    BASELINE_VERSION,
    AuditSnapshot,
    Examples,
    Snapshot,
    load_baseline,
)
from auditkit.gate.checks import evaluate_check
from auditkit.gate.pairing import pair_snapshots
from auditkit.gate.spec import parse_check_override, resolve_spec
from auditkit.suite import GateCheck, GateSpec, load_suite
from tests.conftest import write_csv, write_suite

LABELS = ["negative", "neutral", "positive"]


def probs_with_accuracy(y: np.ndarray, acc: float, seed: int) -> np.ndarray:
    """Probabilities whose argmax is right on a share `acc` of the examples."""
    rng = np.random.default_rng(seed)
    n, k = len(y), len(LABELS)
    target = y.copy()
    wrong = rng.random(n) > acc
    target[wrong] = (y[wrong] + rng.integers(1, k, wrong.sum())) % k
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), target] += 3.0
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def perturb(y: np.ndarray, probs: np.ndarray, lose: int, gain: int, seed: int) -> np.ndarray:
    """Another model with mostly the same errors: `lose` right answers turn wrong, `gain` wrong
    ones turn right (real models' errors overlap; this is what pairing exploits)."""
    rng = np.random.default_rng(seed)
    out = probs.copy()
    right = np.flatnonzero(probs.argmax(1) == y)
    wrong = np.flatnonzero(probs.argmax(1) != y)
    for i in rng.choice(right, lose, replace=False):
        out[i] = np.roll(out[i], 1)
    for i in rng.choice(wrong, gain, replace=False):
        out[i, [y[i], out[i].argmax()]] = out[i, [out[i].argmax(), y[i]]]
    return out


def snapshot(y, probs, run_id: str, test_fp: str = "fp-test", examples: bool = True) -> Snapshot:
    cfg = PerformanceConfig(bootstrap=300)
    result = evaluate_predictions(probs, y, LABELS, cfg, seed=0)
    return Snapshot(
        auditkit_version="0.1.0",
        results_schema_version="1.0",
        created_at="2026-01-01T00:00:00+00:00",
        run_id=run_id,
        run_status="ok",
        suite_name="s",
        suite_hash="0" * 64,
        seed=0,
        git_commit=None,
        model=ModelInfo(id="m", source="local", location="/m", revision=None, fingerprint="w"),
        dataset_fingerprint="fp-data",
        split_fingerprints={"train": "fp-train", "test": test_fp},
        label_names=LABELS,
        audits={
            "performance": AuditSnapshot(
                status="ok", confidence=0.95, config=cfg.model_dump(), metrics=result.metrics
            )
        },
        examples=Examples.from_arrays(y, probs) if examples else None,
    )


@pytest.fixture(scope="module")
def runs():
    y = np.random.default_rng(1).integers(0, 3, 400)
    base = probs_with_accuracy(y, 0.88, seed=2)
    worse = perturb(y, base, lose=40, gain=6, seed=4)  # -8.5 points
    return {
        "base": snapshot(y, base, "base"),
        "noise": snapshot(y, perturb(y, base, lose=12, gain=12, seed=3), "noise"),
        "worse": snapshot(y, worse, "worse"),
        "better": snapshot(y, perturb(y, base, lose=3, gain=30, seed=5), "better"),
        "worse_other_test": snapshot(y, worse, "worse2", test_fp="fp-other"),
    }


def gate_one(base, cur, metric="performance.accuracy", **check):
    spec = GateSpec(checks={metric: GateCheck(**check)})
    warnings: list[str] = []
    pairing = pair_snapshots(base, cur)
    return evaluate_check(metric, spec.checks[metric], base, cur, pairing, spec, warnings)


def test_paired_mcnemar_catches_a_real_drop(runs):
    res = gate_one(runs["base"], runs["worse"], max_drop=0.02)
    assert res.method == "mcnemar" and res.verdict == "regressed" and res.fails
    assert res.p_value < 1e-4
    assert res.delta == pytest.approx(res.current - res.baseline)
    assert res.ci_low < res.delta < res.ci_high < 0


def test_noise_between_equal_models_is_not_flagged(runs):
    for metric in ("performance.accuracy", "performance.macro_f1", "performance.ece"):
        res = gate_one(runs["base"], runs["noise"], metric=metric, max_drop=0.0)
        assert res.verdict in ("pass", "inconclusive"), (metric, res)
        assert res.p_value > 0.05 and not res.fails
        assert res.ci_low < 0 < res.ci_high


@pytest.mark.parametrize("metric", ["macro_f1", "weighted_f1", "brier", "nll"])
def test_paired_bootstrap_for_f1_and_calibration(runs, metric):
    res = gate_one(runs["base"], runs["worse"], metric=f"performance.{metric}", max_drop=0.0)
    assert res.method == "paired_bootstrap"
    assert res.verdict == "regressed" and res.p_value < 0.01
    # the direction comes from the metric: F1 falls, ECE/Brier/NLL rise
    assert (res.delta < 0) == res.higher_is_better


def test_ece_catches_overconfidence_with_the_same_predictions(runs):
    y = runs["base"].examples.labels()
    sharp = runs["base"].examples.probs() ** 4
    cur = snapshot(y, sharp / sharp.sum(axis=1, keepdims=True), "overconfident")
    acc = gate_one(runs["base"], cur, max_drop=0.0)
    assert acc.delta == 0 and acc.p_value == 1.0 and acc.verdict == "pass"
    ece = gate_one(runs["base"], cur, metric="performance.ece", max_drop=0.01)
    assert ece.method == "paired_bootstrap" and ece.delta > 0.01
    assert ece.verdict == "regressed" and ece.p_value < 0.01


def test_improvement_is_reported(runs):
    res = gate_one(runs["base"], runs["better"], max_drop=0.02)
    assert res.verdict == "improved" and not res.fails and res.delta > 0


def test_different_test_sets_fall_back_to_ci_comparison(runs):
    res = gate_one(runs["base"], runs["worse_other_test"], max_drop=0.02)
    assert res.method == "ci_comparison" and res.verdict == "regressed"
    paired = gate_one(runs["base"], runs["worse"], max_drop=0.02)
    # pairing is the sharper test: a smaller p for the same change
    assert paired.p_value < res.p_value
    assert not pair_snapshots(runs["base"], runs["worse_other_test"]).ok


def test_small_drop_over_the_bound_is_inconclusive(runs):
    y = runs["base"].examples.labels()
    probs = perturb(y, runs["base"].examples.probs(), lose=10, gain=4, seed=6)  # -1.5 points
    cur = snapshot(y, probs, "slight")
    res = gate_one(runs["base"], cur, max_drop=0.01)
    assert res.verdict == "inconclusive" and not res.fails and res.p_value > 0.01
    strict = GateSpec(
        fail_on_inconclusive=True, checks={"performance.accuracy": {"max_drop": 0.01}}
    )
    check = strict.checks["performance.accuracy"]
    pairing = pair_snapshots(runs["base"], cur)
    res = evaluate_check("performance.accuracy", check, runs["base"], cur, pairing, strict, [])
    assert res.verdict == "inconclusive" and res.fails


def test_relative_drop_uses_the_baseline(runs):
    base_acc = runs["base"].audits["performance"].metrics["accuracy"].value
    res = gate_one(runs["base"], runs["worse"], max_relative_drop=0.5)
    assert res.verdict == "pass"  # a 12-point drop is under half of ~0.9
    res = gate_one(runs["base"], runs["worse"], max_relative_drop=0.05)
    assert res.verdict == "regressed"
    assert f"allowed {0.05 * base_acc:.4g}" in res.reason


def test_absolute_bounds_use_the_current_ci(runs):
    acc = runs["worse"].audits["performance"].metrics["accuracy"]
    assert gate_one(runs["base"], runs["worse"], min=acc.ci_high + 0.01).verdict == "regressed"
    inside = gate_one(runs["base"], runs["worse"], min=(acc.value + acc.ci_high) / 2)
    assert inside.verdict == "inconclusive"  # below the floor, but its CI reaches over it
    ece = runs["worse"].audits["performance"].metrics["ece"]
    res = gate_one(runs["base"], runs["worse"], metric="performance.ece", max=ece.ci_low - 0.01)
    assert res.verdict == "regressed" and "above max" in res.reason
    assert gate_one(runs["base"], runs["worse"], min=0.1, max=0.99).verdict == "pass"


def _without_ci(snap, metric: str):
    out = snap.model_copy(deep=True)
    m = out.audits["performance"].metrics[metric]
    m.ci_low = m.ci_high = None
    return out


def test_metric_without_ci_is_compared_as_is(runs):
    res = gate_one(runs["base"], runs["worse"], metric="performance.brier", max_drop=0.0)
    assert res.method == "paired_bootstrap"  # paired where possible ...
    base, cur = _without_ci(runs["base"], "brier"), _without_ci(runs["worse_other_test"], "brier")
    res = gate_one(base, cur, metric="performance.brier", max_drop=0)
    assert res.method == "point" and res.verdict == "regressed" and res.p_value is None


def test_missing_metric_follows_the_policy(runs):
    res = gate_one(runs["base"], runs["worse"], metric="performance.acuracy", min=0.5)
    assert res.verdict == "missing" and res.fails and "Did you mean: 'accuracy'" in res.reason
    pairing = pair_snapshots(runs["base"], runs["worse"])
    for metric, fails in (("performance.acuracy", False), ("robustness.x.flip_rate", True)):
        spec = GateSpec(on_missing="warn", checks={metric: {"max": 0.1}})
        res = evaluate_check(metric, spec.checks[metric], runs["base"], runs["worse"], pairing,
                             spec, [])  # fmt: skip
        # on_missing is for a metric absent from an audit that ran; an audit not in the run
        # fails the check whatever it says
        assert res.verdict == "missing" and res.fails == fails
    assert "not in run" in res.reason and "whatever on_missing says" in res.reason


def test_metric_absent_from_the_baseline(runs):
    base = runs["base"].model_copy(deep=True)
    del base.audits["performance"].metrics["macro_f1"]
    res = gate_one(base, runs["worse"], metric="performance.macro_f1", max_drop=0.02)
    assert res.verdict == "missing" and res.fails and "no metric 'macro_f1'" in res.reason
    assert res.current is not None and res.baseline is None and res.delta is None
    # an absolute bound needs no baseline
    res = gate_one(base, runs["worse"], metric="performance.macro_f1", min=0.1)
    assert res.verdict == "pass"
    res = gate_one(base, runs["worse"], metric="performance.macro_f1", min=0.99, max_drop=0)
    assert res.verdict == "regressed" and "below min" in res.reason


def test_a_drop_bound_needs_a_direction(runs):
    with pytest.raises(AuditkitError, match="declares no direction"):
        gate_one(runs["base"], runs["worse"], metric="performance.n_examples", max_drop=1)
    res = gate_one(
        runs["base"], runs["worse"], metric="performance.n_examples", max_drop=1,
        higher_is_better=True,
    )  # fmt: skip
    assert res.verdict == "pass" and res.method == "point"


# --------------------------------------------------------------------------- configuration


def test_check_overrides_parse_and_merge():
    assert parse_check_override("performance.accuracy:max_drop=0.01,min=0.8") == (
        "performance.accuracy",
        {"max_drop": 0.01, "min": 0.8},
    )
    assert parse_check_override("performance.ece") == ("performance.ece", {})
    base = GateSpec(checks={"performance.accuracy": {"min": 0.8, "max_drop": 0.02}})
    spec = resolve_spec(base, overrides=["performance.accuracy:max_drop=0.01,min=none"], alpha=0.01)
    acc = spec.checks["performance.accuracy"]
    assert acc.max_drop == 0.01 and acc.min is None and spec.alpha == 0.01
    assert base.checks["performance.accuracy"].max_drop == 0.02  # the suite's spec is untouched


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("performance.accuracy:max_dorp=0.1", "Did you mean: 'max_drop'"),
        ("performance.accuracy:max_drop=lots", "is not a number"),
        ("performance.accuracy:max_drop", "missing '='"),
        ("performance.accuracy:max_drop=-1", "greater than or equal to 0"),
        ("performance.accuracy:min=0.9,max=0.1", "above max"),
        ("perfomance.accuracy:min=0.5", "unknown audit 'perfomance'"),
        ("accuracy:min=0.5", "dotted metric path"),
    ],
)
def test_bad_overrides_are_clear_errors(override, message):
    with pytest.raises(AuditkitError, match=message):
        resolve_spec(None, overrides=[override])


def test_no_checks_at_all_is_an_error():
    with pytest.raises(AuditkitError, match="no checks"):
        resolve_spec(None)


SUITE = """name: s
data:
  source: csv
  path: d.csv
audits:
  performance: {}
gate:
  alpha: 0.01
  checks:
    performance.accuracy: {min: 0.8, max_drop: 0.02}
"""


@pytest.fixture
def folder(tmp_path):
    write_csv(tmp_path / "d.csv", [("a b", "x"), ("c d", "y")] * 4)
    return tmp_path


def test_suite_gate_section_loads(folder):
    gate = load_suite(write_suite(folder, SUITE)).gate
    assert gate.alpha == 0.01 and not gate.fail_on_inconclusive
    assert gate.checks["performance.accuracy"].max_drop == 0.02


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("max_drop: 0.02}", "max_dorp: 0.02}"), "gate.checks.performance.accuracy.max_dorp"),
        (("max_drop: 0.02}", "max_dorp: 0.02}"), "Did you mean: 'max_drop'"),
        (("performance.accuracy:", "robustness.flip_rate:"), "audit 'robustness' is not in"),
        (("performance.accuracy:", "robustness.flip_rate:"), "(line 10)"),
        (("alpha: 0.01", "alpha: 2"), "gate.alpha (line 8)"),
        (("alpha: 0.01", "alpah: 0.01"), "Did you mean: 'alpha'"),
        (("{min: 0.8,", "{min: 0.9, max: 0.5,"), "above max"),
    ],
)
def test_suite_gate_errors_name_the_key_and_line(folder, edit, expected):
    with pytest.raises(SuiteError) as info:
        load_suite(write_suite(folder, SUITE.replace(*edit)))
    assert expected in str(info.value)


def test_default_suite_has_a_valid_gate_section():
    from pathlib import Path

    suite = load_suite(Path(__file__).resolve().parents[1] / "suites" / "finance_sentiment.yaml")
    assert suite.gate is not None and "performance.accuracy" in suite.gate.checks


# --------------------------------------------------------------------------- baseline files


def test_baseline_round_trips_examples(runs, tmp_path):
    path = tmp_path / "b.json"
    path.write_text(runs["base"].model_dump_json())
    loaded = load_baseline(path)
    assert np.allclose(loaded.examples.probs(), runs["base"].examples.probs(), atol=1e-7)
    assert loaded.examples.label == runs["base"].examples.label


def _bad(tmp_path, runs, mutate) -> str:
    raw = json.loads(runs["base"].model_dump_json())
    text = mutate(raw)
    path = tmp_path / "b.json"
    path.write_text(text if isinstance(text, str) else json.dumps(raw))
    with pytest.raises(AuditkitError) as info:
        load_baseline(path)
    return str(info.value)


def test_bad_baseline_files_get_clear_errors(runs, tmp_path):
    with pytest.raises(AuditkitError, match="baseline file not found"):
        load_baseline(tmp_path / "nope.json")
    msg = _bad(tmp_path, runs, lambda raw: '{"format": "auditkit-baseline",')
    assert "invalid JSON at line 1" in msg and "baseline save" in msg
    msg = _bad(tmp_path, runs, lambda raw: "[1, 2]")
    assert "not an auditkit baseline" in msg
    msg = _bad(tmp_path, runs, lambda raw: raw.update(version="0"))
    assert f"format version '0'; this auditkit (0.1.0) reads version {BASELINE_VERSION!r}" in msg
    msg = _bad(tmp_path, runs, lambda raw: raw.update(results_schema_version="0.9"))
    assert "results schema '0.9'" in msg
    msg = _bad(tmp_path, runs, lambda raw: raw.pop("audits"))
    assert "audits: required field missing" in msg
    msg = _bad(tmp_path, runs, lambda raw: raw["examples"].update(probs_f32_b64="AAAA"))
    assert "examples" in msg and "expected n * k * 4" in msg
    msg = _bad(tmp_path, runs, lambda raw: raw.update(run_status="ok", surprise=1))
    assert "surprise" in msg
    results_like = {"schema_version": "1.0", "manifest": {}}
    msg = _bad(tmp_path, runs, lambda raw: json.dumps(results_like))
    assert "looks like a results.json" in msg


def test_seven_lost_one_gained_on_132_examples_is_reported_underpowered_everywhere():
    """The default suite's size: losing 7 right answers and gaining 1 is a 4.5-point drop,
    McNemar p = 0.070, so a 2-point bound is `inconclusive`, and the check says that this test
    set cannot see 2 points. With D = 8 discordant pairs exact McNemar rejects only when all 8
    are losses (2 / 2**8 < 0.05; 7 of 8 gives 0.070), which has 80% power at q = 0.8**(1/8),
    a drop of (2q - 1) 8 / 132 = 0.0573; but no test on 132 examples sees less than 0.0592
    (6 losses and no gains, the kindest case), so the check reports 0.0592."""
    import xml.etree.ElementTree as ET

    from scipy.stats import binom

    from auditkit.gate import output as O
    from auditkit.gate.pairing import mcnemar_detectable

    y = np.random.default_rng(7).integers(0, 3, 132)
    base = probs_with_accuracy(y, 0.95, seed=8)
    cur = perturb(y, base, lose=7, gain=1, seed=9)
    b, c = snapshot(y, base, "base"), snapshot(y, cur, "cand")
    res = gate_one(b, c, max_drop=0.02)
    assert res.method == "mcnemar" and res.p_value == pytest.approx(0.0703, abs=1e-3)
    q = 0.8 ** (1 / 8)
    assert mcnemar_detectable(8, 132, 0.05) == pytest.approx((2 * q - 1) * 8 / 132)
    assert binom.sf(5, 132, res.mde) == pytest.approx(0.8) and 0.059 < res.mde < 0.0593
    assert res.verdict == "inconclusive" and res.underpowered and not res.fails
    words = "underpowered: with 132 paired examples this check detects worsenings of 0.0592"
    assert words in res.reason and "the bound is 0.02" in res.reason
    assert not gate_one(b, c, max_drop=0.08).underpowered  # a bound it can see

    report = O.GateReport(
        passed=True, run_id="cand", run_dir="/r", suite_name="s",
        baseline=O.BaselineRef(file="b.json", run_id="base", created_at="t", model_id=None,
                               model_fingerprint=None, git_commit=None),
        paired=True, n_paired=132, test_fingerprint_match=True, alpha=0.05,
        fail_on_inconclusive=False, on_missing="fail", counts={"inconclusive": 1},
        checks=[res], warnings=[], created_at="t", auditkit_version="x",
    )  # fmt: skip
    assert words in O.render_text(report) and words in O.render_markdown(report)
    case = ET.fromstring(O.render_junit(report)).find("testsuite/testcase")
    assert words in case.find("skipped").get("message")
    back = O.GateReport.model_validate_json(report.model_dump_json())
    assert back.checks[0].underpowered and back.checks[0].mde == pytest.approx(res.mde)


def test_minimum_detectable_change_of_a_paired_bootstrap_is_from_its_standard_error(runs):
    res = gate_one(runs["base"], runs["noise"], metric="performance.macro_f1", max_drop=0.5)
    assert res.method == "paired_bootstrap" and res.mde is not None and not res.underpowered
    from scipy.stats import norm

    se = (res.ci_high - res.ci_low) / (2 * norm.ppf(0.975))
    assert res.mde == pytest.approx((norm.ppf(0.975) + norm.ppf(0.8)) * se)


def test_holm_adjustment_matches_a_hand_worked_example():
    from auditkit.gate.checks import adjust

    # sorted: 0.01 x4 = 0.04; 0.03 x3 = 0.09; 0.04 x2 = 0.08 -> 0.09 (monotone); 0.5 x1
    assert adjust([0.01, 0.04, 0.03, None, 0.5], "holm") == pytest.approx(
        [0.04, 0.09, 0.09, None, 0.5]
    )
    assert adjust([0.01, 0.04, None], "none") == [0.01, 0.04, None]
    assert adjust([0.9, 0.8], "holm") == [1.0, 1.0]  # 0.8 x 2 caps at 1, then monotone


def test_a_drop_significant_alone_is_inconclusive_among_four_checks(runs):
    """14 lost and 4 gained on 400 examples: McNemar p = 0.031 < 0.05 on its own; with three
    more checks that see nothing, Holm multiplies it by 4 and the crossing is inconclusive."""
    from auditkit.gate.checks import _finish, _prepare, adjust

    y = runs["base"].examples.labels()
    cur = snapshot(y, perturb(y, runs["base"].examples.probs(), lose=14, gain=4, seed=11), "c")
    spec = GateSpec(checks={
        "performance.accuracy": {"max_drop": 0.01},
        "performance.macro_f1": {"min": 0.1},
        "performance.weighted_f1": {"min": 0.1},
        "performance.ece": {"max": 0.9},
    })  # fmt: skip
    pairing = pair_snapshots(runs["base"], cur)
    pending = [_prepare(m, c, runs["base"], cur, pairing, spec, []) for m, c in spec.checks.items()]
    acc = pending[0]
    assert acc.p_check == pytest.approx(2 * sum(math.comb(18, i) for i in range(5)) / 2**18)
    alone = _finish(acc, acc.p_check)
    assert alone.verdict == "regressed" and alone.p_adjusted == pytest.approx(acc.p_check)
    adjusted = adjust([p.p_check for p in pending], "holm")
    assert adjusted[0] == pytest.approx(4 * acc.p_check)
    held = _finish(acc, adjusted[0])
    assert held.verdict == "inconclusive" and not held.fails
    assert "Holm-adjusted p = 0.12" in held.reason

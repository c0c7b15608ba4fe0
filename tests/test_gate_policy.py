"""The gate's two policies, the bar a baseline holds, and what a drop bound needs to be tested.

- `non_inferiority`: a check passes only on evidence that its bounds hold (Tango's score test
  for paired accuracy, the paired bootstrap's tail, a normal approximation otherwise);
- `agree`: a proposed spec may tighten the baseline's stored spec; each loosening is listed;
- `refuse_untestable`: a drop bound on a metric with neither a CI nor a pairing is refused
  when the spec is loaded;
- the exact McNemar p-values against statsmodels' `mcnemar(exact=True)`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.stats import norm

from auditkit.errors import AuditkitError
from auditkit.gate.checks import effective_correction, evaluate_check
from auditkit.gate.pairing import pair_snapshots
from auditkit.gate.significance import mcnemar, paired_noninferiority
from auditkit.gate.spec import agree, resolve_spec, settle
from auditkit.suite import GateCheck, GateSpec
from tests import test_gate


@pytest.fixture(scope="module")
def runs():
    """test_gate's runs: a baseline on 400 examples, and noise, worse and better models."""
    return test_gate.runs.__wrapped__()


def shown(base, cur, metric="performance.accuracy", alpha=0.05, **check):
    spec = GateSpec(policy="non_inferiority", alpha=alpha, checks={metric: GateCheck(**check)})
    pairing = pair_snapshots(base, cur)
    return evaluate_check(metric, spec.checks[metric], base, cur, pairing, spec, [])


# --------------------------------------------------------------------------- non-inferiority


def _tango_by_brute_force(gained: int, lost: int, n: int, margin: float) -> float:
    """The same score test with the restricted MLE found by a numeric search."""
    theta, b, c = -margin, lost, gained
    rest = n - b - c

    def nll(x: float) -> float:
        terms = [(b, x), (c, x + theta), (rest, 1 - 2 * x - theta)]
        return -sum(k * math.log(max(p, 1e-300)) for k, p in terms if k)

    lo, hi = max(0.0, -theta) + 1e-12, (1 - theta) / 2 - 1e-12
    x = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-13}).x
    return float(norm.sf(((c - b) - n * theta) / math.sqrt(n * (2 * x + theta - theta**2))))


@pytest.mark.parametrize(
    ("gained", "lost", "n", "margin"),
    [(1, 7, 132, 0.02), (4, 14, 400, 0.05), (10, 3, 1000, 0.01), (30, 30, 500, 0.03)],
)
def test_tango_score_test_matches_a_numeric_restricted_mle(gained, lost, n, margin):
    assert paired_noninferiority(gained, lost, n, margin) == pytest.approx(
        _tango_by_brute_force(gained, lost, n, margin), abs=1e-7
    )


def test_tango_with_no_discordance_has_its_closed_form():
    # no flips: the restricted loss rate is the margin itself, z = sqrt(n d / (1 - d))
    n, d = 132, 0.02
    assert paired_noninferiority(0, 0, n, d) == pytest.approx(norm.sf(math.sqrt(n * d / (1 - d))))
    with pytest.raises(ValueError, match="within n"):
        paired_noninferiority(100, 50, 132, 0.02)


def test_non_inferiority_passes_only_on_evidence(runs):
    base, noise = runs["base"], runs["noise"]  # 12 lost, 12 gained of 400
    res = shown(base, noise, max_drop=0.03)
    assert res.verdict == "pass" and not res.fails and res.p_adjusted < 0.05
    # the upper bound is where Tango's one-sided p equals alpha
    assert paired_noninferiority(12, 12, 400, res.worse_upper) == pytest.approx(0.05, abs=1e-5)
    assert res.worse_upper < 0.03 and "upper 95% bound" in res.reason
    # the same data cannot show a half-point bound: not shown, and that fails
    tight = shown(base, noise, max_drop=0.005)
    assert tight.verdict == "inconclusive" and tight.fails and tight.p_adjusted > 0.05
    assert "fails under non_inferiority" in tight.reason and tight.underpowered
    # a real drop past the bound is a regression
    worse = shown(base, runs["worse"], max_drop=0.03)
    assert worse.verdict == "regressed" and worse.fails and worse.worse_upper > 0.085


def test_non_inferiority_of_a_bootstrapped_metric_reads_the_tail_at_the_bound(runs):
    res = shown(runs["base"], runs["noise"], metric="performance.macro_f1", max_drop=0.03)
    assert res.method == "paired_bootstrap" and res.verdict == "pass"
    from auditkit.gate.pairing import compare_metric

    base, cur = runs["base"], runs["noise"]
    m = "performance.macro_f1"
    cmp = compare_metric(
        m, base.lookup(m)[0], cur.lookup(m)[0], base, cur, pair_snapshots(base, cur), alpha=0.05
    )
    worse = -cmp.test.distribution  # higher is better: a worsening is a fall
    assert res.p_adjusted == pytest.approx((np.sum(worse >= 0.03) + 1) / (len(worse) + 1))
    assert res.worse_upper == pytest.approx(np.quantile(worse, 0.95))


def test_non_inferiority_of_a_min_bound_needs_the_lower_confidence_bound_above_it(runs):
    m = runs["noise"].lookup("performance.accuracy")[0]
    se = (m.ci_high - m.ci_low) / (2 * norm.ppf(0.975))
    clear = shown(runs["base"], runs["noise"], min=m.value - 3 * se)
    assert clear.verdict == "pass"
    near = shown(runs["base"], runs["noise"], min=m.value - 0.5 * se)  # above it, not shown
    assert near.verdict == "inconclusive" and near.fails
    assert near.p_adjusted == pytest.approx(norm.sf(0.5), abs=1e-9)
    below = shown(runs["base"], runs["noise"], min=m.value + se)
    assert below.verdict == "regressed" and below.fails


def test_non_inferiority_needs_no_adjustment_across_checks():
    assert effective_correction(GateSpec(policy="non_inferiority")) == "none"
    assert effective_correction(GateSpec()) == "holm"
    assert effective_correction(GateSpec(correction="none")) == "none"


def test_regression_policy_is_unchanged_by_the_non_inferiority_code(runs):
    res = test_gate.gate_one(runs["base"], runs["noise"], max_drop=0.005)
    assert res.verdict == "pass" and res.worse_upper is None  # no evidence of harm: passes


# --------------------------------------------------------------------------- the agreed bar

STORED = GateSpec(
    alpha=0.05,
    checks={
        "performance.accuracy": {"min": 0.8, "max_drop": 0.02},
        "performance.macro_f1": {"max_drop": 0.03},
        "performance.ece": {},
    },
)


def _loosened(stored: GateSpec, **change) -> list[str]:
    data = stored.model_dump() | change
    return [x.item for x in agree(stored, GateSpec.model_validate(data)).loosened]


def test_an_unchanged_or_tightened_proposal_loosens_nothing():
    same = agree(STORED, STORED)
    assert not same.loosened and same.spec == STORED and same.source == "baseline"
    tighter = STORED.model_dump()
    tighter["checks"]["performance.accuracy"] = {"min": 0.85, "max_drop": 0.01}
    tighter["checks"]["performance.brier"] = {"max_drop": 0.01}
    tighter |= {"fail_on_inconclusive": True, "alpha": 0.1, "bootstrap": 5000}
    got = agree(STORED, GateSpec.model_validate(tighter))
    assert not got.loosened and got.source == "baseline, tightened by the proposal"
    assert got.spec.checks["performance.accuracy"].max_drop == 0.01
    assert got.spec.checks["performance.accuracy"].min == 0.85
    assert "performance.brier" in got.spec.checks and got.spec.fail_on_inconclusive
    assert got.spec.alpha == 0.1  # regression: a larger alpha fails more easily


@pytest.mark.parametrize(
    ("check", "value", "item"),
    [
        ("max_drop", 0.05, "performance.accuracy: max_drop"),
        ("min", 0.7, "performance.accuracy: min"),
        ("min", None, "performance.accuracy: min"),
        ("higher_is_better", False, "performance.accuracy: higher_is_better"),
    ],
)
def test_each_loosened_bound_is_listed_and_the_agreed_one_kept(check, value, item):
    data = STORED.model_dump()
    data["checks"]["performance.accuracy"][check] = value
    got = agree(STORED, GateSpec.model_validate(data))
    assert [x.item for x in got.loosened] == [item] and not got.accepted
    assert got.spec.checks["performance.accuracy"] == STORED.checks["performance.accuracy"]
    used = agree(STORED, GateSpec.model_validate(data), accept_loosened=True)
    assert used.accepted and used.spec == GateSpec.model_validate(data)


def test_removed_checks_a_bare_checks_new_drop_and_global_settings_loosen():
    fewer = STORED.model_dump()
    del fewer["checks"]["performance.macro_f1"]
    fewer["checks"]["performance.ece"] = {"max_drop": 0.01}  # bare = any worsening: looser
    got = agree(STORED, GateSpec.model_validate(fewer))
    assert [(x.item, x.proposed) for x in got.loosened] == [
        ("performance.macro_f1", "removed"),
        ("performance.ece: max_drop", "0.01"),
    ]
    assert got.spec.checks["performance.macro_f1"] == STORED.checks["performance.macro_f1"]
    assert got.spec.checks["performance.ece"].is_empty()  # the agreed bare check: any worsening
    assert _loosened(STORED, alpha=0.01) == ["alpha"]  # regression: fewer reach significance
    assert _loosened(STORED, on_missing="warn") == ["on_missing"]
    assert _loosened(STORED, seed=1) == ["seed"]
    assert _loosened(STORED, bootstrap=500) == ["bootstrap"]
    assert _loosened(STORED, correction="none") == []  # without Holm each check fails sooner
    assert _loosened(GateSpec.model_validate(STORED.model_dump() | {"correction": "none"}),
                     correction="holm") == ["correction"]  # fmt: skip
    ni = GateSpec.model_validate(STORED.model_dump() | {"policy": "non_inferiority"})
    assert _loosened(ni, policy="regression") == ["policy"]
    assert _loosened(ni, alpha=0.1) == ["alpha"]  # non_inferiority: a weaker showing passes
    assert _loosened(ni, alpha=0.01) == []


def test_settle_holds_the_stored_bar_and_warns_without_one():
    held = settle(STORED, None, "the command line")
    assert held.spec == STORED and held.source == "baseline" and held.warning is None
    over = settle(STORED, None, "the command line", overrides=["performance.accuracy:min=0.5"])
    assert [x.item for x in over.loosened] == ["performance.accuracy: min"]
    bare = settle(None, STORED, "the run's suite")
    assert bare.spec == STORED and "holds no gate spec" in bare.warning


# --------------------------------------------------------------------------- refused at load


@pytest.mark.parametrize(
    "text",
    [
        "efficiency.peak_memory_mb:max_relative_drop=0.1",
        "robustness.adversarial_training.test_accuracy:max_drop=0.01",
        "explanations.integrated_gradients.comprehensiveness_vs_random",  # bare: any worsening
    ],
)
def test_a_drop_bound_on_a_metric_without_uncertainty_is_refused_at_load(text):
    metric = text.partition(":")[0]
    with pytest.raises(AuditkitError, match="no uncertainty") as err:
        resolve_spec(None, overrides=[text])
    assert metric in str(err.value) and "min/max" in err.value.hint


@pytest.mark.parametrize(
    "text",
    [
        "efficiency.peak_memory_mb:max=2000",  # a bound compared as is
        "performance.brier:max_drop=0.01",  # paired per example
        "efficiency.fp32.bs8.latency_p50_ms:max_relative_drop=0.5",  # a CI over timed calls
        "robustness.deepwordbug.accuracy_under_attack:max_drop=0.05",  # a bootstrap CI
    ],
)
def test_bounds_the_gate_can_test_are_accepted(text):
    assert text.partition(":")[0] in resolve_spec(None, overrides=[text]).checks


# --------------------------------------------------------------------------- cross-check


def test_exact_mcnemar_matches_statsmodels_on_simulated_tables():
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    rng = np.random.default_rng(17)
    for _ in range(200):
        n = int(rng.integers(20, 600))
        kind = rng.choice(4, n, p=rng.dirichlet([1, 1, 6, 2]))  # 10, 01, 11, 00
        base, cur = np.isin(kind, (0, 2)), np.isin(kind, (1, 2))
        ours = mcnemar(base, cur)
        table = [[np.sum(base & cur), np.sum(base & ~cur)], [np.sum(~base & cur), 0]]
        theirs = sm_mcnemar(table, exact=True).pvalue
        assert ours.p_value == pytest.approx(min(1.0, theirs), abs=1e-12), table

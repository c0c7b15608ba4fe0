"""Is this change real? Pairing two runs example by example, and one metric's comparison.

The one implementation behind both `auditkit gate` and the dashboard's Compare page, so the two
can never disagree about the same pair of runs:

- `pair_snapshots`: whether two runs can be paired per example (the same test set by its
  test-split fingerprint, the same labels, per-example predictions over the same gold labels);
- `compare_metric`: for one metric, the test used and its p-value. Paired when the pairing
  allows it and the metric is one the per-example data can recompute (exact McNemar for
  accuracy; a paired bootstrap for F1, ECE, Brier and NLL); otherwise a comparison of the two
  runs' confidence intervals (normal approximation); with no CI on either side, none at all
  (`point`: the values are compared as they are);
- `change_verdict`: better, worse, changed, not significant or not tested, at level alpha.

The gate adds its bounds (max_drop, min, ...) on top of the comparison; the dashboard shows the
comparison's own verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from auditkit.api.results import Metric
from auditkit.gate.baseline import Snapshot
from auditkit.gate.significance import PairedTest, mcnemar, paired_bootstrap, se_from_ci

Method = Literal["mcnemar", "paired_bootstrap", "ci_comparison", "point"]
ChangeVerdict = Literal["better", "worse", "changed", "not significant", "not tested"]
# why two runs could not be paired (`Pairing.problem`); the words differ between the gate and
# the dashboard, the decision does not
Problem = Literal["", "no_fingerprint", "test_set", "labels", "no_examples", "gold"]
# metrics the performance artifact lets us pair example by example
PAIRED_PERFORMANCE = ("accuracy", "macro_f1", "weighted_f1", "ece", "brier", "nll")
POINT_DETAIL = "no CI on either side: compared as is"


@dataclass(frozen=True)
class Pairing:
    ok: bool
    fingerprint_match: bool
    why: str  # in the gate's words ("" when paired)
    problem: Problem = ""
    which: str | None = None  # for no_examples: "baseline" or "run"


@dataclass(frozen=True)
class Comparison:
    """One metric of two runs: the test that judged the change and its result."""

    path: str
    baseline: float
    current: float
    higher_is_better: bool | None
    method: Method
    method_detail: str
    test: PairedTest | None  # None for `point`
    alpha: float

    @property
    def delta(self) -> float:
        return self.current - self.baseline

    @property
    def p_value(self) -> float | None:
        return self.test.p_value if self.test else None

    @property
    def ci_low(self) -> float | None:
        return self.test.ci_low if self.test else None

    @property
    def ci_high(self) -> float | None:
        return self.test.ci_high if self.test else None

    @property
    def significant(self) -> bool | None:
        """p < alpha; None when no test could be made (`point`)."""
        p = self.p_value
        return None if p is None else p < self.alpha

    @property
    def verdict(self) -> ChangeVerdict:
        return change_verdict(self.significant, self.delta, self.higher_is_better)


def change_verdict(
    significant: bool | None, delta: float | None, higher_is_better: bool | None
) -> ChangeVerdict:
    """The change in words: significant and in which direction, or why it cannot be said."""
    if significant is None:
        return "not tested"
    if not significant:
        return "not significant"
    if higher_is_better is None or not delta:
        return "changed"
    return "better" if (delta > 0) == higher_is_better else "worse"


def direction(m_base: Metric, m_cur: Metric) -> bool | None:
    """Whether higher is better: as the current run's metric declares, else the baseline's."""
    return m_cur.higher_is_better if m_cur.higher_is_better is not None else m_base.higher_is_better


def pair_snapshots(base: Snapshot, cur: Snapshot) -> Pairing:
    """Whether the two runs' per-example outcomes can be paired, and why not if they cannot."""
    if base.test_fingerprint is None or cur.test_fingerprint is None:
        return Pairing(
            False, False, "the test sets differ (test-split fingerprints)", "no_fingerprint"
        )
    if base.test_fingerprint != cur.test_fingerprint:
        return Pairing(False, False, "the test sets differ (test-split fingerprints)", "test_set")
    if base.label_names != cur.label_names:
        why = f"labels differ: {base.label_names} vs {cur.label_names}"
        return Pairing(False, True, why, "labels")
    if base.examples is None or cur.examples is None:
        which = "baseline" if base.examples is None else "run"
        why = f"the {which} has no per-example predictions"
        return Pairing(False, True, why, "no_examples", which)
    if base.examples.n != cur.examples.n or base.examples.label != cur.examples.label:
        return Pairing(False, True, "per-example gold labels differ", "gold")
    return Pairing(True, True, "")


def compare_metric(
    path: str,
    m_base: Metric,
    m_cur: Metric,
    base: Snapshot,
    cur: Snapshot,
    pairing: Pairing,
    *,
    alpha: float,
    n_resamples: int = 2000,
    seed: int = 0,
    higher_is_better: bool | None = None,
    warnings: list[str] | None = None,
) -> Comparison:
    """A paired test where the per-example data allows it, else a CI comparison, else none.

    Both values must be defined. `higher_is_better` overrides the metric's own direction (the
    gate's checks may set one); a recomputed change that disagrees with the results (beyond
    rounding) is not trusted: it is noted in `warnings` and the CIs are compared instead.
    """
    hib = direction(m_base, m_cur) if higher_is_better is None else higher_is_better
    test = None
    if pairing.ok:
        test = _paired(path, base, cur, n_resamples, seed)
        expected = m_cur.value - m_base.value
        if test is not None and abs(test.delta - expected) > 1e-4 + 1e-4 * abs(expected):
            if warnings is not None:
                warnings.append(
                    f"{path}: recomputed from the per-example data the change is "
                    f"{test.delta:.6g}, the results say {expected:.6g}; comparing CIs instead"
                )
            test = None
    if test is None:
        test = _ci_comparison(m_base, m_cur, base, cur, path)
    detail = test.method if test else POINT_DETAIL
    return Comparison(path, m_base.value, m_cur.value, hib, _method(test), detail, test, alpha)


POWER = 0.8


def minimum_detectable(
    cmp: Comparison, *, power: float = POWER, one_sided: bool = False
) -> float | None:
    """The smallest change this comparison detects at its alpha with `power`. For McNemar,
    the exact test's power given the observed discordant pairs D (`mcnemar_detectable`), never
    below `best_case_accuracy_drop` (what n examples allow with no churn). For the others a
    normal approximation: (z_{1-alpha/2} + z_power) times the change's standard error, from
    the 95% interval of the change. None for `point`.

    `one_sided` (non-inferiority) uses z_{1-alpha}: it is then the smallest bound an unchanged
    model is shown to be within, with `power`."""
    from scipy.stats import norm

    test = cmp.test
    if test is None:
        return None
    tail = cmp.alpha if one_sided else cmp.alpha / 2
    z = float(norm.ppf(1 - tail) + norm.ppf(power))
    if cmp.method == "mcnemar" and test.discordant is not None and test.n:
        # never below what n allows with no churn at all
        best = best_case_accuracy_drop(test.n, cmp.alpha, power=power, non_inferiority=one_sided)
        if one_sided:  # Tango's test: its normal approximation
            return max(z * math.sqrt(max(test.discordant, 1)) / test.n, best)
        exact = mcnemar_detectable(test.discordant, test.n, cmp.alpha, power=power)
        return max(exact, best) if exact is not None else best
    se = _change_se(test)
    return z * se if se else None


def mcnemar_detectable(
    discordant: int, n: int, alpha: float, *, power: float = POWER
) -> float | None:
    """The accuracy drop exact McNemar detects with `power`, given D discordant pairs: the
    losses among them are Binomial(D, q), the test rejects from the fewest losses k whose
    two-sided p is below alpha, and the drop is (2q - 1) D / n at the q where
    P(losses >= k) = power. None when even D losses out of D would not be significant."""
    from scipy.optimize import brentq
    from scipy.stats import binom, binomtest

    if discordant <= 0 or binomtest(discordant, discordant, 0.5).pvalue >= alpha:
        return None
    lo, hi = (discordant + 1) // 2, discordant  # p falls as k rises past D / 2: bisect
    while lo < hi:
        mid = (lo + hi) // 2
        if binomtest(mid, discordant, 0.5).pvalue < alpha:
            hi = mid
        else:
            lo = mid + 1
    q = brentq(lambda q: binom.sf(lo - 1, discordant, q) - power, 0.5, 1 - 1e-12, xtol=1e-12)
    return (2 * q - 1) * discordant / n


def best_case_accuracy_drop(
    n: int, alpha: float, *, power: float = POWER, non_inferiority: bool = False
) -> float:
    """The smallest accuracy bound a test set of n examples can serve, at best: before any
    run, assuming the change flips no other prediction (the kindest case for the test).

    regression: the true drop d loses Binomial(n, d) right answers and gains none; exact
    McNemar then rejects once the losses k have 2 * 0.5**k < alpha. The answer is the smallest
    d with P(losses >= that k) >= power. non_inferiority: an unchanged model with no flips
    passes Tango's test at bound d exactly when d > z^2 / (n + z^2), z = z_{1-alpha}.
    More churn between the two models only raises both."""
    from scipy.optimize import brentq
    from scipy.stats import binom, norm

    if non_inferiority:
        z = float(norm.ppf(1 - alpha))
        return z * z / (n + z * z)
    k = math.floor(math.log2(2 / alpha)) + 1  # the fewest losses with 2 * 0.5**k < alpha
    if k > n:
        return 1.0
    return float(brentq(lambda d: binom.sf(k - 1, n, d) - power, 1e-9, 1 - 1e-9, xtol=1e-9))


def _change_se(test: PairedTest) -> float | None:
    """The change's standard error from its 95% interval (normal)."""
    return se_from_ci(test.ci_low, test.ci_high)


def _method(test: PairedTest | None) -> Method:
    if test is None:
        return "point"
    if test.method.startswith("McNemar"):
        return "mcnemar"
    if test.method.startswith("paired bootstrap"):
        return "paired_bootstrap"
    return "ci_comparison"


def _paired(
    path: str, base: Snapshot, cur: Snapshot, n_resamples: int, seed: int
) -> PairedTest | None:
    """The paired test of a performance metric on both runs' per-example probabilities."""
    audit, _, name = path.partition(".")
    if audit != "performance" or name not in PAIRED_PERFORMANCE:
        return None
    assert base.examples is not None and cur.examples is not None
    y = cur.examples.labels()
    probs = (base.examples.probs(), cur.examples.probs())
    boot = {"n_resamples": n_resamples, "seed": seed}
    if name == "accuracy":
        correct = tuple(p.argmax(axis=1) == y for p in probs)
        exact = mcnemar(correct[0], correct[1])
        ci = paired_bootstrap(lambda idx, w: correct[w][idx].mean(axis=1), len(y), **boot)
        return PairedTest(
            exact.delta, exact.p_value, ci.ci_low, ci.ci_high,
            f"{exact.method}; CI: {ci.method}", len(y), exact.discordant, exact.gained,
        )  # fmt: skip
    stat = _statistic(name, y, probs, (base, cur))
    return None if stat is None else paired_bootstrap(stat, len(y), **boot)


def _statistic(name: str, y: np.ndarray, probs: tuple[np.ndarray, np.ndarray], snaps):
    """`stat(idx, which)` of one paired-bootstrap metric; None when not comparable per example."""
    from auditkit import metrics as M

    n, k = probs[0].shape
    if name in ("macro_f1", "weighted_f1"):
        pred = tuple(p.argmax(axis=1) for p in probs)
        return lambda idx, w: M.f1_from_confusion(M.confusion_counts(y, pred[w], k, idx))[name]
    if name == "ece":
        bins = {s.audits["performance"].config.get("ece_bins") for s in snaps}
        if len(bins) != 1 or None in bins:
            return None  # different binning: the values are not comparable example by example
        n_bins = int(bins.pop())
        return lambda idx, w: M.expected_calibration_error(probs[w], y, n_bins, idx)
    if name == "brier":  # brier, nll: means of per-example losses
        onehot = np.eye(k)[y]
        per = tuple(((p - onehot) ** 2).sum(axis=1) for p in probs)
    else:
        per = tuple(-np.log(np.clip(p[np.arange(n), y], 1e-12, 1.0)) for p in probs)
    return lambda idx, w: per[w][idx].mean(axis=1)


def _ci_comparison(
    m_base: Metric, m_cur: Metric, base: Snapshot, cur: Snapshot, path: str
) -> PairedTest | None:
    """Two independent estimates: a normal approximation from each run's CI half-width."""
    from scipy.stats import norm

    audit = path.partition(".")[0]
    se = []
    for m, snap in ((m_base, base), (m_cur, cur)):
        if m.ci_low is None or m.ci_high is None:
            se.append(None)
            continue
        conf = snap.audits[audit].confidence or 0.95
        se.append((m.ci_high - m.ci_low) / (2 * norm.ppf(0.5 + conf / 2)))
    if se[0] is None and se[1] is None:
        return None
    sides = "both runs' CIs" if None not in se else "one run's CI (the other has none)"
    spread = math.sqrt(sum(s**2 for s in se if s is not None))
    delta = m_cur.value - m_base.value
    if spread == 0:
        p = 1.0 if delta == 0 else 0.0
        return PairedTest(delta, p, delta, delta, f"CI comparison ({sides}, zero width)", 0)
    p = float(2 * norm.sf(abs(delta) / spread))
    half = norm.ppf(0.975) * spread
    return PairedTest(
        delta, p, delta - half, delta + half, f"CI comparison, normal approx. from {sides}", 0
    )

"""The non-inferiority policy's evidence: that a worsening is under its bound, and that a value
is on the right side of a min or max.

- `noninferiority`: for one comparison, the one-sided p of "worse by the bound or more" and the
  upper 1 - alpha bound of the worsening, by the test that fits it: Tango's score test for
  paired accuracy (`significance.paired_noninferiority`), the paired bootstrap's resampled
  changes, or a normal approximation from the change's CI;
- `drop_claim` and `absolute_claims`: a check's bounds as claims (p, holds at the point,
  words), which auditkit.gate.checks judges.

Kept apart from auditkit.gate.checks, whose regression policy asks the opposite question.
"""

from __future__ import annotations

import numpy as np

from auditkit.api.results import Metric
from auditkit.gate.pairing import Comparison
from auditkit.gate.significance import p_words, paired_noninferiority, se_from_ci
from auditkit.suite import GateCheck

Claim = tuple[float | None, bool, str]  # (one-sided p that it holds, holds at the point, words)


def noninferiority(
    cmp: Comparison, limit: float, higher_is_better: bool, alpha: float
) -> tuple[float | None, float | None]:
    """Evidence that the worsening is under `limit`: (one-sided p, the upper 1 - alpha bound
    of the worsening). Tango's score test for paired accuracy (the bound by inverting it),
    the paired bootstrap's resampled changes, or a normal approximation from the change's CI;
    (None, None) with no uncertainty at all (`point`)."""
    from scipy.stats import norm

    test = cmp.test
    if test is None:
        return None, None
    sign = -1.0 if higher_is_better else 1.0  # worsening = sign * change
    worse = sign * test.delta
    if cmp.method == "mcnemar" and test.gained is not None and test.discordant is not None:
        gained, lost = test.gained, test.discordant - test.gained
        if not higher_is_better:
            gained, lost = lost, gained
        p = paired_noninferiority(gained, lost, test.n, limit)
        return p, _tango_upper(gained, lost, test.n, alpha)
    if test.distribution is not None and len(test.distribution):
        dist = sign * test.distribution
        p = float((np.sum(dist >= limit) + 1) / (len(dist) + 1))
        return min(p, 1.0), float(np.quantile(dist, 1 - alpha))
    se = se_from_ci(test.ci_low, test.ci_high)
    if se is None:
        held = worse < limit
        return (0.0 if held else 1.0), worse
    return float(norm.sf((limit - worse) / se)), worse + float(norm.ppf(1 - alpha)) * se


def _tango_upper(gained: int, lost: int, n: int, alpha: float) -> float:
    """The upper 1 - alpha bound of the accuracy drop: the margin at which Tango's one-sided p
    equals alpha (p falls as the margin grows, so a bracketing root search finds it)."""
    from scipy.optimize import brentq

    f = lambda margin: paired_noninferiority(gained, lost, n, margin) - alpha  # noqa: E731
    lo, hi = -1 + 1e-9, 1 - 1e-9
    if f(lo) <= 0:
        return lo
    if f(hi) >= 0:
        return hi
    return float(brentq(f, lo, hi, xtol=1e-7))


def drop_claim(
    cmp: Comparison, worse_by: float, limit: float, higher_is_better: bool, alpha: float
) -> tuple[Claim, float | None]:
    """The drop bound as a claim, and the upper bound of the worsening (None without one)."""
    holds = worse_by <= limit + 1e-12
    worse = f"worse by {worse_by + 0.0:.4g}"
    p, upper = noninferiority(cmp, limit, higher_is_better, alpha)
    if p is None:
        return (None, holds, f"{worse} (allowed {limit:.4g}); no uncertainty to show the "
                "bound with"), None  # fmt: skip
    bound = f", upper {1 - alpha:.0%} bound {upper:.4g}" if upper is not None else ""
    return (p, holds, f"{worse}{bound} (allowed {limit:.4g}), one-sided {p_words(p)}"), upper


def absolute_claims(check: GateCheck, m: Metric, confidence: float, alpha: float) -> list[Claim]:
    """min/max as claims: the one-sided p that the value is on the right side of the bound.
    Without a CI the value is compared as it is (p 0 or 1): a count or a size has no sampling
    error to allow for."""
    from scipy.stats import norm

    se = se_from_ci(m.ci_low, m.ci_high, confidence)
    out: list[Claim] = []
    for key, side in (("min", 1), ("max", -1)):
        bound = getattr(check, key)
        if bound is None:
            continue
        margin = side * (m.value - bound)  # > 0: on the right side
        holds = margin >= 0
        if se is None:
            words = f"{m.value:.4g} {'>=' if key == 'min' else '<='} {key} {bound:g}"
            if not holds:
                words = f"{m.value:.4g} is {'below' if key == 'min' else 'above'} {key} {bound:g}"
            out.append((0.0 if holds else 1.0, holds, words + " (no CI: compared as is)"))
            continue
        p = float(norm.sf(margin / se))
        edge = m.value - side * float(norm.ppf(1 - alpha)) * se
        which = "lower" if key == "min" else "upper"
        out.append((p, holds, f"{m.value:.4g}, {which} {1 - alpha:.0%} bound {edge:.4g} vs "
                    f"{key} {bound:g} (one-sided {p_words(p)})"))  # fmt: skip
    return out

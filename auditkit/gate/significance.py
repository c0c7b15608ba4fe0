"""Paired significance tests for comparing two runs on the same examples.

The gate and the dashboard's compare page both ask "is this change real?". When two runs
scored the same test examples, a paired test uses that pairing and is far more sensitive than
comparing two confidence intervals. Also here: Tango's paired non-inferiority test, a standard
error from a CI, and Holm's adjustment across the gate's checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from auditkit.metrics import bootstrap


@dataclass(frozen=True)
class PairedTest:
    delta: float  # statistic(current) - statistic(baseline)
    p_value: float
    ci_low: float | None
    ci_high: float | None
    method: str
    n: int
    discordant: int | None = None  # McNemar: examples the two runs disagree on (right/wrong)
    gained: int | None = None  # McNemar: of those, wrong in the baseline and right now
    # the paired bootstrap's resampled changes (current - baseline): the non-inferiority test
    # reads its one-sided tail at the check's bound
    distribution: np.ndarray | None = field(default=None, repr=False, compare=False)


def mcnemar(correct_baseline: np.ndarray, correct_current: np.ndarray) -> PairedTest:
    """Exact McNemar test on per-example correctness (two-sided binomial on discordant pairs).

    scipy's binomtest does the arithmetic; statsmodels is not a dependency, and the exact form
    is what small test sets need (the chi-square approximation is poor below ~25 discordant).
    """
    from scipy.stats import binomtest

    a = np.asarray(correct_baseline, dtype=bool)
    b = np.asarray(correct_current, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in shape: {a.shape} vs {b.shape}")
    gained = int(np.sum(~a & b))  # wrong before, right now
    lost = int(np.sum(a & ~b))
    discordant = gained + lost
    p = 1.0 if discordant == 0 else float(binomtest(gained, discordant, 0.5).pvalue)
    n = len(a)
    delta = (gained - lost) / n if n else 0.0
    return PairedTest(
        delta, p, None, None, f"McNemar exact (+{gained} / -{lost})", n, discordant, gained
    )


def paired_noninferiority(gained: int, lost: int, n: int, margin: float) -> float:
    """One-sided p of "the current run is worse by `margin` or more" (accuracy, paired).

    Tango's (1998) score test for a difference of paired proportions: the change
    (gained - lost) / n is compared with -margin using its variance under the null, from the
    restricted maximum-likelihood loss and gain rates. A small p is evidence that the drop is
    smaller than the margin (non-inferiority). statsmodels and scipy have no paired form of it,
    hence the few lines here; `exact` McNemar answers a different question (any change at all).
    """
    if n <= 0:
        raise ValueError("n must be positive")
    if not 0 <= gained + lost <= n or min(gained, lost) < 0:
        raise ValueError(f"gained {gained} + lost {lost} must be counts within n = {n}")
    theta = -float(margin)  # the null: P(gained) - P(lost) = theta
    b, c = lost, gained
    rest = n - b - c
    # restricted MLE of the loss rate x (the gain rate is x + theta): the root in range of
    # 2n x^2 - [(b + c)(1 - theta) - 2 theta (b + rest)] x - b theta (1 - theta) = 0
    qa = 2 * n
    qb = -((b + c) * (1 - theta) - 2 * theta * (b + rest))
    qc = -b * theta * (1 - theta)
    disc = math.sqrt(max(qb * qb - 4 * qa * qc, 0.0))
    lo, hi = max(0.0, -theta), (1 - theta) / 2  # x >= 0, x + theta >= 0, 2x + theta <= 1
    roots = [r for r in ((-qb + disc) / (2 * qa), (-qb - disc) / (2 * qa)) if lo - 1e-12 <= r]
    x = min(max(max(roots) if roots else lo, lo), hi)
    var = n * (2 * x + theta - theta * theta)
    z_num = (c - b) - n * theta
    if var <= 0:
        return 0.0 if z_num > 0 else 1.0
    from scipy.stats import norm

    return float(norm.sf(z_num / math.sqrt(var)))


def paired_bootstrap(
    statistic: Callable[[np.ndarray, np.ndarray], np.ndarray],
    n: int,
    *,
    n_resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> PairedTest:
    """Paired bootstrap of a difference between two runs on the same n examples.

    `statistic(idx, which)` returns the batched statistic (B,) of run `which` (0 = baseline,
    1 = current) on resample rows `idx` (B, n); both runs get the *same* resamples. The p-value
    is two-sided: twice the share of resampled differences on the far side of zero.
    """
    delta_of = lambda idx: statistic(idx, 1) - statistic(idx, 0)  # noqa: E731
    low, high, dist = bootstrap(
        delta_of, n, n_resamples=n_resamples, seed=seed, confidence=confidence
    )
    full = np.arange(n)[None, :]
    delta = float(delta_of(full)[0])
    dist = dist[np.isfinite(dist)]
    if len(dist) == 0:
        return PairedTest(delta, 1.0, None, None, "paired bootstrap", n)
    if np.all(dist == 0):
        return PairedTest(delta, 1.0, low, high, "paired bootstrap", n)
    share = min(np.mean(dist <= 0), np.mean(dist >= 0))
    p = float(min(1.0, 2 * share + 1 / (len(dist) + 1)))  # never exactly 0 from finite B
    return PairedTest(
        delta, p, low, high, f"paired bootstrap ({n_resamples} resamples)", n, distribution=dist
    )


def se_from_ci(low: float | None, high: float | None, confidence: float = 0.95) -> float | None:
    """A standard error from a CI's half-width at `confidence` (normal); None without an
    interval or with a zero-width one."""
    from scipy.stats import norm

    if low is None or high is None or not high > low:
        return None
    return (high - low) / (2 * float(norm.ppf(0.5 + confidence / 2)))


def p_words(p: float | None) -> str:
    """`p = 0.0123` or `p < 0.0001`, for reasons written in words."""
    if p is None:
        return "p n/a"
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}"


def adjust(p_values: list[float | None], correction: str) -> list[float | None]:
    """Holm's step-down adjustment over the checks that have a test (None: no test, left as
    None); `none` leaves each p as it is. Holm controls the chance that any check fails when
    nothing changed at alpha, whatever the dependence between the checks' tests."""
    if correction == "none":
        return list(p_values)
    tested = [(p, i) for i, p in enumerate(p_values) if p is not None]
    out: list[float | None] = [None] * len(p_values)
    m, running = len(tested), 0.0
    for rank, (p, i) in enumerate(sorted(tested)):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out

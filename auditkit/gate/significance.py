"""Paired significance tests for comparing two runs on the same examples.

The gate and the dashboard's compare page both ask "is this change real?". When two runs
scored the same test examples, a paired test uses that pairing and is far more sensitive than
comparing two confidence intervals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
    return PairedTest(delta, p, None, None, f"McNemar exact (+{gained} / -{lost})", n, discordant)


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
    return PairedTest(delta, p, low, high, f"paired bootstrap ({n_resamples} resamples)", n)

"""Split conformal prediction sets from class probabilities, and their coverage.

A calibration split gives one threshold per (score, alpha); a test example's set is every
class whose nonconformity score is at most that threshold. Over exchangeable calibration and
test examples the set holds the gold class with probability at least 1 - alpha, on average
over examples (marginal coverage): nothing is promised per class or per group, which is why
the audits report coverage per class and per fairness group too.

Scores: LAC (Sadinle et al. 2019), 1 - p of the class; APS (Romano et al. 2020), the
probability mass of every class at least as likely as this one, this one included. APS is
used without its random tie-breaking term, so a run's sets are deterministic; that makes its
sets a little larger than randomised APS and keeps the coverage guarantee.

Why these few lines are written here rather than taken from a library (all three are on the
package index and were read first):
- crepes' ConformalClassifier takes precomputed scores cleanly, but it gives p-values against
  the stored calibration scores and never a threshold, and its non-smoothed p-values are a
  Python loop over every (example, class) cell. The threshold is what we need: it is the rule
  a deployment applies without the calibration data, it goes in the results, and the fairness
  audit applies it to its probes. `tests/test_conformal.py` checks that the sets below are
  exactly crepes' non-smoothed sets.
- mapie's SplitConformalClassifier wraps a fitted scikit-learn estimator and calls its
  `predict_proba`; the audits hold probabilities from a ModelHandle, not an estimator.
- netcal is a calibration library (temperature scaling and friends); it has no conformal sets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SCORES = ("lac", "aps")


def alpha_key(alpha: float) -> str:
    """The metric-name part for an alpha: 0.1 -> "a10", 0.05 -> "a05", 0.025 -> "a025"."""
    percent = round(alpha * 100, 9)
    if float(percent).is_integer():
        return f"a{int(percent):02d}"
    return "a" + f"{alpha:.10f}".rstrip("0").split(".")[1]


def nonconformity(probs: np.ndarray, score: str) -> np.ndarray:
    """Per example and class, how badly the class conforms: (n, k), larger is worse."""
    p = np.asarray(probs, dtype=np.float64)
    if score == "lac":
        return 1.0 - p
    if score == "aps":
        order = np.argsort(-p, axis=1, kind="stable")  # ties broken by class index
        mass = np.cumsum(np.take_along_axis(p, order, axis=1), axis=1)
        out = np.empty_like(p)
        np.put_along_axis(out, order, mass, axis=1)
        return out
    raise ValueError(f"unknown conformal score {score!r}; expected one of {SCORES}")


def _needed(n: int, alpha: float) -> int:
    """The fewest calibration scores at or above a test score that keep its class in the set:
    the smallest m with (m + 1) / (n + 1) >= alpha (the conformal p-value's rule)."""
    m = max(0, math.ceil(alpha * (n + 1)) - 1)
    while (m + 1) / (n + 1) < alpha:
        m += 1
    while m > 0 and m / (n + 1) >= alpha:
        m -= 1
    return m


def min_calibration(alpha: float) -> int:
    """The fewest calibration examples that give a finite threshold at `alpha` (20 at 0.05)."""
    n = max(1, math.floor(1 / alpha) - 1)
    while _needed(n, alpha) == 0:
        n += 1
    while n > 1 and _needed(n - 1, alpha) > 0:
        n -= 1
    return n


@dataclass(frozen=True)
class Calibration:
    """One conformal threshold: a class is in the set when its score is <= `threshold`.

    `threshold` is +inf when the calibration split is too small for `alpha` (fewer than
    `min_calibration(alpha)` examples, about 1 / alpha): every set is then the full label set."""

    score: str
    alpha: float
    threshold: float
    n: int

    def sets(self, probs: np.ndarray) -> np.ndarray:
        """Boolean (n, k): which classes each example's prediction set holds."""
        return nonconformity(probs, self.score) <= self.threshold


def calibrate(probs: np.ndarray, y: np.ndarray, score: str, alpha: float) -> Calibration:
    """The threshold from calibration examples' scores of their gold class."""
    y = np.asarray(y, dtype=np.int64)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    n = len(y)
    if n == 0:
        raise ValueError("conformal calibration needs at least one example")
    true = np.sort(nonconformity(probs, score)[np.arange(n), y])
    m = _needed(n, alpha)
    threshold = float("inf") if m == 0 else float(true[n - m])  # the m-th largest score
    return Calibration(score, float(alpha), threshold, n)


def halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two halves of n test rows, seeded; the cross-fit for temperature and conformal alike."""
    order = np.random.default_rng(seed).permutation(n)
    return order[: n // 2], order[n // 2 :]


def cross_fit_sets(
    probs: np.ndarray, y: np.ndarray, score: str, alpha: float, *, seed: int
) -> tuple[np.ndarray, tuple[Calibration, Calibration]]:
    """Sets for every test row, each half calibrated on the other half (no validation split)."""
    out = np.zeros(np.shape(probs), dtype=bool)
    fits = []
    parts = halves(len(y), seed)
    for fit_on, apply_to in (parts, parts[::-1]):
        cal = calibrate(probs[fit_on], y[fit_on], score, alpha)
        out[apply_to] = cal.sets(probs[apply_to])
        fits.append(cal)
    return out, (fits[0], fits[1])


def proportion_ci(k: int, n: int, confidence: float) -> tuple[float | None, float | None]:
    """Clopper-Pearson (exact binomial) interval; a percentile bootstrap of a share that is 0
    or 1 on the sample collapses to a point, this does not."""
    if n == 0:
        return None, None
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


@dataclass(frozen=True)
class Coverage:
    """How prediction sets did on labelled examples."""

    n: int
    coverage: float | None
    coverage_ci: tuple[float | None, float | None]
    set_size: float | None
    set_size_ci: tuple[float | None, float | None]
    singleton_share: float | None
    singleton_ci: tuple[float | None, float | None]
    empty_share: float | None


def coverage(
    sets: np.ndarray,
    y: np.ndarray,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Coverage:
    """Coverage and singleton share with exact binomial CIs, mean set size with a bootstrap CI."""
    from auditkit import metrics as M

    y = np.asarray(y, dtype=np.int64)
    n = len(y)
    if n == 0:
        return Coverage(0, None, (None, None), None, (None, None), None, (None, None), None)
    covered = sets[np.arange(n), y]
    size = sets.sum(axis=1).astype(np.float64)
    singles = int((size == 1).sum())
    size_ci = M.bootstrap(
        lambda idx: size[idx].mean(axis=1),
        n,
        n_resamples=n_resamples,
        seed=seed,
        confidence=confidence,
    )[:2]
    return Coverage(
        n=n,
        coverage=float(covered.mean()),
        coverage_ci=proportion_ci(int(covered.sum()), n, confidence),
        set_size=float(size.mean()),
        set_size_ci=size_ci,
        singleton_share=singles / n,
        singleton_ci=proportion_ci(singles, n, confidence),
        empty_share=float((size == 0).mean()),
    )

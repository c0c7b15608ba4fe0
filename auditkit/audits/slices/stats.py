"""Is a slice's error rate really higher than the rest's? One-sided Fisher exact tests, then
Benjamini-Hochberg over every candidate tested (both from scipy), and bootstrap CIs for the
slices that survive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from auditkit import metrics as M
from auditkit.audits.slices.candidates import Candidate


@dataclass
class Tested:
    candidate: Candidate
    n: int
    errors: int
    n_rest: int
    errors_rest: int
    p_value: float
    q_value: float = float("nan")
    ci: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    macro_f1: float | None = None

    @property
    def accuracy(self) -> float:
        return 1 - self.errors / self.n

    @property
    def rest_accuracy(self) -> float | None:
        return None if self.n_rest == 0 else 1 - self.errors_rest / self.n_rest

    @property
    def gap(self) -> float | None:
        """Accuracy in the slice minus accuracy in the rest: negative means worse."""
        rest = self.rest_accuracy
        return None if rest is None else self.accuracy - rest


def fisher_bh(candidates: Sequence[Candidate], wrong: np.ndarray) -> list[Tested]:
    """Fisher's exact test, one-sided (the slice errs more than the rest), per candidate, and
    Benjamini-Hochberg q-values over all of them."""
    from scipy.stats import false_discovery_control, fisher_exact

    out = []
    for c in candidates:
        universe = np.ones_like(c.mask) if c.universe is None else c.universe
        inside = c.mask & universe
        rest = universe & ~c.mask
        n, e = int(inside.sum()), int(wrong[inside].sum())
        n_r, e_r = int(rest.sum()), int(wrong[rest].sum())
        if n_r == 0:
            p = 1.0  # the slice is everything: nothing to compare with
        else:
            p = float(fisher_exact([[e, n - e], [e_r, n_r - e_r]], alternative="greater").pvalue)
        out.append(Tested(c, n, e, n_r, e_r, p))
    if out:
        q = false_discovery_control([t.p_value for t in out], method="bh")
        for t, qv in zip(out, q, strict=True):
            t.q_value = float(qv)
    return out


def macro_f1_present(cm: np.ndarray) -> np.ndarray:
    """Macro-F1 over the classes that occur in the slice (as gold or as prediction): a slice
    of positive news without a negative sentence is not scored 0 on `negative`."""
    cm = cm.astype(np.float64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    denom = cm.sum(axis=-2) + cm.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(denom > 0, 2 * tp / denom, np.nan)
        return np.nanmean(f1, axis=-1)


def add_intervals(
    t: Tested,
    y: np.ndarray,
    pred: np.ndarray,
    k: int,
    *,
    n_resamples: int,
    seed: int,
    confidence: float,
) -> None:
    """Bootstrap CIs for the slice's accuracy, macro-F1 and error rate (resampling the slice)
    and for its gap to the rest (slice and rest resampled independently)."""
    c = t.candidate
    universe = np.ones_like(c.mask) if c.universe is None else c.universe
    inside = np.flatnonzero(c.mask & universe)
    rest = np.flatnonzero(universe & ~c.mask)
    boot = {"n_resamples": n_resamples, "seed": seed, "confidence": confidence}
    ys, ps = y[inside], pred[inside]
    correct = (ys == ps).astype(np.float64)
    t.ci["accuracy"] = M.bootstrap(lambda idx: correct[idx].mean(axis=1), len(inside), **boot)[:2]
    low, high = t.ci["accuracy"]
    t.ci["error_rate"] = (1 - high, 1 - low)
    t.macro_f1 = float(macro_f1_present(M.confusion_counts(ys, ps, k)))
    t.ci["macro_f1"] = M.bootstrap(
        lambda idx: macro_f1_present(M.confusion_counts(ys, ps, k, idx)), len(inside), **boot
    )[:2]
    if len(rest):
        rest_correct = (y[rest] == pred[rest]).astype(np.float64)
        rng = np.random.default_rng(seed + 1)
        a = correct[rng.integers(0, len(inside), (n_resamples, len(inside)))].mean(axis=1)
        b = rest_correct[rng.integers(0, len(rest), (n_resamples, len(rest)))].mean(axis=1)
        alpha = (1 - confidence) / 2
        lo, hi = np.quantile(a - b, [alpha, 1 - alpha])
        t.ci["gap"] = (float(lo), float(hi))

"""Classification metrics and vectorized bootstrap confidence intervals.

Point estimates of accuracy and F1 come from scikit-learn. What lives here is what
scikit-learn lacks or would make slow: multiclass ECE, and bootstraps that resample all
B replicates at once through one `bincount` instead of B Python-level sklearn calls
(1000 sklearn `f1_score` calls take seconds; this takes milliseconds). The tests check these
against scikit-learn and hand-computed values.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Bound the (B, n) index matrix so memory stays small on large test sets.
_MAX_CELLS = 4_000_000


def confusion_counts(
    y_true: np.ndarray, y_pred: np.ndarray, k: int, idx: np.ndarray | None = None
) -> np.ndarray:
    """Confusion matrices (rows = gold, columns = predicted); batched over rows of `idx`."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if idx is None:
        return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
    b = idx.shape[0]
    codes = y_true[idx] * k + y_pred[idx] + (np.arange(b)[:, None] * (k * k))
    return np.bincount(codes.ravel(), minlength=b * k * k).reshape(b, k, k)


def f1_from_confusion(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision/recall/F1 and macro/weighted F1 (zero where undefined, as sklearn)."""
    cm = cm.astype(np.float64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    pred = cm.sum(axis=-2)
    gold = cm.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(pred > 0, tp / pred, 0.0)
        recall = np.where(gold > 0, tp / gold, 0.0)
        denom = pred + gold
        f1 = np.where(denom > 0, 2 * tp / denom, 0.0)
        weighted = (f1 * gold).sum(-1) / gold.sum(-1)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": gold,
        "macro_f1": f1.mean(-1),
        "weighted_f1": weighted,
        "accuracy": tp.sum(-1) / cm.sum(axis=(-2, -1)),
    }


def calibration_bins(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width bin index in [0, n_bins) for each top-label confidence; 1.0 goes in the last."""
    return np.minimum((np.asarray(confidence) * n_bins).astype(np.int64), n_bins - 1)


def expected_calibration_error(
    probs: np.ndarray, y_true: np.ndarray, n_bins: int = 15, idx: np.ndarray | None = None
) -> np.ndarray | float:
    """Top-label ECE (Guo et al. 2017): sum over bins of |acc - conf| weighted by bin share.

    Written as (1/n) * sum_b |sum_{i in b} (correct_i - conf_i)|, which batches over
    bootstrap replicates with one weighted bincount.
    """
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == np.asarray(y_true)).astype(np.float64)
    gap = correct - conf
    bins = calibration_bins(conf, n_bins)
    if idx is None:
        return float(np.abs(np.bincount(bins, weights=gap, minlength=n_bins)).sum() / len(gap))
    b, n = idx.shape
    codes = bins[idx] + (np.arange(b)[:, None] * n_bins)
    sums = np.bincount(codes.ravel(), weights=gap[idx].ravel(), minlength=b * n_bins)
    return np.abs(sums.reshape(b, n_bins)).sum(axis=1) / n


def classwise_ece(
    probs: np.ndarray, y_true: np.ndarray, n_bins: int = 15, idx: np.ndarray | None = None
) -> np.ndarray:
    """Classwise ECE (Kull et al. 2019), one value per class: for class k, the binned gap
    between p_k and the frequency of k, over every example (not only those predicted k).
    With `idx` (B, n) it returns (B, k), one row per bootstrap replicate."""
    y = np.asarray(y_true)
    k = probs.shape[1]
    out = []
    for c in range(k):
        p = probs[:, c]
        gap = (y == c).astype(np.float64) - p
        bins = calibration_bins(p, n_bins)
        if idx is None:
            out.append(np.abs(np.bincount(bins, weights=gap, minlength=n_bins)).sum() / len(gap))
            continue
        b, n = idx.shape
        codes = bins[idx] + (np.arange(b)[:, None] * n_bins)
        sums = np.bincount(codes.ravel(), weights=gap[idx].ravel(), minlength=b * n_bins)
        out.append(np.abs(sums.reshape(b, n_bins)).sum(axis=1) / n)
    return np.stack(out, axis=-1)


def _binned(score: np.ndarray, hit: np.ndarray, n_bins: int) -> list[list[float | int | None]]:
    """Per equal-width bin of `score`: bin_low, bin_high, count, mean score, mean hit."""
    bins = calibration_bins(score, n_bins)
    rows: list[list[float | int | None]] = []
    for b in range(n_bins):
        mask = bins == b
        count = int(mask.sum())
        rows.append(
            [
                round(b / n_bins, 6),
                round((b + 1) / n_bins, 6),
                count,
                float(score[mask].mean()) if count else None,
                float(hit[mask].mean()) if count else None,
            ]
        )
    return rows


def reliability_table(
    probs: np.ndarray, y_true: np.ndarray, n_bins: int = 15
) -> list[list[float | int | None]]:
    """Rows of (bin_low, bin_high, count, mean confidence, accuracy) for a reliability diagram."""
    correct = probs.argmax(axis=1) == np.asarray(y_true)
    return _binned(probs.max(axis=1), correct, n_bins)


def classwise_reliability_table(
    probs: np.ndarray, y_true: np.ndarray, n_bins: int = 15
) -> list[list[float | int | None]]:
    """Rows of (class, bin_low, bin_high, count, mean p_class, frequency of class) per class:
    the bins classwise ECE sums over, for one reliability diagram per class."""
    y = np.asarray(y_true)
    return [
        [c, *row] for c in range(probs.shape[1]) for row in _binned(probs[:, c], y == c, n_bins)
    ]


def brier_score(probs: np.ndarray, y_true: np.ndarray) -> float:
    """Multiclass Brier score: mean over examples of sum_k (p_k - 1[y = k])^2."""
    onehot = np.eye(probs.shape[1])[np.asarray(y_true)]
    return float(((probs - onehot) ** 2).sum(axis=1).mean())


def negative_log_likelihood(probs: np.ndarray, y_true: np.ndarray, eps: float = 1e-12) -> float:
    p = probs[np.arange(len(probs)), np.asarray(y_true)]
    return float(-np.log(np.clip(p, eps, 1.0)).mean())


def bootstrap_indices(n: int, n_resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def bootstrap(
    statistic: Callable[[np.ndarray], np.ndarray],
    n: int,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, np.ndarray]:
    """Percentile CI of a batched statistic(idx: (B, n)) -> (B,), resampled in chunks."""
    rng = np.random.default_rng(seed)
    chunk = max(1, _MAX_CELLS // max(n, 1))
    values = []
    done = 0
    while done < n_resamples:
        b = min(chunk, n_resamples - done)
        values.append(np.asarray(statistic(rng.integers(0, n, size=(b, n))), dtype=np.float64))
        done += b
    dist = np.concatenate(values)
    alpha = (1 - confidence) / 2
    low, high = np.nanquantile(dist, [alpha, 1 - alpha])
    return float(low), float(high), dist

"""Group metrics through fairlearn's MetricFrame, counterfactual flips, and bootstrap CIs.

Point estimates come from fairlearn: a `MetricFrame` with accuracy, macro-F1 (a multiclass
metric passed as a callable) and one selection rate per class (that class against the rest),
its `difference()`/`ratio()` for demographic parity, and `equalized_odds_difference` on the
one-against-rest view of each class.

The CIs do not call MetricFrame once per resample: one MetricFrame with these metrics costs
tenths of a second, so 1000 take minutes per attribute (bench/fairness_bootstrap.py: the
batched route was ~4600x faster, same values, on 2 shared cores). They rebuild the same numbers
from per-group confusion matrices, batched over all resamples with one `bincount` (as
auditkit.metrics does), and resample *probes*, not rows: the
variants of one probe are the same sentence and move together. The tests check that both
routes give the same point values.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from auditkit import metrics as M


@dataclass
class GroupReport:
    """Everything computed for one attribute (or one metadata column)."""

    groups: list[str]
    n: np.ndarray  # (G,) rows per group
    accuracy: np.ndarray  # (G,)
    macro_f1: np.ndarray  # (G,)
    selection_rate: np.ndarray  # (G, K)
    dp_difference: np.ndarray  # (K,)
    dp_ratio: np.ndarray  # (K,)
    eo_difference: np.ndarray  # (K,)
    ci: dict[str, tuple[float, float]]  # "accuracy.<group>", "macro_f1.<group>", headline names


def _selection_rate(y_true, y_pred, *, cls: int) -> float:
    return float(np.mean(np.asarray(y_pred) == cls)) if len(y_pred) else float("nan")


def _macro_f1(y_true, y_pred, *, k: int) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, labels=list(range(k)), average="macro", zero_division=0))


def metric_frame(y_true: np.ndarray, y_pred: np.ndarray, sensitive: Sequence[str], k: int):
    """fairlearn MetricFrame: accuracy, macro_f1 and `selection_rate_<c>` for each class c."""
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import accuracy_score

    metrics = {"accuracy": accuracy_score, "macro_f1": partial(_macro_f1, k=k)}
    for c in range(k):
        metrics[f"selection_rate_{c}"] = partial(_selection_rate, cls=c)
    return MetricFrame(
        metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=list(sensitive)
    )


def equalized_odds_one_vs_rest(
    y_true: np.ndarray, y_pred: np.ndarray, sensitive: Sequence[str], cls: int
) -> float:
    """fairlearn's equalized odds difference with `cls` as the positive class.

    Undefined (NaN) when some group has no gold example of the class or none outside it.
    """
    from fairlearn.metrics import equalized_odds_difference

    y_true, sensitive_arr = np.asarray(y_true), np.asarray(sensitive)
    for g in np.unique(sensitive_arr):
        gold = y_true[sensitive_arr == g] == cls
        if gold.all() or not gold.any():
            return float("nan")
    return float(
        equalized_odds_difference(
            (y_true == cls).astype(int), (np.asarray(y_pred) == cls).astype(int),
            sensitive_features=sensitive_arr,
        )
    )  # fmt: skip


def grouped_confusions(
    y: np.ndarray, pred: np.ndarray, group: np.ndarray, k: int, g: int, idx: np.ndarray | None
) -> np.ndarray:
    """Confusion matrices per group: (G, K, K), or (B, G, K, K) over rows of `idx` (B, m)."""
    codes = (group * k + y) * k + pred
    size = g * k * k
    if idx is None:
        return np.bincount(codes, minlength=size).reshape(g, k, k)
    b = idx.shape[0]
    shifted = codes[idx] + (np.arange(b)[:, None] * size)
    return np.bincount(shifted.ravel(), minlength=b * size).reshape(b, g, k, k)


def rates_from_confusions(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per-group accuracy, macro-F1, selection rates, TPR/FPR and the parity gaps (batched)."""
    cm = cm.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        total = cm.sum(axis=(-2, -1))  # (..., G)
        f1 = M.f1_from_confusion(cm)
        predicted = cm.sum(axis=-2)  # (..., G, K)
        gold = cm.sum(axis=-1)
        tp = np.diagonal(cm, axis1=-2, axis2=-1)
        selection = predicted / total[..., None]
        tpr = np.where(gold > 0, tp / gold, np.nan)
        negatives = total[..., None] - gold
        fpr = np.where(negatives > 0, (predicted - tp) / negatives, np.nan)
        out = {
            "n": total,
            "accuracy": np.where(total > 0, tp.sum(-1) / total, np.nan),
            "macro_f1": np.where(total > 0, f1["macro_f1"], np.nan),
            "selection_rate": selection,
            "dp_difference": _spread(selection),
            "dp_ratio": _nanmin(selection, axis=-2) / _nanmax(selection, axis=-2),
            "eo_difference": np.maximum(_spread(tpr), _spread(fpr)),
        }
    return out


def _spread(x: np.ndarray) -> np.ndarray:
    """max - min over the group axis (-2); NaN where any group is undefined."""
    return x.max(axis=-2) - x.min(axis=-2)


def _nanmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        allnan = np.isnan(x).all(axis=axis)
        filled = np.where(np.isnan(x), -np.inf, x).max(axis=axis)
    return np.where(allnan, np.nan, filled)


def _nanmin(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return -_nanmax(-x, axis=axis)


def group_report(
    y: np.ndarray,
    pred: np.ndarray,
    group: np.ndarray,
    groups: list[str],
    k: int,
    *,
    clusters: np.ndarray | None = None,
    n_resamples: int,
    seed: int,
    confidence: float,
) -> GroupReport:
    """Group metrics for rows (y, pred, group code); CIs resample whole `clusters` (m, c)."""
    sensitive = [groups[i] for i in group]
    frame = metric_frame(y, pred, sensitive, k)
    by = frame.by_group.reindex(groups)
    sel_cols = [f"selection_rate_{c}" for c in range(k)]
    dp_diff = frame.difference(method="between_groups")[sel_cols].to_numpy(dtype=float)
    dp_ratio = frame.ratio(method="between_groups")[sel_cols].to_numpy(dtype=float)
    eo = np.array([equalized_odds_one_vs_rest(y, pred, sensitive, c) for c in range(k)])
    n = np.bincount(group, minlength=len(groups))

    if clusters is None:
        clusters = np.arange(len(y))[:, None]
    g = len(groups)

    def stat(key: str, reduce=None, col: int | None = None):
        def f(idx: np.ndarray) -> np.ndarray:
            rows = clusters[idx].reshape(idx.shape[0], -1)
            r = rates_from_confusions(grouped_confusions(y, pred, group, k, g, rows))[key]
            if col is not None:
                r = r[:, col]
            return reduce(r) if reduce else r

        return f

    boot = {"n_resamples": n_resamples, "seed": seed, "confidence": confidence}
    ci: dict[str, tuple[float, float]] = {}
    m = len(clusters)

    def interval(point: float, statistic) -> tuple[float, float]:
        # An undefined point (a group with no gold example of a class) gets no interval.
        # Resamples that drop a group are undefined too and are left out of the percentiles.
        if not m or not np.isfinite(point):
            return (float("nan"), float("nan"))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
            return M.bootstrap(statistic, m, **boot)[:2]

    for gi, name in enumerate(groups):
        for key in ("accuracy", "macro_f1"):
            ci[f"{key}.{name}"] = interval(float(by[key].iloc[gi]), stat(key, col=gi))
    ci["demographic_parity_difference"] = interval(
        headline(dp_diff, "max"), stat("dp_difference", _nanmax)
    )
    ci["demographic_parity_ratio"] = interval(headline(dp_ratio, "min"), stat("dp_ratio", _nanmin))
    ci["equalized_odds_difference"] = interval(headline(eo, "max"), stat("eo_difference", _nanmax))
    return GroupReport(
        groups=groups,
        n=n,
        accuracy=by["accuracy"].to_numpy(dtype=float),
        macro_f1=by["macro_f1"].to_numpy(dtype=float),
        selection_rate=by[sel_cols].to_numpy(dtype=float),
        dp_difference=dp_diff,
        dp_ratio=dp_ratio,
        eo_difference=eo,
        ci=ci,
    )


def headline(values: np.ndarray, worst: str) -> float:
    """The max (or min) over classes, ignoring undefined ones; NaN if all are undefined."""
    values = np.asarray(values, dtype=float)
    if np.isnan(values).all():
        return float("nan")
    return float(np.nanmax(values) if worst == "max" else np.nanmin(values))


# --------------------------------------------------------------------------- counterfactual


@dataclass
class FlipReport:
    pairs: list[tuple[str, str]]
    flip_rate: float  # share of probes whose predicted class is not the same for every group
    flip_ci: tuple[float, float]
    pair_flip_rate: np.ndarray  # (pairs,)
    pair_ci: list[tuple[float, float]]
    pair_delta: np.ndarray  # (pairs,) mean over probes of max_c |dp_c|
    pair_delta_per_class: np.ndarray  # (pairs, K)
    mean_abs_delta_p: float  # mean over probes and pairs of max_c |dp_c|
    mean_abs_delta_p_ci: tuple[float, float]
    mean_abs_delta_p_per_class: np.ndarray  # (K,)


def flip_report(
    probs: np.ndarray, groups: list[str], *, n_resamples: int, seed: int, confidence: float
) -> FlipReport:
    """Counterfactual flips from probabilities shaped (probes, groups, classes)."""
    p, g, k = probs.shape
    pred = probs.argmax(-1)  # (P, G)
    pairs = [(a, b) for a in range(g) for b in range(a + 1, g)]
    flips = (pred != pred[:, :1]).any(axis=1).astype(np.float64)  # (P,)
    pair_flips = np.stack([pred[:, a] != pred[:, b] for a, b in pairs], axis=1).astype(float)
    delta = np.stack([np.abs(probs[:, a] - probs[:, b]) for a, b in pairs], axis=1)  # (P, pr, K)
    delta_max = delta.max(-1)  # (P, pairs)
    per_probe_delta = delta_max.mean(-1)  # (P,)
    boot = {"n_resamples": n_resamples, "seed": seed, "confidence": confidence}

    def mean_ci(values: np.ndarray) -> tuple[float, float]:
        if p == 0:
            return (float("nan"), float("nan"))
        return M.bootstrap(lambda idx: values[idx].mean(1), p, **boot)[:2]

    empty = np.full(len(pairs), np.nan)
    return FlipReport(
        pairs=[(groups[a], groups[b]) for a, b in pairs],
        flip_rate=float(flips.mean()) if p else float("nan"),
        flip_ci=mean_ci(flips),
        pair_flip_rate=pair_flips.mean(0) if p else empty,
        pair_ci=[mean_ci(pair_flips[:, i]) for i in range(len(pairs))],
        pair_delta=delta_max.mean(0) if p else empty,
        pair_delta_per_class=delta.mean(0) if p else np.full((len(pairs), k), np.nan),
        mean_abs_delta_p=float(per_probe_delta.mean()) if p else float("nan"),
        mean_abs_delta_p_ci=mean_ci(per_probe_delta),
        mean_abs_delta_p_per_class=delta.mean((0, 1)) if p else np.full(k, np.nan),
    )

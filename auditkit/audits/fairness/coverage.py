"""Conformal coverage per fairness group: the performance audit's prediction sets, applied to
the fairness audit's probes and metadata columns.

Split conformal promises coverage on average over examples, not per group (Vovk 2012;
Romano et al. 2020 on equalised coverage), so a group can be covered well below 1 - alpha
while the average holds. The thresholds are the performance audit's (its `conformal` table),
so the sets are the ones a deployment would use; this module only measures them per group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auditkit import conformal
from auditkit.api.results import AuditResult, Metric


def calibrations(performance: AuditResult | None) -> list[conformal.Calibration]:
    """The (score, alpha, threshold) rows the performance audit calibrated, if it ran."""
    table = performance.tables.get("conformal") if performance is not None else None
    if table is None:
        return []
    col = {name: i for i, name in enumerate(table.columns)}
    if not {"score", "alpha", "threshold"} <= set(col):
        return []
    out = []
    for row in table.rows:
        threshold = row[col["threshold"]]
        out.append(
            conformal.Calibration(
                score=str(row[col["score"]]),
                alpha=float(row[col["alpha"]]),
                threshold=float("inf") if threshold is None else float(threshold),
                n=0,
            )
        )
    return out


@dataclass
class GroupCoverage:
    rows: list[list]
    metrics: dict[str, Metric]


def by_group(
    name: str,
    probs: np.ndarray,
    y: np.ndarray,
    groups: list[str],
    cals: list[conformal.Calibration],
    boot: dict,
) -> GroupCoverage:
    """Coverage per group for each calibration, and the largest gap between groups.

    `probs` is (P, G, K) with `y` (P,): probe p's variant for group g (counterfactual probes,
    resampled by probe, so each resample keeps every group's variant of a probe); or it is
    (N, K) with `y` (N,) and `groups` one name per row (a metadata column)."""
    rows: list[list] = []
    metrics: dict[str, Metric] = {}
    if probs.ndim == 3:
        names = list(groups)
        codes = None
    else:
        names = sorted(set(groups))
        codes = np.array([names.index(g) for g in groups], dtype=np.int64)
    for cal in cals:
        if probs.ndim == 3:
            p, g, k = probs.shape
            sets = cal.sets(probs.reshape(p * g, k)).reshape(p, g, k)
            covered = np.take_along_axis(sets, y[:, None, None].repeat(g, 1), axis=2)[..., 0]
            per = [conformal.coverage(sets[:, j], y, **boot) for j in range(g)]
        else:
            sets = cal.sets(probs)
            covered = sets[np.arange(len(y)), y]
            per = [
                conformal.coverage(sets[codes == j], y[codes == j], **boot)
                for j in range(len(names))
            ]
        for j, group in enumerate(names):
            c = per[j]
            rows.append(
                [name, group, cal.score, cal.alpha, c.n, c.coverage, *c.coverage_ci, c.set_size]
            )
        values = [c.coverage for c in per if c.coverage is not None]
        if len(values) < 2:
            continue
        low, high = _gap_ci(covered, codes, len(names), boot)
        key = f"{name}.conformal.{cal.score}.{conformal.alpha_key(cal.alpha)}.coverage_gap"
        metrics[key] = Metric(
            value=float(max(values) - min(values)),
            ci_low=low,
            ci_high=high,
            higher_is_better=False,
            description=f"largest gap in {cal.score.upper()} set coverage between groups at "
            f"alpha {cal.alpha:g} (the performance audit's threshold)",
        )
    return GroupCoverage(rows, metrics)


def _gap_ci(covered: np.ndarray, codes: np.ndarray | None, n_groups: int, boot: dict):
    """Bootstrap CI of max - min group coverage: by probe for (P, G), by row for a column."""
    from auditkit import metrics as M

    if codes is None:

        def stat(idx):
            per = covered[idx].mean(axis=1)  # (B, G)
            return per.max(axis=1) - per.min(axis=1)

        n = covered.shape[0]
    else:
        hits = covered.astype(np.float64)

        def stat(idx):
            b = idx.shape[0]
            cells = codes[idx] + np.arange(b)[:, None] * n_groups
            count = np.bincount(cells.ravel(), minlength=b * n_groups).reshape(b, n_groups)
            got = np.bincount(cells.ravel(), weights=hits[idx].ravel(), minlength=b * n_groups)
            with np.errstate(invalid="ignore"):
                per = got.reshape(b, n_groups) / count
            return np.nanmax(per, axis=1) - np.nanmin(per, axis=1)

        n = len(covered)
    low, high, _ = M.bootstrap(stat, n, **boot)
    return low, high

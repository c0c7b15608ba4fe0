"""Conformal prediction sets in the performance audit: calibrate, measure on the test split,
and turn the measurements into metrics and tables (the method is in auditkit/conformal.py).

Calibration is on the validation split; with none, each half of the test split is calibrated
on the other half (the halves the temperature cross-fit uses). The `threshold` reported is
the one to deploy: from the validation split, or without one from the whole test split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auditkit import conformal
from auditkit.api.results import Metric, Table
from auditkit.audits.performance.outputs import OUTPUTS


@dataclass
class Measured:
    """One (score, alpha): the deployable calibration and the test split's coverage."""

    calibration: conformal.Calibration
    n_calibration: str
    overall: conformal.Coverage
    by_class: list[conformal.Coverage]


def measure(
    probs: np.ndarray,
    y: np.ndarray,
    val_probs: np.ndarray | None,
    y_val: np.ndarray | None,
    *,
    scores: list[str],
    alphas: list[float],
    boot: dict,
) -> list[Measured]:
    """Every (score, alpha) in the suite's order, scores outermost."""
    k = probs.shape[1]
    out = []
    for score in scores:
        for alpha in alphas:
            if val_probs is not None and y_val is not None:
                cal = conformal.calibrate(val_probs, y_val, score, alpha)
                sets, n_cal = cal.sets(probs), str(cal.n)
            else:
                sets, fits = conformal.cross_fit_sets(probs, y, score, alpha, seed=boot["seed"])
                cal = conformal.calibrate(probs, y, score, alpha)
                n_cal = f"{fits[0].n} and {fits[1].n}"
            overall = conformal.coverage(sets, y, **boot)
            by_class = [conformal.coverage(sets[y == c], y[y == c], **boot) for c in range(k)]
            out.append(Measured(cal, n_cal, overall, by_class))
    return out


def outputs(
    measured: list[Measured], labels: list[str], how: str
) -> tuple[dict[str, Metric], dict[str, Table], list[str]]:
    """Metrics `conformal.<score>.<alpha>.*`, tables `conformal` and `conformal_by_class`, and
    warnings for thresholds the calibration split is too small to set."""
    metrics: dict[str, Metric] = {}
    rows, class_rows, warnings = [], [], []
    for m in measured:
        cal, cov = m.calibration, m.overall
        prefix = f"conformal.{cal.score}.{conformal.alpha_key(cal.alpha)}"
        target = 1 - cal.alpha
        threshold = None if np.isinf(cal.threshold) else cal.threshold
        said = f"{cal.score.upper()} sets at alpha {cal.alpha:g}, {how}"
        metrics[f"{prefix}.coverage"] = Metric(
            value=cov.coverage,
            ci_low=cov.coverage_ci[0],
            ci_high=cov.coverage_ci[1],
            higher_is_better=True,
            description=f"share of test sets holding the gold label (target {target:g}); {said}",
        )
        metrics[f"{prefix}.set_size"] = Metric(
            value=cov.set_size,
            ci_low=cov.set_size_ci[0],
            ci_high=cov.set_size_ci[1],
            higher_is_better=False,
            unit="classes",
            description=f"mean prediction-set size; {said}",
        )
        metrics[f"{prefix}.singleton_share"] = Metric(
            value=cov.singleton_share,
            ci_low=cov.singleton_ci[0],
            ci_high=cov.singleton_ci[1],
            higher_is_better=True,
            description=f"share of test sets with exactly one label; {said}",
        )
        worst = min(
            (c for c in range(len(labels)) if m.by_class[c].n),
            key=lambda c: m.by_class[c].coverage,
            default=None,
        )
        if worst is not None:
            wc = m.by_class[worst]
            metrics[f"{prefix}.worst_class_coverage"] = Metric(
                value=wc.coverage,
                ci_low=wc.coverage_ci[0],
                ci_high=wc.coverage_ci[1],
                higher_is_better=True,
                description=f"lowest per-class coverage ({labels[worst]}, n={wc.n}); {said}",
            )
        metrics[f"{prefix}.threshold"] = Metric(
            value=threshold,
            description=f"include a class when its {cal.score} score is at most this; {said}",
        )
        if threshold is None:
            warnings.append(
                f"conformal {cal.score} at alpha {cal.alpha:g}: {cal.n} calibration examples "
                f"are too few (need at least {conformal.min_calibration(cal.alpha)}); every set is "
                "the full label set"
            )
        rows.append(
            [
                cal.score, cal.alpha, target, m.n_calibration, threshold,
                cov.coverage, *cov.coverage_ci, cov.set_size, *cov.set_size_ci,
                cov.singleton_share, cov.empty_share,
            ]
        )  # fmt: skip
        for c, cc in enumerate(m.by_class):
            class_rows.append(
                [cal.score, cal.alpha, labels[c], cc.n, cc.coverage, *cc.coverage_ci, cc.set_size]
            )
    tables = {
        "conformal": Table(
            columns=OUTPUTS.columns("conformal"),
            rows=rows,
            description=f"split conformal prediction sets on the test split, {how}",
        ),
        "conformal_by_class": Table(
            columns=OUTPUTS.columns("conformal_by_class"),
            rows=class_rows,
            description="coverage per gold class: split conformal promises it only on average",
        ),
    }
    return metrics, tables, warnings

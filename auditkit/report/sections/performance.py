"""The performance section: confusion matrix, reliability diagram, per-class bars with CIs."""

from __future__ import annotations

from pathlib import Path

from auditkit.api.results import AuditResult, RunResults
from auditkit.report import plots
from auditkit.report.plots import Series
from auditkit.report.views import SectionView, artifact_path, table_records

MEASURES = ("precision", "recall", "f1")


def build(view: SectionView, audit: AuditResult, results: RunResults, run_dir: Path) -> None:
    view.intro = "Accuracy, F1 and calibration on the test split, with bootstrap CIs."
    _confusion_matrix(view, audit)
    _reliability_diagram(view, audit)
    _per_class_bars(view, audit, results, run_dir)


def _confusion_matrix(view: SectionView, audit: AuditResult) -> None:
    cm = audit.tables.get("confusion_matrix")
    if cm is None:
        view.missing("`confusion_matrix` table", "confusion matrix")
        return
    view.figure(
        "Confusion matrix",
        lambda: plots.heatmap(
            [row[1:] for row in cm.rows],
            [str(row[0]) for row in cm.rows],
            cm.columns[1:],
            key="performance-confusion",
            xlabel="predicted",
            ylabel="gold",
        ),
        "Rows are gold labels, columns predicted labels; counts of test examples.",
    )


def _reliability_diagram(view: SectionView, audit: AuditResult) -> None:
    rel = table_records(audit, "reliability")
    if rel is None:
        view.missing("`reliability` table", "reliability diagram")
        return
    view.figure(
        "Reliability diagram",
        lambda: plots.reliability_diagram(rel, key="performance-reliability"),
        "Accuracy per confidence bin against the diagonal of perfect calibration.",
    )


def _per_class_bars(
    view: SectionView, audit: AuditResult, results: RunResults, run_dir: Path
) -> None:
    per_class = table_records(audit, "per_class")
    if per_class is None:
        view.missing("`per_class` table", "per-class bars")
        return
    labels = [str(r["label"]) for r in per_class]
    cis, how = _per_class_cis(audit, results, run_dir, labels)
    caption = "Precision, recall and F1 per class" + (
        f"; whiskers: {how}." if cis else " (no predictions artifact, so no CIs)."
    )

    def make() -> str:
        series = []
        for measure in MEASURES:
            low = [cis.get((measure, str(r["label"])), (None, None))[0] for r in per_class]
            high = [cis.get((measure, str(r["label"])), (None, None))[1] for r in per_class]
            values = [r[measure] for r in per_class]
            series.append(Series(measure, values, low if cis else None, high if cis else None))
        return plots.bar_chart(
            [str(r["label"]) for r in per_class],
            series,
            key="performance-per-class",
            ylim=(0, 1.08),
        )

    view.figure("Per-class precision, recall and F1", make, caption)


def _per_class_cis(
    audit: AuditResult, results: RunResults, run_dir: Path, labels: list[str]
) -> tuple[dict[tuple[str, str], tuple[float, float]], str]:
    """Bootstrap CIs for per-class scores from predictions.parquet (the table has none)."""
    path = artifact_path(run_dir, audit.artifacts.get("predictions"))
    if path is None:
        return {}, ""
    import numpy as np
    import pandas as pd

    from auditkit import metrics as M

    frame = pd.read_parquet(path, columns=["label_name", "pred_name"])
    index = {name: i for i, name in enumerate(labels)}
    if not set(frame["label_name"]) | set(frame["pred_name"]) <= set(index):
        return {}, ""
    y = frame["label_name"].map(index).to_numpy(dtype=np.int64)
    pred = frame["pred_name"].map(index).to_numpy(dtype=np.int64)
    resamples = int(audit.config.get("bootstrap", 1000) or 1000)
    confidence = float(audit.config.get("confidence", 0.95) or 0.95)
    k, n = len(labels), len(y)
    if n == 0:
        return {}, ""
    out = {}
    for measure in MEASURES:
        for c, label in enumerate(labels):

            def stat(idx, measure=measure, c=c):
                return M.f1_from_confusion(M.confusion_counts(y, pred, k, idx))[measure][:, c]

            low, high, _ = M.bootstrap(
                stat, n, n_resamples=resamples, seed=results.manifest.seed, confidence=confidence
            )
            out[(measure, label)] = (low, high)
    return out, f"{confidence:.0%} bootstrap CIs over the test predictions ({resamples} resamples)"

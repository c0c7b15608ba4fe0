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
    _classwise_reliability(view, audit)
    _conformal(view, audit)


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
    after = table_records(audit, "calibration_reliability")
    if after is not None:
        t = audit.metrics.get("calibration.temperature")
        said = f" (T = {t.value:.3g})" if t is not None and t.value is not None else ""
        view.figure(
            "Reliability before and after temperature scaling",
            lambda: plots.reliability_diagrams(
                [("the model", rel), (f"after temperature scaling{said}", after)],
                key="performance-reliability-calibrated",
            ),
            "Accuracy per confidence bin against the diagonal of perfect calibration, before "
            "and after dividing the logits by the temperature fitted on held-out data. "
            + (f"T was {t.description}." if t is not None and t.description else ""),
        )
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


def _classwise_reliability(view: SectionView, audit: AuditResult) -> None:
    rows = table_records(audit, "classwise_reliability")
    if rows is None:
        return  # older results have no classwise table; the overall diagram stands alone
    labels = list(dict.fromkeys(str(r["label"]) for r in rows))
    panels = [
        (
            label,
            [
                {**r, "confidence": r["mean_probability"], "accuracy": r["frequency"]}
                for r in rows
                if str(r["label"]) == label
            ],
        )
        for label in labels
    ]
    view.figure(
        "Reliability per class",
        lambda: plots.reliability_diagrams(
            panels,
            key="performance-classwise-reliability",
            xlabel="predicted probability",
            ylabel="frequency",
            legend=False,
        ),
        "For each class, its predicted probability (over every test example, binned) against "
        "how often it is the gold class (bars), with the mean probability in each bin (dots) "
        "and the diagonal of perfect calibration: the bins classwise ECE sums over.",
    )


def _conformal(view: SectionView, audit: AuditResult) -> None:
    rows = table_records(audit, "conformal")
    if not rows:
        return
    view.figure(
        "Conformal prediction sets: coverage and set size",
        lambda: plots.coverage_chart(rows, key="performance-conformal"),
        "Left: the share of test sets that hold the gold label, with its Clopper-Pearson CI, "
        "against the target 1 - alpha (on or above the dashed line is the promise kept). "
        "Right: what the promise costs, in labels per set. Coverage is promised on average "
        "over examples, not per class: see the `conformal_by_class` table.",
    )

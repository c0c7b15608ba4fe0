"""One view-model per audit: the generic part (metrics, tables) plus that audit's plots.

Names follow docs/audit-outputs.md. Every plot reads a documented table or artifact and is
skipped, with a note, when that is absent; everything else in the results still shows through
the generic metric and table listings, so a name added later is never hidden.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auditkit.api.results import AuditResult, RunResults
from auditkit.report import plots
from auditkit.report.plots import Series
from auditkit.report.views import (
    Block,
    SectionView,
    artifact_path,
    changed_pair,
    diff_words,
    fmt,
    read_jsonl,
    table_records,
)

TITLES = {
    "performance": "Performance",
    "robustness": "Robustness",
    "fairness": "Fairness",
    "explanations": "Explanations",
    "efficiency": "Efficiency",
}
MAX_EXAMPLES = 20


def _metric_ci(audit: AuditResult, key: str) -> tuple[Any, Any]:
    m = audit.metrics.get(key)
    return (m.ci_low, m.ci_high) if m is not None else (None, None)


def _num(v: Any) -> float | None:
    try:
        out = float(v)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


# --- performance -------------------------------------------------------------------------


def performance(view: SectionView, audit: AuditResult, results: RunResults, run_dir: Path) -> None:
    view.intro = "Accuracy, F1 and calibration on the test split, with bootstrap CIs."
    cm = audit.tables.get("confusion_matrix")
    if cm is not None:
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
    else:
        view.missing("`confusion_matrix` table", "confusion matrix")
    rel = table_records(audit, "reliability")
    if rel is not None:
        view.figure(
            "Reliability diagram",
            lambda: plots.reliability_diagram(rel, key="performance-reliability"),
            "Accuracy per confidence bin against the diagonal of perfect calibration.",
        )
    else:
        view.missing("`reliability` table", "reliability diagram")
    per_class = table_records(audit, "per_class")
    if per_class is not None:
        cis, how = _per_class_cis(audit, results, run_dir, [str(r["label"]) for r in per_class])
        caption = "Precision, recall and F1 per class" + (
            f"; whiskers: {how}." if cis else " (no predictions artifact, so no CIs)."
        )

        def make() -> str:
            series = []
            for measure in ("precision", "recall", "f1"):
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
    else:
        view.missing("`per_class` table", "per-class bars")


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
    for measure in ("precision", "recall", "f1"):
        for c, label in enumerate(labels):

            def stat(idx, measure=measure, c=c):
                return M.f1_from_confusion(M.confusion_counts(y, pred, k, idx))[measure][:, c]

            low, high, _ = M.bootstrap(
                stat, n, n_resamples=resamples, seed=results.manifest.seed, confidence=confidence
            )
            out[(measure, label)] = (low, high)
    return out, f"{confidence:.0%} bootstrap CIs over the test predictions ({resamples} resamples)"


# --- robustness --------------------------------------------------------------------------


def robustness(view: SectionView, audit: AuditResult, results: RunResults, run_dir: Path) -> None:
    view.intro = (
        "Adversarial attacks per recipe, prediction flips under meaning-preserving "
        "perturbations, and the effect of adversarial training."
    )
    attacks = table_records(audit, "attacks")
    if attacks:
        recipes = [str(r["recipe"]) for r in attacks]

        def make() -> str:
            series = []
            for col in ("clean_accuracy", "accuracy_under_attack", "attack_success_rate"):
                cis = [_metric_ci(audit, f"{r.lower()}.{col}") for r in recipes]
                series.append(
                    Series(
                        col.replace("_", " "),
                        [row.get(col) for row in attacks],
                        [c[0] for c in cis],
                        [c[1] for c in cis],
                    )
                )
            return plots.bar_chart(recipes, series, key="robustness-attacks", ylim=(0, 1.12))

        view.figure(
            "Attacks per recipe",
            make,
            "Accuracy before and under attack, and the share of attacked examples flipped.",
        )
    else:
        view.missing("`attacks` table", "attack bars")
    inv = table_records(audit, "invariance")
    if inv:
        view.figure(
            "Invariance: flip rate per perturbation",
            lambda: plots.bar_chart(
                [str(r["perturbation"]) for r in inv],
                [
                    Series(
                        "flip rate",
                        [r.get("flip_rate") for r in inv],
                        [r.get("ci_low") for r in inv],
                        [r.get("ci_high") for r in inv],
                    )
                ],
                key="robustness-invariance",
                ylabel="flip rate",
            ),
            "Share of perturbed texts whose prediction changed; whiskers are CIs.",
        )
    else:
        view.missing("`invariance` table", "flip-rate bars")
    adv = table_records(audit, "adversarial_training")
    if adv:
        view.figure(
            "Adversarial training: before and after",
            lambda: plots.bar_chart(
                [f"{r['recipe']}: {str(r['metric']).replace('_', ' ')}" for r in adv],
                [
                    Series(
                        "before",
                        [r.get("before") for r in adv],
                        [r.get("before_ci_low") for r in adv],
                        [r.get("before_ci_high") for r in adv],
                    ),
                    Series(
                        "after",
                        [r.get("after") for r in adv],
                        [r.get("after_ci_low") for r in adv],
                        [r.get("after_ci_high") for r in adv],
                    ),
                ],
                key="robustness-adversarial-training",
            ),
            "The plain model (before) against the model fine-tuned on adversarial examples.",
        )
    path = artifact_path(run_dir, audit.artifacts.get("attacks"))
    if path is not None:
        records = read_jsonl(path, view.notes)
        shown = [r for r in records if r.get("outcome") == "succeeded"]
        shown.sort(key=lambda r: (r.get("phase") != "before", str(r.get("recipe"))))
        rows = []
        for r in shown[:MAX_EXAMPLES]:
            orig, pert = changed_pair(
                r.get("original", ""), r.get("perturbed", ""), r.get("changed_words")
            )
            rows.append(
                {
                    "meta": [
                        ("recipe", r.get("recipe")),
                        ("phase", r.get("phase")),
                        ("label", r.get("label_name")),
                        ("queries", fmt(r.get("queries"))),
                    ],
                    "a": orig,
                    "b": pert,
                    "a_label": f"original → {_pred_name(r.get('pred_before'), results)}",
                    "b_label": f"perturbed → {_pred_name(r.get('pred_after'), results)}",
                    "score": None,
                }
            )
        view.blocks.append(
            Block(
                "pairs",
                "Adversarial examples",
                rows,
                f"{len(shown)} successful attack(s) of {len(records)} attacked; "
                f"showing {len(rows)}. Changed words are highlighted.",
            )
        )
    else:
        view.missing("`attacks` artifact", "adversarial examples")
    flips_path = artifact_path(run_dir, audit.artifacts.get("invariance_flips"))
    if flips_path is not None:
        records = read_jsonl(flips_path, view.notes)
        rows = []
        for r in records[:MAX_EXAMPLES]:
            a, b = diff_words(r.get("original", ""), r.get("perturbed", ""))
            rows.append(
                {
                    "meta": [
                        ("perturbation", r.get("perturbation")),
                        ("label", r.get("label_name")),
                    ],
                    "a": a,
                    "b": b,
                    "a_label": f"original → {_pred_name(r.get('pred_before'), results)}",
                    "b_label": f"perturbed → {_pred_name(r.get('pred_after'), results)}",
                    "score": None,
                }
            )
        view.blocks.append(
            Block("pairs", "Invariance flips", rows, f"showing {len(rows)} of {len(records)}.")
        )


def _pred_name(pred: Any, results: RunResults) -> str:
    """A label name from an index or a name (artifacts may hold either)."""
    labels = results.data.label_names if results.data else []
    if isinstance(pred, int) and not isinstance(pred, bool) and 0 <= pred < len(labels):
        return labels[pred]
    return fmt(pred)


# --- fairness ----------------------------------------------------------------------------


def fairness(view: SectionView, audit: AuditResult, results: RunResults, run_dir: Path) -> None:
    view.intro = (
        "Group metrics per sensitive attribute, parity differences, and counterfactual probes "
        "that swap only the identity term."
    )
    groups = table_records(audit, "group_metrics")
    if groups:
        by_attr: dict[str, list[dict]] = defaultdict(list)
        for r in groups:
            by_attr[str(r["attribute"])].append(r)
        for attr, rows in by_attr.items():
            view.figure(
                f"{attr}: accuracy and macro-F1 per group",
                _group_bars(attr, rows),
                "Whiskers are bootstrap CIs within each group.",
            )
            rate_cols = [c for c in rows[0] if str(c).startswith("selection_rate_")]
            if rate_cols:
                view.figure(
                    f"{attr}: selection rate per class",
                    _selection_bars(attr, rows, rate_cols),
                    "Share of each group predicted as each class (demographic parity).",
                )
    else:
        view.missing("`group_metrics` table", "per-group bars")
    flips = table_records(audit, "flip_rates")
    if flips:
        view.figure(
            "Counterfactual flip rate per group pair",
            lambda: plots.bar_chart(
                [f"{r['attribute']}: {r['group_a']}↔{r['group_b']}" for r in flips],
                [
                    Series(
                        "flip rate",
                        [r.get("flip_rate") for r in flips],
                        [r.get("ci_low") for r in flips],
                        [r.get("ci_high") for r in flips],
                    )
                ],
                key="fairness-flip-rates",
                ylabel="flip rate",
            ),
            "Share of probes whose prediction changed when only the group term was swapped.",
        )
    parity = table_records(audit, "parity")
    if parity:
        view.figure(
            "Parity differences",
            lambda: plots.bar_chart(
                [f"{r['attribute']}: {r['class']}" for r in parity],
                [
                    Series(
                        "demographic parity diff.",
                        [r.get("demographic_parity_difference") for r in parity],
                    ),
                    Series(
                        "equalized odds diff.", [r.get("equalized_odds_difference") for r in parity]
                    ),
                ],
                key="fairness-parity",
            ),
            "Per class, one class against the rest; 0 is parity.",
        )
    else:
        view.missing("`parity` table", "parity bars")
    path = artifact_path(run_dir, audit.artifacts.get("flips"))
    if path is not None:
        records = read_jsonl(path, view.notes)
        records.sort(
            key=lambda r: (r.get("pred_a") == r.get("pred_b"), -(_num(r.get("delta_p")) or 0.0))
        )
        rows = []
        for r in records[:MAX_EXAMPLES]:
            a, b = diff_words(r.get("text_a", ""), r.get("text_b", ""))
            rows.append(
                {
                    "meta": [("attribute", r.get("attribute")), ("probe", r.get("probe_id"))],
                    "a": a,
                    "b": b,
                    "a_label": f"{fmt(r.get('group_a'))} → {fmt(r.get('pred_a'))}",
                    "b_label": f"{fmt(r.get('group_b'))} → {fmt(r.get('pred_b'))}",
                    "score": f"max |Δp| {fmt(r.get('delta_p'), 3)}",
                }
            )
        n_flipped = sum(1 for r in records if r.get("pred_a") != r.get("pred_b"))
        view.blocks.append(
            Block(
                "pairs",
                "Worst counterfactual flips",
                rows,
                f"{n_flipped} of {len(records)} probe pairs changed prediction; the "
                f"{len(rows)} with flips and the largest probability shift first.",
            )
        )
    else:
        view.missing("`flips` artifact", "counterfactual pairs")


def _group_bars(attr: str, rows: list[dict]) -> Callable[[], str]:
    def make() -> str:
        series = [
            Series(
                name,
                [r.get(name) for r in rows],
                [r.get(f"{name}_ci_low") for r in rows],
                [r.get(f"{name}_ci_high") for r in rows],
            )
            for name in ("accuracy", "macro_f1")
            if name in rows[0]
        ]
        labels = [f"{r['group']} (n={fmt(r.get('n'))})" for r in rows]
        return plots.bar_chart(labels, series, key=f"fairness-groups-{attr}", ylim=(0, 1.12))

    return make


def _selection_bars(attr: str, rows: list[dict], cols: list[str]) -> Callable[[], str]:
    def make() -> str:
        series = [
            Series(col.removeprefix("selection_rate_"), [r.get(col) for r in rows]) for col in cols
        ]
        return plots.bar_chart(
            [str(r["group"]) for r in rows],
            series,
            key=f"fairness-selection-{attr}",
            ylim=(0, 1.12),
            ylabel="selection rate",
        )

    return make

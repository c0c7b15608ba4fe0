"""The robustness section: attacks per recipe, invariance flip rates, adversarial training,
and the adversarial and invariance-flip examples side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditkit.api.results import AuditResult, RunResults
from auditkit.report import plots
from auditkit.report.plots import Series
from auditkit.report.sections.common import MAX_EXAMPLES, pair_row
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

ATTACK_COLUMNS = ("clean_accuracy", "accuracy_under_attack", "attack_success_rate")


def build(view: SectionView, audit: AuditResult, results: RunResults, run_dir: Path) -> None:
    view.intro = (
        "Adversarial attacks per recipe, prediction flips under meaning-preserving "
        "perturbations, and the effect of adversarial training."
    )
    _attack_bars(view, audit)
    _validity_ladder(view, audit)
    _invariance_bars(view, audit)
    _adversarial_training_bars(view, audit)
    _adversarial_examples(view, audit, results, run_dir)
    _invariance_flips(view, audit, results, run_dir)


def _metric_ci(audit: AuditResult, key: str) -> tuple[Any, Any]:
    m = audit.metrics.get(key)
    return (m.ci_low, m.ci_high) if m is not None else (None, None)


def _pred_name(pred: Any, results: RunResults) -> str:
    """A label name from an index or a name (artifacts may hold either)."""
    labels = results.data.label_names if results.data else []
    if isinstance(pred, int) and not isinstance(pred, bool) and 0 <= pred < len(labels):
        return labels[pred]
    return fmt(pred)


def _attack_bars(view: SectionView, audit: AuditResult) -> None:
    attacks = table_records(audit, "attacks")
    if not attacks:
        view.missing("`attacks` table", "attack bars")
        return
    recipes = [str(r["recipe"]) for r in attacks]

    def make() -> str:
        series = []
        for col in ATTACK_COLUMNS:
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


def _validity_ladder(view: SectionView, audit: AuditResult) -> None:
    ladder = table_records(audit, "validity_ladder")
    if not ladder:
        return
    recipes = list(dict.fromkeys(str(r["recipe"]) for r in ladder))

    def make() -> str:
        series = []
        for recipe in recipes:
            rows = [r for r in ladder if str(r["recipe"]) == recipe]
            s = Series.from_records(rows, "accuracy_under_valid_attack", recipe)
            series.append(Series(s.name, s.values, s.low, s.high, x=[r["threshold"] for r in rows]))
        return plots.line_chart(
            series,
            key="robustness-validity-ladder",
            xlabel="similarity threshold for a valid attack",
            ylabel="accuracy under valid attack",
        )

    view.figure(
        "Attack validity: accuracy at stricter similarity thresholds",
        make,
        "Only attacks whose sentence-encoder cosine reaches the threshold count. Human raters "
        "support about 0.98 (Morris et al., 2020); 0.8 is the common default.",
    )


def _invariance_bars(view: SectionView, audit: AuditResult) -> None:
    inv = table_records(audit, "invariance")
    if not inv:
        view.missing("`invariance` table", "flip-rate bars")
        return
    view.figure(
        "Invariance: flip rate per perturbation",
        lambda: plots.bar_chart(
            [str(r["perturbation"]) for r in inv],
            [Series.from_records(inv, "flip_rate", "flip rate", bounds=("ci_low", "ci_high"))],
            key="robustness-invariance",
            ylabel="flip rate",
        ),
        "Share of perturbed texts whose prediction changed; whiskers are CIs.",
    )


def _adversarial_training_bars(view: SectionView, audit: AuditResult) -> None:
    adv = table_records(audit, "adversarial_training")
    if not adv:
        return
    view.figure(
        "Adversarial training: before and after",
        lambda: plots.bar_chart(
            [f"{r['recipe']}: {str(r['metric']).replace('_', ' ')}" for r in adv],
            [Series.from_records(adv, "before"), Series.from_records(adv, "after")],
            key="robustness-adversarial-training",
        ),
        "The plain model (before) against the model fine-tuned on adversarial examples.",
    )


def _adversarial_examples(
    view: SectionView, audit: AuditResult, results: RunResults, run_dir: Path
) -> None:
    path = artifact_path(run_dir, audit.artifacts.get("attacks"))
    if path is None:
        view.missing("`attacks` artifact", "adversarial examples")
        return
    records = read_jsonl(path, view.notes)
    shown = [r for r in records if r.get("outcome") == "succeeded"]
    shown.sort(key=lambda r: (r.get("phase") != "before", str(r.get("recipe"))))
    rows = []
    for r in shown[:MAX_EXAMPLES]:
        orig, pert = changed_pair(
            r.get("original", ""), r.get("perturbed", ""), r.get("changed_words")
        )
        meta = [
            ("recipe", r.get("recipe")),
            ("phase", r.get("phase")),
            ("label", r.get("label_name")),
            ("queries", fmt(r.get("queries"))),
        ]
        rows.append(pair_row(meta, orig, pert, *_flip_labels(r, results)))
    view.blocks.append(
        Block(
            "pairs",
            "Adversarial examples",
            rows,
            f"{len(shown)} successful attack(s) of {len(records)} attacked; "
            f"showing {len(rows)}. Changed words are highlighted.",
        )
    )


def _invariance_flips(
    view: SectionView, audit: AuditResult, results: RunResults, run_dir: Path
) -> None:
    path = artifact_path(run_dir, audit.artifacts.get("invariance_flips"))
    if path is None:
        return
    records = read_jsonl(path, view.notes)
    rows = []
    for r in records[:MAX_EXAMPLES]:
        a, b = diff_words(r.get("original", ""), r.get("perturbed", ""))
        meta = [("perturbation", r.get("perturbation")), ("label", r.get("label_name"))]
        rows.append(pair_row(meta, a, b, *_flip_labels(r, results)))
    view.blocks.append(
        Block("pairs", "Invariance flips", rows, f"showing {len(rows)} of {len(records)}.")
    )


def _flip_labels(record: dict[str, Any], results: RunResults) -> tuple[str, str]:
    """The labels over an original and its perturbed text: each with its prediction."""
    return (
        f"original → {_pred_name(record.get('pred_before'), results)}",
        f"perturbed → {_pred_name(record.get('pred_after'), results)}",
    )

"""The fairness section: group metrics and selection rates per sensitive attribute, parity
differences, counterfactual flip rates and the worst counterfactual pairs."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from auditkit.api.results import AuditResult, RunResults
from auditkit.report import plots
from auditkit.report.plots import Series
from auditkit.report.sections.common import MAX_EXAMPLES, group_by, pair_row
from auditkit.report.views import (
    Block,
    SectionView,
    artifact_path,
    diff_words,
    fmt,
    read_jsonl,
    table_records,
)


def build(view: SectionView, audit: AuditResult, results: RunResults, run_dir: Path) -> None:
    view.intro = (
        "Group metrics per sensitive attribute, parity differences, and counterfactual probes "
        "that swap only the identity term."
    )
    _group_figures(view, audit)
    _flip_rate_bars(view, audit)
    _parity_bars(view, audit)
    _counterfactual_pairs(view, audit, run_dir)


def _num(v: Any) -> float | None:
    try:
        out = float(v)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _group_figures(view: SectionView, audit: AuditResult) -> None:
    groups = table_records(audit, "group_metrics")
    if not groups:
        view.missing("`group_metrics` table", "per-group bars")
        return
    for attr, rows in group_by(groups, "attribute").items():
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


def _group_bars(attr: str, rows: list[dict]) -> Callable[[], str]:
    def make() -> str:
        series = [
            Series.from_records(rows, name) for name in ("accuracy", "macro_f1") if name in rows[0]
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


def _flip_rate_bars(view: SectionView, audit: AuditResult) -> None:
    flips = table_records(audit, "flip_rates")
    if not flips:
        return
    view.figure(
        "Counterfactual flip rate per group pair",
        lambda: plots.bar_chart(
            [f"{r['attribute']}: {r['group_a']}↔{r['group_b']}" for r in flips],
            [Series.from_records(flips, "flip_rate", "flip rate", bounds=("ci_low", "ci_high"))],
            key="fairness-flip-rates",
            ylabel="flip rate",
        ),
        "Share of probes whose prediction changed when only the group term was swapped.",
    )


def _parity_bars(view: SectionView, audit: AuditResult) -> None:
    parity = table_records(audit, "parity")
    if not parity:
        view.missing("`parity` table", "parity bars")
        return
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


def _counterfactual_pairs(view: SectionView, audit: AuditResult, run_dir: Path) -> None:
    path = artifact_path(run_dir, audit.artifacts.get("flips"))
    if path is None:
        view.missing("`flips` artifact", "counterfactual pairs")
        return
    records = read_jsonl(path, view.notes)
    records.sort(
        key=lambda r: (r.get("pred_a") == r.get("pred_b"), -(_num(r.get("delta_p")) or 0.0))
    )
    rows = []
    for r in records[:MAX_EXAMPLES]:
        a, b = diff_words(r.get("text_a", ""), r.get("text_b", ""))
        rows.append(
            pair_row(
                [("attribute", r.get("attribute")), ("probe", r.get("probe_id"))],
                a,
                b,
                f"{fmt(r.get('group_a'))} → {fmt(r.get('pred_a'))}",
                f"{fmt(r.get('group_b'))} → {fmt(r.get('pred_b'))}",
                f"max |Δp| {fmt(r.get('delta_p'), 3)}",
            )
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

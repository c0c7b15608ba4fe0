"""The explanations section: highlighted attributions per method, faithfulness against a
random ranking, and the tokens that drive each class."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from auditkit.api.results import AuditResult, RunResults
from auditkit.report import plots
from auditkit.report.plots import Series
from auditkit.report.sections.common import group_by
from auditkit.report.views import (
    Block,
    SectionView,
    artifact_path,
    attribution_tokens,
    fmt,
    read_jsonl,
    table_records,
)

MAX_SENTENCES_PER_METHOD = 8
MAX_TOP_TOKENS = 12
KIND_ORDER = ("sample", "misclassified", "adversarial_original", "adversarial_perturbed")


def build(view: SectionView, audit: AuditResult, results: RunResults, run_dir: Path) -> None:
    view.intro = (
        "Token attributions per method, their faithfulness (comprehensiveness and sufficiency "
        "against a random ranking) and the tokens that drive each class."
    )
    _attribution_blocks(view, audit, run_dir)
    _faithfulness_bars(view, audit)
    _top_token_bars(view, audit)


def _attribution_blocks(view: SectionView, audit: AuditResult, run_dir: Path) -> None:
    path = artifact_path(run_dir, audit.artifacts.get("attributions"))
    if path is None:
        view.missing("`attributions` artifact", "highlighted sentences")
        return
    by_method: dict[str, list[dict]] = defaultdict(list)
    for r in read_jsonl(path, view.notes):
        by_method[str(r.get("method"))].append(r)
    for method, rows in by_method.items():
        rows.sort(key=_kind_rank)
        shown = []
        for r in rows[:MAX_SENTENCES_PER_METHOD]:
            words, scores = r.get("words") or [], r.get("scores") or []
            if len(words) != len(scores):
                view.notes.append(
                    f"{method}: example {r.get('idx')} has {len(words)} words but "
                    f"{len(scores)} scores; not shown"
                )
                continue
            shown.append({"tokens": attribution_tokens(words, scores), "meta": _meta(r)})
        view.blocks.append(
            Block(
                "highlights",
                f"Attributions: {method}",
                shown,
                f"{len(shown)} of {len(rows)} explained examples. Red pushes toward the "
                "target class, blue against it; shade is relative to the example's largest "
                "score (hover a word for its score).",
            )
        )


def _kind_rank(r: dict[str, Any]) -> tuple[int, str, int]:
    """Sort key: by kind, where adversarial originals and their perturbed twins share a rank
    (then go by pair), so the pairs sit together."""
    return (
        min(KIND_ORDER.index(r["kind"]), 2) if r.get("kind") in KIND_ORDER else 99,
        str(r.get("pair_id") or ""),
        KIND_ORDER.index(r["kind"]) if r.get("kind") in KIND_ORDER else 99,
    )


def _meta(r: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        ("kind", r.get("kind")),
        ("gold", r.get("label_name")),
        ("pred", r.get("pred_name")),
        ("target", r.get("target")),
        ("p", fmt(r.get("probability"), 3)),
        ("δ", fmt(r.get("delta"), 2) if r.get("delta") is not None else None),
    ]


def _faithfulness_bars(view: SectionView, audit: AuditResult) -> None:
    faith = table_records(audit, "faithfulness")
    if not faith:
        view.missing("`faithfulness` table", "faithfulness bars")
        return
    aopc = [r for r in faith if str(r.get("k")) == "aopc"] or faith
    methods = [str(r["method"]) for r in aopc]
    view.figure(
        "Faithfulness (AOPC)",
        lambda: plots.bar_chart(
            methods,
            [
                Series("comprehensiveness ↑", [r.get("comprehensiveness") for r in aopc]),
                Series("sufficiency ↓", [r.get("sufficiency") for r in aopc]),
            ],
            key="explanations-faithfulness",
        ),
        "Probability drop when the top tokens are removed (comprehensiveness, higher is "
        "better) or kept alone (sufficiency, lower is better); `random` is the floor.",
    )


def _top_token_bars(view: SectionView, audit: AuditResult) -> None:
    top = table_records(audit, "top_tokens")
    if not top:
        view.missing("`top_tokens` table", "top-token bars")
        return
    for cls, rows in group_by(top, "class").items():
        rows = sorted(rows, key=lambda r: r.get("rank") or 0)[:MAX_TOP_TOKENS]
        view.figure(
            f"Top tokens: {cls}",
            lambda rows=rows, cls=cls: plots.hbar_chart(
                [str(r["token"]) for r in rows],
                [r.get("mean_attribution") for r in rows],
                key=f"explanations-top-{cls}",
                xlabel="mean attribution",
                signed=True,
            ),
        )

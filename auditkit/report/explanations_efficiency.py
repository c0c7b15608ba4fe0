"""Section view-models for the explanations and efficiency audits (names: docs/audit-outputs.md)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from auditkit.api.results import AuditResult, RunResults
from auditkit.report import plots
from auditkit.report.plots import Series
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
KIND_ORDER = ("sample", "misclassified", "adversarial_original", "adversarial_perturbed")


def explanations(view: SectionView, audit: AuditResult, results: RunResults, run_dir: Path) -> None:
    view.intro = (
        "Token attributions per method, their faithfulness (comprehensiveness and sufficiency "
        "against a random ranking) and the tokens that drive each class."
    )
    path = artifact_path(run_dir, audit.artifacts.get("attributions"))
    if path is not None:
        records = read_jsonl(path, view.notes)
        by_method: dict[str, list[dict]] = defaultdict(list)
        for r in records:
            by_method[str(r.get("method"))].append(r)
        for method, rows in by_method.items():
            # Adversarial originals and their perturbed twins share a rank, so pairs sit together.
            rows.sort(
                key=lambda r: (
                    min(KIND_ORDER.index(r["kind"]), 2) if r.get("kind") in KIND_ORDER else 99,
                    str(r.get("pair_id") or ""),
                    KIND_ORDER.index(r["kind"]) if r.get("kind") in KIND_ORDER else 99,
                )
            )
            shown = []
            for r in rows[:MAX_SENTENCES_PER_METHOD]:
                words, scores = r.get("words") or [], r.get("scores") or []
                if len(words) != len(scores):
                    view.notes.append(
                        f"{method}: example {r.get('idx')} has {len(words)} words but "
                        f"{len(scores)} scores; not shown"
                    )
                    continue
                shown.append(
                    {
                        "tokens": attribution_tokens(words, scores),
                        "meta": [
                            ("kind", r.get("kind")),
                            ("gold", r.get("label_name")),
                            ("pred", r.get("pred_name")),
                            ("target", r.get("target")),
                            ("p", fmt(r.get("probability"), 3)),
                            ("δ", fmt(r.get("delta"), 2) if r.get("delta") is not None else None),
                        ],
                    }
                )
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
    else:
        view.missing("`attributions` artifact", "highlighted sentences")
    faith = table_records(audit, "faithfulness")
    if faith:
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
    else:
        view.missing("`faithfulness` table", "faithfulness bars")
    top = table_records(audit, "top_tokens")
    if top:
        by_class: dict[str, list[dict]] = defaultdict(list)
        for r in top:
            by_class[str(r["class"])].append(r)
        for cls, rows in by_class.items():
            rows = sorted(rows, key=lambda r: r.get("rank") or 0)[:12]
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
    else:
        view.missing("`top_tokens` table", "top-token bars")


def efficiency(view: SectionView, audit: AuditResult, results: RunResults, run_dir: Path) -> None:
    view.intro = (
        "Latency and throughput per batch size and model variant, the accuracy each variant "
        "gives up, and energy with the method that produced it."
    )
    latency = table_records(audit, "latency")
    if latency:
        by_variant: dict[str, list[dict]] = defaultdict(list)
        for r in latency:
            by_variant[str(r["variant"])].append(r)
        for rows in by_variant.values():
            rows.sort(key=lambda r: r.get("batch_size") or 0)

        def line(col: str, band: tuple[str, str] | None = None) -> list[Series]:
            return [
                Series(
                    variant,
                    [r.get(col) for r in rows],
                    [r.get(band[0]) for r in rows] if band else None,
                    [r.get(band[1]) for r in rows] if band else None,
                    x=[r.get("batch_size") for r in rows],
                )
                for variant, rows in by_variant.items()
            ]

        view.figure(
            "Latency against batch size",
            lambda: plots.line_chart(
                line("p50_ms", ("p50_ms", "p99_ms")),
                key="efficiency-latency",
                xlabel="batch size",
                ylabel="latency per batch, p50 (ms)",
                logx=True,
                logy=True,
            ),
            "Median latency per batch; the band reaches up to p99.",
        )
        view.figure(
            "Throughput against batch size",
            lambda: plots.line_chart(
                line("throughput_per_s"),
                key="efficiency-throughput",
                xlabel="batch size",
                ylabel="examples per second",
                logx=True,
            ),
        )
    else:
        view.missing("`latency` table", "latency plot")
    energy = table_records(audit, "energy")
    if energy:
        facts = []
        for r in energy:
            facts.append(
                {
                    "what": fmt(r.get("what")),
                    "value": f"{fmt(r.get('j_per_1k'))} J per 1k examples"
                    if r.get("j_per_1k") is not None
                    else f"{fmt(r.get('joules'))} J",
                    "extra": f"{fmt(r.get('co2e_g'))} g CO₂e"
                    if r.get("co2e_g") is not None
                    else "",
                    "method": fmt(r.get("method")),
                    "source": fmt(r.get("source")),
                }
            )
        view.blocks.append(
            Block(
                "energy",
                "Energy",
                facts,
                "`measured` comes from a hardware counter (RAPL, NVML); `estimated` from a "
                "power model (CodeCarbon's fallback) and is only a rough guide.",
            )
        )
    else:
        view.missing("`energy` table", "energy figures")
    stages = table_records(audit, "stage_profile")
    if stages:
        view.figure(
            "Where the time goes",
            lambda: plots.hbar_chart(
                [str(r["stage"]) for r in stages],
                [r.get("wall_time_s") for r in stages],
                key="efficiency-stage-profile",
                xlabel="seconds",
            ),
        )

"""The efficiency section: latency and throughput against batch size per model variant,
energy with the method that produced it, and where the time goes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditkit.api.results import AuditResult, RunResults
from auditkit.report import plots
from auditkit.report.plots import Series
from auditkit.report.sections.common import group_by
from auditkit.report.views import Block, SectionView, fmt, table_records


def build(view: SectionView, audit: AuditResult, results: RunResults, run_dir: Path) -> None:
    view.intro = (
        "Latency and throughput per batch size and model variant, the accuracy each variant "
        "gives up, and energy with the method that produced it."
    )
    _latency_figures(view, audit)
    _energy_block(view, audit)
    _stage_profile(view, audit)


def _latency_figures(view: SectionView, audit: AuditResult) -> None:
    latency = table_records(audit, "latency")
    if not latency:
        view.missing("`latency` table", "latency plot")
        return
    by_variant = group_by(latency, "variant")
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


def _energy_block(view: SectionView, audit: AuditResult) -> None:
    energy = table_records(audit, "energy")
    if not energy:
        view.missing("`energy` table", "energy figures")
        return
    view.blocks.append(
        Block(
            "energy",
            "Energy",
            [_energy_fact(r) for r in energy],
            "`measured` comes from a hardware counter (RAPL, NVML); `estimated` from a "
            "power model (CodeCarbon's fallback) and is only a rough guide.",
        )
    )


def _energy_fact(r: dict[str, Any]) -> dict[str, str]:
    return {
        "what": fmt(r.get("what")),
        "value": f"{fmt(r.get('j_per_1k'))} J per 1k examples"
        if r.get("j_per_1k") is not None
        else f"{fmt(r.get('joules'))} J",
        "extra": f"{fmt(r.get('co2e_g'))} g CO₂e" if r.get("co2e_g") is not None else "",
        "method": fmt(r.get("method")),
        "source": fmt(r.get("source")),
    }


def _stage_profile(view: SectionView, audit: AuditResult) -> None:
    stages = table_records(audit, "stage_profile")
    if not stages:
        return
    view.figure(
        "Where the time goes",
        lambda: plots.hbar_chart(
            [str(r["stage"]) for r in stages],
            [r.get("wall_time_s") for r in stages],
            key="efficiency-stage-profile",
            xlabel="seconds",
        ),
    )

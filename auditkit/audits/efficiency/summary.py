"""Measurements -> the efficiency audit's metrics and tables (latency, trade-offs, roofline)."""

from __future__ import annotations

import numpy as np

from auditkit.api.audit import AuditContext
from auditkit.api.results import AuditResult, Metric, Table
from auditkit.audits.efficiency import roofline as R
from auditkit.audits.efficiency.config import EfficiencyConfig
from auditkit.audits.efficiency.outputs import OUTPUTS
from auditkit.audits.efficiency.timing import TimingResult, timing_cis
from auditkit.audits.efficiency.variants import Variant

LATENCY_COLUMNS = OUTPUTS.columns("latency")
TRADEOFF_COLUMNS = [*OUTPUTS.columns("tradeoffs"), "size_mb", "peak_rss_mb", "device"]
ROOFLINE_COLUMNS = [*OUTPUTS.columns("roofline"), "variant"]


class Measured:
    """One variant's numbers: predictions on the test set and timings per batch size."""

    def __init__(self, variant: Variant) -> None:
        self.variant = variant
        self.accuracy: float | None = None
        self.macro_f1: float | None = None
        self.correct: np.ndarray | None = None  # per test example, for the paired interval
        self.timings: dict[int, TimingResult] = {}
        self.peak_rss_mb: float | None = None
        self.peak_cuda_mb: float | None = None
        self.size_mb: float | None = None
        self.device = variant.device


def _variant_changes(measured: list[Measured], seed: int) -> Table:
    """Each variant's accuracy and macro-F1 against fp32 on the same test examples."""
    from auditkit import comparison

    ref = measured[0]
    changes = []
    for m in measured[1:]:
        if m.accuracy is None or ref.accuracy is None:
            continue
        low = high = None
        if m.correct is not None and ref.correct is not None:
            low, high = comparison.paired_accuracy(
                ref.correct, m.correct, n_resamples=1000, seed=seed
            )
        changes.append(
            comparison.Change(
                m.variant.name, "accuracy", ref.accuracy, m.accuracy, True, low, high, "paired"
            )
        )
        changes.append(
            comparison.Change(m.variant.name, "macro_f1", ref.macro_f1, m.macro_f1, True)
        )
    return comparison.table(changes, "the variants against fp32")


class _Rows:
    """The latency, trade-off and roofline rows, collected over variants and batch sizes."""

    def __init__(self) -> None:
        self.latency: list[list] = []
        self.tradeoff: list[list] = []
        self.roofline: list[list] = []


def fill(
    ctx: AuditContext,
    cfg: EfficiencyConfig,
    measured: list[Measured],
    energy_rows: list[list],
    threads: int,
    n_test: int,
    result: AuditResult,
) -> None:
    """Every metric and table from the measurements, in the order results.json lists them."""
    ref = measured[0]  # fp32: the validator sorts it first
    device_name = None
    if ctx.results is not None:
        device_name = ctx.results.manifest.device_name
    shape = _encoder_shape(ctx, result)
    rows = _Rows()
    for m in measured:
        _variant_rows(m, ref, cfg, shape, device_name, n_test, ctx.seed, result.metrics, rows)
    _tables(ctx, cfg, measured, rows, energy_rows, threads, n_test, result)
    _model_metrics(ctx, ref, energy_rows, rows.roofline, result.metrics)


def _encoder_shape(ctx: AuditContext, result: AuditResult) -> R.EncoderShape | None:
    try:
        return R.encoder_shape(ctx.model.model)
    except ValueError as exc:
        result.warnings.append(f"roofline skipped: {exc}")
        return None


def _variant_rows(
    m: Measured,
    ref: Measured,
    cfg: EfficiencyConfig,
    shape: R.EncoderShape | None,
    device_name: str | None,
    n_test: int,
    seed: int,
    metrics: dict[str, Metric],
    rows: _Rows,
) -> None:
    """One variant's deltas against fp32, and its metrics and rows per batch size (the timed
    metrics with a bootstrap CI over the timed calls, see `timing_cis`)."""
    v = m.variant
    acc_delta = None if m.accuracy is None else m.accuracy - ref.accuracy
    f1_delta = None if m.macro_f1 is None else m.macro_f1 - ref.macro_f1
    if m.accuracy is not None:
        metrics[f"{v.name}.accuracy_delta"] = Metric(
            value=acc_delta, higher_is_better=True, description=f"vs fp32, {n_test} examples"
        )
        metrics[f"{v.name}.macro_f1_delta"] = Metric(
            value=f1_delta, higher_is_better=True, description=f"vs fp32, {n_test} examples"
        )
    device = m.device
    for bs in cfg.batch_sizes:
        t = m.timings.get(bs)
        if t is None:
            rows.tradeoff.append(
                [v.name, bs, None, None, None, None, None, None, False, v.note, None, None, ""]
            )
            continue
        s = t.stats
        key = f"{v.name}.bs{bs}"
        cis = timing_cis(t, n_resamples=cfg.bootstrap, seed=seed, confidence=cfg.confidence)
        for metric, value, unit, hib in (
            ("latency_p50_ms", s.p50, "ms", False),
            ("latency_p90_ms", s.p90, "ms", False),
            ("latency_p99_ms", s.p99, "ms", False),
            ("throughput_per_s", t.throughput_per_s, "examples/s", True),
            ("tokens_per_s", t.tokens_per_s, "tokens/s", True),
        ):
            low, high = cis[metric] or (None, None)
            metrics[f"{key}.{metric}"] = Metric(
                value=value, ci_low=low, ci_high=high, unit=unit, higher_is_better=hib
            )
        rows.latency.append(
            [v.name, bs, s.p50, s.p90, s.p99, s.iqr, s.n, t.throughput_per_s, t.tokens_per_s]
        )
        rows.tradeoff.append(
            [v.name, bs, s.p50, t.throughput_per_s, m.accuracy, acc_delta, m.macro_f1, f1_delta,
             True, v.note, m.size_mb, m.peak_rss_mb, device]
        )  # fmt: skip
        if shape is not None:
            rows.roofline.append(_roofline_row(shape, bs, t, v, device, device_name))


def _roofline_row(
    shape: R.EncoderShape,
    bs: int,
    t: TimingResult,
    v: Variant,
    device: str,
    device_name: str | None,
) -> list:
    flops, per_example = R.achieved_flops(shape, bs, t.padded_lengths, t.seconds)
    peak = R.peak_gflops(device_name if device.startswith("cuda") else None, v.dtype)
    achieved = flops / 1e9
    return [
        bs,
        float(np.mean(t.padded_lengths)),
        per_example / 1e9,
        achieved,
        peak,
        None if peak is None else achieved / peak,
        v.name,
    ]


def _tables(
    ctx: AuditContext,
    cfg: EfficiencyConfig,
    measured: list[Measured],
    rows: _Rows,
    energy_rows: list[list],
    threads: int,
    n_test: int,
    result: AuditResult,
) -> None:
    result.tables["variant_changes"] = _variant_changes(measured, ctx.seed)
    result.tables["latency"] = Table(
        columns=LATENCY_COLUMNS,
        rows=rows.latency,
        description=(
            f"wall time of one predict_proba call (tokenize, pad, forward) on a batch of test "
            f"texts; {cfg.warmup} warm-up calls, then up to {cfg.iterations} timed calls "
            f"(at least {cfg.min_iterations}, stopping after {cfg.budget_s:g} s); "
            f"{threads} torch threads"
        ),
    )
    result.tables["tradeoffs"] = Table(
        columns=TRADEOFF_COLUMNS,
        rows=rows.tradeoff,
        description=f"deltas are against fp32 on the whole test set ({n_test} examples)",
    )
    result.tables["energy"] = Table(
        columns=["what", "joules", "j_per_1k", "co2e_g", "method", "source"],
        rows=energy_rows,
        description=(
            f"CO2e at {result.config['carbon_intensity_g_per_kwh']:g} g/kWh "
            f"({result.config['carbon_intensity_country']}, CodeCarbon's energy-mix table); "
            "stage rows come from the runner's per-stage meter"
        ),
    )
    result.tables["roofline"] = Table(
        columns=ROOFLINE_COLUMNS,
        rows=rows.roofline,
        description=(
            "FLOPs from the config (2 per multiply-add; projections, attention, feed-forward, "
            "head), on the padded length each batch ran at; peak from the GPU's datasheet "
            "(none for CPUs)"
        ),
    )
    result.tables["stage_profile"] = _stage_profile(ctx)


def _stage_profile(ctx: AuditContext) -> Table:
    stages = ctx.results.stages if ctx.results is not None else []
    total = sum(s.wall_time_s for s in stages)
    return Table(
        columns=["stage", "wall_time_s", "share", "energy_j", "energy_method"],
        rows=[
            [
                s.name,
                s.wall_time_s,
                s.wall_time_s / total if total else None,
                s.energy_j,
                s.energy_method,
            ]
            for s in stages
        ],
        description=(
            "stages finished before this audit started: this audit and the audits after it "
            "are not in it (results.json's `stages` has the whole run)"
        ),
    )


def _model_metrics(
    ctx: AuditContext,
    ref: Measured,
    energy_rows: list[list],
    roofline_rows: list[list],
    metrics: dict[str, Metric],
) -> None:
    """The headline numbers: the model's size, fp32's memory, energy, training, best FLOP/s."""
    params = sum(p.numel() for p in ctx.model.model.parameters())
    metrics["parameters"] = Metric(value=params, unit="parameters")
    metrics["size_on_disk_mb"] = Metric(
        value=ref.size_mb, unit="MB", higher_is_better=False, description="fp32 state_dict"
    )
    metrics["peak_memory_mb"] = Metric(
        value=ref.peak_rss_mb,
        unit="MB",
        higher_is_better=False,
        description="peak RSS of the process while timing fp32 (sampled every 5 ms)",
    )
    metrics["peak_cuda_memory_mb"] = Metric(
        value=ref.peak_cuda_mb, unit="MB", higher_is_better=False, description="fp32, CUDA only"
    )
    first = energy_rows[0]
    metrics["energy_j_per_1k"] = Metric(
        value=first[2], unit="J", higher_is_better=False, description=f"{first[4]}: {first[5]}"
    )
    stages = ctx.results.stages if ctx.results is not None else []
    train = next((s for s in stages if s.name == "train"), None)
    if train is not None:
        metrics["train_wall_time_s"] = Metric(value=train.wall_time_s, unit="s")
        metrics["train_energy_j"] = Metric(
            value=train.energy_j, unit="J", description=f"{train.energy_method}: {train.detail}"
        )
    fp32_rows = [r for r in roofline_rows if r[6] == "fp32"]
    if fp32_rows:
        best = max(fp32_rows, key=lambda r: r[3])
        metrics["achieved_gflops"] = Metric(
            value=best[3], unit="GFLOP/s", description=f"fp32 at batch size {best[0]}"
        )
        metrics["peak_share"] = Metric(value=best[5], description="of the GPU's fp32 peak")

"""Efficiency audit: latency, throughput, memory, energy and the speed/accuracy trade-offs.

For each variant of the fine-tuned model (fp32, bf16 autocast, dynamic int8, torch.compile) and
each batch size it times real `predict_proba` calls on test-set batches, then scores the variant
on the whole test set so each speed-up is shown next to what it costs in accuracy and macro-F1.
Energy is measured (NVML, RAPL) where the hardware allows it and estimated (CodeCarbon) where it
does not, and every figure says which. Names follow docs/audit-outputs.md.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field, field_validator

from auditkit import energy as E
from auditkit.api.audit import Audit, AuditConfig, AuditContext
from auditkit.api.results import AuditResult, Metric, Table
from auditkit.audits.efficiency import roofline as R
from auditkit.audits.efficiency.timing import PeakRss, TimingResult, fixed_threads, time_calls
from auditkit.audits.efficiency.variants import VARIANTS, Variant, build_variant, state_size_mb
from auditkit.errors import AuditkitError

if TYPE_CHECKING:
    from auditkit.models import ModelHandle

LATENCY_COLUMNS = [
    "variant",
    "batch_size",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "iqr_ms",
    "iterations",
    "throughput_per_s",
    "tokens_per_s",
]
TRADEOFF_COLUMNS = [
    "variant",
    "batch_size",
    "p50_ms",
    "throughput_per_s",
    "accuracy",
    "accuracy_delta",
    "macro_f1",
    "macro_f1_delta",
    "available",
    "note",
    "size_mb",
    "peak_rss_mb",
    "device",
]
ROOFLINE_COLUMNS = [
    "batch_size",
    "seq_len",
    "gflops_per_example",
    "achieved_gflops",
    "peak_gflops",
    "peak_share",
    "variant",
]

VariantName = Literal["fp32", "bf16", "int8_dynamic", "compiled"]


class EfficiencyConfig(AuditConfig):
    batch_sizes: list[int] = Field(default=[1, 8, 32], min_length=1)
    variants: list[VariantName] = Field(
        default=["fp32", "bf16", "int8_dynamic"],
        description="fp32 is the reference the deltas are taken against; `compiled` is opt-in "
        "(torch.compile takes minutes on a small CPU)",
    )
    warmup: int = Field(default=3, ge=0, description="untimed calls before each measurement")
    iterations: int = Field(default=30, ge=1, description="timed calls per variant and batch size")
    min_iterations: int = Field(default=5, ge=1, description="timed calls even past budget_s")
    budget_s: float = Field(
        default=10.0, gt=0, description="stop timing a setting after this many timed seconds"
    )
    threads: int | None = Field(
        default=None, ge=1, description="torch CPU threads while timing (default: torch's own)"
    )
    country_iso_code: str = Field(
        default="USA", min_length=3, max_length=3, description="grid for CO2e (ISO 3166 alpha-3)"
    )
    energy_min_seconds: float = Field(
        default=3.0,
        ge=0,
        description="repeat the test-set pass until the energy interval is this long",
    )

    @field_validator("batch_sizes")
    @classmethod
    def _sizes(cls, v: list[int]) -> list[int]:
        if any(b < 1 for b in v) or len(set(v)) != len(v):
            raise ValueError("batch_sizes must be distinct positive integers")
        return v

    @field_validator("variants")
    @classmethod
    def _variants(cls, v: list[str]) -> list[str]:
        if "fp32" not in v:
            raise ValueError("variants must include fp32: it is the reference for the deltas")
        if len(set(v)) != len(v):
            raise ValueError("variants must not repeat")
        return sorted(v, key=VARIANTS.index)


class EfficiencyAudit(Audit):
    name = "efficiency"
    description = "latency, throughput, memory, energy, and fp32/bf16/int8/compiled trade-offs"
    tags = ("efficiency",)
    headline = ("latency_p50_ms", "throughput_per_s", "peak_memory_mb", "energy_j_per_1k")
    Config = EfficiencyConfig

    def run(self, ctx: AuditContext) -> AuditResult:
        cfg: EfficiencyConfig = self.config  # type: ignore[assignment]
        texts = list(ctx.data.test["text"])
        y = np.asarray(ctx.data.test["label"], dtype=np.int64)
        if not texts:
            raise AuditkitError("efficiency: the test split is empty", hint="check data.test_size")
        E.carbon_intensity(cfg.country_iso_code)  # an unknown country fails before the timing
        result = AuditResult(name=self.name, config=cfg.model_dump(mode="json"))
        with fixed_threads(cfg.threads) as threads:
            result.config["threads_used"] = threads
            measured = _measure_variants(ctx, cfg, texts, y, result)
            energy_rows, co2_per_1k = _energy(ctx, cfg, texts, result)
        _fill(ctx, cfg, measured, energy_rows, threads, len(texts), result)
        result.metrics["co2e_g_per_1k"] = Metric(
            value=co2_per_1k,
            unit="g",
            higher_is_better=False,
            description=f"{energy_rows[0][4]}; grid {cfg.country_iso_code}",
        )
        return result


class _Measured:
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


def _scores(probs: np.ndarray, y: np.ndarray, k: int) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score, f1_score

    pred = probs.argmax(axis=1)
    macro = f1_score(y, pred, labels=list(range(k)), average="macro", zero_division=0)
    return float(accuracy_score(y, pred)), float(macro)


def _measure_variants(
    ctx: AuditContext, cfg: EfficiencyConfig, texts: list[str], y: np.ndarray, result: AuditResult
) -> list[_Measured]:
    import torch

    lengths = [len(ids) for ids in ctx.model.encode(texts)]
    out = []
    steps = ctx.progress.bar(len(cfg.variants) * (1 + len(cfg.batch_sizes)), "efficiency")
    for name in cfg.variants:
        variant = build_variant(name, ctx.model)
        m = _Measured(variant)
        out.append(m)
        if not variant.available or variant.handle is None:
            result.warnings.append(f"variant {name} not run: {variant.note}")
            steps.update(1 + len(cfg.batch_sizes))
            continue
        handle = variant.handle
        m.size_mb = state_size_mb(handle.model)
        probs = handle.predict_proba(texts, desc=f"efficiency: {name} on the test set")
        m.accuracy, m.macro_f1 = _scores(probs, y, len(ctx.data.label_names))
        m.correct = probs.argmax(axis=1) == np.asarray(y)
        steps.update(1)
        cuda = handle.device.type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats(handle.device)
        with PeakRss() as rss:
            for bs in cfg.batch_sizes:
                m.timings[bs] = time_calls(
                    lambda chunk, h=handle, b=bs: h.predict_proba(
                        chunk, batch_size=b, split_by_length=False
                    ),
                    texts,
                    lengths,
                    bs,
                    warmup=cfg.warmup,
                    iterations=cfg.iterations,
                    min_iterations=min(cfg.min_iterations, cfg.iterations),
                    budget_s=cfg.budget_s,
                    device=str(handle.device),
                    seed=ctx.seed,
                )
                steps.update(1)
        m.peak_rss_mb = rss.peak_mb
        if cuda:
            m.peak_cuda_mb = torch.cuda.max_memory_allocated(handle.device) / 2**20
        if handle is not ctx.model:  # free the copy before building the next one
            variant.handle = None
            del handle
            gc.collect()
    steps.close()
    return out


def _energy(
    ctx: AuditContext, cfg: EfficiencyConfig, texts: list[str], result: AuditResult
) -> tuple[list[list], float | None]:
    """Inference energy over whole test-set passes of the audited model, then the run's stages."""
    import time

    intensity, country = E.carbon_intensity(cfg.country_iso_code)
    meter, skipped = E.choose_meter(ctx.device, country_iso_code=cfg.country_iso_code)
    handle: ModelHandle = ctx.model
    passes, start = 0, time.perf_counter()
    meter.start()
    while passes == 0 or time.perf_counter() - start < cfg.energy_min_seconds:
        handle.predict_proba(texts)
        passes += 1
    reading = meter.stop()
    n = passes * len(texts)
    joules = reading.joules
    co2 = reading.co2e_g
    if co2 is None and joules is not None:
        co2 = joules / 3.6e6 * intensity
    source = reading.source
    if skipped:
        source += " [not used: " + "; ".join(skipped) + "]"
    rows = [
        [
            f"inference fp32, batch size {handle.batch_size} ({passes} test-set passes, {n} "
            "predictions)",
            joules,
            None if joules is None else joules / n * 1000.0,
            co2,
            reading.method,
            source,
        ]
    ]
    stages = ctx.results.stages if ctx.results is not None else []
    training = ctx.results.training if ctx.results is not None else None
    for stage in stages:
        if stage.energy_j is None:
            continue
        what = f"stage {stage.name} ({stage.wall_time_s:.1f} s)"
        if stage.name == "train" and training is not None and training.cache_hit:
            what += (
                f": fine-tune loaded from cache; the original training took "
                f"{training.train_time_s:.1f} s"
            )
        rows.append(
            [
                what,
                stage.energy_j,
                None,
                stage.energy_j / 3.6e6 * intensity,
                stage.energy_method,
                (stage.detail or "").removeprefix("energy: "),
            ]
        )
    result.config["carbon_intensity_g_per_kwh"] = intensity
    result.config["carbon_intensity_country"] = country
    return rows, None if co2 is None else co2 / n * 1000.0


def _variant_changes(measured: list[_Measured], seed: int) -> Table:
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


def _fill(
    ctx: AuditContext,
    cfg: EfficiencyConfig,
    measured: list[_Measured],
    energy_rows: list[list],
    threads: int,
    n_test: int,
    result: AuditResult,
) -> None:
    metrics = result.metrics
    ref = measured[0]  # fp32: the validator sorts it first
    device_name = None
    if ctx.results is not None:
        device_name = ctx.results.manifest.device_name
    try:
        shape: R.EncoderShape | None = R.encoder_shape(ctx.model.model)
    except ValueError as exc:
        shape = None
        result.warnings.append(f"roofline skipped: {exc}")

    latency_rows, tradeoff_rows, roofline_rows = [], [], []
    for m in measured:
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
                tradeoff_rows.append(
                    [v.name, bs, None, None, None, None, None, None, False, v.note, None, None, ""]
                )
                continue
            s = t.stats
            key = f"{v.name}.bs{bs}"
            for metric, value, unit, hib in (
                ("latency_p50_ms", s.p50, "ms", False),
                ("latency_p90_ms", s.p90, "ms", False),
                ("latency_p99_ms", s.p99, "ms", False),
                ("throughput_per_s", t.throughput_per_s, "examples/s", True),
                ("tokens_per_s", t.tokens_per_s, "tokens/s", True),
            ):
                metrics[f"{key}.{metric}"] = Metric(value=value, unit=unit, higher_is_better=hib)
            latency_rows.append(
                [v.name, bs, s.p50, s.p90, s.p99, s.iqr, s.n, t.throughput_per_s, t.tokens_per_s]
            )
            tradeoff_rows.append(
                [
                    v.name,
                    bs,
                    s.p50,
                    t.throughput_per_s,
                    m.accuracy,
                    acc_delta,
                    m.macro_f1,
                    f1_delta,
                    True,
                    v.note,
                    m.size_mb,
                    m.peak_rss_mb,
                    device,
                ]
            )
            if shape is not None:
                flops, per_example = R.achieved_flops(shape, bs, t.padded_lengths, t.seconds)
                peak = R.peak_gflops(device_name if device.startswith("cuda") else None, v.dtype)
                achieved = flops / 1e9
                roofline_rows.append(
                    [
                        bs,
                        float(np.mean(t.padded_lengths)),
                        per_example / 1e9,
                        achieved,
                        peak,
                        None if peak is None else achieved / peak,
                        v.name,
                    ]
                )

    result.tables["variant_changes"] = _variant_changes(measured, ctx.seed)
    result.tables["latency"] = Table(
        columns=LATENCY_COLUMNS,
        rows=latency_rows,
        description=(
            f"wall time of one predict_proba call (tokenize, pad, forward) on a batch of test "
            f"texts; {cfg.warmup} warm-up calls, then up to {cfg.iterations} timed calls "
            f"(at least {cfg.min_iterations}, stopping after {cfg.budget_s:g} s); "
            f"{threads} torch threads"
        ),
    )
    result.tables["tradeoffs"] = Table(
        columns=TRADEOFF_COLUMNS,
        rows=tradeoff_rows,
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
        rows=roofline_rows,
        description=(
            "FLOPs from the config (2 per multiply-add; projections, attention, feed-forward, "
            "head), on the padded length each batch ran at; peak from the GPU's datasheet "
            "(none for CPUs)"
        ),
    )
    stages = ctx.results.stages if ctx.results is not None else []
    total = sum(s.wall_time_s for s in stages)
    result.tables["stage_profile"] = Table(
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

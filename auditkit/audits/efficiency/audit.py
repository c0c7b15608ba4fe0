"""The efficiency audit: time each variant per batch size, score it, meter the energy.

The registered `EfficiencyAudit` and its run logic; the settings are in `config.py`, the timing
loop in `timing.py`, the variants in `variants.py`, and the metrics and tables the measurements
become in `summary.py`.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

import numpy as np

from auditkit import energy as E
from auditkit.api.audit import Audit, AuditContext
from auditkit.api.results import AuditResult, Metric
from auditkit.audits.efficiency.config import EfficiencyConfig
from auditkit.audits.efficiency.outputs import OUTPUTS
from auditkit.audits.efficiency.summary import Measured, fill
from auditkit.audits.efficiency.timing import PeakRss, fixed_threads, time_calls
from auditkit.audits.efficiency.variants import build_variant, state_size_mb
from auditkit.errors import AuditkitError

if TYPE_CHECKING:
    from auditkit.models import ModelHandle


class EfficiencyAudit(Audit):
    name = "efficiency"
    description = "latency, throughput, memory, energy, and fp32/bf16/int8/compiled trade-offs"
    tags = ("efficiency",)
    outputs = OUTPUTS
    Config = EfficiencyConfig
    # Timings taken while other processes compete for the cores or the bus would mean nothing.
    single_process = True

    def run(self, ctx: AuditContext) -> AuditResult:
        cfg: EfficiencyConfig = self.config  # type: ignore[assignment]
        texts = list(ctx.data.test["text"])
        y = np.asarray(ctx.data.test["label"], dtype=np.int64)
        if not texts:
            raise AuditkitError("efficiency: the test split is empty", hint="check data.test_size")
        E.carbon_intensity(cfg.country_iso_code)  # an unknown country fails before the timing
        result = AuditResult(name=self.name, config=cfg.model_dump(mode="json"))
        if ctx.world_size > 1:
            result.warnings.append(
                f"ran in one process (rank 0, {ctx.device}) while the other "
                f"{ctx.world_size - 1} rank(s) waited idle: timings under contention would be "
                "meaningless, so this audit is never sharded"
            )
        with fixed_threads(cfg.threads) as threads:
            result.config["threads_used"] = threads
            measured = _measure_variants(ctx, cfg, texts, y, result)
            energy_rows, co2_per_1k = _energy(ctx, cfg, texts, result)
        fill(ctx, cfg, measured, energy_rows, threads, len(texts), result)
        result.metrics["co2e_g_per_1k"] = Metric(
            value=co2_per_1k,
            unit="g",
            higher_is_better=False,
            description=f"{energy_rows[0][4]}; grid {cfg.country_iso_code}",
        )
        return result


def _scores(probs: np.ndarray, y: np.ndarray, k: int) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score, f1_score

    pred = probs.argmax(axis=1)
    macro = f1_score(y, pred, labels=list(range(k)), average="macro", zero_division=0)
    return float(accuracy_score(y, pred)), float(macro)


def _measure_variants(
    ctx: AuditContext, cfg: EfficiencyConfig, texts: list[str], y: np.ndarray, result: AuditResult
) -> list[Measured]:
    import torch

    lengths = [len(ids) for ids in ctx.model.encode(texts)]
    out = []
    steps = ctx.progress.bar(len(cfg.variants) * (1 + len(cfg.batch_sizes)), "efficiency")
    for name in cfg.variants:
        variant = build_variant(name, ctx.model)
        m = Measured(variant)
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

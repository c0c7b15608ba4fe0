"""What the efficiency audit writes (read by the report, dashboard, CLI summary and docs)."""

from auditkit.api.outputs import Headline, MetricSpec, Outputs, TableSpec
from auditkit.comparison import COLUMNS as CHANGE_COLUMNS

_BS = "{variant}.bs{batch_size}"

OUTPUTS = Outputs(
    title="Efficiency",
    icon=":material/speed:",
    summary=(
        "Latency, throughput, memory and energy per inference variant V (`fp32`, `bf16`, "
        "`int8_dynamic`, `compiled`) and batch size B, and each variant's accuracy against "
        "fp32 on the same test examples. Latency percentiles, throughput and tokens/s carry a "
        "percentile-bootstrap CI over the timed calls (`bootstrap` resamples at `confidence`; "
        "none with fewer than 2 calls): it captures the call-to-call noise within one run, not "
        "the difference between two machines or two loads, so two runs can differ by more "
        "than their CIs and a gate on latency should still use a generous relative bound "
        "(`max_relative_drop`). The other metrics carry no CI."
    ),
    metrics=(
        MetricSpec(
            "{variant}.accuracy_delta",
            "accuracy minus fp32's, on the same examples (its paired CI is in `variant_changes`)",
            "higher",
            ci=False,
        ),
        MetricSpec(
            "{variant}.macro_f1_delta",
            "macro-F1 minus fp32's, on the same examples",
            "higher",
            ci=False,
        ),
        MetricSpec(f"{_BS}.latency_p50_ms", "median latency of one batch", "lower", "ms"),
        MetricSpec(f"{_BS}.latency_p90_ms", "90th-percentile latency of one batch", "lower", "ms"),
        MetricSpec(f"{_BS}.latency_p99_ms", "99th-percentile latency of one batch", "lower", "ms"),
        MetricSpec(f"{_BS}.throughput_per_s", "examples per second", "higher", "examples/s"),
        MetricSpec(f"{_BS}.tokens_per_s", "tokens per second", "higher", "tokens/s"),
        MetricSpec("parameters", "parameters of the model", unit="parameters", ci=False),
        MetricSpec("size_on_disk_mb", "size of the fp32 state_dict", "lower", "MB", ci=False),
        MetricSpec(
            "peak_memory_mb", "peak RSS of the process while timing fp32", "lower", "MB", ci=False
        ),
        MetricSpec(
            "peak_cuda_memory_mb", "peak CUDA memory while timing fp32", "lower", "MB", ci=False
        ),
        MetricSpec(
            "energy_j_per_1k",
            "energy per 1,000 examples, measured or estimated",
            "lower",
            "J",
            ci=False,
        ),
        MetricSpec(
            "co2e_g_per_1k",
            "CO2-equivalent per 1,000 examples at the grid's intensity",
            "lower",
            "g",
            ci=False,
        ),
        MetricSpec(
            "train_wall_time_s",
            "wall time of the run's fine-tune (a cache hit's figure is the load)",
            unit="s",
            when="when the run has a `train` stage",
            ci=False,
        ),
        MetricSpec(
            "train_energy_j",
            "energy of the run's fine-tune",
            unit="J",
            when="when the run has a `train` stage",
            ci=False,
        ),
        MetricSpec(
            "achieved_gflops", "fp32 GFLOP/s at the best batch size", unit="GFLOP/s", ci=False
        ),
        MetricSpec("peak_share", "achieved share of the GPU's fp32 peak", ci=False),
    ),
    tables=(
        TableSpec(
            "latency",
            (
                "variant",
                "batch_size",
                "p50_ms",
                "p90_ms",
                "p99_ms",
                "iqr_ms",
                "iterations",
                "throughput_per_s",
                "tokens_per_s",
            ),
        ),
        TableSpec(
            "tradeoffs",
            (
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
            ),
            more="size_mb, peak_rss_mb, device",
        ),
        TableSpec(
            "energy",
            ("what", "joules", "j_per_1k", "co2e_g", "method", "source"),
            "method is `measured` or `estimated`",
        ),
        TableSpec(
            "roofline",
            (
                "batch_size",
                "seq_len",
                "gflops_per_example",
                "achieved_gflops",
                "peak_gflops",
                "peak_share",
            ),
            more="variant (one row per variant and batch size)",
        ),
        TableSpec(
            "stage_profile",
            ("stage", "wall_time_s", "share"),
            more="energy_j, energy_method (stages finished before the audit only)",
        ),
        TableSpec(
            "variant_changes",
            tuple(CHANGE_COLUMNS),
            "a comparison table: accuracy (paired interval) and macro_f1 of each variant "
            "against fp32 on the same test examples",
        ),
    ),
    headlines=(
        Headline("{variant}.bs1.latency_p50_ms", "latency p50, batch 1", "min", prefer="fp32"),
        Headline(f"{_BS}.throughput_per_s", "best throughput", "max"),
        Headline("peak_memory_mb"),
        Headline("energy_j_per_1k", "energy per 1k examples", "min"),
    ),
    notes=(
        "The audit's `config` also records carbon_intensity_g_per_kwh and "
        "carbon_intensity_country.",
        "The runner meters every stage (`results.json` → `stages[]`): `energy_j`, "
        "`energy_method`, and `detail` = `energy: <source>`.",
        "No artifacts.",
    ),
)

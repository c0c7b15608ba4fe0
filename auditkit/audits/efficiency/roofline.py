"""A roofline-style estimate: FLOPs per example from the config, achieved FLOP/s, share of peak.

FLOPs count a multiply-add as 2. Per encoder layer at sequence length L, hidden size H and
feed-forward size I:
- Q, K, V and output projections: 4 × 2·L·H²
- attention scores QKᵀ and the weighted sum with V: 2 × 2·L²·H
- feed-forward up and down: 2 × 2·L·H·I
Then the head: an optional pooler (2·H²) and the classifier (2·H·k). Embedding lookups,
softmax, layer norms and activations are left out: they are a few per cent at these sizes and
are memory-bound rather than FLOP-bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Dense peak TFLOP/s from the vendors' datasheets: (fp32 non-tensor, bf16/fp16 tensor, no
# sparsity). First match wins, so the more specific names come first.
GPU_PEAKS_TFLOPS: tuple[tuple[str, float, float], ...] = (
    ("H200", 67.0, 989.0),
    ("H100 PCIe", 51.0, 756.0),
    ("H100", 67.0, 989.0),
    ("A100", 19.5, 312.0),
    ("L40S", 91.6, 362.0),
    ("L4", 30.3, 121.0),
    ("V100", 15.7, 125.0),
    ("T4", 8.1, 65.0),
)


@dataclass(frozen=True)
class EncoderShape:
    layers: int
    hidden: int
    intermediate: int
    num_labels: int
    pooler: bool


def _first(config: Any, *names: str) -> int | None:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None


def encoder_shape(model: Any) -> EncoderShape:
    """The sizes the FLOP count needs, from a BERT-, DistilBERT- or RoBERTa-style config."""
    config = getattr(model, "config", None)
    hidden = _first(config, "hidden_size", "dim", "d_model")
    layers = _first(config, "num_hidden_layers", "n_layers", "num_layers")
    inter = _first(config, "intermediate_size", "hidden_dim", "ffn_dim")
    if hidden is None or layers is None or inter is None:
        raise ValueError(f"config {type(config).__name__} has no encoder sizes this count knows")
    pooler = any(name.endswith("pooler.dense") for name, _ in model.named_modules())
    return EncoderShape(layers, hidden, inter, int(getattr(config, "num_labels", 2)), pooler)


def flops_per_example(shape: EncoderShape, seq_len: int) -> float:
    """Forward FLOPs for one example padded to `seq_len` tokens (see the module docstring)."""
    L, H, I = seq_len, shape.hidden, shape.intermediate  # noqa: E741
    per_layer = 2 * L * (4 * H * H + 2 * H * I) + 4 * L * L * H
    head = (2 * H * H if shape.pooler else 0) + 2 * H * shape.num_labels
    return float(shape.layers * per_layer + head)


def achieved_flops(
    shape: EncoderShape, batch_size: int, padded_lengths: Sequence[int], seconds: float
) -> tuple[float, float]:
    """(FLOP/s over the timed calls, mean FLOPs per example): padded tokens are work done too."""
    total = sum(batch_size * flops_per_example(shape, length) for length in padded_lengths)
    per_example = total / (batch_size * len(padded_lengths)) if padded_lengths else float("nan")
    return (total / seconds if seconds > 0 else float("nan")), per_example


def peak_gflops(device_name: str | None, dtype: str) -> float | None:
    """The datasheet peak for a known GPU in this precision; None for CPUs and unknown GPUs."""
    if not device_name or dtype not in ("float32", "bfloat16"):
        return None
    for key, fp32, bf16 in GPU_PEAKS_TFLOPS:
        if key.lower() in device_name.lower():
            return (fp32 if dtype == "float32" else bf16) * 1000.0
    return None

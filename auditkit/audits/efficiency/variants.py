"""Cheaper variants of the fine-tuned model, each behind its own ModelHandle.

Every variant is built from a copy of the audited module (the run's handle is never changed) and
is queried through a `ModelHandle` with the same tokenizer, labels, max_length and batch size, so
padding and length-sorting are identical to every other audit's. A variant that cannot run here
is reported as unavailable with the reason, never dropped.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auditkit.models import ModelHandle

VARIANTS = ("fp32", "bf16", "int8_dynamic", "compiled")


@dataclass
class Variant:
    name: str
    handle: ModelHandle | None
    available: bool
    note: str
    dtype: str = "float32"  # what the matmuls run in, for the roofline peak

    @property
    def device(self) -> str:
        return str(self.handle.device) if self.handle is not None else ""


def _autocast_wrapper(module: Any, device_type: str) -> Any:
    """An nn.Module running `module` under bf16 autocast; `.config` passes through."""
    import torch

    class AutocastBf16(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner
            self.config = inner.config

        def forward(self, **kwargs: Any) -> Any:
            with torch.autocast(device_type=device_type, dtype=torch.bfloat16):
                return self.inner(**kwargs)

    return AutocastBf16(module)


def _handle_like(base: ModelHandle, module: Any, device: Any = None) -> ModelHandle:
    from auditkit.models import ModelHandle

    return ModelHandle(
        module,
        base.tokenizer,
        label_names=base.label_names,
        device=device if device is not None else base.device,
        max_length=base.max_length,
        batch_size=base.batch_size,
        source=base.source,
        fingerprint=base.fingerprint,
    )


def _copy_module(base: ModelHandle) -> Any:
    return copy.deepcopy(base.model)


def build_variant(name: str, base: ModelHandle) -> Variant:
    """One variant of `base`'s model; `available=False` with a reason when it cannot run here."""
    builders = {"fp32": _fp32, "bf16": _bf16, "int8_dynamic": _int8, "compiled": _compiled}
    if name not in builders:
        raise ValueError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
    try:
        return builders[name](base)
    except Exception as exc:  # a variant this torch/hardware cannot build: say why, go on
        return Variant(name, None, False, f"could not build: {type(exc).__name__}: {exc}")


def _fp32(base: ModelHandle) -> Variant:
    import torch

    dtypes = {p.dtype for p in base.model.parameters()}
    if dtypes <= {torch.float32}:
        return Variant("fp32", base, True, "the audited model as loaded (reference)")
    module = _copy_module(base).float()
    return Variant("fp32", _handle_like(base, module), True, f"cast to float32 from {dtypes}")


def _bf16(base: ModelHandle) -> Variant:
    import torch

    kind = base.device.type
    if kind == "cuda":
        if not torch.cuda.is_bf16_supported():
            return Variant("bf16", None, False, "this GPU does not support bfloat16")
        note = "bf16 autocast on the GPU"
    elif kind == "cpu":
        capability = torch.backends.cpu.get_cpu_capability()
        note = f"bf16 autocast on the CPU (capability {capability})"
        if "AVX512" not in capability and "AMX" not in capability:
            note += ": no native bf16 units, so it is emulated and expected to be slower"
    else:
        return Variant("bf16", None, False, f"bf16 autocast not tried on {kind}")
    module = _autocast_wrapper(_copy_module(base), kind)
    return Variant("bf16", _handle_like(base, module), True, note, dtype="bfloat16")


def _int8(base: ModelHandle) -> Variant:
    import torch

    engines = torch.backends.quantized.supported_engines
    if not any(e in engines for e in ("x86", "fbgemm", "qnnpack")):
        return Variant("int8_dynamic", None, False, f"no quantized engine ({engines})")
    module = _copy_module(base).to("cpu").float()
    with warnings.catch_warnings():
        # torch deprecates the eager quantization API in favour of torchao; it still works and
        # torchao is not a dependency here.
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        module = quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8)
    note = f"torch.ao dynamic int8 Linear layers on the CPU ({torch.backends.quantized.engine})"
    if base.device.type != "cpu":
        note += f"; the audited model runs on {base.device}, so timings are not comparable"
    return Variant("int8_dynamic", _handle_like(base, module, "cpu"), True, note, dtype="int8")


def _compiled(base: ModelHandle) -> Variant:
    import torch

    if not hasattr(torch, "compile"):
        return Variant("compiled", None, False, "torch.compile needs torch 2.0+")
    module = torch.compile(_copy_module(base), dynamic=True)
    handle = _handle_like(base, module)
    # Compilation happens on the first call; do it here so a failure (no C++ compiler,
    # unsupported op) marks the variant unavailable instead of failing the audit.
    handle.predict_proba(["compile check"])
    return Variant("compiled", handle, True, "torch.compile(dynamic=True), inductor")


def state_size_mb(module: Any) -> float:
    """Size of the module's state_dict as torch.save writes it (what a deploy would ship)."""
    import io

    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.save(getattr(module, "_orig_mod", module).state_dict(), buffer)
    return buffer.tell() / 2**20

"""The model: where it comes from, the one ModelHandle audits query it through, and pooling.

- `loading`: resolution (local folder, packaged MiniLM, Hub), fingerprints, the device, and
  the handle factories: `load_model` (from the suite's `model:` section) and `load_handle`;
- `handle`: `ModelHandle`, its length-sorted batching and out-of-memory retry;
- `encoder`: sentence embeddings (the packaged MiniLM through sentence-transformers);
- `temperature`: a temperature stored in the model's config, which every probability uses;
- `pooling`: mean pooling for sentence-transformers checkpoints (imports torch, so its names
  are loaded here only when asked for).
"""

from __future__ import annotations

from typing import Any

from auditkit.models.handle import (
    CALL_OVERHEAD_TOKENS,
    CALL_OVERHEAD_TOKENS_GPU,
    ModelHandle,
    length_chunks,
)
from auditkit.models.loading import (
    PACKAGED_MINILM_IDS,
    ModelSource,
    load_handle,
    load_model,
    model_fingerprint,
    packaged_minilm_dir,
    resolve_device,
    resolve_model,
    resolve_model_spec,
)
from auditkit.models.temperature import (
    TEMPERATURE_ATTR,
    probabilities,
    set_temperature,
    temperature_of,
)

_POOLING_NAMES = (
    "POOLING_ATTR",
    "MaskedMeanPooler",
    "apply_mean_pooling",
    "checkpoint_pooling",
    "supports_mean_pooling",
)

__all__ = [
    "CALL_OVERHEAD_TOKENS",
    "CALL_OVERHEAD_TOKENS_GPU",
    "PACKAGED_MINILM_IDS",
    "ModelHandle",
    "ModelSource",
    "length_chunks",
    "load_handle",
    "load_model",
    "model_fingerprint",
    "packaged_minilm_dir",
    "resolve_device",
    "resolve_model",
    "resolve_model_spec",
    "TEMPERATURE_ATTR",
    "probabilities",
    "set_temperature",
    "temperature_of",
    *_POOLING_NAMES,
]


def __getattr__(name: str) -> Any:
    # Importing auditkit.models must not import torch; auditkit.models.pooling does.
    if name in _POOLING_NAMES:
        from auditkit.models import pooling

        return getattr(pooling, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

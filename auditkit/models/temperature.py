"""A temperature stored in the model's config, that every probability the model gives uses.

Temperature scaling (the performance audit's `calibration.apply`) divides the logits by one
scalar T. It lives in `model.config` under TEMPERATURE_ATTR, like the pooling choice, so the
ModelHandle and the explanations' forward functions read it from the model they are given:
there is no second place to forget. Unset means T = 1, the model's own probabilities.
"""

from __future__ import annotations

from typing import Any

TEMPERATURE_ATTR = "auditkit_temperature"


def temperature_of(model: Any) -> float:
    """The model's temperature; 1.0 when none is stored."""
    value = getattr(getattr(model, "config", None), TEMPERATURE_ATTR, None)
    return 1.0 if value is None else float(value)


def set_temperature(model: Any, temperature: float) -> None:
    """Store T in the model's config (in memory; a cached fine-tune on disk is not touched)."""
    if not temperature > 0:
        raise ValueError(f"a temperature must be positive, got {temperature}")
    setattr(model.config, TEMPERATURE_ATTR, float(temperature))


def probabilities(logits: Any, model: Any) -> Any:
    """softmax(logits / T) in float32, T the model's stored temperature."""
    import torch

    t = temperature_of(model)
    z = logits.float()
    return torch.softmax(z if t == 1.0 else z / t, dim=-1)

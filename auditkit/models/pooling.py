"""Mean pooling for encoders whose checkpoint was trained to mean-pool (sentence-transformers).

transformers' `*ForSequenceClassification` classifies from the first token's state. A
sentence-transformers checkpoint such as all-MiniLM-L6-v2 was trained to average its token
states instead (its `1_Pooling/config.json` says so), so its [CLS] position carries no trained
sentence summary. `apply_mean_pooling` replaces the BERT-style pooler's first-token selection
with a mean over real (unmasked) tokens and keeps the pooler's dense layer, so the state-dict
keys do not change and the model still saves and loads through the Auto classes. The choice is
stored in the config (`auditkit_pooling`) so a cached fine-tune reloads the same way.

transformers has no pooling switch for sequence classification, hence this small module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from auditkit.errors import AuditkitError

POOLING_ATTR = "auditkit_pooling"


def checkpoint_pooling(folder: str | Path) -> str | None:
    """The pooling a sentence-transformers checkpoint declares: 'mean', 'cls', or None."""
    config = Path(folder) / "1_Pooling" / "config.json"
    if not config.is_file():
        return None
    declared = json.loads(config.read_text())
    if declared.get("pooling_mode_mean_tokens"):
        return "mean"
    if declared.get("pooling_mode_cls_token"):
        return "cls"
    return None


class MaskedMeanPooler(nn.Module):
    """Masked mean of the token states, then the original pooler's dense layer and tanh."""

    def __init__(self, pooler: nn.Module) -> None:
        super().__init__()
        self.dense = pooler.dense
        self.activation = pooler.activation
        self.mask: torch.Tensor | None = None  # set by the base model's forward pre-hook

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.mask is None:
            mean = hidden_states.mean(dim=1)
        else:
            weights = self.mask.unsqueeze(-1).to(hidden_states.dtype)
            mean = (hidden_states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return self.activation(self.dense(mean))


def _capture_mask(module: nn.Module, args: tuple, kwargs: dict) -> None:
    # Looks the pooler up on the module it is called for (not a closure over one pooler), so a
    # copy.deepcopy of the model (the efficiency audit's variants) sets its own pooler's mask.
    mask = kwargs.get("attention_mask")
    if mask is None and len(args) > 1:
        mask = args[1]  # BertModel.forward(input_ids, attention_mask, ...)
    module.pooler.mask = mask


def supports_mean_pooling(model: Any) -> bool:
    pooler = getattr(model.base_model, "pooler", None)
    return pooler is not None and hasattr(pooler, "dense") and hasattr(pooler, "activation")


def apply_mean_pooling(model: Any) -> None:
    """Switch a BERT-style classifier to masked mean pooling, in place."""
    base = model.base_model
    if isinstance(getattr(base, "pooler", None), MaskedMeanPooler):
        return
    if not supports_mean_pooling(model):
        raise AuditkitError(
            f"mean pooling needs a BERT-style pooler; {type(model).__name__} has none",
            hint="set model.pooling: cls",
        )
    pooler = MaskedMeanPooler(base.pooler)
    base.pooler = pooler

    base.register_forward_pre_hook(_capture_mask, with_kwargs=True)
    setattr(model.config, POOLING_ATTR, "mean")

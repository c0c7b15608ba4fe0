"""Fine-tuning, and a cache of fine-tuned models.

The fine-tuned model is cached under a key made of the model's hash, the data fingerprint, the
training config and the seed, so a second run skips training. The Trainer run itself (length-
grouped batches, per-epoch evaluation, the best checkpoint kept) is `auditkit.trainer`.
Multi-GPU works by launching with `torchrun` or `accelerate launch` (the Trainer handles DDP).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditkit.api.results import TrainingSummary
from auditkit.data import DatasetBundle
from auditkit.errors import AuditkitError
from auditkit.launch import is_main_process, world_size
from auditkit.models import ModelHandle, ModelSource, load_model, resolve_model_spec
from auditkit.suite import ModelSpec, Suite, TrainingSpec
from auditkit.trainer import effective_batch_size, padded_tokens, pick_precision, train

__all__ = [
    "SUMMARY_FILE",
    "TrainingOutcome",
    "augmented_bundle",
    "cache_key",
    "cache_root",
    "effective_batch_size",
    "fine_tune",
    "fine_tune_augmented",
    "padded_tokens",
    "pick_precision",
    "suite_fine_tuner",
]

log = logging.getLogger(__name__)

SUMMARY_FILE = "auditkit_training.json"


def cache_root() -> Path:
    """AUDITKIT_CACHE_DIR, else ~/.cache/auditkit."""
    env = os.environ.get("AUDITKIT_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "auditkit"


def cache_key(
    model_fingerprint: str,
    bundle: DatasetBundle,
    spec: TrainingSpec,
    *,
    seed: int,
    max_length: int,
    pooling: str = "cls",
    processes: int = 1,
) -> str:
    """The fine-tune cache key: everything that changes the trained weights.

    `processes` is the data-parallel world size: two ranks train with twice the effective
    batch and half the steps, a different model that must not share a single process's key.
    """
    payload = {
        "pooling": pooling,
        "model": model_fingerprint,
        "labels": bundle.label_names,
        "train": bundle.split_fingerprints["train"],
        "validation": bundle.split_fingerprints.get("validation"),
        "training": spec.model_dump(mode="json"),
        "seed": seed,
        "max_length": max_length,
    }
    if processes != 1:  # absent for one process, so single-process keys stay as they were
        payload["world_size"] = processes
        payload["effective_batch_size"] = effective_batch_size(spec, processes)
    blob = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


@dataclass
class TrainingOutcome:
    handle: ModelHandle
    summary: TrainingSummary
    model_dir: Path


def fine_tune(
    handle: ModelHandle,
    bundle: DatasetBundle,
    spec: TrainingSpec,
    *,
    seed: int,
    retrain: bool = False,
    cache_dir: Path | None = None,
    progress: bool = True,
    timeout_s: float | None = None,
) -> TrainingOutcome:
    """Fine-tune `handle`'s model on the bundle's train split, or load the cached result.

    Under a launch every rank follows rank 0's cache: a hit there is loaded (or, on a rank
    whose own cache lacks it, received from rank 0), a miss there trains on every rank.
    `timeout_s` bounds the wait for the other ranks' answer.
    """
    processes = world_size()
    key = cache_key(
        handle.fingerprint or "",
        bundle,
        spec,
        seed=seed,
        max_length=handle.max_length,
        pooling=handle.pooling,
        processes=processes,
    )
    target = (cache_dir or cache_root()) / "models" / key
    hit = (target / SUMMARY_FILE).is_file() and not retrain
    if processes > 1:
        cached = _follow_rank_0(handle, target, hit, timeout_s)
        if cached is not None:
            return cached
    elif hit:
        return _load_cached(handle, target)

    if bundle.validation is None and spec.early_stopping_patience:
        raise AuditkitError(
            "training.early_stopping_patience needs a validation split",
            hint="set data.validation_size > 0 or give data.validation_path",
        )
    summary, trained = train(
        handle, bundle, spec, seed=seed, key=key, progress=progress, processes=processes
    )
    if is_main_process():  # one writer under torchrun
        tmp = Path(tempfile.mkdtemp(dir=_ensure(target.parent), prefix=f".{key}-"))
        trained.save_pretrained(tmp, safe_serialization=True)
        handle.tokenizer.save_pretrained(tmp)
        (tmp / SUMMARY_FILE).write_text(summary.model_dump_json(indent=2))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        log.info("training: cached fine-tuned model at %s", target)
    handle.model = trained.to(handle.device).eval()
    return TrainingOutcome(handle, summary, target)


def _load_cached(handle: ModelHandle, target: Path) -> TrainingOutcome:
    log.info("training: cache hit %s (use --retrain to train again)", target)
    summary = TrainingSummary.model_validate_json((target / SUMMARY_FILE).read_text())
    summary.cache_hit = True
    return TrainingOutcome(_reload(handle, target, summary), summary, target)


def _follow_rank_0(
    handle: ModelHandle, target: Path, hit: bool, timeout_s: float | None
) -> TrainingOutcome | None:
    """Rank 0's cached fine-tune on every rank, or None where every rank must train.

    Each rank sees its own cache, and on nodes that do not share one the views differ; a rank
    that trained while the others loaded would wait for them forever. So rank 0 decides.
    """
    from auditkit.distributed import DEFAULT_TIMEOUT_S, broadcast_weights, rank_0_decides

    summary = (target / SUMMARY_FILE).read_text() if hit else None
    views = rank_0_decides(
        (hit, summary), handle.device, timeout_s or DEFAULT_TIMEOUT_S, "fine-tune cache"
    )
    rank = int(os.environ.get("RANK", "0"))
    if not views[0][0]:
        if hit:
            log.info(
                "training: rank 0 has no cached fine-tune, so every rank trains; this rank's "
                "copy at %s is not used", target,
            )  # fmt: skip
        return None
    if all(h for h, _ in views):
        return _load_cached(handle, target)
    if hit:  # rank 0's weights replace these below: the ranks must audit one model
        outcome = _load_cached(handle, target)
    else:
        missing = [r for r, (h, _) in enumerate(views) if not h]
        log.warning(
            "training: rank %d has no cached fine-tune at %s; it takes rank 0's weights "
            "(ranks without it: %s; put AUDITKIT_CACHE_DIR on a file system every node "
            "shares to load it locally)", rank, target, missing,
        )  # fmt: skip
        summary = TrainingSummary.model_validate_json(views[0][1])
        summary.cache_hit = True
        outcome = TrainingOutcome(handle, summary, target)
    broadcast_weights(outcome.handle.model)
    outcome.handle.model.eval()
    return outcome


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _reload(handle: ModelHandle, folder: Path, summary: TrainingSummary) -> ModelHandle:
    """The cached fine-tune, configured as `handle` is; its folder records its own pooling."""
    source = ModelSource("local", str(folder), handle.source.requested if handle.source else "")
    # model_construct: these values come from a handle that exists, so they are not checked
    # again (checking could reject what loading accepted before).
    spec = ModelSpec.model_construct(
        max_length=handle.max_length, batch_size=handle.batch_size, pooling="auto"
    )
    return load_model(
        spec,
        handle.label_names,
        handle.device,
        source=source,
        allow_new_head=False,
        fingerprint=handle.fingerprint,
    )


def augmented_bundle(bundle: DatasetBundle, texts: list[str], labels: list[int]) -> DatasetBundle:
    """The bundle with extra labelled training rows; test and validation stay untouched.

    The train fingerprint covers the extra rows, so the fine-tune cache never confuses an
    augmented model with the plain one.
    """
    from dataclasses import replace

    from datasets import Dataset, concatenate_datasets

    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    bad = [y for y in labels if not 0 <= int(y) < bundle.num_labels]
    if bad:
        raise ValueError(f"augmentation labels out of range: {sorted(set(bad))[:5]}")
    extra = {"text": list(texts), "label": [int(y) for y in labels]}
    for column in bundle.metadata_columns:
        extra[column] = [None] * len(texts)
    extra_ds = Dataset.from_dict(extra, features=bundle.train.features)
    train = concatenate_datasets([bundle.train, extra_ds]) if len(texts) else bundle.train
    digest = hashlib.sha256(bundle.split_fingerprints["train"].encode())
    for text, label in zip(extra["text"], extra["label"], strict=True):
        digest.update(f"{bundle.label_names[label]}\t{text}\n".encode())
    fingerprints = {**bundle.split_fingerprints, "train": digest.hexdigest()}
    return replace(bundle, train=train, split_fingerprints=fingerprints)


def fine_tune_augmented(
    base: ModelSource,
    bundle: DatasetBundle,
    texts: list[str],
    labels: list[int],
    spec: TrainingSpec,
    *,
    seed: int,
    device: Any,
    max_length: int,
    batch_size: int,
    pooling: str = "auto",
    retrain: bool = False,
    progress: bool = True,
) -> TrainingOutcome:
    """Fine-tune the suite's *base* model on train + extra rows (adversarial or counterfactual).

    It starts from the same base weights and head seed as the plain fine-tune, so a
    before/after comparison differs only in the training data. Cached like any fine-tune.
    """
    # model_construct: the caller's settings, passed on unchecked as load_handle takes them.
    model = ModelSpec.model_construct(
        id=base.requested,
        revision=base.revision,
        max_length=max_length,
        batch_size=batch_size,
        pooling=pooling,
    )
    return _fine_tune_from_base(
        model, base, bundle, texts, labels, spec, seed=seed, device=device, retrain=retrain,
        progress=progress,
    )  # fmt: skip


def _fine_tune_from_base(
    model: ModelSpec,
    base: ModelSource,
    bundle: DatasetBundle,
    texts: list[str],
    labels: list[int],
    spec: TrainingSpec,
    *,
    seed: int,
    device: Any,
    retrain: bool = False,
    progress: bool = True,
) -> TrainingOutcome:
    import torch

    torch.manual_seed(seed)
    fresh = load_model(model, bundle.label_names, device, source=base, allow_new_head=True)
    return fine_tune(
        fresh,
        augmented_bundle(bundle, texts, labels),
        spec,
        seed=seed,
        retrain=retrain,
        progress=progress,
    )


def suite_fine_tuner(
    suite: Suite, bundle: DatasetBundle, *, seed: int, device: Any, progress: bool = True
) -> Callable[..., TrainingOutcome]:
    """The `fine_tune` callable an AuditContext hands to hardening audits: train + extra rows,
    from the suite's base model with the suite's recipe (or `spec`), cached like any fine-tune."""

    def run(
        texts: list[str], labels: list[int], *, spec: TrainingSpec | None = None
    ) -> TrainingOutcome:
        source = resolve_model_spec(suite.model, suite.base_dir)
        return _fine_tune_from_base(
            suite.model, source, bundle, texts, labels, spec or suite.training, seed=seed,
            device=device, progress=progress,
        )  # fmt: skip

    return run

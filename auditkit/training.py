"""Fine-tuning with the transformers Trainer, and a cache of fine-tuned models.

Batches are grouped by length and padded per batch (on the Financial PhraseBank that halves
the padded tokens per epoch), evaluation runs each epoch on the validation split and the best
checkpoint is kept. The fine-tuned model is cached under a key made of the model's hash, the
data fingerprint, the training config and the seed, so a second run skips training.
Multi-GPU works by launching with `torchrun` or `accelerate launch` (the Trainer handles DDP).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from transformers.trainer_callback import TrainerCallback  # training.py is imported lazily

from auditkit.api.results import Table, TrainingSummary
from auditkit.data import DatasetBundle
from auditkit.errors import AuditkitError
from auditkit.launch import is_main_process, world_size
from auditkit.models import ModelHandle, ModelSource, load_handle, resolve_model
from auditkit.suite import Suite, TrainingSpec

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


def effective_batch_size(spec: TrainingSpec, processes: int = 1) -> int:
    """Examples per optimizer step, over every process."""
    return spec.batch_size * spec.gradient_accumulation_steps * processes


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
) -> TrainingOutcome:
    """Fine-tune `handle`'s model on the bundle's train split, or load the cached result."""
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
    if (target / SUMMARY_FILE).is_file() and not retrain:
        log.info("training: cache hit %s (use --retrain to train again)", target)
        summary = TrainingSummary.model_validate_json((target / SUMMARY_FILE).read_text())
        summary.cache_hit = True
        return TrainingOutcome(_reload(handle, target, summary), summary, target)

    if bundle.validation is None and spec.early_stopping_patience:
        raise AuditkitError(
            "training.early_stopping_patience needs a validation split",
            hint="set data.validation_size > 0 or give data.validation_path",
        )
    summary, trained = _train(
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


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _reload(handle: ModelHandle, folder: Path, summary: TrainingSummary) -> ModelHandle:
    source = ModelSource("local", str(folder), handle.source.requested if handle.source else "")
    return load_handle(
        source,
        handle.label_names,
        device=handle.device,
        max_length=handle.max_length,
        batch_size=handle.batch_size,
        allow_new_head=False,
        fingerprint=handle.fingerprint,
    )


def pick_precision(spec: TrainingSpec, device_type: str) -> str:
    import torch

    if spec.precision != "auto":
        if spec.precision in ("bf16", "fp16") and device_type != "cuda":
            raise AuditkitError(
                f"training.precision {spec.precision!r} needs a CUDA device (running on "
                f"{device_type})",
                hint="use precision: auto (fp32 on CPU)",
            )
        return spec.precision
    if device_type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def padded_tokens(lengths: list[int], batch_size: int, seed: int) -> tuple[int, int]:
    """Padded tokens per epoch with length-grouped batches and with random batches.

    Uses the Trainer's own LengthGroupedSampler, so the figure is what training really pads.
    """
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    lengths_arr = np.asarray(lengths)

    def cost(order: list[int]) -> int:
        total = 0
        for start in range(0, len(order), batch_size):
            batch = lengths_arr[order[start : start + batch_size]]
            total += int(batch.max()) * len(batch)
        return total

    gen = torch.Generator().manual_seed(seed)
    grouped = list(LengthGroupedSampler(batch_size, lengths=lengths, generator=gen))
    shuffled = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(seed)).tolist()
    return cost(grouped), cost(shuffled)


def _train(
    handle: ModelHandle,
    bundle: DatasetBundle,
    spec: TrainingSpec,
    *,
    seed: int,
    key: str,
    progress: bool,
    processes: int = 1,
) -> tuple[TrainingSummary, Any]:
    import torch
    import transformers
    from transformers import (
        DataCollatorWithPadding,
        EarlyStoppingCallback,
        Trainer,
        TrainingArguments,
    )
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    transformers.set_seed(seed)
    if not progress:
        import datasets

        datasets.disable_progress_bars()
    tokenizer = handle.tokenizer
    device_type = handle.device.type
    precision = pick_precision(spec, device_type)

    def tokenize(batch: dict) -> dict:
        enc = tokenizer(batch["text"], truncation=True, max_length=handle.max_length)
        enc["length"] = [len(x) for x in enc["input_ids"]]
        enc["labels"] = batch["label"]
        return enc

    def prepare(ds):
        keep = ["input_ids", "attention_mask", "length", "labels"]
        out = ds.map(tokenize, batched=True, desc="tokenize", load_from_cache_file=False)
        return out.remove_columns([c for c in out.column_names if c not in keep])

    train_ds = prepare(bundle.train)
    eval_ds = prepare(bundle.validation) if bundle.validation is not None else None
    has_eval = eval_ds is not None and len(eval_ds) > 0
    greater = spec.metric_for_best != "loss"
    out_dir = tempfile.mkdtemp(prefix="auditkit-train-")
    steps_per_epoch = max(
        1, -(-len(train_ds) // (spec.batch_size * spec.gradient_accumulation_steps))
    )
    args = TrainingArguments(
        output_dir=out_dir,
        num_train_epochs=spec.epochs,
        per_device_train_batch_size=spec.batch_size,
        per_device_eval_batch_size=max(64, spec.batch_size),
        gradient_accumulation_steps=spec.gradient_accumulation_steps,
        learning_rate=spec.learning_rate,
        warmup_ratio=spec.warmup_ratio,
        weight_decay=spec.weight_decay,
        lr_scheduler_type=spec.scheduler,
        max_grad_norm=spec.max_grad_norm,
        group_by_length=spec.group_by_length,
        length_column_name="length",
        eval_strategy="epoch" if has_eval else "no",
        save_strategy="epoch" if has_eval else "no",
        save_total_limit=2 if has_eval else None,
        load_best_model_at_end=has_eval,
        metric_for_best_model=(
            "eval_loss" if spec.metric_for_best == "loss" else spec.metric_for_best
        )
        if has_eval
        else None,
        greater_is_better=greater if has_eval else None,
        logging_strategy="steps",
        logging_steps=max(1, steps_per_epoch // 5),
        report_to="none",
        seed=seed,
        data_seed=seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=device_type == "cpu",
        dataloader_num_workers=0,
        disable_tqdm=not progress,
        save_only_model=True,
    )
    callbacks = []
    if spec.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(spec.early_stopping_patience))
    trainer = Trainer(
        model=handle.model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds if has_eval else None,
        data_collator=DataCollatorWithPadding(
            tokenizer, pad_to_multiple_of=8 if device_type == "cuda" else None
        ),
        processing_class=tokenizer,
        compute_metrics=_compute_metrics,
        callbacks=callbacks,
    )
    # Our own callback: a bar (when wanted) and one log line per epoch, instead of the
    # per-step dicts that ProgressCallback/PrinterCallback print.
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(_EpochLogger(show_bar=progress))

    log.info(
        "training: %d examples, %s epochs, batch %d%s, lr %g, %s on %s",
        len(train_ds),
        spec.epochs,
        spec.batch_size,
        f" x {processes} processes (effective {effective_batch_size(spec, processes)})"
        if processes > 1
        else "",
        spec.learning_rate,
        precision,
        device_type,
    )
    start = time.perf_counter()
    try:
        output = trainer.train()
    except torch.cuda.OutOfMemoryError as exc:
        raise AuditkitError(
            f"CUDA out of memory while fine-tuning (batch size {spec.batch_size}, "
            f"max_length {handle.max_length})",
            hint="lower training.batch_size (raise gradient_accumulation_steps to keep "
            "the effective batch) or model.max_length",
        ) from exc
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    elapsed = time.perf_counter() - start

    lengths = list(train_ds["length"])
    grouped, shuffled = padded_tokens(lengths, spec.batch_size, seed)
    history = trainer.state.log_history
    loss_rows = [
        [h["step"], round(h["epoch"], 4), h["loss"], h.get("learning_rate")]
        for h in history
        if "loss" in h and "eval_loss" not in h
    ]
    eval_rows = [
        [round(h["epoch"], 4), h["eval_loss"], h.get("eval_accuracy"), h.get("eval_macro_f1")]
        for h in history
        if "eval_loss" in h
    ]
    best_epoch = best_value = None
    if eval_rows:
        col = {"loss": 1, "accuracy": 2, "macro_f1": 3}[spec.metric_for_best]
        best = (max if greater else min)(eval_rows, key=lambda r: r[col])
        best_epoch, best_value = best[0], best[col]
    summary = TrainingSummary(
        cache_hit=False,
        cache_key=key,
        device=str(handle.device),
        precision=precision,
        epochs=float(spec.epochs),
        steps=int(trainer.state.global_step),
        train_time_s=round(elapsed, 3),
        train_samples_per_s=round(output.metrics.get("train_samples_per_second", 0.0), 3),
        best_epoch=best_epoch,
        best_metric=spec.metric_for_best if eval_rows else None,
        best_value=best_value,
        loss_curve=Table(columns=["step", "epoch", "loss", "learning_rate"], rows=loss_rows),
        eval_curve=Table(
            columns=["epoch", "eval_loss", "eval_accuracy", "eval_macro_f1"], rows=eval_rows
        ),
        padded_tokens_per_epoch=grouped if spec.group_by_length else shuffled,
        padded_tokens_per_epoch_random=shuffled,
        real_tokens_per_epoch=int(sum(lengths)),
        world_size=processes,
        effective_batch_size=effective_batch_size(spec, processes),
        config=spec.model_dump(mode="json"),
    )
    log.info(
        "training: %.1f s (%.1f samples/s); best %s %s at epoch %s",
        elapsed,
        summary.train_samples_per_s,
        spec.metric_for_best,
        f"{best_value:.4f}" if best_value is not None else "-",
        best_epoch,
    )
    return summary, trainer.model


def _compute_metrics(eval_pred) -> dict[str, float]:
    from sklearn.metrics import f1_score

    logits, labels = eval_pred
    pred = np.asarray(logits).argmax(axis=-1)
    return {
        "accuracy": float((pred == labels).mean()),
        "macro_f1": float(f1_score(labels, pred, average="macro", zero_division=0)),
    }


class _EpochLogger(TrainerCallback):
    """A tqdm bar over training steps (optional) and one log line per evaluated epoch."""

    def __init__(self, show_bar: bool) -> None:
        self.show_bar = show_bar
        self.bar = None

    def on_train_begin(self, args, state, control, **kwargs):
        from tqdm.auto import tqdm

        if self.show_bar and state.is_world_process_zero:
            self.bar = tqdm(total=state.max_steps, desc="fine-tune", dynamic_ncols=True)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if self.bar is not None and "loss" in logs:
            self.bar.set_postfix(loss=round(logs["loss"], 4), epoch=round(state.epoch or 0, 2))
        if "eval_loss" in logs and state.is_world_process_zero:
            log.info(
                "training: epoch %.0f: eval_loss %.4f, accuracy %.4f, macro_f1 %.4f",
                state.epoch or 0,
                logs["eval_loss"],
                logs.get("eval_accuracy", float("nan")),
                logs.get("eval_macro_f1", float("nan")),
            )

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


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
    import torch

    torch.manual_seed(seed)
    fresh = load_handle(
        base,
        bundle.label_names,
        device=device,
        max_length=max_length,
        batch_size=batch_size,
        allow_new_head=True,
        pooling=pooling,
    )
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
        source = resolve_model(suite.model.id, suite.model.revision, suite.base_dir)
        return fine_tune_augmented(
            source,
            bundle,
            texts,
            labels,
            spec or suite.training,
            seed=seed,
            device=device,
            max_length=suite.model.max_length,
            batch_size=suite.model.batch_size,
            pooling=suite.model.pooling,
            progress=progress,
        )

    return run

"""One fine-tune with the transformers Trainer: tokenizing, arguments, callbacks, the summary.

Batches are grouped by length and padded per batch (on the Financial PhraseBank that halves
the padded tokens per epoch), evaluation runs each epoch on the validation split and the best
checkpoint is kept. `auditkit.training` decides whether to train at all (its cache) and keeps
the result; this module runs the Trainer once and describes what happened.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from transformers.trainer_callback import TrainerCallback  # imported lazily, with training.py

from auditkit.api.results import Table, TrainingSummary
from auditkit.errors import AuditkitError

if TYPE_CHECKING:
    from auditkit.data import DatasetBundle
    from auditkit.models import ModelHandle
    from auditkit.suite import TrainingSpec

log = logging.getLogger("auditkit.training")  # the name these lines logged under before


def effective_batch_size(spec: TrainingSpec, processes: int = 1) -> int:
    """Examples per optimizer step, over every process."""
    return spec.batch_size * spec.gradient_accumulation_steps * processes


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


def train(
    handle: ModelHandle,
    bundle: DatasetBundle,
    spec: TrainingSpec,
    *,
    seed: int,
    key: str,
    progress: bool,
    processes: int = 1,
) -> tuple[TrainingSummary, Any]:
    """Fine-tune `handle.model` on the bundle; returns the summary and the trained model."""
    import transformers

    transformers.set_seed(seed)
    if not progress:
        import datasets

        datasets.disable_progress_bars()
    precision = pick_precision(spec, handle.device.type)
    train_ds = _tokenized(handle, bundle.train)
    eval_ds = _tokenized(handle, bundle.validation) if bundle.validation is not None else None
    has_eval = eval_ds is not None and len(eval_ds) > 0
    out_dir = tempfile.mkdtemp(prefix="auditkit-train-")
    args = _training_arguments(
        spec, out_dir, len(train_ds), has_eval=has_eval, seed=seed, precision=precision,
        device_type=handle.device.type, progress=progress,
    )  # fmt: skip
    trainer = _trainer(handle, spec, args, train_ds, eval_ds if has_eval else None, progress)
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
        handle.device.type,
    )
    start = time.perf_counter()
    output = _run(trainer, spec, handle.max_length, out_dir)
    elapsed = time.perf_counter() - start

    summary = _summarize(
        trainer, output, spec, list(train_ds["length"]), key=key, device=str(handle.device),
        precision=precision, elapsed=elapsed, seed=seed, processes=processes,
    )  # fmt: skip
    log.info(
        "training: %.1f s (%.1f samples/s); best %s %s at epoch %s",
        elapsed,
        summary.train_samples_per_s,
        spec.metric_for_best,
        f"{summary.best_value:.4f}" if summary.best_value is not None else "-",
        summary.best_epoch,
    )
    return summary, trainer.model


def _tokenized(handle: ModelHandle, ds):
    """Token ids, attention mask, length and labels; the other columns dropped."""
    tokenizer = handle.tokenizer

    def tokenize(batch: dict) -> dict:
        enc = tokenizer(batch["text"], truncation=True, max_length=handle.max_length)
        enc["length"] = [len(x) for x in enc["input_ids"]]
        enc["labels"] = batch["label"]
        return enc

    keep = ["input_ids", "attention_mask", "length", "labels"]
    out = ds.map(tokenize, batched=True, desc="tokenize", load_from_cache_file=False)
    return out.remove_columns([c for c in out.column_names if c not in keep])


def _training_arguments(
    spec: TrainingSpec,
    out_dir: str,
    n_train: int,
    *,
    has_eval: bool,
    seed: int,
    precision: str,
    device_type: str,
    progress: bool,
):
    from transformers import TrainingArguments

    greater = spec.metric_for_best != "loss"
    steps_per_epoch = max(1, -(-n_train // (spec.batch_size * spec.gradient_accumulation_steps)))
    return TrainingArguments(
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


def _trainer(handle: ModelHandle, spec: TrainingSpec, args, train_ds, eval_ds, progress: bool):
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    callbacks = []
    if spec.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(spec.early_stopping_patience))
    trainer = Trainer(
        model=handle.model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        data_collator=DataCollatorWithPadding(
            handle.tokenizer, pad_to_multiple_of=8 if handle.device.type == "cuda" else None
        ),
        processing_class=handle.tokenizer,
        compute_metrics=_compute_metrics,
        callbacks=callbacks,
    )
    # Our own callback: a bar (when wanted) and one log line per epoch, instead of the
    # per-step dicts that ProgressCallback/PrinterCallback print.
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(_EpochLogger(show_bar=progress))
    return trainer


def _run(trainer, spec: TrainingSpec, max_length: int, out_dir: str):
    """`trainer.train()`; out of memory is a clear error; the checkpoints folder goes."""
    import torch

    try:
        return trainer.train()
    except torch.cuda.OutOfMemoryError as exc:
        raise AuditkitError(
            f"CUDA out of memory while fine-tuning (batch size {spec.batch_size}, "
            f"max_length {max_length})",
            hint="lower training.batch_size (raise gradient_accumulation_steps to keep "
            "the effective batch) or model.max_length",
        ) from exc
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def _summarize(
    trainer,
    output,
    spec: TrainingSpec,
    lengths: list[int],
    *,
    key: str,
    device: str,
    precision: str,
    elapsed: float,
    seed: int,
    processes: int,
) -> TrainingSummary:
    """The training summary: curves from the Trainer's log history, the best epoch, padding."""
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
        greater = spec.metric_for_best != "loss"
        best = (max if greater else min)(eval_rows, key=lambda r: r[col])
        best_epoch, best_value = best[0], best[col]
    return TrainingSummary(
        cache_hit=False,
        cache_key=key,
        device=device,
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

"""Seeded, stratified splits: test and validation held out of train, and `data.sample`."""

from __future__ import annotations

import math

import pandas as pd

from auditkit.data.bundle import DataReport
from auditkit.errors import DataError
from auditkit.suite import DataSpec

SPLITS = ("train", "validation", "test")


def _split(frame: pd.DataFrame, size: float | int, seed: int, report: DataReport, what: str):
    """Seeded split, stratified by label where every class has at least two rows."""
    from sklearn.model_selection import train_test_split

    counts = frame["label"].value_counts()
    n_hold = size if isinstance(size, int) else math.ceil(len(frame) * size)
    stratify = frame["label"] if counts.min() >= 2 and n_hold >= len(counts) else None
    if stratify is None:
        report.warn(f"data: a class is too small to stratify the {what} split; split at random")
    rest, held = train_test_split(frame, test_size=size, random_state=seed, stratify=stratify)
    return rest.reset_index(drop=True), held.reset_index(drop=True)


def make_splits(frames: dict, spec: DataSpec, seed: int, report: DataReport) -> dict:
    if "train" not in frames:  # test data alone: the model is audited as it is, not trained
        frames["train"] = frames["test"].iloc[0:0].copy()
        report.warn("data: no training file (`data.path`): the train split is empty")
        return frames
    if len(frames["train"]) < 4:
        raise DataError(f"data: only {len(frames['train'])} usable training rows")
    if "test" not in frames:
        frames["train"], frames["test"] = _split(
            frames["train"], spec.test_size, seed, report, "test"
        )
        report.test_split_made = True
    if "validation" not in frames and spec.validation_size > 0:
        frames["train"], frames["validation"] = _split(
            frames["train"], spec.validation_size, seed, report, "validation"
        )
        report.validation_split_made = True
    return frames


def sample_splits(frames: dict, spec: DataSpec, seed: int, report: DataReport) -> None:
    """`data.sample`: a seeded stratified subsample of each split it names, in place."""
    assert spec.sample is not None
    for split in SPLITS:
        n = getattr(spec.sample, split)
        if n is None:
            continue
        if split not in frames:
            report.warn(
                f"data: data.sample.{split} is set, but there is no {split} split "
                f"(validation_size is 0 and no validation data is given); ignored"
            )
        elif n < len(frames[split]):
            frames[split] = _stratified_take(frames[split], n, seed, report, split)


def _stratified_take(frame: pd.DataFrame, n: int, seed: int, report: DataReport, split: str):
    _, taken = _split(frame, n, seed, report, f"{split} sample")
    report.warn(f"data: {split} subsampled to {len(taken)} of {len(frame)} rows (data.sample)")
    return taken

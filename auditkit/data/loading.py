"""Dataset sources -> DatasetBundle (train, validation, test, label names, fingerprint).

`load_data` reads (`readers`), maps labels (`labels`), cleans and deduplicates (`cleaning`),
splits and subsamples (`splits`), then fingerprints each split.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

import pandas as pd

from auditkit.data.bundle import DataReport, DatasetBundle
from auditkit.data.cleaning import check_columns, check_label_coverage, clean_split, dedupe
from auditkit.data.labels import LabelReader, find_label_names
from auditkit.data.readers import read_frames
from auditkit.data.splits import make_splits, sample_splits
from auditkit.errors import DataError
from auditkit.suite import DataSpec, Suite

if TYPE_CHECKING:
    from datasets import Dataset

log = logging.getLogger("auditkit.data")  # the name it logged under as one module


def load_data(suite: Suite) -> DatasetBundle:
    """Load, validate, split and fingerprint the suite's dataset."""
    spec = _pick_spec(suite)
    frames, origin, class_names = read_frames(spec, suite)
    report = DataReport(source=spec.source, origin=origin)
    for split, frame in frames.items():
        report.rows_read[split] = len(frame)
        check_columns(frame, spec, split, origin)

    reader = LabelReader.build(spec, class_names, report)
    label_names = find_label_names(spec, frames, reader)
    cleaned = {
        split: clean_split(frame, spec, label_names, split, origin, report, reader)
        for split, frame in frames.items()
    }
    cleaned = dedupe(cleaned, spec, report)
    cleaned = make_splits(cleaned, spec, suite.seed, report)
    if spec.sample:
        sample_splits(cleaned, spec, suite.seed, report)

    for split, frame in cleaned.items():
        if len(frame) == 0 and not (split == "train" and spec.path is None):
            hint = "check the file, the column names and `data.labels`"
            if reader.targets is not None and report.dropped.get("missing_label"):
                hint = (
                    "rows labelled -1 have no label (the Hub's convention; test splits such as "
                    "GLUE's are unlabelled): name a labelled split, or leave the split unset to "
                    "have one held out of train"
                )
            raise DataError(
                f"data: the {split} split has no usable rows after cleaning "
                f"(dropped: {report.dropped or 'none'})",
                hint=hint,
            )
    check_label_coverage(cleaned, label_names, spec, report)
    for split, frame in cleaned.items():
        report.split_sizes[split] = len(frame)
        counts = frame["label"].value_counts()
        report.class_counts[split] = {
            name: int(counts.get(i, 0)) for i, name in enumerate(label_names)
        }
    split_fps = {split: _fingerprint(frame, label_names) for split, frame in cleaned.items()}
    overall = hashlib.sha256(
        "|".join(
            [",".join(label_names)] + [f"{s}:{split_fps[s]}" for s in sorted(split_fps)]
        ).encode()
    ).hexdigest()
    datasets = {
        split: _to_dataset(frame, spec.metadata_columns) for split, frame in cleaned.items()
    }
    log.info(
        "data: %s from %s -> %s (dropped: %s)",
        spec.source,
        origin,
        ", ".join(f"{s}={n}" for s, n in report.split_sizes.items()),
        report.dropped or "none",
    )
    return DatasetBundle(
        train=datasets["train"],
        test=datasets["test"],
        validation=datasets.get("validation"),
        label_names=label_names,
        metadata_columns=list(spec.metadata_columns),
        fingerprint=overall,
        split_fingerprints=split_fps,
        report=report,
    )


def _pick_spec(suite: Suite) -> DataSpec:
    spec: DataSpec | None = suite.data
    tried = []
    while spec is not None:
        paths = [getattr(spec, k) for k in ("path", "test_path", "validation_path")]
        paths = [p for p in paths if p]
        resolved = [suite.resolve_path(p) for p in paths]
        if all(r is not None and r.exists() for r in resolved):
            if tried:
                log.info("data: using fallback source %s (%s)", spec.source, "; ".join(tried))
            return spec
        missing = [
            f"{raw!r} (variable unset)" if r is None else f"{raw!r} -> {r} (not found)"
            for raw, r in zip(paths, resolved, strict=True)
            if r is None or not r.exists()
        ]
        tried.append(f"{spec.source} " + ", ".join(missing or [repr(paths[0])]) + " unavailable")
        spec = spec.fallback
    raise DataError(
        "data: no usable data source: " + "; ".join(tried),
        hint="set the environment variable the path names, or fix the path",
    )


def _fingerprint(frame: pd.DataFrame, label_names: list[str]) -> str:
    digest = hashlib.sha256()
    for text, label in zip(frame["text"], frame["label"], strict=True):
        digest.update(f"{label_names[int(label)]}\t{text}\n".encode())
    return digest.hexdigest()


def _to_dataset(frame: pd.DataFrame, metadata_columns: list[str]) -> Dataset:
    from datasets import Dataset, Features, Value

    data = {"text": frame["text"].tolist(), "label": frame["label"].astype(int).tolist()}
    for column in metadata_columns:
        data[column] = [None if pd.isna(v) else str(v) for v in frame[column]]
    features = Features(
        {
            "text": Value("string"),
            "label": Value("int64"),
            **{c: Value("string") for c in metadata_columns},
        }
    )
    return Dataset.from_dict(data, features=features)

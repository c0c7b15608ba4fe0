"""Row checks: columns present, empty texts and bad labels dropped (and counted), duplicates.

Every row that is dropped is counted by reason and reported; with `on_bad_rows: error` the
first bad rows are shown instead. Nothing is dropped silently.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any

import pandas as pd

from auditkit.data.bundle import DataReport
from auditkit.data.labels import LabelReader, raw_label
from auditkit.errors import DataError
from auditkit.suite import DataSpec


def check_columns(frame: pd.DataFrame, spec: DataSpec, split: str, origin: str) -> None:
    needed = {
        "data.text_column": spec.text_column,
        "data.label_column": spec.label_column,
        **{f"data.metadata_columns[{i}]": c for i, c in enumerate(spec.metadata_columns)},
    }
    for key, column in needed.items():
        if column not in frame.columns:
            raise DataError(
                f"data: {key} names column {column!r}, but the {split} data ({origin}) has "
                f"only: {', '.join(map(str, frame.columns))}",
                hint=f"set `{key}` in the suite to one of those columns",
            )


def clean_split(
    frame: pd.DataFrame,
    spec: DataSpec,
    label_names: list[str],
    split: str,
    origin: str,
    report: DataReport,
    reader: LabelReader,
) -> pd.DataFrame:
    index = {name: i for i, name in enumerate(label_names)}
    texts = [_normalize_text(t) for t in frame[spec.text_column]]
    raw = [raw_label(v) for v in frame[spec.label_column]]
    mapped = [reader(r) for r in raw]
    problems: dict[str, list[int]] = {"empty_text": [], "missing_label": [], "unknown_label": []}
    keep = []
    for row, (text, label) in enumerate(zip(texts, mapped, strict=True)):
        if not text:
            problems["empty_text"].append(row)
        elif label is None:
            problems["missing_label"].append(row)
        elif label not in index:
            problems["unknown_label"].append(row)
        else:
            keep.append(row)
    bad = {k: v for k, v in problems.items() if v}
    if bad and spec.on_bad_rows == "error":
        parts = []
        for reason, rows in bad.items():
            sample = ", ".join(
                _where(spec.source, r)
                + (f" (label {raw[r]!r})" if reason == "unknown_label" else "")
                + (" (label -1: no label)" if reason == "missing_label" and raw[r] else "")
                for r in rows[:3]
            )
            parts.append(f"{len(rows)} {reason.replace('_', ' ')} ({sample})")
        unknown = sorted({str(mapped[r]) for r in problems["unknown_label"]})
        hint = "fix the rows, or set `data.on_bad_rows: drop` to drop and count them"
        if any(raw[r] for r in problems["missing_label"]):
            hint = (
                "-1 is the Hub's 'no label' (e.g. GLUE test splits): read a labelled split, "
                "or set `data.on_bad_rows: drop` to drop and count them"
            )
        if unknown:
            hint = (
                f"labels {unknown} are not in data.labels {label_names}; add them, map them with "
                f"`data.label_map`, or set `data.on_bad_rows: drop`"
            )
        raise DataError(f"data: {split} split ({origin}): " + "; ".join(parts), hint=hint)
    for reason, rows in bad.items():
        report.drop(reason, len(rows))
        extra = ""
        if reason == "unknown_label":
            extra = f": {sorted({str(mapped[r]) for r in rows})[:5]} not in {label_names}"
        if reason == "missing_label" and any(raw[r] for r in rows):
            extra = f" ({sum(1 for r in rows if raw[r])} with ClassLabel -1: no label)"
        report.warn(
            f"data: dropped {len(rows)} {split} row(s) with {reason.replace('_', ' ')}{extra}"
        )
    out = pd.DataFrame(
        {
            "text": [texts[r] for r in keep],
            "label": [index[mapped[r]] for r in keep],
        }
    )
    for column in spec.metadata_columns:
        out[column] = frame[column].iloc[keep].to_numpy()
    return out


def _where(source: str, row: int) -> str:
    """Where a 0-based data row is, in the terms of its file (csv has a header line)."""
    if source == "csv":
        return f"line {row + 2}"
    if source == "jsonl":
        return f"line {row + 1}"
    return f"row {row}"


def _normalize_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return unicodedata.normalize("NFC", " ".join(str(value).split()))


def dedupe(frames: dict[str, pd.DataFrame], spec: DataSpec, report: DataReport) -> dict:
    out = {}
    for split, frame in frames.items():
        dup = frame.duplicated("text", keep="first")
        conflicting = frame.groupby("text")["label"].nunique()
        report.duplicates_found += int(dup.sum())
        report.conflicting_duplicates += int((conflicting > 1).sum())
        if dup.any():
            if spec.duplicates == "drop":
                report.drop("duplicate", int(dup.sum()))
                report.warn(f"data: dropped {int(dup.sum())} duplicate text(s) in {split}")
                frame = frame[~dup].reset_index(drop=True)
            else:
                report.warn(f"data: {int(dup.sum())} duplicate text(s) in {split} (kept)")
        out[split] = frame
    if "test" in out:
        test_texts = set(out["test"]["text"])
        for split in ("train", "validation"):
            if split not in out:
                continue
            overlap = out[split]["text"].isin(test_texts)
            n = int(overlap.sum())
            if split == "train":
                report.train_test_overlap = n
            if n and spec.duplicates == "drop":
                report.drop(f"{split}_test_overlap", n)
                report.warn(f"data: dropped {n} {split} row(s) whose text is also in test")
                out[split] = out[split][~overlap].reset_index(drop=True)
            elif n:
                report.warn(f"data: {n} {split} row(s) also appear in test (kept: scores inflate)")
    return out


def check_label_coverage(frames: dict, label_names: list[str], spec: DataSpec, report) -> None:
    present = set()
    for frame in frames.values():
        present.update(int(x) for x in frame["label"].unique())
    absent = [name for i, name in enumerate(label_names) if i not in present]
    if absent:
        raise DataError(
            f"data.labels lists {absent}, but no row of the data has that label "
            f"(labels found: {[label_names[i] for i in sorted(present)]})",
            hint="the suite's labels disagree with the data: fix `data.labels` or `data.label_map`",
        )
    train_present = set(int(x) for x in frames["train"]["label"].unique())
    missing = [name for i, name in enumerate(label_names) if i not in train_present]
    if missing:
        report.warn(f"data: no training example of {missing}")

"""Dataset sources -> DatasetBundle (train, validation, test, label names, fingerprint).

Every row that is dropped is counted by reason and reported; with `on_bad_rows: error` the
first bad rows are shown instead. Nothing is dropped silently.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import math
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from auditkit.errors import DataError
from auditkit.suite import DataSpec, Suite

if TYPE_CHECKING:
    from datasets import Dataset

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
NO_LABEL = "-1"  # a Hub ClassLabel's id for "no label" (e.g. GLUE test splits)


@dataclass
class DataReport:
    """What loading found and did; goes into results.json as plain data."""

    source: str
    origin: str
    rows_read: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    duplicates_found: int = 0
    conflicting_duplicates: int = 0
    train_test_overlap: int = 0
    test_split_made: bool = False
    validation_split_made: bool = False
    split_sizes: dict[str, int] = field(default_factory=dict)
    class_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def drop(self, reason: str, n: int) -> None:
        if n:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(n)

    def warn(self, message: str) -> None:
        log.warning(message)
        self.warnings.append(message)


@dataclass
class DatasetBundle:
    train: Dataset
    test: Dataset
    validation: Dataset | None
    label_names: list[str]
    metadata_columns: list[str]
    fingerprint: str
    split_fingerprints: dict[str, str]
    report: DataReport

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


# --------------------------------------------------------------------------- entry point


def load_data(suite: Suite) -> DatasetBundle:
    """Load, validate, split and fingerprint the suite's dataset."""
    spec = _pick_spec(suite)
    frames, origin, class_names = _read(spec, suite)
    report = DataReport(source=spec.source, origin=origin)
    for split, frame in frames.items():
        report.rows_read[split] = len(frame)
        _check_columns(frame, spec, split, origin)

    reader = LabelReader.build(spec, class_names, report)
    label_names = _label_names(spec, frames, reader)
    cleaned = {
        split: _clean(frame, spec, label_names, split, origin, report, reader)
        for split, frame in frames.items()
    }
    cleaned = _dedupe(cleaned, spec, report)
    cleaned = _make_splits(cleaned, spec, suite.seed, report)
    if spec.sample:
        _sample(cleaned, spec, suite.seed, report)

    for split, frame in cleaned.items():
        if len(frame) == 0:
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
    _check_label_coverage(cleaned, label_names, spec, report)
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


# --------------------------------------------------------------------------- readers


def _read(spec: DataSpec, suite: Suite) -> tuple[dict[str, pd.DataFrame], str, list[str] | None]:
    if spec.source == "hf":
        return _read_hf(spec, suite)
    files = {"train": spec.path, "test": spec.test_path, "validation": spec.validation_path}
    frames = {}
    for split, value in files.items():
        if value is None:
            continue
        path = suite.resolve_path(value)
        assert path is not None  # _pick_spec checked
        frames[split] = _read_file(spec, path)
    return frames, str(suite.resolve_path(spec.path or "")), None


def _read_file(spec: DataSpec, path: Path) -> pd.DataFrame:
    name = spec.encoding or ("latin-1" if spec.source == "phrasebank" else "utf-8")
    encoding = _codec(name)
    try:
        if spec.source == "csv":
            return pd.read_csv(path, encoding=encoding, keep_default_na=False)
        if spec.source == "jsonl":
            return pd.read_json(path, lines=True, dtype=False, encoding=encoding)
        if spec.source == "parquet":
            return pd.read_parquet(path)
        if spec.source == "phrasebank":
            return _read_phrasebank(path, spec, encoding)
    except UnicodeDecodeError as exc:
        raise _decode_error(path, name, encoding, exc) from None
    except (ValueError, pd.errors.ParserError, OSError) as exc:
        raise DataError(
            f"data: cannot read {path} as {spec.source}: {exc}",
            hint="check `data.source` and `data.encoding` in the suite",
        ) from None
    raise DataError(f"data: unknown source {spec.source!r}")  # unreachable: suite validates


def _codec(encoding: str) -> str:
    """The codec to read with: utf-8 reads as utf-8-sig, so a BOM (Excel's exports) is skipped."""
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def _decode_error(path: Path, name: str, codec: str, exc: UnicodeDecodeError) -> DataError:
    """Name the line of the first bad byte and the option that fixes it.

    The readers decode in buffers, so `exc.start` may be an offset into a buffer: decode the
    whole file once more to find the offset in the file itself.
    """
    raw = path.read_bytes()
    skip = len(codecs.BOM_UTF8) if codec == "utf-8-sig" and raw.startswith(codecs.BOM_UTF8) else 0
    try:
        raw[skip:].decode("utf-8" if codec == "utf-8-sig" else codec)
    except UnicodeDecodeError as own:
        start = skip + own.start
        line = raw.count(b"\n", 0, start) + 1
        where = f"line {line}: byte 0x{raw[start]:02x}"
    else:  # not reproducible on the raw bytes: report what the reader said
        where = f"byte 0x{exc.object[exc.start]:02x} at offset {exc.start} of a read buffer"
    return DataError(
        f"data: {path}: {where} is not valid {name}; set `data.encoding` "
        f"(e.g. latin-1 or cp1252) in the suite",
        hint="files saved by Excel or a Windows/Latin-1 system are often cp1252 or latin-1; "
        "set `data.encoding` to the encoding the file was written in",
    )


def _read_phrasebank(path: Path, spec: DataSpec, encoding: str) -> pd.DataFrame:
    """The original Financial PhraseBank release: `sentence@label` per line, in Latin-1."""
    texts, labels, bad = [], [], []
    with open(path, encoding=encoding) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            text, sep, label = line.rpartition("@")
            if not sep:
                bad.append(lineno)
                texts.append(line)
                labels.append(None)
                continue
            texts.append(text)
            labels.append(label.strip())
    if bad and spec.on_bad_rows == "error":
        raise DataError(
            f"data: {path}: {len(bad)} line(s) without '@label' (first at line {bad[0]})",
            hint="each line must read `sentence@label`; or set `data.on_bad_rows: drop`",
        )
    return pd.DataFrame({spec.text_column: texts, spec.label_column: labels})


def _read_hf(spec: DataSpec, suite: Suite) -> tuple[dict[str, pd.DataFrame], str, list[str] | None]:
    """A Hub dataset id (with config, split and revision), or a local folder of data files."""
    import datasets

    ident = spec.id or ""
    local = suite.resolve_path(ident) if ident.startswith((".", "/", "~")) else None
    target = str(local) if local is not None else ident
    splits = {"train": spec.split, "test": spec.test_split, "validation": spec.validation_split}
    frames: dict[str, pd.DataFrame] = {}
    found: dict[str, list[str] | None] = {}
    for split, hf_split in splits.items():
        if hf_split is None:
            continue
        try:
            ds = datasets.load_dataset(target, spec.config, split=hf_split, revision=spec.revision)
        except Exception as exc:  # datasets raises many types (network, missing split, ...)
            raise DataError(
                f"data: cannot load Hub dataset {ident!r} (config={spec.config!r}, "
                f"split={hf_split!r}, revision={spec.revision!r}): {type(exc).__name__}: {exc}",
                hint="offline? point `data` at a local file, or set HF_DATASETS_OFFLINE=1 "
                "with a populated cache",
            ) from None
        # A ClassLabel column holds ids; keep them (writing names back with `ds.map` is cast
        # to ids again) and read the names from the feature: LabelReader maps ids to names.
        feature = ds.features.get(spec.label_column)
        found[split] = list(feature.names) if isinstance(feature, datasets.ClassLabel) else None
        frames[split] = ds.to_pandas()
    origin = f"{ident}" + (f"/{spec.config}" if spec.config else "")
    origin += f"@{spec.revision}" if spec.revision else ""
    if len({json.dumps(names) for names in found.values()}) > 1:
        raise DataError(
            f"data: the splits of {origin} disagree on the classes of {spec.label_column!r}: "
            + "; ".join(
                f"{split}: " + (f"ClassLabel {names}" if names else "no ClassLabel")
                for split, names in found.items()
            ),
            hint="give every split the same ClassLabel feature (`Dataset.cast_column`), "
            "or read the splits from files whose labels are names",
        )
    return frames, origin, next(iter(found.values()), None)


# --------------------------------------------------------------------------- cleaning


def _check_columns(frame: pd.DataFrame, spec: DataSpec, split: str, origin: str) -> None:
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


def _raw_label(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


@dataclass
class LabelReader:
    """Raw label text -> label name, or None for a missing label.

    Plain labels go through `data.label_map` (raw value -> name). A Hub ClassLabel column holds
    ids: id i reads as the feature's i-th name, and `data.label_map` may rename classes keyed by
    id or by name (an id wins where a key is both). -1 (and null) is the Hub's "no label": a
    missing label, never a class.
    """

    label_map: dict[str, str]
    targets: list[str] | None = None  # per ClassLabel id: the name it reads as, after label_map

    @classmethod
    def build(
        cls, spec: DataSpec, class_names: list[str] | None, report: DataReport
    ) -> LabelReader:
        """Resolve `data.label_map` against a ClassLabel's ids and names; a key that is
        neither is an error, not a rule that never applies."""
        if class_names is None:
            return cls(dict(spec.label_map))
        by_name = {name: i for i, name in enumerate(class_names)}
        targets = list(class_names)
        keyed: dict[int, str] = {}
        for key, target in spec.label_map.items():
            if key.isdigit() and int(key) < len(class_names):
                i = int(key)
                if by_name.get(key, i) != i:
                    report.warn(
                        f"data.label_map key {key!r} is read as ClassLabel id {i} "
                        f"({class_names[i]!r}), not as the class named {key!r} (id {by_name[key]})"
                    )
            elif key in by_name:
                i = by_name[key]
            else:
                no_label = key == NO_LABEL
                raise DataError(
                    f"data.label_map key {key!r} is neither a class id (0..{len(class_names) - 1}) "
                    f"nor a class name of the ClassLabel column {spec.label_column!r} "
                    f"{class_names}",
                    hint="-1 is the Hub's 'no label': such rows are missing labels, handled as "
                    "`data.on_bad_rows` says; remove the key"
                    if no_label
                    else "key `data.label_map` by the ClassLabel's ids or names",
                )
            if i in keyed and keyed[i] != target:
                raise DataError(
                    f"data.label_map maps ClassLabel class {i} ({class_names[i]!r}) twice: "
                    f"to {keyed[i]!r} and to {target!r}",
                    hint="keep one key per class (its id or its name)",
                )
            keyed[i] = targets[i] = target
        return cls(dict(spec.label_map), targets)

    def __call__(self, raw: str | None) -> str | None:
        if raw is None:
            return None
        if self.targets is None:
            return self.label_map.get(raw, raw)
        if raw == NO_LABEL:
            return None
        if raw.isdigit() and int(raw) < len(self.targets):
            return self.targets[int(raw)]
        return raw  # not an id of the ClassLabel: an unknown label, reported as such


def _label_names(spec: DataSpec, frames: dict[str, pd.DataFrame], reader: LabelReader) -> list[str]:
    if spec.labels:
        if reader.targets is not None:
            n = len(reader.targets)
            ids = [x for x in spec.labels if x not in reader.targets and x.isdigit() and int(x) < n]
            if ids:
                raise DataError(
                    f"data.labels lists {ids}, which are ids of the ClassLabel column "
                    f"{spec.label_column!r}; its rows read as class names {reader.targets}",
                    hint="list class names in `data.labels`, or rename classes with "
                    "`data.label_map` (e.g. {0: negative})",
                )
        return list(spec.labels)
    if reader.targets is not None:
        return list(dict.fromkeys(reader.targets))  # the ClassLabel's order
    found = set()
    for frame in frames.values():
        for value in frame[spec.label_column]:
            name = reader(_raw_label(value))
            if name is not None:
                found.add(name)
    if len(found) < 2:
        raise DataError(
            f"data: found {len(found)} distinct label(s) ({sorted(found)}); need at least 2",
            hint="check `data.label_column`",
        )
    return sorted(found)


def _clean(
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
    raw = [_raw_label(v) for v in frame[spec.label_column]]
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


def _dedupe(frames: dict[str, pd.DataFrame], spec: DataSpec, report: DataReport) -> dict:
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


def _make_splits(frames: dict, spec: DataSpec, seed: int, report: DataReport) -> dict:
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


def _sample(frames: dict, spec: DataSpec, seed: int, report: DataReport) -> None:
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


def _check_label_coverage(frames: dict, label_names: list[str], spec: DataSpec, report) -> None:
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

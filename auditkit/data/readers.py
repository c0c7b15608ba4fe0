"""The readers: csv, jsonl, parquet, the Financial PhraseBank's own format, and Hub datasets.

Each returns one pandas frame per split the suite names, with the columns as found.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pandas as pd

from auditkit.errors import DataError
from auditkit.suite import DataSpec, Suite


def read_frames(
    spec: DataSpec, suite: Suite
) -> tuple[dict[str, pd.DataFrame], str, list[str] | None]:
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
    return frames, str(suite.resolve_path(spec.path or spec.test_path or "")), None


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

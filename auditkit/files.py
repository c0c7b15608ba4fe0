"""The one way auditkit writes a file: atomically, durably, with ordinary permissions.

A reader (the dashboard, a CI step, a teammate) sees the old file or the new one, never half
of one: the text goes to a temp file in the same folder, is fsynced, and is renamed over the
target; the folder is fsynced too, so the rename survives a power cut. `mkstemp` makes files
0600, which a CI artifact store or a teammate could not read, so the temp file gets the mode a
plain `open()` would give (0666 less the umask).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(target: str | os.PathLike[str], data: str | bytes) -> Path:
    """Replace `target` with `data` (str is written as UTF-8); parent folders are created."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)
    return target


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable; some filesystems (and Windows) cannot open a folder: skip."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_jsonl(target: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> Path:
    """One JSON object per line (UTF-8, non-ASCII kept), written as one atomic file."""
    lines = [json.dumps(record, ensure_ascii=False) + "\n" for record in records]
    return write_atomic(target, "".join(lines))


class JsonlStream:
    """A JSONL file written as its rows arrive, and published atomically when complete.

    For per-example artifacts too large to hold in memory (10,000 attacks): each `write` goes
    to the temp file at once, and `close()` renames it over the target as `write_atomic`
    would. Leaving the `with` block on an exception removes the temp file, so a reader never
    sees half an artifact.
    """

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.target = Path(target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(
            dir=self.target.parent, prefix=f".{self.target.name}.", suffix=".tmp"
        )
        self._fh = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        self.rows = 0

    def write(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.rows += 1
        self._fh.flush()

    def close(self) -> Path:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.chmod(self._tmp, 0o666 & ~_umask())
        os.replace(self._tmp, self.target)
        _fsync_dir(self.target.parent)
        return self.target

    def discard(self) -> None:
        self._fh.close()
        with contextlib.suppress(OSError):
            os.unlink(self._tmp)

    def __enter__(self) -> JsonlStream:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()


def write_parquet(target: str | os.PathLike[str], frame: pd.DataFrame) -> Path:
    """A DataFrame as parquet (no index), written as one atomic file."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return write_atomic(target, buffer.getvalue())

"""The run directory, owned in one place: its layout, its id, `latest`, and where files lie.

`reports/<suite>/<run-id>/` holds `results.json`, `report.html`, the optional `gate.json` and
the audits' artifacts; `reports/<suite>/latest` names the newest run (a symlink, or a plain file
holding the run id where symlinks are unavailable). Everything that finds a run or a file in one
goes through here, so the CLI, the report, the gate and the dashboard read the same layout.
This module imports nothing heavy: the dashboard and the CLI's `--help` load it.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from auditkit.errors import AuditkitError

RESULTS_FILE = "results.json"
REPORT_FILE = "report.html"
GATE_FILE = "gate.json"
LATEST = "latest"

__all__ = [
    "GATE_FILE",
    "LATEST",
    "REPORT_FILE",
    "RESULTS_FILE",
    "artifact_file",
    "new_run_id",
    "point_latest",
    "resolve_run_dir",
    "run_path",
]


def new_run_id() -> str:
    """Sortable by time, unique across runs started in the same second."""
    return datetime.now().strftime("%Y%m%d-%H%M%S-") + os.urandom(2).hex()


def run_path(root: str | os.PathLike[str], suite_name: str, run_id: str) -> Path:
    return Path(root) / suite_name / run_id


def point_latest(run_dir: Path) -> None:
    """Make `<suite>/latest` name this run: a relative symlink, else a file holding its id."""
    from auditkit.files import write_atomic

    link = run_dir.parent / LATEST
    try:
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(run_dir.name, target_is_directory=True)
    except OSError:  # no symlinks (some Windows setups)
        write_atomic(link, run_dir.name + "\n")


def resolve_run_dir(path: str | os.PathLike[str]) -> Path:
    """A run directory from a run dir, its results.json, or a `latest` link or pointer file.

    A `latest` symlink resolves to the run it names, so what is written next to the results
    (gate.json, a report) lands in the run itself and stays with it when `latest` moves on.
    """
    path = Path(path)
    if path.is_file() and path.name == RESULTS_FILE:
        return path.parent
    if path.is_file():  # `latest` written as a plain file where symlinks are unavailable
        target = path.parent / path.read_text(encoding="utf-8").strip()
        if (target / RESULTS_FILE).is_file():
            return target
    if path.is_dir() and (path / RESULTS_FILE).is_file():
        return path.resolve() if path.is_symlink() else path
    raise AuditkitError(
        f"{path}: not a run directory (no {RESULTS_FILE} found there)",
        hint="pass a folder written by `auditkit run`, e.g. reports/<suite>/latest or "
        "reports/<suite>/<run-id>, or its results.json",
    )


def artifact_file(run_dir: str | os.PathLike[str], file_name: str | None) -> Path | None:
    """Where a file that results.json names lies, or None when it would leave the run directory.

    results.json is data that a reader may not trust: a name like `../../etc/passwd` must not
    make the report or the dashboard read outside the run. Whether the file exists is left to
    the caller.
    """
    if not file_name:
        return None
    root = Path(run_dir).resolve()
    path = (root / file_name).resolve()
    return path if root in path.parents else None

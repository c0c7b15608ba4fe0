"""Find runs under a results root, load them, and read the artifacts they name.

A results root is laid out `ROOT/<suite>/<run-id>/results.json` (see auditkit.runner); the
`latest` link next to the runs is skipped so a run is listed once. A root that is itself a
suite folder or a run folder works too, so a user can point the app at whatever they have.
Nothing here raises on a bad run: a run that cannot be read is listed with its reason, and the
app shows that reason instead of a traceback.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from auditkit.api.results import RunResults, SchemaMismatchError, load_results
from auditkit.api.rundir import GATE_FILE, RESULTS_FILE, artifact_file

ENV_VAR = "AUDITKIT_REPORTS_DIR"


def default_root() -> Path:
    """The results root: $AUDITKIT_REPORTS_DIR, else `reports/` in the working directory."""
    return Path(os.environ.get(ENV_VAR) or "reports")


@dataclass
class RunEntry:
    """One run directory as the run picker lists it; `problem` is set when it cannot be read."""

    path: Path
    mtime: float
    suite: str
    run_id: str
    status: str = "?"
    model: str | None = None
    started_at: str | None = None
    test_fingerprint: str | None = None
    gate: dict[str, Any] | None = None
    problem: str | None = None
    audits: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return str(self.path)

    @property
    def gate_label(self) -> str:
        return gate_label(self.gate)

    def label(self) -> str:
        """One line for the run picker: suite, run id, model, date and gate status."""
        if self.problem:
            return f"{self.suite} · {self.run_id} · unreadable"
        date = (self.started_at or "")[:16].replace("T", " ") or "?"
        model = (self.model or "?").rsplit("/", 1)[-1]
        return f"{self.suite} · {self.run_id} · {model} · {date} · gate {self.gate_label}"


def gate_passed(gate: dict[str, Any] | None) -> bool | None:
    """The gate's overall verdict: `passed` (auditkit gate), else a `status` word; else None."""
    if not gate:
        return None
    if isinstance(gate.get("passed"), bool):
        return gate["passed"]
    status = str(gate.get("status", "")).lower()
    if status in {"pass", "passed", "ok", "improved"}:
        return True
    if status in {"fail", "failed", "regressed", "regression"}:
        return False
    return None


def gate_label(gate: dict[str, Any] | None) -> str:
    """`passed`, `failed (n failing checks)` or `—` when there is no (readable) gate.json."""
    passed = gate_passed(gate)
    if passed is None:
        return "—"
    if passed:
        return "passed"
    checks = gate.get("checks") if isinstance(gate.get("checks"), list) else []
    failed = [c for c in checks if _failed(c)]
    return f"failed ({len(failed)})" if failed else "failed"


def _failed(check: Any) -> bool:
    if not isinstance(check, dict):
        return False
    if isinstance(check.get("fails"), bool):  # auditkit gate says which checks fail the gate
        return check["fails"]
    return str(check.get("verdict", "")).lower() in {"fail", "failed", "regressed", "regression"}


def read_gate(run_dir: Path) -> dict[str, Any] | None:
    """The gate's verdict for a run (gate.json next to results.json), or None if absent/bad."""
    path = Path(run_dir) / GATE_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def _candidates(root: Path) -> list[Path]:
    if (root / RESULTS_FILE).is_file():
        return [root]
    found: list[Path] = []
    for first in sorted(root.iterdir()):
        if first.name == "latest" or first.name.startswith(".") or not first.is_dir():
            continue
        if (first / RESULTS_FILE).is_file():
            found.append(first)
            continue
        for second in sorted(first.iterdir()):
            if second.name == "latest" or second.is_symlink() or not second.is_dir():
                continue
            if (second / RESULTS_FILE).is_file():
                found.append(second)
    return found


def read_run(run_dir: Path) -> tuple[RunResults | None, str | None]:
    """Load one run; on failure return (None, a message a user can act on)."""
    path = Path(run_dir) / RESULTS_FILE
    try:
        return load_results(path), None
    except SchemaMismatchError as exc:
        return None, (
            f"{exc}. This run was written by another auditkit version; open it with that "
            f"version, or run the suite again with this one."
        )
    except json.JSONDecodeError as exc:
        return None, f"{path}: not valid JSON ({exc}); the run may still be writing it."
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return None, f"{path}: does not match the results schema at `{where}`: {first['msg']}"
    except OSError as exc:
        return None, f"{path}: cannot be read ({exc.strerror or exc})"


def summarize(run_dir: Path, results: RunResults | None, problem: str | None) -> RunEntry:
    """The run picker's entry for a run directory."""
    run_dir = Path(run_dir)
    try:
        mtime = (run_dir / RESULTS_FILE).stat().st_mtime
    except OSError:
        mtime = 0.0
    entry = RunEntry(
        path=run_dir,
        mtime=mtime,
        suite=run_dir.parent.name,
        run_id=run_dir.name,
        gate=read_gate(run_dir),
        problem=problem,
    )
    if results is not None:
        entry.suite = results.suite_name
        entry.run_id = results.run_id
        entry.status = results.status
        entry.model = results.manifest.model.id
        entry.started_at = results.manifest.started_at
        entry.test_fingerprint = results.manifest.split_fingerprints.get("test")
        entry.audits = {name: audit.status for name, audit in results.audits.items()}
    return entry


def discover_runs(root: Path, loader=None) -> list[RunEntry]:
    """Every run under `root`, newest first; an unreadable run is listed with its problem.

    `loader(run_dir, mtime)` lets the app pass its cached loader; it returns what `read_run`
    returns.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    loader = loader or (lambda run_dir, _mtime: read_run(run_dir))
    entries = []
    for run_dir in _candidates(root):
        try:
            mtime = (run_dir / RESULTS_FILE).stat().st_mtime
        except OSError:
            continue
        results, problem = loader(run_dir, mtime)
        entries.append(summarize(run_dir, results, problem))
    entries.sort(key=lambda e: (e.started_at or "", e.mtime), reverse=True)
    return entries


class ArtifactError(Exception):
    """An artifact results.json names is missing or unreadable (shown to the user as is)."""


def artifact_path(run_dir: Path, results: RunResults, audit: str, name: str) -> Path | None:
    """Where an audit's named artifact lives, or None when the audit did not write it."""
    result = results.audits.get(audit)
    if result is None or name not in result.artifacts:
        return None
    file_name = result.artifacts[name]
    path = artifact_file(run_dir, file_name)  # results.json names files *in* the run dir
    if path is None:
        raise ArtifactError(f"{audit}.{name}: {file_name!r} points outside the run directory")
    return path


def load_artifact(path: Path):
    """A parquet, JSONL or CSV artifact as a pandas DataFrame (ArtifactError if unreadable)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(
            f"{path.name} is named in results.json but is missing from {path.parent}"
        )
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.suffix == ".jsonl":
            rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
            return pd.DataFrame(rows)
        if path.suffix == ".csv":
            return pd.read_csv(path)
        if path.suffix == ".json":
            return pd.DataFrame(json.loads(path.read_text("utf-8")))
    except Exception as exc:  # any parse error becomes one message the app can show
        raise ArtifactError(f"{path.name}: cannot be read: {type(exc).__name__}: {exc}") from exc
    raise ArtifactError(f"{path.name}: unknown artifact format {path.suffix!r}")


def metrics_frame(results: RunResults, audit: str):
    """An audit's metrics as rows: group (dotted prefix), metric, value, CI, unit, direction.

    `robustness`'s `deepwordbug.attack_success_rate` becomes group `deepwordbug`, metric
    `attack_success_rate`, which is how the pages pivot per recipe / attribute / method.
    """
    import pandas as pd

    rows = []
    for name, m in results.audits[audit].metrics.items():
        group, _, leaf = name.rpartition(".")
        rows.append(
            {
                "name": name,
                "group": group,
                "metric": leaf,
                "value": m.value,
                "ci_low": m.ci_low,
                "ci_high": m.ci_high,
                "unit": m.unit,
                "higher_is_better": m.higher_is_better,
                "description": m.description,
            }
        )
    columns = ["name", "group", "metric", "value", "ci_low", "ci_high", "unit"]
    columns += ["higher_is_better", "description"]
    return pd.DataFrame(rows, columns=columns)


def format_metric(value: float | None, ci_low: float | None = None, ci_high: float | None = None):
    """`0.9545 [0.917, 0.985]`, `17.90 ms`-style magnitudes, or `—` for an undefined value."""
    if not _finite(value):
        return "—"
    if float(value).is_integer() and abs(value) >= 1 and not _finite(ci_low):
        return f"{int(value):,}"  # counts (examples, queries, parameters)
    text = _num(value, 4)
    if _finite(ci_low) and _finite(ci_high):
        text += " " + format_ci(ci_low, ci_high)
    return text


def format_ci(ci_low: float, ci_high: float) -> str:
    return f"[{_num(ci_low, 3)}, {_num(ci_high, 3)}]"


def _finite(value) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _num(value: float, digits: int) -> str:
    value = float(value)
    if abs(value) >= 100:
        return f"{value:,.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}f}"

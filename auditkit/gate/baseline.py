"""Baselines: a run reduced to what the gate needs, in one file that outlives the run directory.

A baseline holds every metric (with its CI and direction), the data and test-set fingerprints,
the model's identity and, from the performance audit's `predictions.parquet`, the per-example
gold labels and class probabilities. Those let the gate run paired tests (McNemar, paired
bootstrap) against a later run on the same test set without the old run directory. The same
structure, built from the run being gated, is what the gate compares it with.

Probabilities are stored as base64 of little-endian float32 (n x k): exact for what the model
produced, and about 5x smaller than JSON numbers.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from auditkit import __version__
from auditkit.api.results import (
    SCHEMA_VERSION,
    Metric,
    ModelInfo,
    RunResults,
    SchemaMismatchError,
    load_results,
    now_iso,
)
from auditkit.api.rundir import RESULTS_FILE, resolve_run_dir
from auditkit.errors import AuditkitError
from auditkit.files import write_atomic
from auditkit.suite import GateSpec

BASELINE_FORMAT = "auditkit-baseline"
BASELINE_VERSION = "1"


class _Plain(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Examples(_Plain):
    """Per-example test outcomes in test-split row order (row i is `idx` i)."""

    n: int = Field(ge=1)
    k: int = Field(ge=2)
    label: list[int]
    probs_f32_b64: str = Field(description="base64 of little-endian float32, shape (n, k)")

    @model_validator(mode="after")
    def _consistent(self) -> Examples:
        if len(self.label) != self.n:
            raise ValueError(f"label has {len(self.label)} entries, expected n = {self.n}")
        if any(not 0 <= y < self.k for y in self.label):
            raise ValueError(f"label holds a class id outside [0, {self.k})")
        try:
            raw = base64.b64decode(self.probs_f32_b64, validate=True)
        except ValueError as exc:
            raise ValueError(f"probs_f32_b64 is not valid base64: {exc}") from None
        if len(raw) != self.n * self.k * 4:
            raise ValueError(
                f"probs_f32_b64 holds {len(raw)} bytes, expected n * k * 4 = {self.n * self.k * 4}"
            )
        return self

    @classmethod
    def from_arrays(cls, label: np.ndarray, probs: np.ndarray) -> Examples:
        probs = np.ascontiguousarray(probs, dtype="<f4")
        return cls(
            n=probs.shape[0],
            k=probs.shape[1],
            label=[int(y) for y in label],
            probs_f32_b64=base64.b64encode(probs.tobytes()).decode("ascii"),
        )

    def labels(self) -> np.ndarray:
        return np.asarray(self.label, dtype=np.int64)

    def probs(self) -> np.ndarray:
        raw = base64.b64decode(self.probs_f32_b64)
        return np.frombuffer(raw, dtype="<f4").reshape(self.n, self.k).astype(np.float64)


class AuditSnapshot(_Plain):
    status: Literal["ok", "failed"]
    error: str | None = None
    confidence: float | None = Field(default=None, description="level of the metrics' CIs")
    config: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Metric] = Field(default_factory=dict)


class Snapshot(_Plain):
    """One run as the gate sees it; saved to disk, it is a baseline."""

    format: Literal["auditkit-baseline"] = BASELINE_FORMAT
    version: str = BASELINE_VERSION
    auditkit_version: str
    results_schema_version: str
    created_at: str
    run_id: str
    run_status: str
    suite_name: str
    suite_hash: str
    source: str | None = Field(default=None, description="the run directory it was taken from")
    seed: int
    git_commit: str | None
    model: ModelInfo
    dataset_fingerprint: str
    split_fingerprints: dict[str, str]
    label_names: list[str]
    audits: dict[str, AuditSnapshot]
    examples: Examples | None = Field(
        default=None, description="null when the run has no performance predictions"
    )
    gate: GateSpec | None = Field(
        default=None,
        description="the gate spec agreed when the baseline was saved: `auditkit gate` checks "
        "against it, and a proposal may only tighten it (null: none was stored)",
    )

    @property
    def test_fingerprint(self) -> str | None:
        return self.split_fingerprints.get("test")

    def lookup(self, path: str) -> tuple[Metric | None, str | None]:
        """The metric at dotted path `audit.metric`, or None and why it is absent."""
        from auditkit.api.registry import did_you_mean

        audit, _, name = path.partition(".")
        if audit not in self.audits:
            return None, f"audit {audit!r} not in run {self.run_id}"
        snap = self.audits[audit]
        if snap.status != "ok":
            return None, f"audit {audit!r} failed in run {self.run_id}: {snap.error or '?'}"
        if name not in snap.metrics:
            hint = did_you_mean(name, list(snap.metrics))
            return None, f"no metric {name!r} in audit {audit!r} of run {self.run_id}.{hint}"
        metric = snap.metrics[name]
        if metric.value is None:
            return None, f"{path} is undefined (null) in run {self.run_id}"
        return metric, None


# --------------------------------------------------------------------------- building


def load_run(run_dir: Path) -> RunResults:
    """results.json of a run, with schema problems turned into input errors (exit code 2)."""
    try:
        return load_results(run_dir)
    except SchemaMismatchError as exc:
        raise AuditkitError(
            str(exc), hint="gate and save baselines with the auditkit that wrote the run"
        ) from None
    except (json.JSONDecodeError, ValidationError) as exc:
        raise AuditkitError(
            f"{run_dir / RESULTS_FILE}: not a valid results file: {_first_line(exc)}"
        ) from None


def snapshot_from_run(path: str | os.PathLike[str]) -> Snapshot:
    """Reduce a run directory to a Snapshot (metrics, fingerprints, per-example outcomes)."""
    run_dir = resolve_run_dir(path)
    results = load_run(run_dir)
    if results.data is None or not results.manifest.split_fingerprints:
        raise AuditkitError(
            f"{run_dir}: the run stopped before its data was loaded; nothing to compare",
            hint=f"see `error` in {run_dir / RESULTS_FILE}",
        )
    return snapshot_from_results(results, _examples(results, run_dir), source=str(run_dir))


def snapshot_from_results(
    results: RunResults, examples: Examples | None, *, source: str | None = None
) -> Snapshot:
    """A Snapshot of results already loaded, with the per-example outcomes read from them.

    The dashboard builds its snapshots here from the runs it has in memory; a run that stopped
    before its data was loaded gets no labels (and so is never paired).
    """
    audits = {}
    for name, audit in results.audits.items():
        audits[name] = AuditSnapshot(
            status=audit.status,
            error=audit.error.message if audit.error else None,
            confidence=audit.config.get("confidence", 0.95 if audit.metrics else None),
            config=audit.config,
            metrics=audit.metrics,
        )
    m = results.manifest
    return Snapshot(
        auditkit_version=__version__,
        results_schema_version=results.schema_version,
        created_at=now_iso(),
        run_id=results.run_id,
        run_status=results.status,
        suite_name=results.suite_name,
        suite_hash=results.suite_hash,
        source=source,
        seed=m.seed,
        git_commit=m.git_commit,
        model=m.model,
        dataset_fingerprint=m.dataset_fingerprint,
        split_fingerprints=m.split_fingerprints,
        label_names=results.data.label_names if results.data else [],
        audits=audits,
        examples=examples,
    )


def _examples(results: RunResults, run_dir: Path) -> Examples | None:
    perf = results.audits.get("performance")
    if perf is None or perf.status != "ok" or "predictions" not in perf.artifacts:
        return None
    file = run_dir / perf.artifacts["predictions"]
    if not file.is_file():
        raise AuditkitError(
            f"{file}: the performance audit's predictions artifact is missing",
            hint="the run directory is incomplete; re-run the suite",
        )
    import pandas as pd

    names = results.data.label_names if results.data else []
    return examples_from_frame(pd.read_parquet(file), names, where=str(file))


def examples_from_frame(frame, label_names: list[str], *, where: str) -> Examples:
    """Per-example outcomes from a `predictions.parquet` frame (idx, label, p_<label> columns).

    `where` names the file in the errors (an AuditkitError when a column is missing or `idx` is
    not 0..n-1).
    """
    frame = frame.sort_values("idx") if "idx" in frame.columns else frame
    columns = [f"p_{name}" for name in label_names]
    missing = [c for c in ("idx", "label", *columns) if c not in frame.columns]
    if missing:
        raise AuditkitError(
            f"{where}: columns {missing} missing (see docs/audit-outputs.md, performance)",
            hint="the run was written by an incompatible auditkit; re-run the suite",
        )
    if not np.array_equal(frame["idx"].to_numpy(), np.arange(len(frame))):
        raise AuditkitError(f"{where}: `idx` is not 0..n-1; cannot pair examples")
    return Examples.from_arrays(frame["label"].to_numpy(), frame[columns].to_numpy())


# --------------------------------------------------------------------------- files


def save_baseline(
    run_dir: str | os.PathLike[str], to: str | os.PathLike[str], gate: GateSpec | None = None
) -> Snapshot:
    """Write the run's snapshot, with the gate spec it holds the bar at, to `to` (atomically;
    parent folders are created)."""
    snapshot = snapshot_from_run(run_dir)
    snapshot.gate = gate
    write_atomic(Path(to), snapshot.model_dump_json(indent=1))
    return snapshot


def load_baseline(path: str | os.PathLike[str]) -> Snapshot:
    """Read a baseline file; anything wrong with it is an AuditkitError that says what."""
    path = Path(path)
    resave = "re-create it with `auditkit baseline save RUN_DIR --to FILE`"
    if not path.is_file():
        raise AuditkitError(
            f"{path}: baseline file not found",
            hint="save one from a run on the main branch: auditkit baseline save RUN_DIR "
            f"--to {path}",
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise AuditkitError(f"{path}: not a baseline file (not UTF-8 text)", hint=resave) from None
    except json.JSONDecodeError as exc:
        raise AuditkitError(
            f"{path}: not a baseline file: invalid JSON at line {exc.lineno}, column {exc.colno}"
            f" ({exc.msg})",
            hint=resave,
        ) from None
    if not isinstance(raw, dict) or raw.get("format") != BASELINE_FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        what = (
            " (it looks like a results.json: pass it to `baseline save`)"
            if (isinstance(raw, dict) and "schema_version" in raw and "manifest" in raw)
            else ""
        )
        raise AuditkitError(
            f"{path}: not an auditkit baseline (format {found!r}, expected "
            f"{BASELINE_FORMAT!r}){what}",
            hint=resave,
        )
    if raw.get("version") != BASELINE_VERSION:
        raise AuditkitError(
            f"{path}: baseline format version {raw.get('version')!r}; this auditkit "
            f"({__version__}) reads version {BASELINE_VERSION!r}",
            hint=resave + " using this auditkit",
        )
    if raw.get("results_schema_version") != SCHEMA_VERSION:
        raise AuditkitError(
            f"{path}: baseline taken from results schema "
            f"{raw.get('results_schema_version')!r}; this auditkit writes {SCHEMA_VERSION!r}",
            hint=resave + " from a run made with this auditkit",
        )
    try:
        return Snapshot.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:5]:
            loc = ".".join(str(p) for p in err["loc"]) or "<top level>"
            what = "required field missing" if err["type"] == "missing" else err["msg"]
            problems.append(f"{loc}: {what}")
        more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        raise AuditkitError(
            f"{path}: invalid baseline file: " + "; ".join(problems) + more, hint=resave
        ) from None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

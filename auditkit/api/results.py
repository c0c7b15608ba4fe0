"""The results schema: the one contract that the report, the dashboard and the gate read.

Results are plain data (no live model or dataset inside). `results.json` is rewritten after
every stage and audit, atomically, so a crash never loses what already finished.
"""

from __future__ import annotations

import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from auditkit.api.rundir import RESULTS_FILE
from auditkit.files import write_atomic

SCHEMA_VERSION = "1.0"


class _Plain(BaseModel):
    model_config = ConfigDict(extra="forbid")


def to_plain(value: Any) -> Any:
    """numpy scalars and arrays (inside lists, tuples and dicts) as the Python values JSON takes.

    Audits compute with numpy and pandas, so a table row or a config value is easily an
    `int64` or a `bool_`, which pydantic cannot serialize; they are converted here, at the
    schema boundary, instead of failing when results.json is written.
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {to_plain(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


class Metric(_Plain):
    value: float | None = Field(description="null when undefined (e.g. no examples)")
    ci_low: float | None = None
    ci_high: float | None = None
    higher_is_better: bool | None = Field(
        default=None, description="direction for the gate; null for descriptive numbers"
    )
    unit: str | None = None
    description: str | None = None

    @field_validator("value", "ci_low", "ci_high", mode="before")
    @classmethod
    def _finite(cls, v: Any) -> Any:
        # JSON has no NaN/inf; an undefined number is null.
        if v is None:
            return None
        v = float(v)
        return v if math.isfinite(v) else None


class Table(_Plain):
    """Always the same shape: named columns and rows of plain values."""

    columns: list[str]
    rows: list[list[Any]]
    description: str | None = None

    @field_validator("rows", mode="before")
    @classmethod
    def _plain_rows(cls, v: Any) -> Any:
        return to_plain(v)

    @field_serializer("rows")
    def _dump_rows(self, rows: list[list[Any]]) -> list[list[Any]]:
        return to_plain(rows)  # rows appended after construction skip the validator

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class ErrorInfo(_Plain):
    type: str
    message: str
    traceback: str | None = None


class AuditResult(_Plain):
    name: str
    status: Literal["ok", "failed"] = "ok"
    metrics: dict[str, Metric] = Field(default_factory=dict)
    tables: dict[str, Table] = Field(default_factory=dict)
    artifacts: dict[str, str] = Field(
        default_factory=dict, description="artifact name -> file name in the run directory"
    )
    warnings: list[str] = Field(default_factory=list)
    error: ErrorInfo | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    wall_time_s: float | None = None

    @field_validator("config", mode="before")
    @classmethod
    def _plain_config(cls, v: Any) -> Any:
        return to_plain(v)

    @field_serializer("config")
    def _dump_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return to_plain(config)


class Stage(_Plain):
    name: str
    wall_time_s: float
    energy_j: float | None = None
    energy_method: Literal["measured", "estimated"] | None = None
    detail: str | None = None


class ModelInfo(_Plain):
    id: str | None
    source: str | None
    location: str | None
    revision: str | None
    fingerprint: str | None
    architecture: str | None = None
    parameters: int | None = None
    max_length: int | None = None
    pooling: str | None = None
    fine_tuned: bool = False
    cache_key: str | None = None


class ResourceUse(_Plain):
    """A data file an audit read besides the model and the dataset (e.g. a stop-word list)."""

    name: str
    source: str = Field(description="where its content came from (the same on every machine)")
    location: str | None = Field(default=None, description="where it lies on this machine")
    sha256: str | None = Field(description="of its content (files in sorted order); null: unknown")
    used_by: list[str] = Field(default_factory=list, description="e.g. the attack recipes")


class RankInfo(_Plain):
    """One process of a torchrun / accelerate launch that shared the audits' work."""

    rank: int
    local_rank: int
    host: str
    device: str
    device_name: str | None = None
    torch_threads: int | None = None


class Manifest(_Plain):
    auditkit_version: str
    packages: dict[str, str | None]
    git_commit: str | None
    host: str
    platform: str
    python: str
    device: str
    device_name: str | None = None
    torch_threads: int | None = None
    seed: int
    dataset_fingerprint: str
    split_fingerprints: dict[str, str]
    model: ModelInfo
    command: str | None = None
    started_at: str
    finished_at: str | None = None
    resources: list[ResourceUse] = Field(
        default_factory=list, description="resources each audit read, with a sha256 of each"
    )
    world_size: int = Field(default=1, description="processes that shared the audits' work")
    ranks: list[RankInfo] = Field(
        default_factory=list, description="each process of a multi-process launch; empty in one"
    )


class DataSummary(_Plain):
    source: str
    origin: str
    label_names: list[str]
    rows_read: dict[str, int]
    dropped: dict[str, int]
    duplicates_found: int
    conflicting_duplicates: int
    train_test_overlap: int
    test_split_made: bool
    validation_split_made: bool
    split_sizes: dict[str, int]
    class_counts: dict[str, dict[str, int]]
    warnings: list[str]


class TrainingSummary(_Plain):
    cache_hit: bool
    cache_key: str
    device: str
    precision: str
    epochs: float
    steps: int
    train_time_s: float
    train_samples_per_s: float
    best_epoch: float | None = None
    best_metric: str | None = None
    best_value: float | None = None
    loss_curve: Table
    eval_curve: Table
    padded_tokens_per_epoch: int
    padded_tokens_per_epoch_random: int
    real_tokens_per_epoch: int
    world_size: int = Field(default=1, description="processes that trained data-parallel")
    effective_batch_size: int | None = Field(
        default=None, description="examples per optimizer step over all processes"
    )
    config: dict[str, Any]


class RunResults(_Plain):
    schema_version: str = SCHEMA_VERSION
    run_id: str
    status: Literal["running", "ok", "failed"] = "running"
    suite_name: str
    suite: dict[str, Any]
    suite_hash: str
    manifest: Manifest
    data: DataSummary | None = None
    training: TrainingSummary | None = None
    stages: list[Stage] = Field(default_factory=list)
    audits: dict[str, AuditResult] = Field(default_factory=dict)
    error: ErrorInfo | None = None

    def metric(self, path: str) -> Metric:
        """Look up a metric by dotted path, e.g. `performance.accuracy`."""
        audit, _, name = path.partition(".")
        if audit not in self.audits:
            raise KeyError(f"no audit {audit!r} in results (have: {sorted(self.audits)})")
        metrics = self.audits[audit].metrics
        if name not in metrics:
            raise KeyError(f"no metric {name!r} in audit {audit!r} (have: {sorted(metrics)})")
        return metrics[name]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def save_results(results: RunResults, run_dir: Path) -> Path:
    """Write results.json atomically and durably (see `auditkit.files.write_atomic`)."""
    return write_atomic(run_dir / RESULTS_FILE, results.model_dump_json(indent=2))


class SchemaMismatchError(ValueError):
    pass


def load_results(path: str | os.PathLike[str]) -> RunResults:
    """Load a results.json (or a run directory); a wrong schema version is a clear error."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    raw = json.loads(path.read_text(encoding="utf-8"))
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if version != SCHEMA_VERSION:
        raise SchemaMismatchError(
            f"{path}: results schema version {version!r}, this auditkit reads {SCHEMA_VERSION!r}"
        )
    return RunResults.model_validate(raw)


def json_schema() -> dict[str, Any]:
    schema = RunResults.model_json_schema()
    schema["$id"] = f"https://auditkit.dev/schema/results-{SCHEMA_VERSION}.json"
    schema["title"] = "auditkit results"
    return schema


def schema_path() -> Path:
    return Path(__file__).parents[1] / "schema" / "results.schema.json"

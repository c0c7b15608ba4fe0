"""The suite: one YAML file that names a model, a dataset, a fine-tuning recipe and the audits.

Loading is strict on purpose (lm-eval #635 and #4077 are what lenient loading costs): an unknown
key, a duplicate key, a wrong type or a missing file is an error that names the file, the key
path, the line, the value found and what was expected.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from auditkit.api.registry import AUDITS, did_you_mean
from auditkit.errors import SuiteError, UnknownNameError
from auditkit.suite_errors import (
    format_errors,
    line_map,
    line_suffix,
    loc_str,
    value_kind,
)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SampleSpec(StrictModel):
    """Stratified subsample after splitting, for quick runs and tests."""

    train: int | None = Field(default=None, gt=0)
    validation: int | None = Field(default=None, gt=0)
    test: int | None = Field(default=None, gt=0)


class DataSpec(StrictModel):
    source: Literal["csv", "jsonl", "parquet", "hf", "phrasebank"]
    path: str | None = Field(
        default=None,
        description="train file (or the only file); may be left out with `test_path` when "
        "training is disabled",
    )
    test_path: str | None = None
    validation_path: str | None = None
    id: str | None = Field(default=None, description="Hub dataset id or local folder (source: hf)")
    config: str | None = None
    split: str = "train"
    test_split: str | None = None
    validation_split: str | None = None
    revision: str | None = None
    encoding: str | None = Field(
        default=None,
        description="text encoding of csv, jsonl and phrasebank files (default utf-8, BOM "
        "tolerated; phrasebank: latin-1)",
    )
    text_column: str = "text"
    label_column: str = "label"
    labels: list[str] | None = Field(default=None, min_length=2)
    label_map: dict[str, str] = Field(default_factory=dict)
    metadata_columns: list[str] = Field(default_factory=list)
    test_size: float = Field(default=0.2, gt=0, lt=1)
    validation_size: float = Field(default=0.1, ge=0, lt=1)
    on_bad_rows: Literal["error", "drop"] = "drop"
    duplicates: Literal["keep", "drop"] = "drop"
    sample: SampleSpec | None = None
    fallback: DataSpec | None = Field(
        default=None, description="used when `path` cannot be resolved (e.g. env var unset)"
    )

    @field_validator("label_map", mode="before")
    @classmethod
    def _keys_as_text(cls, value: Any) -> Any:
        # YAML reads `0: negative` with an int key; raw labels are compared as text.
        if isinstance(value, dict):
            return {str(k): v for k, v in value.items()}
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(
                    f"unknown encoding {value!r} (e.g. utf-8, latin-1, cp1252)"
                ) from None
        return value

    @model_validator(mode="after")
    def _source_needs(self) -> DataSpec:
        if self.source == "hf" and not self.id:
            raise ValueError("source 'hf' needs `id` (a Hub dataset id or a local folder)")
        if self.source != "hf" and not self.path and not self.test_path:
            raise ValueError(
                f"source {self.source!r} needs `path` (or `test_path` alone, to audit a "
                "model as it is, with `training: {enabled: false}`)"
            )
        if self.source == "phrasebank" and (self.test_path or self.validation_path):
            raise ValueError("source 'phrasebank' reads one file; the split is made by auditkit")
        if len(set(self.labels or [])) != len(self.labels or []):
            raise ValueError("`labels` has duplicates")
        if self.encoding and self.source in ("parquet", "hf"):
            raise ValueError(
                f"`encoding` applies to csv, jsonl and phrasebank files; source "
                f"{self.source!r} ignores it: remove it"
            )
        return self


class ModelSpec(StrictModel):
    id: str = DEFAULT_MODEL
    revision: str | None = None
    max_length: int = Field(default=128, gt=0, le=8192)
    batch_size: int = Field(default=64, gt=0, description="inference batch size")
    pooling: Literal["auto", "cls", "mean"] = Field(
        default="auto",
        description="auto: what the checkpoint declares (sentence-transformers), else cls",
    )


class TrainingSpec(StrictModel):
    enabled: bool = True
    epochs: float = Field(default=3, gt=0)
    batch_size: int = Field(default=32, gt=0)
    learning_rate: float = Field(default=5e-5, gt=0)
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1)
    weight_decay: float = Field(default=0.01, ge=0)
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "linear"
    group_by_length: bool = True
    gradient_accumulation_steps: int = Field(default=1, gt=0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    metric_for_best: Literal["macro_f1", "accuracy", "loss"] = "macro_f1"
    early_stopping_patience: int | None = Field(default=None, gt=0)


class GateCheck(StrictModel):
    """Bounds on one metric. With no bound at all, any significant worsening fails."""

    min: float | None = Field(default=None, description="absolute floor on the current value")
    max: float | None = Field(default=None, description="absolute ceiling on the current value")
    max_drop: float | None = Field(
        default=None, ge=0, description="largest allowed worsening vs the baseline, in units"
    )
    max_relative_drop: float | None = Field(
        default=None, ge=0, description="largest allowed worsening as a share of the baseline"
    )
    higher_is_better: bool | None = Field(
        default=None, description="override the direction the metric declares"
    )

    @model_validator(mode="after")
    def _bounds_ordered(self) -> GateCheck:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self

    def has_drop_bound(self) -> bool:
        return self.max_drop is not None or self.max_relative_drop is not None

    def is_empty(self) -> bool:
        return self.min is None and self.max is None and not self.has_drop_bound()


class GateSpec(StrictModel):
    """The suite's `gate:` section: which metrics `auditkit gate` checks, and how strictly."""

    alpha: float = Field(default=0.05, gt=0, lt=1, description="significance level")
    policy: Literal["regression", "non_inferiority"] = Field(
        default="regression",
        description="regression: fail only on evidence of a worsening past a bound; "
        "non_inferiority: pass only on evidence that every bound holds (one-sided, at alpha)",
    )
    fail_on_inconclusive: bool = Field(
        default=False,
        description="fail when a bound is crossed but not significantly (regression policy; "
        "under non_inferiority a bound not shown always fails)",
    )
    on_missing: Literal["fail", "warn"] = Field(
        default="fail",
        description="a checked metric absent from an audit that ran, or from the baseline (a "
        "check on an audit that failed or did not run always fails)",
    )
    correction: Literal["holm", "none"] = Field(
        default="holm",
        description="adjustment across the checks: holm keeps the chance that an unchanged "
        "model fails any check at alpha; none tests each check at alpha on its own (under "
        "non_inferiority no adjustment is needed: the gate passes only if every check does)",
    )
    bootstrap: int = Field(default=2000, ge=200, description="paired bootstrap resamples")
    seed: int = 0
    checks: dict[str, GateCheck] = Field(default_factory=dict)

    @field_validator("checks")
    @classmethod
    def _dotted_paths(cls, value: dict[str, GateCheck]) -> dict[str, GateCheck]:
        for key in value:
            if not re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_.-]+", key):
                raise ValueError(
                    f"check {key!r}: expected a dotted metric path 'audit.metric', "
                    "e.g. 'performance.accuracy'"
                )
        return value


class MlflowSpec(StrictModel):
    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else file:./mlruns)",
    )
    experiment: str | None = Field(default=None, description="default: the suite's name")


class TrackingSpec(StrictModel):
    mlflow: MlflowSpec | None = Field(
        default=None, description="log each run to MLflow (needs auditkit[mlflow])"
    )


class DistributedSpec(StrictModel):
    timeout_s: float = Field(
        default=1800.0,
        gt=0,
        description="under torchrun: how long a rank waits for the others at a collective "
        "before it calls one stuck (also --timeout-s)",
    )


class Suite(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    seed: int = 0
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    model: ModelSpec = Field(default_factory=ModelSpec)
    data: DataSpec
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    audits: dict[str, dict[str, Any] | None] = Field(default_factory=lambda: {"performance": None})
    output_dir: str = Field(default="reports", description="results root, relative to the cwd")
    gate: GateSpec | None = Field(default=None, description="checks for `auditkit gate`")
    tracking: TrackingSpec = Field(default_factory=TrackingSpec)
    distributed: DistributedSpec = Field(default_factory=DistributedSpec)

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source: Path | None = PrivateAttr(default=None)

    @property
    def base_dir(self) -> Path:
        """Folder that relative paths in the suite are resolved against (the suite's own)."""
        return self._base_dir

    @property
    def source(self) -> Path | None:
        return self._source

    def with_base_dir(self, base_dir: Path, source: Path | None = None) -> Suite:
        self._base_dir = Path(base_dir)
        self._source = source
        return self

    @model_validator(mode="after")
    def _training_needs_train_data(self) -> Suite:
        spec = self.data
        if spec.source != "hf" and not spec.path and self.training.enabled:
            raise ValueError(
                "data: only `test_path` is given, so there is nothing to fine-tune on: add "
                "`data.path` (the training file) or set `training: {enabled: false}` to audit "
                "the model as it is"
            )
        return self

    def audit_configs(self) -> dict[str, Any]:
        """Validate each audit's config against its registered class (raises SuiteError)."""
        return _validate_audits(self, self._source)

    def suite_hash(self) -> str:
        """sha256 of the suite as resolved, so a result can be traced to its exact config."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def resolve_path(self, value: str) -> Path | None:
        """Expand ${VAR} and ~, resolve against the suite's folder; None if a variable is unset.

        A relative path written in the suite is relative to the suite's folder, but a relative
        path held by a leading variable was typed in the user's shell, so it is relative to the
        working directory: `AUDITKIT_FPB_DIR=../data auditkit run suites/x.yaml` means ../data
        from where the command ran, not from suites/.
        """
        lead = re.match(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))", value)
        if lead:
            var_value = os.environ.get(lead.group(1) or lead.group(2))
            if var_value and not os.path.isabs(os.path.expanduser(var_value)):
                absolute = os.path.abspath(os.path.expanduser(var_value))
                value = absolute + value[lead.end() :]
        expanded = os.path.expanduser(os.path.expandvars(value))
        if re.search(r"\$\{?[A-Za-z_]", expanded):
            return None
        path = Path(expanded)
        return path if path.is_absolute() else (self._base_dir / path)


# --------------------------------------------------------------------------- loading


def load_suite(path: str | os.PathLike[str]) -> Suite:
    """Read and validate a suite file; every problem is a SuiteError naming file, key and line."""
    path = Path(path)
    if not path.is_file():
        raise SuiteError(
            f"{path}: suite file not found",
            hint="pass the path of a suite YAML, e.g. suites/finance_sentiment.yaml",
        )
    text = path.read_text(encoding="utf-8")
    lines = line_map(path, text)
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict):
        raise SuiteError(
            f"{path}: expected a mapping of keys at the top level, got {value_kind(raw)}"
        )
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as exc:
        raise SuiteError(_format_errors(path, exc, lines, Suite, ())) from None
    suite.with_base_dir(path.parent.resolve(), path)
    _validate_audits(suite, path, lines)
    _validate_gate(suite, path, lines)
    _check_paths(suite, path, lines)
    return suite


def _validate_gate(suite: Suite, path: Path | None, lines: dict | None = None) -> None:
    """Each gate check must name an audit the suite runs (a typo would never match)."""
    if suite.gate is None:
        return
    where = f"{path}: " if path else ""
    for key in suite.gate.checks:
        audit = key.split(".", 1)[0]
        if audit in suite.audits:
            continue
        loc = ("gate", "checks", key)
        raise SuiteError(
            f"{where}{loc_str(loc)}{line_suffix(lines or {}, loc)}: audit {audit!r} is not "
            f"in this suite's `audits:`.{did_you_mean(audit, list(suite.audits))}",
            hint=f"the suite runs: {', '.join(suite.audits)}; add the audit or drop the check",
        )


def _validate_audits(suite: Suite, path: Path | None, lines: dict | None = None) -> dict[str, Any]:
    configs: dict[str, Any] = {}
    where = f"{path}: " if path else ""
    if not suite.audits:
        raise SuiteError(f"{where}audits: no audits listed", hint="add at least `performance:`")
    for name, cfg in suite.audits.items():
        loc = ("audits", name)
        try:
            cls = AUDITS.get(name)
        except UnknownNameError as exc:
            raise SuiteError(
                f"{where}{loc_str(loc)}{line_suffix(lines or {}, loc)}: {exc.message}",
                hint=exc.hint,
            ) from None
        try:
            configs[name] = cls.Config.model_validate(cfg or {})
        except ValidationError as exc:
            raise SuiteError(_format_errors(path, exc, lines or {}, cls.Config, loc)) from None
        check = getattr(configs[name], "check_suite", None)
        if check is not None:  # checks that need the suite: files next to it, its labels
            check(suite)
    return configs


def _check_paths(suite: Suite, path: Path, lines: dict) -> None:
    spec, loc = suite.data, ("data",)
    while spec is not None:
        missing = []
        for key in ("path", "test_path", "validation_path"):
            value = getattr(spec, key)
            if value is None:
                continue
            resolved = suite.resolve_path(value)
            if resolved is None or not resolved.exists():
                missing.append((key, value, resolved))
        if spec.source == "hf" and spec.id and spec.id.startswith((".", "/", "~")):
            resolved = suite.resolve_path(spec.id)
            if resolved is None or not resolved.exists():
                missing.append(("id", spec.id, resolved))
        if not missing:
            return
        if spec.fallback is None:
            key, value, resolved = missing[0]
            why = (
                "an environment variable in it is not set"
                if resolved is None
                else f"no such file: {resolved}"
            )
            raise SuiteError(
                f"{path}: {loc_str((*loc, key))}{line_suffix(lines, (*loc, key))}: "
                f"{value!r}: {why}",
                hint="relative paths are resolved against the suite's folder; "
                "set the variable or add a `fallback:` data source",
            )
        spec, loc = spec.fallback, (*loc, "fallback")


def _format_errors(
    path: Path | None, exc: ValidationError, lines: dict, root: type[BaseModel], prefix: tuple
) -> str:
    # pydantic puts a union member's model name in the key path ('DataSpec' under fallback).
    union_tags = {cls.__name__ for cls in StrictModel.__subclasses__()}
    return format_errors(path, exc, lines, root, prefix, union_tags)

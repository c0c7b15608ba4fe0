"""The performance audit's settings."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from auditkit.api.audit import AuditConfig


class CalibrationConfig(AuditConfig):
    temperature: bool = Field(
        default=True,
        description="fit a temperature on the validation split (or cross-fit on test halves) "
        "and report ECE, Brier and NLL after it",
    )
    apply: bool = Field(
        default=False,
        description="also store the temperature in the fine-tuned model's config, so every "
        "later audit in the run and predict_proba use the calibrated probabilities (list "
        "performance first in `audits:`); needs `temperature`",
    )

    @model_validator(mode="after")
    def _apply_needs_fit(self) -> CalibrationConfig:
        if self.apply and not self.temperature:
            raise ValueError("calibration.apply needs calibration.temperature: true (the fit)")
        return self


class ConformalConfig(AuditConfig):
    enabled: bool = Field(
        default=True,
        description="split conformal prediction sets, calibrated on the validation split (or "
        "cross-fitted on test halves), with their coverage on the test split",
    )
    scores: list[Literal["lac", "aps"]] = Field(
        default_factory=lambda: ["lac", "aps"],
        min_length=1,
        description="nonconformity scores: lac (1 - p of the class), aps (adaptive sets)",
    )
    alphas: list[float] = Field(
        default_factory=lambda: [0.1, 0.05],
        min_length=1,
        description="miscoverage levels; each gives sets that hold the gold label with "
        "probability at least 1 - alpha",
    )

    @field_validator("alphas")
    @classmethod
    def _alphas(cls, value: list[float]) -> list[float]:
        from auditkit.conformal import alpha_key

        bad = [a for a in value if not 0 < a < 1]
        if bad:
            raise ValueError(f"each alpha must be between 0 and 1 (exclusive); got {bad}")
        keys = [alpha_key(a) for a in value]
        if len(set(keys)) != len(keys):
            raise ValueError(f"alphas repeat: {value}")
        return value

    @field_validator("scores")
    @classmethod
    def _scores(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"scores repeat: {value}")
        return value


class ExtraMetric(AuditConfig):
    """An `evaluate` metric computed on the test predictions, with a bootstrap CI."""

    metric: str = Field(
        description="a Hub name (`accuracy`: needs the Hub), a path to a metric module (a "
        "folder or .py file, relative to the suite), or `auditkit:<name>` for one auditkit "
        "ships (`auditkit:ece`)"
    )
    direction: Literal["higher", "lower"] = Field(description="which way is better")
    name: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="the metric's key, `extra.<name>` (default: from `metric`)",
    )
    inputs: Literal["labels", "probabilities"] = Field(
        default="labels",
        description="labels: predictions= predicted class ids; probabilities: "
        "prediction_scores= class probabilities (references= gold ids either way)",
    )
    result: str | None = Field(
        default=None, description="the key of `compute`'s result to report (default: the only one)"
    )
    kwargs: dict[str, Any] = Field(default_factory=dict, description="passed to `compute`")

    @property
    def key(self) -> str:
        if self.name:
            return self.name
        base = self.metric.split(":", 1)[1] if self.metric.startswith("auditkit:") else self.metric
        stem = base.rstrip("/").rsplit("/", 1)[-1].removesuffix(".py")
        return re.sub(r"[^a-z0-9_]", "_", stem.lower()) or "metric"


class PerformanceConfig(AuditConfig):
    bootstrap: int = Field(default=1000, ge=100, description="bootstrap resamples for CIs")
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    ece_bins: int = Field(default=15, ge=2, le=100)
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    conformal: ConformalConfig = Field(default_factory=ConformalConfig)
    extra_metrics: list[ExtraMetric] = Field(
        default_factory=list,
        description="`evaluate` metrics, each with a bootstrap CI on the same resamples as the "
        "built-in metrics",
    )

    def check_suite(self, suite, labels: list[str] | None = None) -> None:
        """A local metric module must exist (resolved against the suite's folder)."""
        from auditkit.errors import SuiteError

        for i, spec in enumerate(self.extra_metrics):
            if spec.metric.startswith("auditkit:") or not (
                "/" in spec.metric or spec.metric.endswith(".py")
            ):
                continue
            path = suite.resolve_path(spec.metric)
            if path is None or not path.exists():
                raise SuiteError(
                    f"audits.performance.extra_metrics[{i}].metric: {spec.metric!r}: no such "
                    f"metric module ({path})",
                    hint="a path is resolved against the suite's folder",
                )

    @field_validator("extra_metrics")
    @classmethod
    def _unique_keys(cls, value: list[ExtraMetric]) -> list[ExtraMetric]:
        keys = [m.key for m in value]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f"extra_metrics {twice} repeat a name: give each a distinct `name`")
        return value

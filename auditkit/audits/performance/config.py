"""The performance audit's settings."""

from __future__ import annotations

from typing import Literal

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


class PerformanceConfig(AuditConfig):
    bootstrap: int = Field(default=1000, ge=100, description="bootstrap resamples for CIs")
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    ece_bins: int = Field(default=15, ge=2, le=100)
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    conformal: ConformalConfig = Field(default_factory=ConformalConfig)

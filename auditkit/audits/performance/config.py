"""The performance audit's settings."""

from __future__ import annotations

from pydantic import Field

from auditkit.api.audit import AuditConfig


class CalibrationConfig(AuditConfig):
    temperature: bool = Field(
        default=True,
        description="fit a temperature on the validation split (or cross-fit on test halves) "
        "and report ECE, Brier and NLL after it; the run's probabilities are left as they are",
    )


class PerformanceConfig(AuditConfig):
    bootstrap: int = Field(default=1000, ge=100, description="bootstrap resamples for CIs")
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    ece_bins: int = Field(default=15, ge=2, le=100)
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)

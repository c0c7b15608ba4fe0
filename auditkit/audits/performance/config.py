"""The performance audit's settings."""

from __future__ import annotations

from pydantic import Field

from auditkit.api.audit import AuditConfig


class PerformanceConfig(AuditConfig):
    bootstrap: int = Field(default=1000, ge=100, description="bootstrap resamples for CIs")
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    ece_bins: int = Field(default=15, ge=2, le=100)

"""The efficiency audit's settings: variants, batch sizes, timing budget and energy."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from auditkit.api.audit import AuditConfig
from auditkit.audits.efficiency.variants import VARIANTS

VariantName = Literal["fp32", "bf16", "int8_dynamic", "compiled"]


class EfficiencyConfig(AuditConfig):
    batch_sizes: list[int] = Field(default=[1, 8, 32], min_length=1)
    variants: list[VariantName] = Field(
        default=["fp32", "bf16", "int8_dynamic"],
        description="fp32 is the reference the deltas are taken against; `compiled` is opt-in "
        "(torch.compile takes minutes on a small CPU)",
    )
    warmup: int = Field(default=3, ge=0, description="untimed calls before each measurement")
    iterations: int = Field(default=30, ge=1, description="timed calls per variant and batch size")
    min_iterations: int = Field(default=5, ge=1, description="timed calls even past budget_s")
    budget_s: float = Field(
        default=10.0, gt=0, description="stop timing a setting after this many timed seconds"
    )
    bootstrap: int = Field(
        default=1000,
        ge=100,
        description="bootstrap resamples of the timed calls for the latency and throughput CIs",
    )
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    threads: int | None = Field(
        default=None, ge=1, description="torch CPU threads while timing (default: torch's own)"
    )
    country_iso_code: str = Field(
        default="USA", min_length=3, max_length=3, description="grid for CO2e (ISO 3166 alpha-3)"
    )
    energy_min_seconds: float = Field(
        default=3.0,
        ge=0,
        description="repeat the test-set pass until the energy interval is this long",
    )

    @field_validator("batch_sizes")
    @classmethod
    def _sizes(cls, v: list[int]) -> list[int]:
        if any(b < 1 for b in v) or len(set(v)) != len(v):
            raise ValueError("batch_sizes must be distinct positive integers")
        return v

    @field_validator("variants")
    @classmethod
    def _variants(cls, v: list[str]) -> list[str]:
        if "fp32" not in v:
            raise ValueError("variants must include fp32: it is the reference for the deltas")
        if len(set(v)) != len(v):
            raise ValueError("variants must not repeat")
        return sorted(v, key=VARIANTS.index)

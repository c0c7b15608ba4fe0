"""The explanations audit's settings: methods, integrated-gradients steps, faithfulness."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from auditkit.api.audit import AuditConfig
from auditkit.audits.explanations.faithfulness import K_PERCENTS
from auditkit.audits.explanations.methods import METHODS

Method = Literal["integrated_gradients", "input_x_gradient", "occlusion"]


class ExplanationsConfig(AuditConfig):
    methods: list[Method] = Field(default_factory=lambda: list(METHODS), min_length=1)
    per_class: int = Field(default=4, ge=0, description="seeded sample size per gold class")
    misclassified: int = Field(default=4, ge=0, description="misclassified test examples added")
    adversarial_pairs: int = Field(
        default=2, ge=0, description="successful attacks from the robustness audit, when it ran"
    )
    delta_tolerance: float = Field(
        default=0.05, gt=0, description="max |convergence delta| of integrated gradients (prob.)"
    )
    steps: int = Field(default=6, ge=2, description="first number of Gauss-Legendre steps")
    max_steps: int = Field(default=256, ge=2, description="adaptive steps stop here")
    strategy: Literal["bisect", "restart"] = Field(
        default="bisect",
        description="bisect: halve the path pieces whose own error is large; restart: rerun "
        "the whole path with step_growth x the steps",
    )
    points: int = Field(
        default=2, ge=1, le=32, description="bisect: Gauss-Legendre points per piece"
    )
    step_growth: int = Field(default=4, ge=2, le=8, description="restart: steps factor per retry")
    adaptive: bool = Field(default=True, description="add steps until |delta| <= tolerance")
    batch_size: int | None = Field(
        default=None, gt=0, description="examples per captum call; auto: 16 on CPU, 64 on GPU"
    )
    length_slack: float | None = Field(
        default=None, ge=0, description="CPU: batched lengths may differ by this share; auto 0.25"
    )
    internal_batch_size: int | None = Field(
        default=None, gt=0, description="rows per forward inside captum; auto: 512 CPU, 4096 GPU"
    )
    k_percents: list[int] = Field(
        default_factory=lambda: list(K_PERCENTS),
        min_length=1,
        description="rationale sizes in % of words; default ERASER's AOPC bins 1, 5, 10, 20, 50",
    )
    random_repeats: int = Field(default=5, ge=1, description="random rankings averaged")
    top_tokens: int = Field(default=10, ge=1, description="words per class in the global view")
    top_tokens_min_count: int = Field(default=2, ge=1)
    bootstrap: int = Field(default=1000, ge=100)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)

    @model_validator(mode="after")
    def _consistent(self) -> ExplanationsConfig:
        if self.max_steps < self.steps:
            raise ValueError(f"max_steps ({self.max_steps}) is below steps ({self.steps})")
        if len(set(self.methods)) != len(self.methods):
            raise ValueError("methods has duplicates")
        if any(not 0 < k <= 100 for k in self.k_percents):
            raise ValueError("k_percents must lie in (0, 100]")
        return self

"""The robustness audit's settings: recipes, sample sizes, invariance and adversarial training."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from auditkit.api.audit import AuditConfig
from auditkit.audits.robustness.invariance import PERTURBATIONS, InvarianceConfig
from auditkit.errors import AuditkitError


class AdversarialTrainingConfig(AuditConfig):
    enabled: bool = False
    recipe: str = Field(
        default="deepwordbug", description="recipe that generates training examples"
    )
    train_examples: int = Field(default=200, ge=1, description="training rows to attack")
    recipes: list[str] | None = Field(
        default=None, description="recipes re-run on the hardened model; null = all"
    )


class RobustnessConfig(AuditConfig):
    recipes: list[str] = Field(default_factory=lambda: ["deepwordbug"])
    sample_size: int = Field(default=100, ge=1, description="test examples attacked per recipe")
    recipe_sample_sizes: dict[str, int] = Field(
        default_factory=dict, description="per-recipe sample size, overriding sample_size"
    )
    query_budget: int | None = Field(default=None, ge=1, description="model queries per example")
    concurrency: int = Field(default=32, ge=1, description="examples attacked at once")
    batch_size: int | None = Field(
        default=None, ge=1, description="texts per forward pass; null = model.batch_size"
    )
    similarity_threshold: float = Field(default=0.8, ge=-1, le=1)
    similarity_model: str | None = Field(
        default=None, description="sentence-transformers model; null = packaged MiniLM"
    )
    bootstrap: int = Field(default=1000, ge=0)
    confidence: float = Field(default=0.95, gt=0, lt=1)
    max_flip_examples: int = Field(default=50, ge=0, description="invariance flips saved")
    invariance: InvarianceConfig = Field(default_factory=InvarianceConfig)
    adversarial_training: AdversarialTrainingConfig = Field(
        default_factory=AdversarialTrainingConfig
    )
    download_resources: bool = Field(
        default=False,
        description="fetch NLTK's own data (stop words, WordNet, POS tagger) into auditkit's "
        "cache when missing; false = only what auditkit builds offline, and no network",
    )

    @field_validator("recipes")
    @classmethod
    def _recipes_listed(cls, names: list[str]) -> list[str]:
        if not names:
            raise ValueError("list at least one recipe, e.g. [deepwordbug]")
        return names

    @field_validator("recipe_sample_sizes")
    @classmethod
    def _sizes_positive(cls, sizes: dict[str, int]) -> dict[str, int]:
        bad = {k: v for k, v in sizes.items() if v < 1}
        if bad:
            raise ValueError(f"sample sizes must be >= 1, got {bad}")
        return sizes

    @field_validator("invariance")
    @classmethod
    def _known_perturbations(cls, inv: InvarianceConfig) -> InvarianceConfig:
        unknown = [p for p in inv.perturbations if p not in PERTURBATIONS]
        if unknown:
            raise ValueError(f"unknown perturbation {unknown[0]!r}; known: {list(PERTURBATIONS)}")
        return inv

    @model_validator(mode="after")
    def _training_recipes(self) -> RobustnessConfig:
        from auditkit.audits.robustness.recipes import check_recipes

        try:  # here, not on the field: whether a recipe runs depends on download_resources
            check_recipes(self.recipes, download=self.download_resources)
        except AuditkitError as exc:
            raise ValueError(f"{exc.message} ({exc.hint})") from None
        stray = [r for r in self.recipe_sample_sizes if r not in self.recipes]
        if stray:
            raise ValueError(f"recipe_sample_sizes names {stray}, which are not in recipes")
        at = self.adversarial_training
        if at.enabled:
            try:
                check_recipes(
                    [at.recipe],
                    where="adversarial_training.recipe",
                    download=self.download_resources,
                )
            except AuditkitError as exc:
                raise ValueError(f"{exc.message} ({exc.hint})") from None
            extra = [r for r in at.recipes or [] if r not in self.recipes]
            if extra:
                raise ValueError(
                    f"adversarial_training.recipes {extra} are not in robustness.recipes"
                )
        return self

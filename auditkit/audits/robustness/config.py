"""The robustness audit's settings: recipes, sample sizes, invariance and adversarial training."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from auditkit.api.audit import AuditConfig
from auditkit.audits.robustness.behaviour import BehaviourConfig
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
    similarity_threshold: float = Field(
        default=0.8, ge=-1, le=1, description="sentence-encoder cosine at which an attack is valid"
    )
    validity_thresholds: list[float] = Field(
        default_factory=lambda: [0.8, 0.9, 0.95, 0.98],
        description="the ladder of cosine thresholds reported beside the headline one; "
        "Morris et al. (2020) put the bar human raters support at about 0.98",
    )
    similarity_model: str | None = Field(
        default=None, description="sentence-transformers model; null = packaged MiniLM"
    )
    bootstrap: int = Field(default=1000, ge=0)
    confidence: float = Field(default=0.95, gt=0, lt=1)
    max_flip_examples: int = Field(default=50, ge=0, description="invariance flips saved")
    invariance: InvarianceConfig = Field(default_factory=InvarianceConfig)
    behaviour: BehaviourConfig = Field(
        default_factory=BehaviourConfig,
        description="CheckList's capability (mft) and directional (dir) tests",
    )
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

    @field_validator("validity_thresholds")
    @classmethod
    def _ladder(cls, values: list[float]) -> list[float]:
        from auditkit.audits.robustness.validity import threshold_key

        bad = [v for v in values if not 0 < v <= 1]
        if bad:
            raise ValueError(f"thresholds must be in (0, 1], got {bad}")
        keys = [threshold_key(v) for v in values]
        if len(set(keys)) != len(keys):
            raise ValueError(f"thresholds {values} repeat (to two decimals)")
        return sorted(values)

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

    def check_suite(self, suite, labels: list[str] | None = None) -> None:
        """Suite-level checks of the behavioural tests: their file, placeholders, labels."""
        from auditkit.audits.robustness import behaviour as B

        where = f"{suite.source}: " if getattr(suite, "source", None) else ""
        resolved = B.resolve(self.behaviour, suite.base_dir, where=where)
        labels = labels if labels is not None else suite.data.labels
        if labels:
            B.check_labels(resolved, labels, f"{where}audits.robustness.behaviour")

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

"""The slices audit's settings."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from auditkit.api.audit import AuditConfig


class SourcesConfig(AuditConfig):
    """Where candidate slices come from; each source can be switched off."""

    metadata: bool = Field(
        default=True, description="every value of each `data.metadata_columns` column"
    )
    text: bool = Field(
        default=True,
        description="length quartiles in tokens; has a number, a percent, a currency amount, "
        "a negation; and the suite's `patterns`",
    )
    terms: bool = Field(
        default=True,
        description="mentions a term of a fairness group or an invariance name list",
    )
    clusters: bool = Field(
        default=True, description="k-means clusters of the test split's sentence embeddings"
    )
    conjunctions: bool = Field(default=True, description="pairs of the slices above")
    tree: bool = Field(
        default=True,
        description="leaves of a shallow error tree, fitted on one half of the test split and "
        "tested on the other",
    )


class ClusterConfig(AuditConfig):
    k: int | None = Field(
        default=None, ge=2, description="clusters; null chooses k by silhouette in [2, max_k]"
    )
    max_k: int = Field(default=8, ge=2, le=50)
    top_words: int = Field(default=5, ge=1, le=20, description="words that describe a cluster")
    model: str | None = Field(
        default=None,
        description="sentence-transformers model for the embeddings (default: the packaged "
        "all-MiniLM-L6-v2)",
    )


class TreeConfig(AuditConfig):
    max_depth: int = Field(default=3, ge=1, le=6)
    min_leaf: int | None = Field(
        default=None, ge=2, description="smallest leaf; null means min_size / 2"
    )


class SlicesConfig(AuditConfig):
    min_size: int = Field(default=20, ge=2, description="smallest slice that is tested")
    fdr: float = Field(
        default=0.1, gt=0, lt=1, description="Benjamini-Hochberg false discovery rate"
    )
    bootstrap: int = Field(default=1000, ge=100)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    sources: SourcesConfig = Field(default_factory=SourcesConfig)
    patterns: dict[str, str] = Field(
        default_factory=dict,
        description="name -> regular expression; a slice of the sentences it matches (the "
        "suite declares the domain's own, e.g. cashtag: '\\$[A-Z]{1,5}')",
    )
    negations: list[str] = Field(
        default_factory=lambda: [
            "not", "no", "never", "none", "nor", "neither", "without", "cannot", "n't",
        ],
        description="words that make the `has a negation` slice",
    )  # fmt: skip
    clusters: ClusterConfig = Field(default_factory=ClusterConfig)
    tree: TreeConfig = Field(default_factory=TreeConfig)
    max_examples: int = Field(
        default=50, ge=1, description="misclassified examples kept per significant slice"
    )

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            if not re.fullmatch(r"[A-Za-z0-9_]+", name):
                raise ValueError(f"pattern name {name!r}: use letters, digits and _ only")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {name!r}: {pattern!r} is not a regex: {exc}") from None
        return value

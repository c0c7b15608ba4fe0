"""The fairness audit's suite config, and the resolution of its term files.

Term files are named relative to the suite's folder. Pydantic checks the shape when the suite
loads; `resolve_attributes` reads the files (at `auditkit validate` and at run time) and turns
every problem (a missing or empty file, an empty group, a template with an unknown
placeholder) into a SuiteError that names the key.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from auditkit.api.audit import AuditConfig
from auditkit.errors import SuiteError

if TYPE_CHECKING:
    from auditkit.suite import Suite


class GroupSpec(AuditConfig):
    """One group's terms: inline (a list, or kind -> list) or from a file."""

    terms: list[str] | dict[str, list[str]] | None = None
    file: str | None = Field(default=None, description="term file, relative to the suite")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `female: terms/female.txt` and `female: [she, her]` are shorthands.
        if isinstance(value, str):
            return {"file": value}
        if isinstance(value, list):
            return {"terms": value}
        return value

    @model_validator(mode="after")
    def _one_source(self) -> GroupSpec:
        if (self.terms is None) == (self.file is None):
            raise ValueError("give a group either `terms` (inline) or `file`, exactly one")
        return self


class TemplateSpec(AuditConfig):
    """An EEC-style sentence; `{kind}` placeholders are filled with each group's terms."""

    text: str = Field(min_length=1)
    label: str


class AttributeSpec(AuditConfig):
    groups: dict[str, GroupSpec] = Field(min_length=2)
    templates: list[TemplateSpec] = Field(default_factory=list)


class ThresholdSpec(AuditConfig):
    """fairlearn ThresholdOptimizer on a binary view (one class against the rest)."""

    positive_class: str
    attribute: str
    constraints: Literal["demographic_parity", "equalized_odds"] = "demographic_parity"


class FairnessConfig(AuditConfig):
    attributes: dict[str, AttributeSpec] = Field(default_factory=dict)
    metadata_columns: list[str] = Field(
        default_factory=list, description="real sensitive columns of the dataset to audit"
    )
    use_templates: Literal["auto", "always", "never"] = Field(
        default="auto", description="auto: only while test sentences give < min_probes"
    )
    min_probes: int = Field(default=30, ge=1, description="probes wanted per group")
    max_template_probes: int = Field(default=200, ge=1, description="cap per attribute")
    bootstrap: int = Field(default=1000, ge=100)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    mitigation: Literal["counterfactual_augmentation"] | None = None
    max_augmented: int = Field(default=2000, ge=1, description="cap on added training rows")
    threshold_optimizer: ThresholdSpec | None = None
    max_flips: int = Field(default=500, ge=0, description="flip artifact rows kept (worst first)")

    @field_validator("attributes", "metadata_columns")
    @classmethod
    def _names(cls, value: Any) -> Any:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9_]+", name):
                raise ValueError(f"{name!r}: use letters, digits and _ only (it becomes a key)")
        return value

    @model_validator(mode="after")
    def _something(self) -> FairnessConfig:
        if not self.attributes and not self.metadata_columns:
            raise ValueError("name at least one of `attributes` or `metadata_columns`")
        t = self.threshold_optimizer
        if t is not None and t.attribute not in self.attributes:
            raise ValueError(
                f"threshold_optimizer.attribute {t.attribute!r} is not one of the attributes "
                f"{sorted(self.attributes)}"
            )
        return self

    def check_suite(self, suite: Suite, labels: list[str] | None = None) -> None:
        """Suite-level checks (files exist, labels known); raises SuiteError."""
        resolve_attributes(self, suite, labels)


def resolve_attributes(
    cfg: FairnessConfig, suite: Suite, labels: list[str] | None = None
) -> dict[str, dict[str, dict[str, list[str]]]]:
    """attribute -> group -> kind -> terms, with files read; every problem names its key."""
    from auditkit.audits.fairness.terms import TermSwapper, parse_terms

    where = f"{suite.source}: " if suite.source else ""
    labels = labels if labels is not None else suite.data.labels
    out: dict[str, dict[str, dict[str, list[str]]]] = {}
    for attr, spec in cfg.attributes.items():
        groups: dict[str, dict[str, list[str]]] = {}
        for group, gspec in spec.groups.items():
            key = f"audits.fairness.attributes.{attr}.groups.{group}"
            if gspec.file is not None:
                path = suite.resolve_path(gspec.file)
                if path is None or not path.is_file():
                    raise SuiteError(
                        f"{where}{key}.file: {gspec.file!r}: no such file"
                        + (f" ({path})" if path else " (an environment variable is unset)"),
                        hint="term files are resolved against the suite's folder",
                    )
                try:
                    kinds = parse_terms(Path(path).read_text(encoding="utf-8"), where=str(path))
                except ValueError as exc:
                    raise SuiteError(f"{where}{key}.file: {exc}") from None
            elif isinstance(gspec.terms, list):
                kinds = {"term": [" ".join(t.split()) for t in gspec.terms if t.strip()]}
            else:
                kinds = {
                    k: [" ".join(t.split()) for t in v if t.strip()] for k, v in gspec.terms.items()
                }  # type: ignore[union-attr]
            kinds = {k: v for k, v in kinds.items() if v}
            if not kinds:
                raise SuiteError(
                    f"{where}{key}: the group has no terms",
                    hint="list at least one term (a name, a pronoun, a country...)",
                )
            groups[group] = kinds
        try:
            TermSwapper(groups)
        except ValueError as exc:
            raise SuiteError(f"{where}audits.fairness.attributes.{attr}: {exc}") from None
        kinds_everywhere = set.intersection(*(set(k) for k in groups.values()))
        for i, tmpl in enumerate(spec.templates):
            tkey = f"audits.fairness.attributes.{attr}.templates[{i}]"
            for field in template_fields(tmpl.text, where=f"{where}{tkey}.text"):
                if field not in kinds_everywhere:
                    raise SuiteError(
                        f"{where}{tkey}.text: placeholder {{{field}}} is not a term kind that "
                        f"every group of {attr!r} has",
                        hint=f"kinds every group has: {sorted(kinds_everywhere) or 'none'}",
                    )
            if labels is not None and tmpl.label not in labels:
                raise SuiteError(
                    f"{where}{tkey}.label: {tmpl.label!r} is not one of the labels {labels}"
                )
        out[attr] = groups
    t = cfg.threshold_optimizer
    if t is not None and labels is not None and t.positive_class not in labels:
        raise SuiteError(
            f"{where}audits.fairness.threshold_optimizer.positive_class: "
            f"{t.positive_class!r} is not one of the labels {labels}"
        )
    return out


def template_fields(text: str, *, where: str = "template") -> list[str]:
    """The `{kind}` placeholders of a template, in order."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise SuiteError(f"{where}: {exc}", hint="write a literal brace as {{ or }}") from None
    fields = []
    for _, field, spec, conv in parsed:
        if field is None:
            continue
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", field) or spec or conv:
            raise SuiteError(f"{where}: placeholder {{{field}}} must be a plain kind name")
        fields.append(field)
    return fields

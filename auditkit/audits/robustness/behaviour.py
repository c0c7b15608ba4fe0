"""CheckList's other two kinds of behavioural test: capabilities (MFT) and directions (DIR).

- An **MFT** (minimum functionality test) is a set of small labelled templates for one
  capability ("a loss that narrowed is positive"); its placeholders are filled from the
  suite's term lists, and a probe fails when the model does not predict the template's label.
- A **DIR** (directional) test is an edit with a known effect: each `from` term becomes the
  `to` term at the same position (whole words, case kept, possessives kept: the fairness
  audit's `TermSwapper`). Its probes are the test sentences a `from` term occurs in, topped up
  from its templates when fewer than `min_probes` match. The expectation is one of:
  `to_label: L` (the edited sentence is predicted L), `not_label: L` (a sentence predicted L
  is no longer L once edited; others are not applicable), or `p_decreases: L` with
  `by_at_least: d` (the probability of L falls by at least d).

Every probe is scored through the ModelHandle in one batched call. The code holds nothing about
any domain: the words, templates and labels come from the suite (the default suite and the
PhraseBank suite read a finance set from `suites/terms/behaviour_finance.yaml`).
"""

from __future__ import annotations

import itertools
import random
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from auditkit.errors import SuiteError

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Expectation(_Strict):
    """What a DIR edit must do: exactly one of the three kinds."""

    to_label: str | None = None
    not_label: str | None = None
    p_decreases: str | None = None
    by_at_least: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _one_kind(self) -> Expectation:
        given = [k for k in ("to_label", "not_label", "p_decreases") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of to_label, not_label or p_decreases (got {given or 'none'})"
            )
        if self.by_at_least is not None and not self.p_decreases:
            raise ValueError("by_at_least goes with p_decreases")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("to_label", "not_label", "p_decreases") if getattr(self, k))

    @property
    def label(self) -> str:
        return str(getattr(self, self.kind))

    def words(self) -> str:
        if self.kind == "to_label":
            return f"becomes {self.label}"
        if self.kind == "not_label":
            return f"a {self.label} prediction does not stay {self.label}"
        return f"p({self.label}) falls by at least {self.by_at_least or 0:g}"


class MftTest(_Strict):
    """A capability: templates with placeholders, all of one expected label."""

    description: str = ""
    templates: list[str] = Field(min_length=1)
    label: str


class DirTest(_Strict):
    """An edit (`from` term i becomes `to` term i) and the effect it must have."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    description: str = ""
    from_: list[str] = Field(alias="from", min_length=1)
    to: list[str] = Field(min_length=1)
    expect: Expectation
    templates: list[str] = Field(
        default_factory=list, description="top-up probes, each holding a `from` term"
    )

    @model_validator(mode="after")
    def _paired(self) -> DirTest:
        if len(self.from_) != len(self.to):
            raise ValueError(
                f"`from` has {len(self.from_)} terms and `to` {len(self.to)}: term i of one "
                "becomes term i of the other"
            )
        return self


class BehaviourConfig(_Strict):
    enabled: bool = True
    file: str | None = Field(
        default=None,
        description="a YAML file (next to the suite) with `terms`, `mft` and `dir`; keys "
        "written here are added to it and win",
    )
    terms: dict[str, list[str]] = Field(
        default_factory=dict, description="placeholder -> the words that fill it"
    )
    mft: dict[str, MftTest] = Field(default_factory=dict)
    dir: dict[str, DirTest] = Field(default_factory=dict)
    min_probes: int = Field(
        default=20, ge=1, description="DIR: top up from templates below this many probes"
    )
    max_probes: int = Field(default=200, ge=1, description="probes per test, a seeded sample")
    max_failures: int = Field(default=5, ge=0, description="worst failures saved per test")


@dataclass
class Probe:
    source: str  # "template" or "test"
    text: str
    edited: str | None = None  # DIR: the sentence after the edit
    idx: int | None = None  # DIR probes from the test split: its row


@dataclass
class TestOutcome:
    """One test's verdict per probe, and the numbers the failures are ranked by."""

    name: str
    kind: str  # mft | dir
    description: str
    expectation: str
    probes: list[Probe]
    failed: np.ndarray  # per applicable probe
    applicable: np.ndarray  # per probe
    label: int  # the label the expectation names
    p_before: np.ndarray | None
    p_after: np.ndarray
    pred_before: np.ndarray | None
    pred_after: np.ndarray
    severity: np.ndarray  # larger: a worse failure
    counts: dict[str, int] = field(default_factory=dict)  # probes by source


# --------------------------------------------------------------------------- configuration


def resolve(cfg: BehaviourConfig, base_dir: Path | None, *, where: str = "") -> BehaviourConfig:
    """The config with its `file` read and merged (the suite's own keys win), then checked:
    names, placeholders, and that every DIR template holds a `from` term."""
    key = f"{where}audits.robustness.behaviour"
    if cfg.file is not None:
        import yaml

        path = Path(cfg.file) if base_dir is None else (base_dir / cfg.file)
        if not path.is_file():
            raise SuiteError(
                f"{key}.file: {cfg.file!r}: no such file ({path})",
                hint="the file is resolved against the suite's folder",
            )
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise SuiteError(f"{key}.file: {path}: not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise SuiteError(f"{key}.file: {path}: expected a mapping with terms, mft and dir")
        own = cfg.model_dump(by_alias=True, exclude_unset=True)
        merged = dict(raw)
        for part in ("terms", "mft", "dir"):
            merged[part] = {**(raw.get(part) or {}), **(own.get(part) or {})}
        merged |= {k: v for k, v in own.items() if k not in ("terms", "mft", "dir", "file")}
        try:
            cfg = BehaviourConfig.model_validate(merged)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise SuiteError(f"{key}.file: {path}: {loc}: {err['msg']}") from None
    check(cfg, key)
    return cfg


def check(cfg: BehaviourConfig, key: str = "audits.robustness.behaviour") -> None:
    """Names unique and plain, placeholders known, DIR templates holding a `from` term."""
    clash = set(cfg.mft) & set(cfg.dir)
    if clash:
        raise SuiteError(f"{key}: {sorted(clash)} named both as an mft and a dir test")
    for kind, tests in (("mft", cfg.mft), ("dir", cfg.dir)):
        for name, test in tests.items():
            if not _NAME.match(name):
                raise SuiteError(
                    f"{key}.{kind}.{name}: a test name is lower-case letters, digits and _ "
                    "(it becomes part of a metric name)"
                )
            for i, template in enumerate(test.templates):
                for placeholder in placeholders(template, where=f"{key}.{kind}.{name}"):
                    if placeholder not in cfg.terms:
                        raise SuiteError(
                            f"{key}.{kind}.{name}.templates[{i}]: placeholder "
                            f"{{{placeholder}}} is not in `terms`",
                            hint=f"terms: {sorted(cfg.terms) or 'none'}",
                        )
            if kind == "dir":
                try:
                    swapper = dir_swapper(test)
                except ValueError as exc:
                    raise SuiteError(f"{key}.dir.{name}: {exc}") from None
                for i, template in enumerate(test.templates):
                    if "from" not in swapper.groups_in(template):
                        raise SuiteError(
                            f"{key}.dir.{name}.templates[{i}]: {template!r} holds none of the "
                            f"`from` terms {test.from_}, so the edit would not change it"
                        )


def check_labels(cfg: BehaviourConfig, labels: Sequence[str], key: str) -> None:
    for kind, tests in (("mft", cfg.mft), ("dir", cfg.dir)):
        for name, test in tests.items():
            label = test.label if isinstance(test, MftTest) else test.expect.label
            if label not in labels:
                raise SuiteError(
                    f"{key}.{kind}.{name}: label {label!r} is not one of the labels {list(labels)}"
                )


def placeholders(template: str, *, where: str) -> list[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise SuiteError(
            f"{where}: {template!r}: {exc}", hint="write a brace as {{ or }}"
        ) from None
    return [f for _, f, _, _ in parsed if f]


def dir_swapper(test: DirTest):
    """A swapper between the edit's two sides; `from` terms carry one kind each, by position."""
    from auditkit.audits.fairness.terms import TermSwapper

    kinds = {f"t{i}": ([a], [b]) for i, (a, b) in enumerate(zip(test.from_, test.to, strict=True))}
    return TermSwapper(
        {
            "from": {k: v[0] for k, v in kinds.items()},
            "to": {k: v[1] for k, v in kinds.items()},
        }
    )


# --------------------------------------------------------------------------- probes


def fill(templates: Sequence[str], terms: dict[str, list[str]], limit: int, seed: int) -> list[str]:
    """Every template filled with every combination of its placeholders' terms, deduplicated,
    in order; a seeded sample of `limit` of them (the order kept) when there are more."""
    out: dict[str, None] = {}
    for template in templates:
        fields = list(dict.fromkeys(placeholders(template, where="template")))
        pools = [terms[f] for f in fields]
        for combo in itertools.product(*pools):
            out.setdefault(template.format(**dict(zip(fields, combo, strict=True))), None)
    texts = list(out)
    if len(texts) <= limit:
        return texts
    keep = sorted(random.Random(seed).sample(range(len(texts)), limit))
    return [texts[i] for i in keep]


def mft_probes(test: MftTest, cfg: BehaviourConfig, seed: int) -> list[Probe]:
    return [Probe("template", t) for t in fill(test.templates, cfg.terms, cfg.max_probes, seed)]


def dir_probes(test: DirTest, cfg: BehaviourConfig, texts: Sequence[str], seed: int) -> list[Probe]:
    """The test sentences a `from` term occurs in (a seeded sample of `max_probes`), topped up
    from the templates to `min_probes`; a probe the edit does not change is left out."""
    swapper = dir_swapper(test)
    found = [(i, t) for i, t in enumerate(texts) if "from" in swapper.groups_in(t)]
    if len(found) > cfg.max_probes:
        keep = sorted(random.Random(seed).sample(range(len(found)), cfg.max_probes))
        found = [found[k] for k in keep]
    probes = [Probe("test", t, swapper.swap(t, "to"), i) for i, t in found]
    if len(probes) < cfg.min_probes and test.templates:
        room = cfg.min_probes - len(probes)
        for t in fill(test.templates, cfg.terms, room, seed + 1):
            probes.append(Probe("template", t, swapper.swap(t, "to")))
    return [p for p in probes if p.edited != p.text]


# --------------------------------------------------------------------------- scoring


def evaluate(
    cfg: BehaviourConfig,
    texts: Sequence[str],
    labels: Sequence[str],
    predict_proba: Callable[[list[str]], np.ndarray],
    seed: int,
) -> list[TestOutcome]:
    """Every test's probes, scored in one batched call (each distinct text once)."""
    plans: list[tuple[str, str, Any, list[Probe]]] = []
    for offset, (name, test) in enumerate(cfg.mft.items()):
        plans.append((name, "mft", test, mft_probes(test, cfg, seed + 31 * offset)))
    for offset, (name, test) in enumerate(cfg.dir.items()):
        plans.append((name, "dir", test, dir_probes(test, cfg, texts, seed + 37 * offset)))
    unique = list(dict.fromkeys(s for *_, probes in plans for p in probes
                                for s in (p.text, p.edited) if s is not None))  # fmt: skip
    probs = predict_proba(unique) if unique else np.zeros((0, len(labels)))
    row = {t: i for i, t in enumerate(unique)}
    return [
        _judge(name, kind, test, probes, probs, row, labels) for name, kind, test, probes in plans
    ]


def _judge(name, kind, test, probes, probs, row, labels) -> TestOutcome:
    counts = {s: sum(p.source == s for p in probes) for s in ("test", "template")}
    k = len(labels)
    if kind == "mft":
        label = labels.index(test.label)
        after = probs[[row[p.text] for p in probes]] if probes else np.zeros((0, k))
        pred = after.argmax(1)
        failed = pred != label
        return TestOutcome(
            name, kind, test.description, f"predicted {test.label}", probes, failed,
            np.ones(len(probes), bool), label, None, after[:, label], None, pred,
            -after[:, label], counts,
        )  # fmt: skip
    exp: Expectation = test.expect
    label = labels.index(exp.label)
    before = probs[[row[p.text] for p in probes]] if probes else np.zeros((0, k))
    after = probs[[row[p.edited] for p in probes]] if probes else np.zeros((0, k))
    pb, pa = before.argmax(1), after.argmax(1)
    applicable = np.ones(len(probes), bool)
    if exp.kind == "to_label":
        failed, severity = pa != label, -after[:, label]
    elif exp.kind == "not_label":
        applicable = pb == label
        failed, severity = pa == label, after[:, label]
    else:
        drop = before[:, label] - after[:, label]
        failed, severity = drop < (exp.by_at_least or 0.0), -drop
    return TestOutcome(
        name, kind, test.description, exp.words(), probes, failed[applicable], applicable,
        label, before[:, label], after[:, label], pb, pa, severity, counts,
    )  # fmt: skip


def failure_records(out: TestOutcome, labels: Sequence[str], limit: int) -> list[dict]:
    """The worst `limit` failures of one test, for the artifact."""
    idx = np.flatnonzero(out.applicable)
    bad = idx[out.failed]
    bad = bad[np.argsort(-out.severity[bad], kind="stable")][:limit]
    rows = []
    for i in bad:
        p = out.probes[i]
        rows.append(
            {
                "test": out.name,
                "kind": out.kind,
                "what": f"{out.name} ({out.kind.upper()}): {out.expectation}",
                "source": p.source,
                "idx": p.idx,
                "text": p.text,
                "edited": p.edited,
                "pred_before": None if out.pred_before is None else labels[out.pred_before[i]],
                "pred_after": labels[out.pred_after[i]],
                "label": labels[out.label],
                "p_before": None if out.p_before is None else round(float(out.p_before[i]), 4),
                "p_after": round(float(out.p_after[i]), 4),
            }
        )
    return rows

"""What an audit declares it writes: its metrics, tables, artifacts and headline numbers.

Every reader (the report, the dashboard, the CLI summary, the docs) takes titles, headlines and
table columns from these declarations, so no reader keeps a list of audits or metrics of its
own, and an audit from another package is shown like a built-in one. `docs/audit-outputs.md`
is generated from them (`python -m auditkit.api.outputs_doc --write`), and `check` says where
a result and its audit's declaration disagree.

Metric names are patterns over the dotted keys inside one audit's `metrics`: `{recipe}` stands
for one dotted part (or part of one, as in `bs{batch_size}`), `{column...}` for one or more.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from auditkit.api.results import AuditResult, Metric

Direction = Literal["higher", "lower"]

_PLACEHOLDER = re.compile(r"\{([a-z_]+)(\.\.\.)?\}")


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """The regex a metric-name pattern stands for; each placeholder is one group."""
    out, at = [], 0
    for match in _PLACEHOLDER.finditer(pattern):
        out.append(re.escape(pattern[at : match.start()]))
        out.append("(.+)" if match.group(2) else "([^.]+)")
        at = match.end()
    out.append(re.escape(pattern[at:]))
    return re.compile("".join(out))


@dataclass(frozen=True)
class MetricSpec:
    """A family of metrics: `name` is a pattern, `groups` the parts that vary (recipe, ...)."""

    name: str
    description: str
    direction: Direction | None = None  # None: a descriptive number the gate has no side for
    unit: str | None = None
    when: str | None = None  # the condition, in words, under which the audit writes it
    # written with a confidence interval; the gate refuses a drop bound on a metric with none
    # (unless it pairs the metric per example), since any rerun noise would read as a change
    ci: bool = True
    # the setting that gives each metric of the family its direction (the suite declares it
    # per metric, e.g. performance's extra_metrics); `direction` is then None
    direction_from: str | None = None

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return pattern_regex(self.name)

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(m.group(1) for m in _PLACEHOLDER.finditer(self.name))

    @property
    def higher_is_better(self) -> bool | None:
        return None if self.direction is None else self.direction == "higher"

    def matches(self, key: str) -> bool:
        return self.regex.fullmatch(key) is not None


@dataclass(frozen=True)
class TableSpec:
    """A table: `columns` come first and in this order; `more` says what may be appended."""

    name: str
    columns: tuple[str, ...]
    description: str = ""
    more: str | None = None  # appended columns, in words (e.g. "one per class")
    when: str | None = None

    def missing_columns(self, columns: Iterable[str]) -> list[str]:
        """Declared leading columns the table lacks or holds out of order."""
        given = list(columns)
        if given[: len(self.columns)] == list(self.columns):
            return []
        return [c for c in self.columns if c not in given] or list(self.columns)


@dataclass(frozen=True)
class Examples:
    """How readers show a JSONL artifact of examples in groups: the report lists each group's
    first `per_group` records under the group's `title` field, the dashboard picks a group.
    `group` names the field that groups them, `text` the sentence, `fields` the facts shown
    beside it."""

    group: str
    title: str
    text: str = "text"
    fields: tuple[str, ...] = ()
    per_group: int = 3
    max_groups: int = 8
    heading: str = ""  # the block's heading; default "Examples: <artifact name>"
    # a field with the text before an edit: readers then show the two with the changed words
    # marked (where `text` is null in a record, its `before` text is shown alone)
    before: str | None = None

    def names(self) -> tuple[str, ...]:
        extra = (self.before,) if self.before else ()
        return (self.group, self.title, self.text, *self.fields, *extra)


@dataclass(frozen=True)
class RowSets:
    """A JSONL artifact whose records each name a set of test rows: `rows` holds the `idx`
    values of the performance audit's predictions, `label` says what the set is. The dashboard
    lets the user filter the run's test predictions by one."""

    rows: str = "rows"
    label: str = "description"

    def names(self) -> tuple[str, ...]:
        return (self.rows, self.label)


@dataclass(frozen=True)
class ArtifactSpec:
    """A file in the run directory; `AuditResult.artifacts[name]` holds its file name.
    `shows`, when given, tells the generic readers how to display it (any audit's artifact
    is shown the same way, so an audit needs no reader code of its own for it)."""

    name: str
    file: str
    description: str
    fields: tuple[str, ...] = ()
    when: str | None = None
    shows: Examples | RowSets | None = None

    def __post_init__(self) -> None:
        if self.shows is not None:
            unknown = [f for f in self.shows.names() if f not in self.fields]
            if unknown:
                raise ValueError(
                    f"artifact {self.name!r}: `shows` names {unknown}, not among its fields"
                )


@dataclass(frozen=True)
class Headline:
    """A number that summarises the audit. The CLI summary and the dashboard's scorecard show
    every metric matching `metric`; the report's scorecard tile shows one of them, chosen by
    `pick` (the first labelled headline found is the tile's big number, the others its lines)."""

    metric: str  # a pattern, as MetricSpec.name
    label: str | None = None  # the words the report's tile shows; None: not on the tile
    pick: Literal["min", "max"] = "max"  # which of the matches the tile shows
    prefer: str | None = None  # a group value shown whenever it is among the matches
    exclude: tuple[str, ...] = ()  # key prefixes the pattern does not mean

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return pattern_regex(self.metric)

    def match(self, key: str) -> str | None:
        """The varying part of `key`, from its first placeholder to its last ("fp32.bs8" for
        `{variant}.bs{batch_size}.throughput_per_s`; "" without one), or None if no match."""
        if any(key.startswith(prefix) for prefix in self.exclude):
            return None
        found = self.regex.fullmatch(key)
        if found is None:
            return None
        if not found.groups():
            return ""
        return key[found.start(1) : found.end(found.lastindex or 1)]


@dataclass(frozen=True)
class Outputs:
    """Everything one audit declares. An audit that declares nothing gets `Outputs()`: its
    readers then title it from its name and show all its metrics."""

    title: str = ""
    summary: str = ""  # one paragraph for the docs
    icon: str = ":material/fact_check:"  # the dashboard page's icon (a Streamlit icon name)
    metrics: tuple[MetricSpec, ...] = ()
    tables: tuple[TableSpec, ...] = ()
    artifacts: tuple[ArtifactSpec, ...] = ()
    headlines: tuple[Headline, ...] = ()
    notes: tuple[str, ...] = field(default=())  # further facts for the docs

    def title_for(self, name: str) -> str:
        return self.title or name.replace("_", " ").title()

    def metric_spec(self, key: str) -> MetricSpec | None:
        """The first declared family `key` belongs to."""
        return next((spec for spec in self.metrics if spec.matches(key)), None)

    def table_spec(self, name: str) -> TableSpec | None:
        return next((spec for spec in self.tables if spec.name == name), None)

    def columns(self, table: str) -> list[str]:
        """A declared table's leading columns: the audit builds its table from these, so the
        code and the declaration cannot drift apart."""
        spec = self.table_spec(table)
        if spec is None:
            raise KeyError(f"table {table!r} is not declared")
        return list(spec.columns)

    def headline_rank(self, key: str) -> int | None:
        """The index of the first headline `key` matches, or None."""
        return next((i for i, h in enumerate(self.headlines) if h.match(key) is not None), None)

    def headline_metrics(
        self, metrics: Mapping[str, Metric], *, ranked: bool = False
    ) -> list[tuple[str, Metric]]:
        """The metrics that match a headline: in the order written, or by headline (`ranked`).
        With no headlines declared, every metric that has a direction."""
        if not self.headlines:
            return [(k, m) for k, m in metrics.items() if m.higher_is_better is not None]
        picked = [(k, m) for k, m in metrics.items() if self.headline_rank(k) is not None]
        if ranked:
            picked.sort(key=lambda item: self.headline_rank(item[0]))  # type: ignore[arg-type,return-value]
        return picked


def check(outputs: Outputs, result: AuditResult) -> list[str]:
    """Where `result` departs from its audit's declaration: undeclared metrics, tables and
    artifacts, a direction or a CI that differs, declared columns missing. Empty when they
    agree, and for an audit that declares nothing."""
    if not (outputs.metrics or outputs.tables or outputs.artifacts):
        return []
    problems = []
    for key, metric in result.metrics.items():
        spec = outputs.metric_spec(key)
        if spec is None:
            problems.append(f"metric {key!r} is not declared")
        elif spec.direction_from is None and spec.higher_is_better != metric.higher_is_better:
            problems.append(
                f"metric {key!r}: written with higher_is_better={metric.higher_is_better}, "
                f"declared direction {spec.direction!r} ({spec.name})"
            )
        elif metric.value is not None and spec.ci != (metric.ci_low is not None):
            has = "with" if metric.ci_low is not None else "without"
            problems.append(
                f"metric {key!r}: written {has} a CI, declared ci={spec.ci} ({spec.name})"
            )
    for name, table in result.tables.items():
        spec = outputs.table_spec(name)
        if spec is None:
            problems.append(f"table {name!r} is not declared")
        elif missing := spec.missing_columns(table.columns):
            problems.append(f"table {name!r}: declared columns {missing} missing or out of order")
        widths = sorted({len(row) for row in table.rows} - {len(table.columns)})
        if widths:
            problems.append(
                f"table {name!r}: rows of {widths} cells under {len(table.columns)} columns"
            )
    declared = {a.name for a in outputs.artifacts}
    problems += [f"artifact {n!r} is not declared" for n in result.artifacts if n not in declared]
    return problems

"""View-model pieces shared by the report's sections: formatting, figures, tables, text marks.

Sections hand the template plain data. Nothing here builds HTML from data: texts stay strings
and Jinja2's autoescape escapes them. The only markup passed through unescaped is the SVG that
`plots` produced (matplotlib escapes the text it writes) and CSS colours computed from numbers.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from markupsafe import Markup

from auditkit import comparison
from auditkit.api.results import AuditResult, ErrorInfo, Metric, Table
from auditkit.api.rundir import artifact_file
from auditkit.gate import Verdict

log = logging.getLogger(__name__)

MAX_TABLE_ROWS = 40
# Every verdict the gate writes: read from the gate's own declaration, so the two cannot drift.
VERDICTS: tuple[str, ...] = get_args(Verdict)


def fmt(value: Any, digits: int = 4) -> str:
    """A table cell: floats to `digits` significant figures, integers plain, None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        if value.is_integer() and abs(value) < 1e9:
            return str(int(value))
        return f"{value:.{digits}g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def fmt_ci(metric: Metric) -> str:
    if metric.ci_low is None or metric.ci_high is None:
        return ""
    return f"[{fmt(metric.ci_low, 3)}, {fmt(metric.ci_high, 3)}]"


@dataclass
class Figure:
    title: str
    svg: Markup
    caption: str = ""


@dataclass
class TableView:
    name: str
    columns: list[str]
    rows: list[list[str]]
    description: str | None = None
    hidden_rows: int = 0


@dataclass
class MetricRow:
    name: str
    value: str
    ci: str
    unit: str
    direction: str
    description: str
    verdict: str | None = None


@dataclass
class Block:
    """A display the template draws with its own macro (`kind` picks it)."""

    kind: str  # examples | pairs | highlights | callout
    title: str
    data: Any
    caption: str = ""


@dataclass
class SectionView:
    key: str
    title: str
    status: str  # ok | failed | not run
    intro: str = ""
    error: ErrorInfo | None = None
    figures: list[Figure] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    metrics: list[MetricRow] = field(default_factory=list)
    tables: list[TableView] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    findings: list[tuple[str, bool]] = field(default_factory=list)  # (sentence, got worse)
    notes: list[str] = field(default_factory=list)
    artifacts: list[tuple[str, str, bool]] = field(default_factory=list)
    wall_time_s: float | None = None

    def figure(self, title: str, make: Callable[[], str | None], caption: str = "") -> None:
        """Add a plot; a plot that cannot be drawn becomes a note instead of breaking the page."""
        try:
            svg = make()
        except Exception as exc:  # a malformed table must not lose the rest of the report
            log.warning("report: %s: plot %r skipped: %s: %s", self.key, title, type(exc), exc)
            self.notes.append(f"plot “{title}” could not be drawn: {type(exc).__name__}: {exc}")
            return
        if svg:
            self.figures.append(Figure(title=title, svg=Markup(svg), caption=caption))

    def missing(self, what: str, plot: str) -> None:
        self.notes.append(f"no {what} in the results, so no {plot}")


def table_view(name: str, table: Table, max_rows: int = MAX_TABLE_ROWS) -> TableView:
    rows = [[fmt(cell) for cell in row] for row in table.rows[:max_rows]]
    return TableView(
        name=name,
        columns=list(table.columns),
        rows=rows,
        description=table.description,
        hidden_rows=max(0, len(table.rows) - max_rows),
    )


def metric_rows(audit: AuditResult, verdicts: dict[str, str]) -> list[MetricRow]:
    out = []
    for key, m in audit.metrics.items():
        direction = {True: "higher is better", False: "lower is better"}.get(m.higher_is_better, "")
        out.append(
            MetricRow(
                name=key,
                value=fmt(m.value),
                ci=fmt_ci(m),
                unit=m.unit or "",
                direction=direction,
                description=m.description or "",
                verdict=verdicts.get(f"{audit.name}.{key}"),
            )
        )
    return out


def generic_section(
    key: str, title: str, audit: AuditResult | None, run_dir: Path, verdicts: dict[str, str]
) -> SectionView:
    """The part every audit shares: status, error, warnings, all metrics, all tables, files."""
    if audit is None:
        return SectionView(key=key, title=title, status="not run")
    view = SectionView(
        key=key,
        title=title,
        status="ok" if audit.status == "ok" else "failed",
        error=audit.error,
        warnings=list(audit.warnings),
        metrics=metric_rows(audit, verdicts),
        tables=[table_view(name, table) for name, table in audit.tables.items()],
        wall_time_s=audit.wall_time_s,
    )
    for name, table in audit.tables.items():  # before/after tables: say what got worse
        changes = comparison.from_table(table)
        if changes is not None:
            what = table.description or name.replace("_", " ")
            view.findings.append((comparison.summary(changes, what), any(c.worse for c in changes)))
    for name, file_name in audit.artifacts.items():
        view.artifacts.append((name, file_name, artifact_path(run_dir, file_name) is not None))
    _declared_examples(view, audit, run_dir)
    return view


def _declared_examples(view: SectionView, audit: AuditResult, run_dir: Path) -> None:
    """An `examples` block per artifact whose declaration says it `shows` Examples: each
    group's first records under the group's title, for any audit, built-in or not."""
    from auditkit.api.outputs import Examples
    from auditkit.api.registry import outputs

    for spec in outputs(audit.name).artifacts:
        shows = spec.shows
        path = artifact_path(run_dir, audit.artifacts.get(spec.name))
        if not isinstance(shows, Examples) or path is None:
            continue
        groups: dict[str, dict[str, Any]] = {}
        for r in read_jsonl(path, view.notes):
            key = str(r.get(shows.group))
            group = groups.setdefault(key, {"title": str(r.get(shows.title, key)), "items": []})
            group["n"] = group.get("n", 0) + 1
            if len(group["items"]) < shows.per_group:
                meta = [(f, fmt(r.get(f))) for f in shows.fields]
                text, before = r.get(shows.text), r.get(shows.before) if shows.before else None
                shown = text if text is not None else before
                item: dict[str, Any] = {"meta": meta, "text": str(shown or ""), "a": None}
                if before is not None and text is not None:  # the edit, words marked
                    item["a"], item["b"] = diff_words(str(before), str(text))
                group["items"].append(item)
        shown = list(groups.values())[: shows.max_groups]
        for g in shown:
            g["title"] = f"{g['title']} ({len(g['items'])} of {g['n']})"
        caption = f"from {spec.file}: {spec.description}"
        if len(groups) > len(shown):
            caption += f"; the first {len(shown)} of {len(groups)} groups"
        heading = shows.heading or f"Examples: {spec.name}"
        view.blocks.append(Block("examples", heading, shown, caption))


def artifact_path(run_dir: Path, file_name: str | None) -> Path | None:
    """The artifact's path if it exists inside the run directory (never outside it)."""
    path = artifact_file(run_dir, file_name)
    return path if path is not None and path.is_file() else None


def read_jsonl(path: Path, notes: list[str], limit: int = 100_000) -> list[dict[str, Any]]:
    """Records of a JSONL artifact; bad lines are counted in a note, not fatal."""
    out: list[dict[str, Any]] = []
    bad = 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if len(out) >= limit:
                break
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(record, dict):
                out.append(record)
            else:
                bad += 1
    if bad:
        notes.append(f"{path.name}: {bad} unreadable line(s) skipped")
    return out


def table_records(audit: AuditResult, name: str) -> list[dict[str, Any]] | None:
    table = audit.tables.get(name)
    return table.records() if table is not None else None


# --- marking words in texts -------------------------------------------------------------

_SPLIT = re.compile(r"(\s+)")
_PUNCT = string.punctuation + "“”‘’«»"


def _core(word: str) -> str:
    return word.strip(_PUNCT).lower()


def mark_words(text: str, words: set[str]) -> list[dict[str, Any]]:
    """Split `text` into pieces, marking the words in `words` (case and punctuation ignored)."""
    wanted = {_core(w) for w in words if _core(w)}
    pieces = []
    for piece in _SPLIT.split(str(text)):
        if piece:
            pieces.append({"text": piece, "mark": bool(piece.strip()) and _core(piece) in wanted})
    return pieces


def diff_words(a: str, b: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Both texts as pieces, marking the words that differ between them."""
    wa, wb = str(a).split(), str(b).split()
    changed_a: set[int] = set()
    changed_b: set[int] = set()
    matcher = difflib.SequenceMatcher(a=wa, b=wb, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            changed_a.update(range(i1, i2))
            changed_b.update(range(j1, j2))

    def pieces(words: list[str], changed: set[int]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i, w in enumerate(words):
            if i:
                out.append({"text": " ", "mark": False})
            out.append({"text": w, "mark": i in changed})
        return out

    return pieces(wa, changed_a), pieces(wb, changed_b)


def changed_pair(
    original: str, perturbed: str, changed: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Marks from the audit's `changed_words` pairs; a word diff where it gave none."""
    pairs = [p for p in (changed or []) if isinstance(p, (list, tuple)) and len(p) == 2]
    if not pairs:
        return diff_words(original, perturbed)
    return (
        mark_words(original, {str(p[0]) for p in pairs}),
        mark_words(perturbed, {str(p[1]) for p in pairs}),
    )


def attribution_tokens(words: list[Any], scores: list[Any]) -> list[dict[str, Any]]:
    """Words with a background from a red (toward the target) / blue (against) scale."""
    values = []
    for s in scores:
        try:
            v = float(s)
        except (TypeError, ValueError):
            v = 0.0
        values.append(v if math.isfinite(v) else 0.0)
    top = max((abs(v) for v in values), default=0.0) or 1.0
    out = []
    for word, v in zip(words, values, strict=False):
        alpha = round(min(1.0, abs(v) / top) * 0.85, 3)
        rgb = "214, 39, 40" if v >= 0 else "31, 119, 180"
        out.append(
            {
                "text": str(word),
                "style": f"background-color: rgba({rgb}, {alpha})",
                "title": f"{v:+.4f}",
                "strong": alpha > 0.5,
            }
        )
    return out

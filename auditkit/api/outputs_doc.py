"""docs/audit-outputs.md, generated from the audits' declared outputs (`Audit.outputs`).

    python -m auditkit.api.outputs_doc --write     # rewrite the page
    python -m auditkit.api.outputs_doc --check     # exit 1 when the page is stale

Only auditkit's own audits are listed (not plugins installed alongside), so the page is the
same on every machine. tests/test_outputs.py fails when the checked-in page is stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from auditkit.api.outputs import (
    ArtifactSpec,
    Examples,
    Headline,
    MetricSpec,
    Outputs,
    RowSets,
    TableSpec,
)
from auditkit.api.registry import AUDITS

DOC = Path(__file__).resolve().parents[2] / "docs" / "audit-outputs.md"

_INTRO = """\
# What each audit writes

<!-- Generated from each audit's declared outputs (auditkit/audits/<name>/outputs.py) by
`python -m auditkit.api.outputs_doc --write`; edit the declarations, not this page. -->

The report, the dashboard and the gate read only `results.json` (schema in
`auditkit/schema/results.schema.json`) and the artifacts named there. This page fixes the
names inside each `AuditResult`, so that the readers and the audits agree. Each audit declares
them in its `outputs.py` (`auditkit.api.outputs`), and every reader takes titles, headline
metrics and table columns from those declarations.

Metric keys are dotted paths *inside* the audit: the gate addresses
`robustness.deepwordbug.attack_success_rate` as audit `robustness`, metric
`deepwordbug.attack_success_rate`. In the names below, `{recipe}` stands for one dotted part
(or part of one, as in `bs{batch_size}`) and `{attribute...}` for one or more. Names are
snake_case and stable: add, never rename. Every table is `{columns, rows}`; the columns listed
here come first and in this order, and an audit may append more. Artifacts are files in the
run directory; `AuditResult.artifacts` maps the artifact name below to the file name. JSONL
artifacts hold one JSON object per line. Readers must cope with any of these being absent
(audit not run, failed, or an option switched off) and show "not run" / "failed: <reason>".

Rates and accuracies are fractions in [0, 1]; `ci_low`/`ci_high` are bootstrap percentile
intervals at the audit's `confidence` (default 0.95). "higher/lower is better" is the direction
the gate reads (`higher_is_better`); a metric with neither is descriptive. A metric marked
"no CI" is written without an interval: the gate bounds it with `min`/`max` as it is, and
refuses a drop bound on it unless it pairs it per example (performance's accuracy, F1, ECE,
Brier and NLL).

The **headline** metrics are the ones the CLI summary (at most four), the dashboard's scorecard
and the report's scorecard tile show; the tile shows one number per labelled headline (the
lowest or highest of its matches, or the preferred one).
"""

_OUTRO = """\
## Comparison tables

An audit that compares a model with the one it came from declares the changes as a table with
exactly these columns (`auditkit.comparison.COLUMNS`): subject (what was changed: a variant,
an attribute, a recipe, or `all`), metric, before, after, delta (after − before), ci_low,
ci_high, ci_kind, higher_is_better. `ci_kind` is `paired` (a paired bootstrap interval of the
change, on the same examples before and after), `after` (the after value's own interval; the
report then says whether it holds the before value) or `none`. The report reads every table
with these columns, whatever its name or audit, and says in one line which metrics got worse
and whether each change is beyond its interval.

## An audit from another package

A package adds an audit through the `auditkit.audits` entry-point group (see
`auditkit/api/registry.py`). Its class subclasses `auditkit.api.audit.Audit`, and may declare
`outputs = Outputs(...)` like the audits above. It is then listed by `auditkit ls`, runs from
a suite, has its section in the report (the generic one: status, metrics, tables, files) and
its page in the dashboard (`app/views/audit.py`), and its metrics can be gated by name.

## The gate's files

`gate.json` and baseline files are the gate's, not an audit's: see `docs/gate.md`.
"""


def _when(when: str | None) -> str:
    return f" ({when})" if when else ""


def _metric(spec: MetricSpec) -> str:
    facts = [f"{spec.direction} is better"] if spec.direction else []
    facts += [f"direction from `{spec.direction_from}`"] if spec.direction_from else []
    facts += [spec.unit] if spec.unit else []
    facts += [] if spec.ci else ["no CI"]
    said = f" ({'; '.join(facts)})" if facts else ""
    return f"  - `{spec.name}`{said}: {spec.description}{_when(spec.when)}."


def _headline(h: Headline) -> str:
    if not h.label:
        return f"`{h.metric}`"
    which = f", the {'lowest' if h.pick == 'min' else 'highest'}" if "{" in h.metric else ""
    prefer = f" ({h.prefer} when present)" if h.prefer else ""
    return f"`{h.metric}` (tile: “{h.label}”{which}{prefer})"


def _table(spec: TableSpec) -> str:
    line = f"  - `{spec.name}`: {', '.join(spec.columns)}"
    if spec.more:
        line += f", then {spec.more}"
    if spec.description:
        line += f" ({spec.description})"
    return line + _when(spec.when) + "."


def _artifact(spec: ArtifactSpec) -> str:
    line = f"  - `{spec.name}` → `{spec.file}`"
    if spec.fields:
        line += f": {', '.join(spec.fields)}"
    line += f". {spec.description[:1].upper()}{spec.description[1:]}{_when(spec.when)}."
    if isinstance(spec.shows, Examples):
        line += f" Shown as examples grouped by `{spec.shows.group}`."
    elif isinstance(spec.shows, RowSets):
        line += " Shown as a filter of the test predictions."
    return line


def audit_section(name: str, out: Outputs) -> str:
    """One audit's part of the page."""
    lines = [f"## {name}", ""]
    if out.summary:
        lines += [out.summary, ""]
    lines += ["- metrics:", *(_metric(s) for s in out.metrics)]
    lines += ["- tables:", *(_table(s) for s in out.tables)] if out.tables else []
    artifacts = [_artifact(s) for s in out.artifacts] or ["  - none."]
    lines += ["- artifacts:", *artifacts]
    if out.headlines:
        lines.append(f"- headline: {', '.join(_headline(h) for h in out.headlines)}.")
    lines += [f"- {note}" for note in out.notes]
    return "\n".join(lines) + "\n"


def render() -> str:
    """The whole page, from the declarations of auditkit's own audits."""
    own = [n for n in AUDITS.ordered() if n not in AUDITS.plugins]
    return "\n".join([_INTRO, *(audit_section(n, AUDITS.get(n).outputs) for n in own), _OUTRO])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite {DOC}")
    parser.add_argument("--check", action="store_true", help="exit 1 when the page is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        DOC.write_text(text, encoding="utf-8")
        print(f"wrote {DOC}")
        return 0
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
        if current != text:
            print(f"{DOC} is stale: run python -m auditkit.api.outputs_doc --write")
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

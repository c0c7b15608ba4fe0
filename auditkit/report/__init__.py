"""The self-contained HTML report: one file, readable offline, printable to PDF.

`render_report(run_dir)` reads only `results.json` (and the optional `gate.json`) plus the
artifacts they name, and writes `report.html` next to them. CSS is inline and plots are inline
SVG, so the page references nothing outside itself. Jinja2 autoescape is on for every text.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from auditkit.api.registry import audit_order, outputs
from auditkit.api.results import RunResults, SchemaMismatchError, load_results
from auditkit.api.rundir import REPORT_FILE, RESULTS_FILE, resolve_run_dir
from auditkit.errors import AuditkitError
from auditkit.files import write_atomic

if TYPE_CHECKING:
    from collections.abc import Callable

    from auditkit.api.results import AuditResult
    from auditkit.report.views import SectionView

    SectionBuilder = Callable[[SectionView, AuditResult, RunResults, Path], None]

log = logging.getLogger(__name__)

_SECTIONS = "auditkit.report.sections"  # one module per audit, named after it

__all__ = ["REPORT_FILE", "render_html", "render_report", "resolve_run_dir", "try_render_report"]


def render_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Render the run's report.html (or `out`) and return its path."""
    run_dir = resolve_run_dir(run_dir)
    try:
        results = load_results(run_dir)
    except SchemaMismatchError as exc:
        raise AuditkitError(str(exc), hint="render it with the auditkit that wrote it") from exc
    except ValueError as exc:  # JSON or schema validation
        raise AuditkitError(
            f"{run_dir / RESULTS_FILE}: not a valid results file: {str(exc)[:500]}"
        ) from exc
    target = Path(out) if out else run_dir / REPORT_FILE
    html = render_html(results, run_dir, link_prefix=_link_prefix(run_dir, target.parent))
    write_atomic(target, html)
    log.info("report: %s", target)
    return target


def try_render_report(run_dir: str | Path) -> Path | None:
    """render_report for the runner: a report error is logged, never raised, so a run's
    results and exit code stay what the audits made them."""
    try:
        return render_report(run_dir)
    except Exception as exc:
        log.error(
            "report: could not write %s: %s: %s (results.json is intact; retry with "
            "`auditkit report %s`)",
            REPORT_FILE,
            type(exc).__name__,
            exc,
            run_dir,
        )
        return None


def _link_prefix(run_dir: Path, folder: Path) -> str:
    """How links in a report written to `folder` reach the run's artifacts (relative)."""
    try:
        rel = os.path.relpath(run_dir.resolve(), folder.resolve())
    except ValueError:  # another drive on Windows: links show the bare file name
        return ""
    return "" if rel == "." else Path(rel).as_posix() + "/"


def render_html(results: RunResults, run_dir: Path, *, link_prefix: str = "") -> str:
    """The report as one HTML string (run_dir is where the artifacts and gate.json are;
    link_prefix leads from where the HTML will live to run_dir)."""
    import jinja2

    from auditkit.report import overview
    from auditkit.report.views import VERDICTS

    gate = overview.load_gate(run_dir)
    verdicts = gate.verdicts if gate else {}
    names = audit_order(list(results.audits))
    audit_views = [_section(name, results, run_dir, verdicts) for name in names]
    titles = {v.key: v.title for v in audit_views}
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("auditkit.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = env.get_template("report.html.j2")
    manifest = results.manifest
    return template.render(
        results=results,
        model_id=manifest.model.id or manifest.model.location or "unknown model",
        started=_date(manifest.started_at),
        tiles=overview.scorecard(results, names, titles, gate),
        gate=gate,
        gate_table=overview.gate_table(gate) if gate and gate.checks else None,
        gate_badges=(*VERDICTS, "failed"),
        sections=audit_views,
        link_prefix=link_prefix,
        manifest=overview.manifest_section(results),
    )


def _section(
    name: str, results: RunResults, run_dir: Path, verdicts: dict[str, str]
) -> SectionView:
    """One audit's section: the generic part, plus what its section module adds, if any."""
    from auditkit.report.views import generic_section

    audit = results.audits.get(name)
    view = generic_section(name, outputs(name).title_for(name), audit, run_dir, verdicts)
    if audit is None:
        return view
    try:
        build = _section_builder(name)
        if build is not None:
            build(view, audit, results, run_dir)
    except Exception as exc:  # a reader bug must not cost the rest of the report
        log.warning("report: section %s: %s: %s", name, type(exc).__name__, exc)
        view.notes.append(f"this section's plots failed: {type(exc).__name__}: {exc}")
    return view


def _section_builder(name: str) -> SectionBuilder | None:
    """`build` of the module `auditkit.report.sections.<name>`, or None where there is none
    (an audit from another package, or a name that is not a module name)."""
    if not name.isidentifier():
        return None
    module_name = f"{_SECTIONS}.{name}"
    if importlib.util.find_spec(module_name) is None:
        return None
    build = getattr(importlib.import_module(module_name), "build", None)
    return build if callable(build) else None


def _date(text: str | None) -> str:
    if not text:
        return "unknown date"
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M %Z").strip()
    except ValueError:
        return text

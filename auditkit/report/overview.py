"""The top and bottom of the report: header facts, scorecard, gate verdicts and the manifest."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditkit.api.outputs import Headline
from auditkit.api.registry import outputs
from auditkit.api.results import AuditResult, Metric, RunResults, Table
from auditkit.api.rundir import GATE_FILE
from auditkit.report import plots
from auditkit.report.plots import Series
from auditkit.report.views import VERDICTS, Block, SectionView, TableView, fmt, fmt_ci, table_view

log = logging.getLogger(__name__)


@dataclass
class GateView:
    """gate.json as the report shows it; `problems` lists what was ignored and why."""

    checks: list[dict[str, Any]] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    status: str | None = None
    baseline: str | None = None
    problems: list[str] = field(default_factory=list)
    failed_audits: list[str] = field(default_factory=list)  # in words, from gate.json
    loosened: list[str] = field(default_factory=list)  # the spec's loosenings, in words

    @property
    def verdicts(self) -> dict[str, str]:
        return {c["metric"]: c["verdict"] for c in self.checks}


def load_gate(run_dir: Path) -> GateView | None:
    """Read the optional gate.json next to results.json (format: docs/gate.md)."""
    path = run_dir / GATE_FILE
    if not path.is_file():
        return None
    view = GateView()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        view.problems.append(f"{GATE_FILE} could not be read ({exc}); no gate verdicts shown")
        log.warning("report: %s", view.problems[-1])
        return view
    if not isinstance(raw, dict) or not isinstance(raw.get("checks"), list):
        view.problems.append(f"{GATE_FILE}: expected an object with a `checks` list; ignored")
        log.warning("report: %s", view.problems[-1])
        return view
    if raw.get("status") is not None:
        view.status = str(raw["status"])
    elif isinstance(raw.get("passed"), bool):  # what `auditkit gate` writes
        view.status = "pass" if raw["passed"] else "failed"
    view.baseline = str(raw["baseline"]) if raw.get("baseline") is not None else None
    for i, check in enumerate(raw["checks"]):
        metric = check.get("metric") if isinstance(check, dict) else None
        verdict = check.get("verdict") if isinstance(check, dict) else None
        if not isinstance(metric, str) or verdict not in VERDICTS:
            view.problems.append(
                f"{GATE_FILE}: checks[{i}] needs a string `metric` and a `verdict` in "
                f"{'|'.join(VERDICTS)}; got {fmt(check)[:120]}; skipped"
            )
            continue
        view.checks.append(dict(check))
        for key in check:
            if key not in ("metric", "verdict") and key not in view.extra_columns:
                view.extra_columns.append(key)
    allowed = raw.get("allow_failed_audits") is True
    for f in raw.get("failed_audits") or []:
        if isinstance(f, dict):
            audit = f.get("audit")
            what = "the run stopped early" if audit == "run" else f"audit {audit} failed"
            tail = " (allowed)" if allowed else "; the gate fails on it"
            view.failed_audits.append(f"{what}: {f.get('error')}{tail}")
    accepted = raw.get("accept_loosened") is True
    for item in raw.get("loosened") or []:
        if isinstance(item, dict):
            tail = " (accepted)" if accepted else "; the gate fails on it"
            view.loosened.append(
                f"gate spec loosened: {item.get('item')}: {item.get('baseline')} -> "
                f"{item.get('proposed')} ({item.get('why')}){tail}"
            )
    for problem in view.problems:
        log.warning("report: %s", problem)
    return view


def aggregate_verdict(verdicts: list[str]) -> str | None:
    for verdict in ("regressed", "missing", "improved", "pass", "inconclusive"):
        if verdict in verdicts:
            return verdict
    return None


# --- scorecard ---------------------------------------------------------------------------


@dataclass
class Tile:
    key: str
    title: str
    status: str
    label: str = ""
    value: str = ""
    ci: str = ""
    subs: list[str] = field(default_factory=list)
    verdict: str | None = None
    verdict_detail: str = ""
    reason: str = ""


def _pick(audit: AuditResult, headline: Headline) -> tuple[str, Metric] | None:
    """The metric a headline's tile shows: the `prefer`red group, else the min/max value."""
    found = []
    for key, m in audit.metrics.items():
        group = headline.match(key)
        if group is not None and m.value is not None:
            found.append((group, m))
    if not found:
        return None
    if headline.prefer:
        for item in found:
            if item[0] == headline.prefer:
                return item
    choose = min if headline.pick == "min" else max
    return choose(found, key=lambda item: item[1].value)


def _val(metric: Metric, unit: str = "") -> str:
    """A headline number: 3 significant digits, but never an exponent for 100 and up."""
    value = metric.value
    text = f"{value:,.0f}" if value is not None and abs(value) >= 100 else fmt(value, 3)
    return f"{text} {unit or metric.unit or ''}".strip()


def _headline(name: str, audit: AuditResult, tile: Tile) -> None:
    """Fill the tile from the audit's declared headlines (`Outputs.headlines`, those with a
    label): the first found is the big number, the others are lines under it."""
    first = True
    for headline in outputs(name).headlines:
        hit = _pick(audit, headline) if headline.label else None
        if hit is None:
            continue
        group, metric = hit
        where = f" ({group})" if group else ""
        if first:
            tile.label, tile.value, tile.ci = (
                f"{headline.label}{where}",
                _val(metric),
                fmt_ci(metric),
            )
            first = False
        else:
            tile.subs.append(f"{headline.label} {_val(metric)}{where}")
    if first and audit.metrics:  # an audit that declares no headline: its first metric
        m = audit.metrics
        key, metric = next(
            ((k, v) for k, v in m.items() if v.higher_is_better is not None), next(iter(m.items()))
        )
        tile.label, tile.value, tile.ci = key, _val(metric), fmt_ci(metric)


def scorecard(
    results: RunResults, names: list[str], titles: dict[str, str], gate: GateView | None
) -> list[Tile]:
    tiles = []
    verdicts = gate.verdicts if gate else {}
    for name in names:
        audit = results.audits.get(name)
        tile = Tile(key=name, title=titles.get(name, name), status="not run")
        if audit is not None:
            tile.status = "ok" if audit.status == "ok" else "failed"
            if audit.status != "ok" and audit.error:
                tile.reason = f"{audit.error.type}: {audit.error.message}"
            _headline(name, audit, tile)
        mine = [v for k, v in verdicts.items() if k.split(".", 1)[0] == name]
        tile.verdict = aggregate_verdict(mine)
        if mine:
            counts = {v: mine.count(v) for v in VERDICTS if v in mine}
            tile.verdict_detail = ", ".join(f"{n} {v}" for v, n in counts.items())
        tiles.append(tile)
    return tiles


def gate_table(gate: GateView) -> TableView:
    columns = ["metric", "verdict", *gate.extra_columns]
    rows = [[fmt(c.get(col)) for col in columns] for c in gate.checks]
    return TableView(name="checks", columns=columns, rows=rows)


# --- manifest ----------------------------------------------------------------------------


def manifest_section(results: RunResults) -> SectionView:
    view = SectionView(key="manifest", title="Manifest", status="ok")
    view.intro = "What produced these numbers: versions, seed, device, data, model and timings."
    man = results.manifest
    view.blocks.append(Block("kv", "Run", [(k, fmt(v)) for k, v in _run_facts(results)]))
    if results.stages:
        _stages(view, results)
    view.tables.append(
        table_view(
            "packages",
            Table(columns=["package", "version"], rows=[[k, v] for k, v in man.packages.items()]),
        )
    )
    if results.data is not None:
        _data_block(view, results)
    if results.training is not None:
        _training_block(view, results)
    return view


def _run_facts(results: RunResults) -> list[tuple[str, Any]]:
    man = results.manifest
    return [
        ("run id", results.run_id),
        ("status", results.status),
        ("auditkit", man.auditkit_version),
        ("git commit", man.git_commit),
        ("command", man.command),
        ("started", man.started_at),
        ("finished", man.finished_at),
        ("seed", man.seed),
        ("device", man.device + (f" ({man.device_name})" if man.device_name else "")),
        ("torch threads", man.torch_threads),
        ("host", man.host),
        ("platform", man.platform),
        ("python", man.python),
        ("suite hash", results.suite_hash),
        ("dataset fingerprint", man.dataset_fingerprint),
        *((f"{split} fingerprint", fp) for split, fp in man.split_fingerprints.items()),
        *((f"model {k}", v) for k, v in man.model.model_dump().items()),
    ]


def _stages(view: SectionView, results: RunResults) -> None:
    stages = results.stages
    view.figure(
        "Stage times",
        lambda: plots.hbar_chart(
            [s.name for s in stages],
            [s.wall_time_s for s in stages],
            key="manifest-stages",
            xlabel="wall time (s)",
        ),
    )
    view.tables.append(
        table_view(
            "stages",
            Table(
                columns=["stage", "wall_time_s", "energy_j", "energy_method", "detail"],
                rows=[
                    [s.name, s.wall_time_s, s.energy_j, s.energy_method, s.detail] for s in stages
                ],
            ),
        )
    )


def _data_block(view: SectionView, results: RunResults) -> None:
    d = results.data
    view.blocks.append(
        Block(
            "kv",
            "Data",
            [
                ("source", f"{d.source}: {d.origin}"),
                ("labels", ", ".join(d.label_names)),
                ("split sizes", fmt(d.split_sizes)),
                ("rows read", fmt(d.rows_read)),
                ("dropped", fmt(d.dropped) if d.dropped else "none"),
                ("duplicates found", d.duplicates_found),
                ("train/test overlap", d.train_test_overlap),
                ("class counts", fmt(d.class_counts)),
            ],
        )
    )
    view.warnings.extend(d.warnings)


def _training_block(view: SectionView, results: RunResults) -> None:
    t = results.training
    view.blocks.append(
        Block(
            "kv",
            "Fine-tuning",
            [
                ("cache hit", fmt(t.cache_hit)),
                ("device / precision", f"{t.device} / {t.precision}"),
                ("epochs / steps", f"{fmt(t.epochs)} / {t.steps}"),
                ("time", f"{fmt(t.train_time_s, 3)} s ({fmt(t.train_samples_per_s, 3)}/s)"),
                ("best", f"{t.best_metric} {fmt(t.best_value)} at epoch {fmt(t.best_epoch)}"),
                ("cache key", t.cache_key),
            ],
        )
    )
    curve = t.loss_curve.records()
    evals = t.eval_curve.records()
    if not curve:
        return
    series = [Series("train loss", [r["loss"] for r in curve], x=[r["epoch"] for r in curve])]
    if evals:
        series.append(
            Series(
                "validation loss", [r["eval_loss"] for r in evals], x=[r["epoch"] for r in evals]
            )
        )
    view.figure(
        "Training loss",
        lambda: plots.line_chart(series, key="manifest-loss", xlabel="epoch", ylabel="loss"),
    )

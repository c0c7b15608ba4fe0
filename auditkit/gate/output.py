"""gate.json and the forms CI systems read: a text table, Markdown and JUnit XML.

gate.json (`GateReport`, written by `write_json`, read back by `load_gate`) is the source of
truth; the rest are views of it. JUnit makes each check a test case, so a CI system lists a
regressed metric as a failed test.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from auditkit.files import write_atomic
from auditkit.gate.pairing import Method
from auditkit.gate.spec import Loosening

GATE_VERSION = "1"
Verdict = Literal["pass", "regressed", "improved", "inconclusive", "missing"]


class _Plain(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckResult(_Plain):
    metric: str
    baseline: float | None
    current: float | None
    delta: float | None  # current - baseline
    relative_delta: float | None
    p_value: float | None
    # the p the check is judged by (its crossed bounds' smallest), after Holm's adjustment
    # across the gate's tested checks (as is with `correction: none`)
    p_adjusted: float | None = None
    ci_low: float | None  # CI of the delta
    ci_high: float | None
    method: Method | None
    method_detail: str | None
    threshold: str  # the bounds in words, e.g. "min 0.8, max drop 0.02"
    thresholds: dict[str, float]
    higher_is_better: bool | None
    verdict: Verdict
    fails: bool  # whether this check fails the gate
    reason: str
    # the smallest worsening this comparison detects at alpha with 80% power; null without a
    # test (as-is comparisons, missing metrics)
    mde: float | None = None
    underpowered: bool = False  # the mde exceeds the check's drop bound
    # non_inferiority: the upper one-sided (1 - alpha) bound of the worsening, in the metric's
    # units; the drop bound is shown when it is below the bound
    worse_upper: float | None = None


class FailedAudit(_Plain):
    """An audit of the gated run that failed (or `run`, for a run that stopped early)."""

    audit: str
    error: str


class BaselineRef(_Plain):
    file: str
    run_id: str
    created_at: str
    model_id: str | None
    model_fingerprint: str | None
    git_commit: str | None


class GateReport(_Plain):
    gate_version: str = GATE_VERSION
    passed: bool
    run_id: str
    run_dir: str
    suite_name: str
    baseline: BaselineRef
    paired: bool  # per-example data of both runs on the same test set
    n_paired: int | None  # test examples the paired tests ran on
    test_fingerprint_match: bool
    alpha: float
    policy: Literal["regression", "non_inferiority"] = "regression"
    correction: Literal["holm", "none"] = "holm"
    n_tested: int | None = None  # checks with a test: Holm's m
    fail_on_inconclusive: bool
    on_missing: Literal["fail", "warn"]
    counts: dict[str, int]
    checks: list[CheckResult]
    # audits of the run that failed: each fails the gate unless allow_failed_audits
    failed_audits: list[FailedAudit] = []
    allow_failed_audits: bool = False
    # where the checks came from (the baseline's agreed spec, or what was given), and each way
    # the proposed spec loosened it: loosening fails the gate unless accepted
    spec_source: str = "given"
    loosened: list[Loosening] = []
    accept_loosened: bool = False
    warnings: list[str]
    created_at: str
    auditkit_version: str

    @property
    def loosening_fails(self) -> bool:
        return bool(self.loosened) and not self.accept_loosened

    @property
    def failing_audits(self) -> list[FailedAudit]:
        """The failed audits that fail the gate (none when they are allowed)."""
        return [] if self.allow_failed_audits else list(self.failed_audits)


def write_json(report: GateReport, path: str | os.PathLike[str]) -> Path:
    """gate.json (atomically), the file the HTML report and the dashboard read."""
    return write_atomic(Path(path), report.model_dump_json(indent=2))


def load_gate(path: str | os.PathLike[str]) -> GateReport:
    return GateReport.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


def exit_code(report: GateReport) -> int:
    """0 passed, 1 failed (a regression, or what the policy counts as one)."""
    return 0 if report.passed else 1


# --------------------------------------------------------------------------- views

MARK = {
    "pass": "✅ pass",
    "improved": "🟢 improved",
    "inconclusive": "🟡 inconclusive",
    "regressed": "❌ regressed",
    "missing": "⚪ missing",
}
METHOD = {
    "mcnemar": "McNemar",
    "paired_bootstrap": "paired bootstrap",
    "ci_comparison": "CI comparison",
    "point": "as is",
    None: "",
}


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _p(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def _ci(check: CheckResult) -> str:
    if check.ci_low is None or check.ci_high is None:
        return "n/a"
    return f"[{check.ci_low:+.4f}, {check.ci_high:+.4f}]"


def _verdict(check: CheckResult) -> str:
    return check.verdict.upper() if check.fails else check.verdict


def _rows(report: GateReport) -> list[list[str]]:
    return [
        [
            c.metric,
            _num(c.baseline),
            _num(c.current),
            _num(c.delta, signed=True),
            _p(c.p_value),
            _p(c.p_adjusted),
            _ci(c),
            c.threshold,
            METHOD[c.method],
            c.verdict,
        ]
        for c in report.checks
    ]


HEADER = ["metric", "baseline", "current", "delta", "p", "p adj", "95% CI of delta"]
HEADER += ["threshold"]
HEADER += ["method", "verdict"]


def summary_line(report: GateReport) -> str:
    counts = ", ".join(f"{n} {v}" for v, n in report.counts.items() if n)
    how = (
        "paired on the same test set"
        if report.paired
        else ("CI comparison" if not report.test_fingerprint_match else "same test set, unpaired")
    )
    word = "PASSED" if report.passed else "FAILED"
    failed = f"; {len(report.failed_audits)} failed audit(s)" if report.failed_audits else ""
    if report.loosened:
        state = "accepted" if report.accept_loosened else "fails the gate"
        failed += f"; spec loosened in {len(report.loosened)} way(s) ({state})"
    return (
        f"gate {word}: {len(report.checks)} checks ({counts}){failed}; {how}; "
        f"alpha {report.alpha:g}, {_correction(report)}; checks from {report.spec_source}; "
        f"baseline {report.baseline.file} (run {report.baseline.run_id})"
    )


def loosening_words(item: Loosening) -> str:
    return f"{item.item}: {item.baseline} -> {item.proposed} ({item.why})"


def _loosened_headline(report: GateReport) -> str:
    if report.accept_loosened:
        return "the proposed gate spec loosens the baseline's; accepted with --accept-loosened:"
    return (
        "LOOSENED: the proposed gate spec loosens the baseline's, so the gate fails; the "
        "checks ran at the baseline's bar. Pass --accept-loosened once a reviewer agrees:"
    )


def _correction(report: GateReport) -> str:
    if report.policy == "non_inferiority":
        return (
            "non-inferiority: each check passes only when shown within its bounds (one-sided); "
            "no adjustment across checks is needed, as all must pass"
        )
    if report.correction == "none":
        return "no correction for multiple checks"
    return f"Holm over {report.n_tested} tested checks" if report.n_tested else "Holm"


def _failed_audit_words(report: GateReport, f: FailedAudit) -> str:
    what = "the run stopped early" if f.audit == "run" else f"audit {f.audit} failed"
    allowed = " (allowed by --allow-failed-audits)" if report.allow_failed_audits else ""
    return f"{what}: {f.error}{allowed}"


def render_text(report: GateReport) -> str:
    """A plain fixed-width table for the terminal and CI logs (no colour codes, any width)."""
    rows = _rows(report)
    for row, check in zip(rows, report.checks, strict=True):
        row[-1] = _verdict(check)
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    right = {1, 2, 3, 4, 5}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [f"gate: run {report.run_id} vs baseline run {report.baseline.run_id}", line(HEADER)]
    out.append("  ".join("-" * w for w in widths))
    out += [line(r) for r in rows]
    out.append("")
    for check in report.checks:
        if check.verdict != "pass" or check.underpowered:
            out.append(f"  {check.metric}: {check.verdict}: {check.reason}")
    for f in report.failed_audits:
        out.append(f"  {_failed_audit_words(report, f)}")
    if report.loosened:
        out.append(f"  {_loosened_headline(report)}")
        out += [f"    - {loosening_words(item)}" for item in report.loosened]
    for warning in report.warnings:
        out.append(f"  warning: {warning}")
    out.append(summary_line(report))
    return "\n".join(out) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: GateReport) -> str:
    """Markdown for a job summary or a PR comment: a headline, the table and the reasons."""
    icon = "✅" if report.passed else "❌"
    word = "passed" if report.passed else "failed"
    how = (
        f"paired tests on the same test set (n = {report.n_paired})"
        if report.paired
        else "CI comparison (no per-example pairing)"
    )
    lines = [
        f"### {icon} auditkit gate {word}",
        "",
        f"Run `{report.run_id}` (suite `{report.suite_name}`) against baseline "
        f"`{report.baseline.file}` (run `{report.baseline.run_id}`) · {how} · "
        f"α = {report.alpha:g}, {_correction(report)} · inconclusive "
        f"{'fails' if _inconclusive_fails(report) else 'does not fail'} · checks from "
        f"{report.spec_source}",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join(["---", *["---:"] * 5, "---", "---", "---", "---"]) + "|",
    ]
    for row, check in zip(_rows(report), report.checks, strict=True):
        row[0] = f"`{row[0]}`"
        row[-1] = MARK[check.verdict] + (
            " (fails)" if check.fails and check.verdict != "regressed" else ""
        )
        lines.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
    notes = [
        f"- `{c.metric}`: {'⚠️ ' if c.underpowered else ''}{_md_cell(c.reason)}"
        for c in report.checks
        if c.verdict != "pass" or c.underpowered
    ]
    icon = "⚠️" if report.allow_failed_audits else "❌"
    notes += [f"- {icon} {_md_cell(_failed_audit_words(report, f))}" for f in report.failed_audits]
    notes += [f"- ⚠️ {w}" for w in report.warnings]
    if notes:
        lines += ["", *notes]
    if report.loosened:
        icon = "⚠️" if report.accept_loosened else "❌"
        lines += ["", f"**{icon} {_md_cell(_loosened_headline(report))}**", ""]
        lines += [f"- {_md_cell(loosening_words(item))}" for item in report.loosened]
    return "\n".join(lines) + "\n"


def _inconclusive_fails(report: GateReport) -> bool:
    return report.fail_on_inconclusive or report.policy == "non_inferiority"


def render_junit(report: GateReport) -> str:
    """JUnit XML: one <testcase> per check; regressions (and what fails by policy) are failures."""
    failures = sum(c.fails for c in report.checks) + len(report.failing_audits)
    failures += report.loosening_fails
    skipped = sum((not c.fails) and c.verdict in ("inconclusive", "missing") for c in report.checks)
    skipped += len(report.failed_audits) - len(report.failing_audits)
    suites = ET.Element("testsuites", name="auditkit gate")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"auditkit gate: {report.suite_name}",
        tests=str(len(report.checks) + len(report.failed_audits) + bool(report.loosened)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        timestamp=report.created_at,
    )
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("run_id", report.run_id),
        ("baseline_file", report.baseline.file),
        ("baseline_run_id", report.baseline.run_id),
        ("paired", str(report.paired).lower()),
        ("alpha", f"{report.alpha:g}"),
        ("policy", report.policy),
        ("correction", report.correction),
        ("spec_source", report.spec_source),
    ):
        ET.SubElement(props, "property", name=key, value=value)
    for check in report.checks:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"auditkit.gate.{check.metric.split('.', 1)[0]}",
            name=check.metric,
            time="0",
        )
        detail = (
            f"baseline {_num(check.baseline)}, current {_num(check.current)}, "
            f"delta {_num(check.delta, signed=True)}, p {_p(check.p_value)}, "
            f"p adjusted {_p(check.p_adjusted)}, "
            f"CI {_ci(check)}, threshold: {check.threshold}, method: "
            f"{check.method_detail or 'n/a'}; {check.reason}"
        )
        if check.fails:
            failure = ET.SubElement(
                case, "failure", message=f"{check.verdict}: {check.reason}", type=check.verdict
            )
            failure.text = detail
        else:
            if check.verdict in ("inconclusive", "missing"):
                ET.SubElement(case, "skipped", message=f"{check.verdict}: {check.reason}")
            ET.SubElement(case, "system-out").text = f"{check.verdict}: {detail}"
    for f in report.failed_audits:
        case = ET.SubElement(
            suite, "testcase", classname="auditkit.gate.audits", name=f"audit {f.audit}", time="0"
        )
        words = _failed_audit_words(report, f)
        if report.allow_failed_audits:
            ET.SubElement(case, "skipped", message=words)
        else:
            ET.SubElement(case, "failure", message=words, type="audit failed").text = f.error
    if report.loosened:
        case = ET.SubElement(
            suite, "testcase", classname="auditkit.gate.spec", name="gate spec", time="0"
        )
        words = "\n".join(loosening_words(item) for item in report.loosened)
        if report.accept_loosened:
            ET.SubElement(case, "system-out").text = "loosened, accepted:\n" + words
        else:
            message = f"gate spec loosened in {len(report.loosened)} way(s) against the baseline's"
            ET.SubElement(case, "failure", message=message, type="loosened").text = words
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    return write_atomic(Path(path), text)

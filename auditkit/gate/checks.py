"""The CI gate: does this run regress against a baseline, beyond noise?

Each check bounds one metric (dotted path, e.g. `performance.accuracy`): an absolute min/max
on the current value, and/or the largest allowed worsening against the baseline, absolute or
relative, in the direction the metric declares (`higher_is_better`). A crossed bound is only a
regression when it is significant:

- drop bounds: when the run and the baseline scored the same test set (equal test-split
  fingerprints and gold labels), a paired test on the per-example outcomes (exact McNemar for
  accuracy; a paired bootstrap for F1, ECE, Brier and NLL); otherwise a comparison of the two
  runs' confidence intervals (normal approximation). p < alpha is significant. The pairing and
  the test are auditkit.gate.pairing's, the same code the dashboard's Compare page uses.
- min/max bounds: the current value's own CI lies wholly on the wrong side of the bound.

Crossed but not significant is `inconclusive` (the suite decides whether that fails); a
significant change for the better is `improved`. A metric with no CI at all (a count, a size)
is compared as it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from auditkit import __version__
from auditkit.api.results import Metric, now_iso
from auditkit.api.rundir import GATE_FILE, resolve_run_dir
from auditkit.errors import AuditkitError
from auditkit.gate.baseline import Snapshot, load_baseline, snapshot_from_run
from auditkit.gate.output import (
    BaselineRef,
    CheckResult,
    FailedAudit,
    GateReport,
    Verdict,
    write_json,
)
from auditkit.gate.pairing import (
    POWER,
    Comparison,
    Pairing,
    compare_metric,
    minimum_detectable,
    pair_snapshots,
)
from auditkit.suite import GateCheck, GateSpec

DROP_KEYS = ("max_drop", "max_relative_drop")
_EMPTY = dict.fromkeys(
    ("delta", "relative_delta", "p_value", "ci_low", "ci_high", "method", "method_detail")
)


def run_gate(
    run_dir: str | os.PathLike[str],
    baseline_file: str | os.PathLike[str],
    spec: GateSpec,
    *,
    write: bool = True,
    allow_failed_audits: bool = False,
) -> GateReport:
    """Compare a run with a baseline under `spec`; writes gate.json into the run directory.

    A run with a failed audit fails the gate (the audit and its error are named) unless
    `allow_failed_audits`; a check on an audit that failed or did not run fails either way."""
    folder = resolve_run_dir(run_dir)
    base = load_baseline(baseline_file)
    cur = snapshot_from_run(folder)
    warnings: list[str] = []
    failed = failed_audits(cur)
    if base.suite_name != cur.suite_name:
        warnings.append(f"baseline is from suite {base.suite_name!r}, the run {cur.suite_name!r}")
    pairing = pair_snapshots(base, cur)
    if not pairing.ok:
        warnings.append(f"no paired tests: {pairing.why}; comparing confidence intervals")
    checks = [
        evaluate_check(metric, check, base, cur, pairing, spec, warnings)
        for metric, check in spec.checks.items()
    ]
    report = GateReport(
        passed=not any(c.fails for c in checks) and (allow_failed_audits or not failed),
        run_id=cur.run_id,
        run_dir=str(folder),
        suite_name=cur.suite_name,
        baseline=BaselineRef(
            file=str(baseline_file),
            run_id=base.run_id,
            created_at=base.created_at,
            model_id=base.model.id,
            model_fingerprint=base.model.fingerprint,
            git_commit=base.git_commit,
        ),
        paired=pairing.ok,
        n_paired=cur.examples.n if pairing.ok and cur.examples else None,
        test_fingerprint_match=pairing.fingerprint_match,
        alpha=spec.alpha,
        fail_on_inconclusive=spec.fail_on_inconclusive,
        on_missing=spec.on_missing,
        counts={v: sum(c.verdict == v for c in checks) for v in Verdict.__args__},
        checks=checks,
        failed_audits=failed,
        allow_failed_audits=allow_failed_audits,
        warnings=warnings,
        created_at=now_iso(),
        auditkit_version=__version__,
    )
    if write:
        write_json(report, folder / GATE_FILE)
    return report


def failed_audits(cur: Snapshot) -> list[FailedAudit]:
    """The run's failed audits; `run` when the run failed with every audit it holds ok (it
    stopped before finishing, e.g. on a data error)."""
    out = [
        FailedAudit(audit=name, error=snap.error or "no error recorded")
        for name, snap in cur.audits.items()
        if snap.status != "ok"
    ]
    if cur.run_status == "failed" and not out:
        out.append(FailedAudit(audit="run", error=f"run {cur.run_id} has status 'failed'"))
    return out


@dataclass
class _Check:
    """One check under evaluation: its bounds, the two metrics and the fields found so far."""

    path: str
    check: GateCheck
    spec: GateSpec
    thresholds: dict[str, float]
    drop_bound: bool
    hib: bool | None
    m_base: Metric | None
    m_cur: Metric | None
    why_base: str | None  # why a metric is absent
    why_cur: str | None
    fields: dict

    def result(self, verdict: Verdict, fails: bool, reason: str) -> CheckResult:
        return CheckResult(**self.fields, verdict=verdict, fails=fails, reason=reason)

    def missing(self, reason: str) -> CheckResult:
        self.fields |= _EMPTY
        return self.result("missing", self.spec.on_missing == "fail", reason)


def evaluate_check(
    path: str,
    check: GateCheck,
    base: Snapshot,
    cur: Snapshot,
    pairing: Pairing,
    spec: GateSpec,
    warnings: list[str],
) -> CheckResult:
    """One check's verdict: the bounds crossed, and whether the crossing is significant."""
    c = _start(path, check, base, cur, spec)
    if c.m_cur is None:
        snap = cur.audits.get(path.partition(".")[0])
        if snap is None or snap.status != "ok":  # on_missing is for a metric, not an audit
            c.fields |= _EMPTY
            why = c.why_cur or "absent"
            return c.result("missing", True, f"{why}; a check on an audit that failed or did "
                            "not run fails whatever on_missing says")  # fmt: skip
        return c.missing(c.why_cur or "absent")
    if c.drop_bound and c.hib is None:
        raise AuditkitError(
            f"gate check {path!r}: the metric declares no direction (higher_is_better is null), "
            "so a drop cannot be told from a rise",
            hint=f"use min/max only, or set higher_is_better in the check: "
            f"--check {path}:higher_is_better=true",
        )
    problems = _absolute_problems(check, c.m_cur)  # (significant, what)
    if c.m_base is None:
        if not c.drop_bound:
            c.fields |= _EMPTY
            return _decide(c, problems, None, None)
        if problems and problems[0][0]:
            c.fields |= _EMPTY
            return c.result("regressed", True, problems[0][1])
        return c.missing(c.why_base or "absent from the baseline")
    cmp = compare_metric(
        path,
        c.m_base,
        c.m_cur,
        base,
        cur,
        pairing,
        alpha=spec.alpha,
        n_resamples=spec.bootstrap,
        seed=spec.seed,
        higher_is_better=c.hib,
        warnings=warnings,
    )
    c.fields |= _comparison_fields(cmp)
    worse_by = None
    if c.hib is not None:
        worse_by = -cmp.delta if c.hib else cmp.delta
    if c.drop_bound and worse_by is not None:
        problems += _drop_problem(c, cmp, worse_by)
    result = _decide(c, problems, cmp, worse_by)
    return _with_power(c, cmp, result)


def _with_power(c: _Check, cmp: Comparison, result: CheckResult) -> CheckResult:
    """The smallest worsening this comparison can detect, and whether the check's drop bound
    is below it (then the check cannot see the regressions it is meant to catch)."""
    mde = minimum_detectable(cmp)
    limit = _drop_limit(c, cmp) if c.drop_bound else None
    update: dict = {"mde": mde}
    if mde is not None and limit is not None and limit > 0 and mde > limit:
        n = cmp.test.n if cmp.test is not None and cmp.test.n else None
        who = f"with {n} paired examples" if n else "with these two runs' CIs"
        update["underpowered"] = True
        update["reason"] = (
            f"{result.reason}; underpowered: {who} this check detects worsenings of "
            f"{mde:.3g} or more ({POWER:.0%} power at alpha {c.spec.alpha:g}); the bound is "
            f"{limit:.3g}"
        )
    return result.model_copy(update=update)


def _drop_limit(c: _Check, cmp: Comparison) -> float | None:
    """The largest allowed worsening, absolute: the tighter of max_drop and max_relative_drop."""
    allowed = [c.thresholds[k] for k in ("max_drop",) if k in c.thresholds]
    if "max_relative_drop" in c.thresholds:
        allowed.append(c.thresholds["max_relative_drop"] * abs(cmp.baseline))
    return min(allowed) if allowed else None


def _start(path: str, check: GateCheck, base: Snapshot, cur: Snapshot, spec: GateSpec) -> _Check:
    """The check's bounds, metrics and direction; the fields every result of it carries."""
    thresholds = {
        k: float(v) for k in ("min", "max", *DROP_KEYS) if (v := getattr(check, k)) is not None
    }
    if check.is_empty():
        thresholds["max_drop"] = 0.0  # a bare check: any significant worsening fails
    (m_cur, why_cur), (m_base, why_base) = cur.lookup(path), base.lookup(path)
    hib = check.higher_is_better
    if hib is None:
        hib = (m_cur or m_base or Metric(value=None)).higher_is_better
    fields = {
        "metric": path,
        "thresholds": thresholds,
        "threshold": _threshold_words(thresholds, hib),
        "higher_is_better": hib,
        "baseline": m_base.value if m_base else None,
        "current": m_cur.value if m_cur else None,
    }
    drop_bound = check.has_drop_bound() or check.is_empty()
    return _Check(
        path, check, spec, thresholds, drop_bound, hib, m_base, m_cur, why_base, why_cur, fields
    )


def _comparison_fields(cmp: Comparison) -> dict:
    return {
        "delta": cmp.delta,
        "relative_delta": cmp.delta / abs(cmp.baseline) if cmp.baseline else None,
        "p_value": cmp.p_value,
        "ci_low": cmp.ci_low,
        "ci_high": cmp.ci_high,
        "method": cmp.method,
        "method_detail": cmp.method_detail,
    }


def _significant(cmp: Comparison | None) -> bool:
    """A change no test can be made of (no CI on either side, or no baseline) counts as is."""
    return cmp is None or cmp.significant is not False


def _drop_problem(c: _Check, cmp: Comparison, worse_by: float) -> list[tuple[bool, str]]:
    """The drop bound crossed, if it is: (significant, in words)."""
    limit = _drop_limit(c, cmp)
    if limit is None or worse_by <= limit + 1e-12:
        return []
    significant = _significant(cmp)
    p = f", {_p(cmp.p_value)}" if cmp.p_value is not None else ""
    what = f"worse by {worse_by:.4g} (allowed {limit:.4g}){p}"
    if not significant:
        what += f", not significant at alpha {c.spec.alpha:g}"
    return [(significant, what)]


def _decide(
    c: _Check, problems: list[tuple[bool, str]], cmp: Comparison | None, worse_by: float | None
) -> CheckResult:
    """regressed, inconclusive, improved or pass, and whether that fails the gate."""
    tested = cmp is not None and cmp.significant is not None
    significant = _significant(cmp)
    if any(sig for sig, _ in problems):
        verdict, reason = "regressed", "; ".join(w for s, w in problems if s)
    elif problems:
        verdict, reason = "inconclusive", "; ".join(w for _, w in problems)
    elif worse_by is not None and worse_by < 0 and significant and tested:
        verdict, reason = "improved", f"better by {-worse_by:.4g}, {_p(cmp.p_value)}"
    else:
        verdict = "pass"
        reason = "within bounds"
        if worse_by is not None and worse_by > 0 and significant and tested:
            reason = f"significantly worse by {worse_by:.4g} but within the allowed drop"
    spec = c.spec
    fails = verdict == "regressed" or (verdict == "inconclusive" and spec.fail_on_inconclusive)
    return c.result(verdict, fails, reason)


def _absolute_problems(check: GateCheck, m: Metric) -> list[tuple[bool, str]]:
    """min/max crossed by the current value; significant when its whole CI is past the bound."""
    problems = []
    for key, side, edge in (("min", -1, m.ci_high), ("max", 1, m.ci_low)):
        bound = getattr(check, key)
        if bound is None or side * (m.value - bound) <= 0:
            continue
        what = f"{m.value:.4g} is {'below' if key == 'min' else 'above'} {key} {bound:g}"
        if edge is None:
            problems.append((True, what))
        else:
            sig = side * (edge - bound) > 0
            reach = "its whole CI is" if sig else "but its CI reaches"
            problems.append((sig, f"{what} ({reach} {edge:.4g})"))
    return problems


def _threshold_words(thresholds: dict[str, float], hib: bool | None) -> str:
    """The bounds in words; a "drop" of a lower-is-better metric reads as a rise."""
    drop = "max rise" if hib is False else "max drop"
    parts = []
    for key, value in thresholds.items():
        if key == "max_relative_drop":
            parts.append(f"{drop} {value * 100:g}%")
        elif key == "max_drop":
            parts.append(f"{drop} {value:g}")
        else:
            parts.append(f"{key} {value:g}")
    return ", ".join(parts)


def _p(p: float | None) -> str:
    """`p = 0.0123` or `p < 0.0001`, for reasons written in words."""
    if p is None:
        return "p n/a"
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}"

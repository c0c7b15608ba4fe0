"""The CI gate: does this run regress against a baseline, beyond noise?

Each check bounds one metric (dotted path, e.g. `performance.accuracy`): an absolute min/max
on the current value, and/or the largest allowed worsening against the baseline, absolute or
relative, in the direction the metric declares (`higher_is_better`). Under the `regression`
policy a crossed bound is only a regression when it is significant:

- drop bounds: when the run and the baseline scored the same test set (equal test-split
  fingerprints and gold labels), a paired test on the per-example outcomes (exact McNemar for
  accuracy; a paired bootstrap for F1, ECE, Brier and NLL); otherwise a comparison of the two
  runs' confidence intervals (normal approximation). The pairing and the test are
  auditkit.gate.pairing's, the same code the dashboard's Compare page uses.
- min/max bounds: a one-sided p from the current value's CI.

Each check is judged by one p, and Holm's adjustment runs across the checks before the
verdicts (`_prepare`, `significance.adjust`, `_finish`). Crossed but not significant is
`inconclusive` (the suite decides whether that fails); a significant change for the better is
`improved`. A metric with no CI at all (a count, a size) is compared as it is. Every tested
check reports the smallest worsening it can detect (`mde`). The `non_inferiority` policy asks
the opposite question, with auditkit.gate.noninferiority's evidence.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from auditkit import __version__
from auditkit.api.results import Metric, now_iso
from auditkit.api.rundir import GATE_FILE, resolve_run_dir
from auditkit.errors import AuditkitError
from auditkit.gate import noninferiority as NI
from auditkit.gate.baseline import AuditSnapshot, Snapshot, load_baseline, snapshot_from_run
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
from auditkit.gate.significance import adjust, p_words, se_from_ci
from auditkit.gate.spec import AgreedSpec
from auditkit.suite import GateCheck, GateSpec

DROP_KEYS = ("max_drop", "max_relative_drop")
_EMPTY = dict.fromkeys(
    ("delta", "relative_delta", "p_value", "ci_low", "ci_high", "method", "method_detail")
)


def run_gate(
    run_dir: str | os.PathLike[str],
    baseline_file: str | os.PathLike[str],
    spec: GateSpec | AgreedSpec,
    *,
    write: bool = True,
    allow_failed_audits: bool = False,
) -> GateReport:
    """Compare a run with a baseline under `spec`; writes gate.json into the run directory.

    A run with a failed audit fails the gate (the audit and its error are named) unless
    `allow_failed_audits`; a check on an audit that failed or did not run fails either way.
    An `AgreedSpec` (`agree`: the baseline's spec against a proposal) that was loosened fails
    the gate unless the loosening was accepted."""
    agreed = spec if isinstance(spec, AgreedSpec) else AgreedSpec(spec, "given")
    spec = agreed.spec
    folder = resolve_run_dir(run_dir)
    base = load_baseline(baseline_file)
    cur = snapshot_from_run(folder)
    warnings: list[str] = [agreed.warning] if agreed.warning else []
    failed = failed_audits(cur)
    if base.suite_name != cur.suite_name:
        warnings.append(f"baseline is from suite {base.suite_name!r}, the run {cur.suite_name!r}")
    pairing = pair_snapshots(base, cur)
    if not pairing.ok:
        warnings.append(f"no paired tests: {pairing.why}; comparing confidence intervals")
    pending = [
        _prepare(metric, check, base, cur, pairing, spec, warnings)
        for metric, check in spec.checks.items()
    ]
    adjusted = adjust([p.p_check for p in pending], effective_correction(spec))
    checks = [p.early or _finish(p, adj) for p, adj in zip(pending, adjusted, strict=True)]
    report = GateReport(
        passed=not any(c.fails for c in checks)
        and (allow_failed_audits or not failed)
        and (agreed.accepted or not agreed.loosened),
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
        policy=spec.policy,
        correction=spec.correction,
        n_tested=sum(p.p_check is not None for p in pending),
        fail_on_inconclusive=spec.fail_on_inconclusive,
        on_missing=spec.on_missing,
        counts={v: sum(c.verdict == v for c in checks) for v in Verdict.__args__},
        checks=checks,
        failed_audits=failed,
        allow_failed_audits=allow_failed_audits,
        spec_source=agreed.source,
        loosened=list(agreed.loosened),
        accept_loosened=agreed.accepted,
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


def effective_correction(spec: GateSpec) -> str:
    """Holm under the regression policy (unless switched off); none under non_inferiority,
    where the gate passes only if every check shows its bounds, so the chance of passing a
    model that breaks any one bound is at most alpha without an adjustment."""
    return "none" if spec.policy == "non_inferiority" else spec.correction


@dataclass
class _Pending:
    """A check between its tests and its verdict: the verdict waits for the adjustment."""

    c: _Check
    problems: list[tuple[float | None, str]]  # crossed bounds: (p, or None for as-is; words)
    cmp: Comparison | None
    worse_by: float | None
    p_check: float | None  # the p the check is judged by (before adjustment)
    early: CheckResult | None = None  # decided without a test (missing, as-is)
    # non_inferiority: each bound as (one-sided p that it holds or None, holds at the point
    # estimate, words); None under the regression policy
    claims: list[tuple[float | None, bool, str]] | None = None


def evaluate_check(
    path: str,
    check: GateCheck,
    base: Snapshot,
    cur: Snapshot,
    pairing: Pairing,
    spec: GateSpec,
    warnings: list[str],
) -> CheckResult:
    """One check's verdict on its own (no adjustment across checks: `run_gate` does that)."""
    pending = _prepare(path, check, base, cur, pairing, spec, warnings)
    return pending.early or _finish(pending, pending.p_check)


def _prepare(
    path: str,
    check: GateCheck,
    base: Snapshot,
    cur: Snapshot,
    pairing: Pairing,
    spec: GateSpec,
    warnings: list[str],
) -> _Pending:
    """The check's bounds crossed and the p-value of each: everything but the verdict."""
    c = _start(path, check, base, cur, spec)

    def early(result: CheckResult) -> _Pending:
        return _Pending(c, [], None, None, None, early=result)

    if c.m_cur is None:
        snap = cur.audits.get(path.partition(".")[0])
        if snap is None or snap.status != "ok":  # on_missing is for a metric, not an audit
            c.fields |= _EMPTY
            why = c.why_cur or "absent"
            return early(c.result("missing", True, f"{why}; a check on an audit that failed or "
                                  "did not run fails whatever on_missing says"))  # fmt: skip
        return early(c.missing(c.why_cur or "absent"))
    if c.drop_bound and c.hib is None:
        raise AuditkitError(
            f"gate check {path!r}: the metric declares no direction (higher_is_better is null), "
            "so a drop cannot be told from a rise",
            hint=f"use min/max only, or set higher_is_better in the check: "
            f"--check {path}:higher_is_better=true",
        )
    confidence = (cur.audits.get(path.partition(".")[0]) or _NO_AUDIT).confidence or 0.95
    if spec.policy == "non_inferiority":
        return _prepare_shown(c, base, cur, pairing, spec, confidence, warnings)
    bounds = _absolute_tests(check, c.m_cur, confidence)  # (crossed, p, words)
    if c.m_base is None:
        if not c.drop_bound:
            c.fields |= _EMPTY
            return _pending(c, bounds, None, None)
        if any(crossed and p is None for crossed, p, _ in bounds):
            c.fields |= _EMPTY
            what = next(w for crossed, p, w in bounds if crossed and p is None)
            return early(c.result("regressed", True, what))
        if any(crossed for crossed, _, _ in bounds):
            c.fields |= _EMPTY
            return _pending(c, bounds, None, None)
        return early(c.missing(c.why_base or "absent from the baseline"))
    cmp, worse_by = _compare(c, base, cur, pairing, spec, warnings)
    if c.drop_bound and worse_by is not None:
        bounds += _drop_test(c, cmp, worse_by)
    return _pending(c, bounds, cmp, worse_by)


def _compare(
    c: _Check, base: Snapshot, cur: Snapshot, pairing: Pairing, spec: GateSpec, warnings
) -> tuple[Comparison, float | None]:
    """The metric's comparison (paired where it can be) and the worsening, in its direction."""
    assert c.m_base is not None and c.m_cur is not None
    cmp = compare_metric(
        c.path,
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
    return cmp, worse_by


def _prepare_shown(
    c: _Check,
    base: Snapshot,
    cur: Snapshot,
    pairing: Pairing,
    spec: GateSpec,
    confidence: float,
    warnings: list[str],
) -> _Pending:
    """Non-inferiority: each bound is a claim the data must support. A claim's p is one-sided
    (small: the bound holds); the check is judged by its largest p, since every claim must
    hold (an intersection-union test, which needs no adjustment to keep its level)."""
    claims = NI.absolute_claims(c.check, c.m_cur, confidence, spec.alpha)
    cmp = worse_by = None
    if c.drop_bound:
        if c.m_base is None:
            c.fields |= _EMPTY
            return _Pending(c, [], None, None, None, early=c.missing(c.why_base or "absent"))
        cmp, worse_by = _compare(c, base, cur, pairing, spec, warnings)
        if worse_by is not None:
            claims += _drop_claim(c, cmp, worse_by)
    else:
        c.fields |= _EMPTY
    ps = [p for p, _, _ in claims]
    p_check = None if not ps or None in ps else max(ps)
    return _Pending(c, [], cmp, worse_by, p_check, claims=claims)


_NO_AUDIT = AuditSnapshot(status="ok")


def _pending(c: _Check, bounds, cmp: Comparison | None, worse_by: float | None) -> _Pending:
    """The check's p: the smallest p among the bounds it crossed, else among all its tests
    (it cannot fail then, but it is still one of the checks the adjustment counts)."""
    crossed = [(p, w) for was, p, w in bounds if was]
    tested = [p for was, p, _ in bounds if was and p is not None] or [
        p for _, p, _ in bounds if p is not None
    ]
    p_check = min(tested) if tested else None
    return _Pending(c, crossed, cmp, worse_by, p_check)


def _finish(p: _Pending, p_adjusted: float | None) -> CheckResult:
    """The verdict, with the check's p after the adjustment across checks."""
    c, cmp = p.c, p.cmp
    alpha = c.spec.alpha
    c.fields["p_adjusted"] = p_adjusted
    if p.claims is not None:
        result = _shown_verdict(p)
        return result if cmp is None else _with_power(c, cmp, result)
    as_is = [w for q, w in p.problems if q is None]
    if as_is:
        result = c.result("regressed", True, "; ".join(as_is))
    elif p.problems:
        significant = p_adjusted is not None and p_adjusted < alpha
        words = "; ".join(w for _, w in p.problems)
        if significant:
            result = c.result("regressed", True, words + _adjusted_words(p, p_adjusted))
        else:
            why = f", not significant at alpha {alpha:g}" + _adjusted_words(p, p_adjusted)
            result = c.result("inconclusive", c.spec.fail_on_inconclusive, words + why)
    else:
        result = _unbounded(c, cmp, p.worse_by)
    return result if cmp is None else _with_power(c, cmp, result)


def _shown_verdict(p: _Pending) -> CheckResult:
    """Non-inferiority: pass only when every bound is shown to hold at alpha. A bound missed at
    the point estimate is `regressed`; one met at the point but not shown is `inconclusive`,
    and fails (the evidence the policy asks for is not there)."""
    c, claims = p.c, p.claims or []
    alpha = c.spec.alpha
    words = "; ".join(w for _, _, w in claims) or "no bound to show"
    if p.p_check is not None and p.p_check < alpha:
        if p.cmp is not None and p.cmp.significant and (p.worse_by or 0) < 0:
            return c.result("improved", False, f"shown within bounds and better: {words}")
        return c.result("pass", False, f"shown within bounds at alpha {alpha:g}: {words}")
    if any(not holds for _, holds, _ in claims):
        return c.result("regressed", True, f"past its bound: {words}")
    return c.result(
        "inconclusive", True, f"not shown within bounds at alpha {alpha:g} (fails under "
        f"non_inferiority): {words}",
    )  # fmt: skip


def _drop_claim(c: _Check, cmp: Comparison, worse_by: float) -> list:
    """The drop bound under non_inferiority (auditkit.gate.noninferiority), with the upper
    bound of the worsening recorded on the check."""
    limit = _drop_limit(c, cmp)
    if limit is None:
        return []
    claim, upper = NI.drop_claim(cmp, worse_by, limit, c.hib is not False, c.spec.alpha)
    if upper is not None:
        c.fields["worse_upper"] = upper
    return [claim]


def _adjusted_words(p: _Pending, p_adjusted: float | None) -> str:
    if p_adjusted is None or p.p_check is None or p_adjusted == p.p_check:
        return ""
    return f" (Holm-adjusted {p_words(p_adjusted)} over the gate's checks)"


def _unbounded(c: _Check, cmp: Comparison | None, worse_by: float | None) -> CheckResult:
    """No bound crossed: improved when significantly better (unadjusted), else pass."""
    tested = cmp is not None and cmp.significant is not None
    significant = cmp is None or cmp.significant is not False
    if worse_by is not None and worse_by < 0 and significant and tested:
        return c.result("improved", False, f"better by {-worse_by:.4g}, {p_words(cmp.p_value)}")
    reason = "within bounds"
    if worse_by is not None and worse_by > 0 and significant and tested:
        reason = f"significantly worse by {worse_by:.4g} but within the allowed drop"
    return c.result("pass", False, reason)


def _with_power(c: _Check, cmp: Comparison, result: CheckResult) -> CheckResult:
    """The smallest worsening this comparison can detect, and whether the check's drop bound
    is below it (then the check cannot see the regressions it is meant to catch)."""
    shown = c.spec.policy == "non_inferiority"
    mde = minimum_detectable(cmp, one_sided=shown)
    limit = _drop_limit(c, cmp) if c.drop_bound else None
    update: dict = {"mde": mde}
    if mde is not None and limit is not None and limit > 0 and mde > limit:
        n = cmp.test.n if cmp.test is not None and cmp.test.n else None
        who = f"with {n} paired examples" if n else "with these two runs' CIs"
        update["underpowered"] = True
        power = f"{POWER:.0%} power at alpha {c.spec.alpha:g}"
        if shown:
            what = (f"an unchanged model passes this check ({power}, one-sided) only when the "
                    f"bound is {mde:.3g} or more")  # fmt: skip
        else:
            what = f"this check detects worsenings of {mde:.3g} or more ({power})"
        update["reason"] = f"{result.reason}; underpowered: {who} {what}; the bound is {limit:.3g}"
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


def _drop_test(c: _Check, cmp: Comparison, worse_by: float) -> list[tuple[bool, float | None, str]]:
    """The drop bound: (crossed, p of the change, words). A change for the better cannot fail
    a drop bound, so its p counts as 1."""
    limit = _drop_limit(c, cmp)
    if limit is None:
        return []
    crossed = worse_by > limit + 1e-12
    p = cmp.p_value if worse_by > 0 else (1.0 if cmp.p_value is not None else None)
    tail = f", {p_words(cmp.p_value)}" if cmp.p_value is not None else ""
    return [(crossed, p, f"worse by {worse_by + 0.0:.4g} (allowed {limit:.4g}){tail}")]


def _absolute_tests(
    check: GateCheck, m: Metric, confidence: float
) -> list[tuple[bool, float | None, str]]:
    """min/max on the current value: (crossed, one-sided p, words). The p is a normal
    approximation from the metric's CI (its half-width at `confidence` gives the standard
    error), so it is judged at the gate's alpha like every other check; None without a CI."""
    from scipy.stats import norm

    se = se_from_ci(m.ci_low, m.ci_high, confidence)
    out = []
    for key, side in (("min", -1), ("max", 1)):
        bound = getattr(check, key)
        if bound is None:
            continue
        crossed = side * (m.value - bound) > 0
        what = f"{m.value:.4g} is {'below' if key == 'min' else 'above'} {key} {bound:g}"
        if se is None:
            out.append((crossed, None, what))
            continue
        p = float(norm.sf(side * (m.value - bound) / se))  # one-sided: past the bound
        out.append((crossed, p, f"{what} (one-sided {p_words(p)} from its CI)"))
    return out


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

"""The CI gate: does this run regress against a baseline, beyond noise?

Each check bounds one metric (dotted path, e.g. `performance.accuracy`): an absolute min/max
on the current value, and/or the largest allowed worsening against the baseline, absolute or
relative, in the direction the metric declares (`higher_is_better`). A crossed bound is only a
regression when it is significant:

- drop bounds: when the run and the baseline scored the same test set (equal test-split
  fingerprints and gold labels), a paired test on the per-example outcomes (exact McNemar for
  accuracy; a paired bootstrap for F1, ECE, Brier and NLL); otherwise a comparison of the two
  runs' confidence intervals (normal approximation). p < alpha is significant.
- min/max bounds: the current value's own CI lies wholly on the wrong side of the bound.

Crossed but not significant is `inconclusive` (the suite decides whether that fails); a
significant change for the better is `improved`. A metric with no CI at all (a count, a size)
is compared as it is.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from auditkit import __version__
from auditkit.api.results import Metric, now_iso
from auditkit.api.rundir import GATE_FILE, resolve_run_dir
from auditkit.baseline import (
    Snapshot,
    load_baseline,
    snapshot_from_run,
)
from auditkit.errors import AuditkitError
from auditkit.files import write_atomic
from auditkit.gate_config import parse_check_override, resolve_spec, spec_from_run
from auditkit.significance import PairedTest, mcnemar, paired_bootstrap
from auditkit.suite import GateCheck, GateSpec

__all__ = [
    "GATE_FILE",
    "CheckResult",
    "GateReport",
    "GateSpec",
    "load_gate",
    "parse_check_override",
    "resolve_spec",
    "run_gate",
    "spec_from_run",
    "write_json",
]

GATE_VERSION = "1"
Verdict = Literal["pass", "regressed", "improved", "inconclusive", "missing"]
Method = Literal["mcnemar", "paired_bootstrap", "ci_comparison", "point"]
# metrics the performance artifact lets us pair example by example
PAIRED_PERFORMANCE = ("accuracy", "macro_f1", "weighted_f1", "ece", "brier", "nll")


class _Plain(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckResult(_Plain):
    metric: str
    baseline: float | None
    current: float | None
    delta: float | None  # current - baseline
    relative_delta: float | None
    p_value: float | None
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
    fail_on_inconclusive: bool
    on_missing: Literal["fail", "warn"]
    counts: dict[str, int]
    checks: list[CheckResult]
    warnings: list[str]
    created_at: str
    auditkit_version: str


# --------------------------------------------------------------------------- the gate


@dataclass
class _Pairing:
    ok: bool
    fingerprint_match: bool
    why: str


def run_gate(
    run_dir: str | os.PathLike[str],
    baseline_file: str | os.PathLike[str],
    spec: GateSpec,
    *,
    write: bool = True,
) -> GateReport:
    """Compare a run with a baseline under `spec`; writes gate.json into the run directory."""
    folder = resolve_run_dir(run_dir)
    base = load_baseline(baseline_file)
    cur = snapshot_from_run(folder)
    warnings: list[str] = []
    if cur.run_status != "ok":
        warnings.append(f"run {cur.run_id} has status {cur.run_status!r}")
    if base.suite_name != cur.suite_name:
        warnings.append(f"baseline is from suite {base.suite_name!r}, the run {cur.suite_name!r}")
    pairing = _pairing(base, cur)
    if not pairing.ok:
        warnings.append(f"no paired tests: {pairing.why}; comparing confidence intervals")
    checks = [
        _evaluate(metric, check, base, cur, pairing, spec, warnings)
        for metric, check in spec.checks.items()
    ]
    counts = {v: sum(c.verdict == v for c in checks) for v in Verdict.__args__}
    report = GateReport(
        passed=not any(c.fails for c in checks),
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
        counts=counts,
        checks=checks,
        warnings=warnings,
        created_at=now_iso(),
        auditkit_version=__version__,
    )
    if write:
        write_json(report, folder / GATE_FILE)
    return report


def write_json(report: GateReport, path: str | os.PathLike[str]) -> Path:
    """gate.json (atomically), the file the HTML report and the dashboard read."""
    return write_atomic(Path(path), report.model_dump_json(indent=2))


def load_gate(path: str | os.PathLike[str]) -> GateReport:
    return GateReport.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


def _pairing(base: Snapshot, cur: Snapshot) -> _Pairing:
    match = base.test_fingerprint is not None and base.test_fingerprint == cur.test_fingerprint
    if not match:
        return _Pairing(False, False, "the test sets differ (test-split fingerprints)")
    if base.label_names != cur.label_names:
        return _Pairing(False, True, f"labels differ: {base.label_names} vs {cur.label_names}")
    if base.examples is None or cur.examples is None:
        which = "baseline" if base.examples is None else "run"
        return _Pairing(False, True, f"the {which} has no per-example predictions")
    if base.examples.n != cur.examples.n or base.examples.label != cur.examples.label:
        return _Pairing(False, True, "per-example gold labels differ")
    return _Pairing(True, True, "")


def _evaluate(
    path: str,
    check: GateCheck,
    base: Snapshot,
    cur: Snapshot,
    pairing: _Pairing,
    spec: GateSpec,
    warnings: list[str],
) -> CheckResult:
    thresholds = {
        k: float(v)
        for k in ("min", "max", "max_drop", "max_relative_drop")
        if (v := getattr(check, k)) is not None
    }
    drop_bound = check.has_drop_bound() or check.is_empty()
    if check.is_empty():
        thresholds["max_drop"] = 0.0
    out = {
        "metric": path,
        "thresholds": thresholds,
    }
    m_cur, why_cur = cur.lookup(path)
    m_base, why_base = base.lookup(path)
    hib = check.higher_is_better
    if hib is None:
        hib = (m_cur or m_base or Metric(value=None)).higher_is_better
    out["threshold"] = _threshold_words(thresholds, hib)
    out["higher_is_better"] = hib
    out["baseline"] = m_base.value if m_base else None
    out["current"] = m_cur.value if m_cur else None
    fails_missing = spec.on_missing == "fail"
    empty = {"delta": None, "relative_delta": None, "p_value": None, "ci_low": None}
    empty |= {"ci_high": None, "method": None, "method_detail": None}

    def missing(reason: str) -> CheckResult:
        fields = {**out, **empty}
        return CheckResult(**fields, verdict="missing", fails=fails_missing, reason=reason)

    if m_cur is None:
        return missing(why_cur or "absent")
    if drop_bound and hib is None:
        raise AuditkitError(
            f"gate check {path!r}: the metric declares no direction (higher_is_better is null), "
            "so a drop cannot be told from a rise",
            hint=f"use min/max only, or set higher_is_better in the check: "
            f"--check {path}:higher_is_better=true",
        )
    problems = _absolute_problems(check, m_cur)  # (significant, what)
    if m_base is None:
        out |= empty
        if drop_bound:
            if problems and problems[0][0]:
                return CheckResult(**out, verdict="regressed", fails=True, reason=problems[0][1])
            return missing(why_base or "absent from the baseline")
        test = None
    else:
        test = _compare(path, m_base, m_cur, base, cur, pairing, spec, warnings)
        delta = m_cur.value - m_base.value
        out |= {
            "delta": delta,
            "relative_delta": delta / abs(m_base.value) if m_base.value else None,
            "p_value": test.p_value if test else None,
            "ci_low": test.ci_low if test else None,
            "ci_high": test.ci_high if test else None,
            "method": _method(test),
            "method_detail": test.method if test else "no CI on either side: compared as is",
        }
    significant = test is None or (test.p_value is not None and test.p_value < spec.alpha)
    worse_by = None
    if m_base is not None and hib is not None:
        worse_by = (m_base.value - m_cur.value) if hib else (m_cur.value - m_base.value)
    if drop_bound and worse_by is not None:
        allowed = [thresholds[k] for k in ("max_drop",) if k in thresholds]
        if "max_relative_drop" in thresholds:
            allowed.append(thresholds["max_relative_drop"] * abs(m_base.value))
        limit = min(allowed)
        if worse_by > limit + 1e-12:
            p = f", {_p(test.p_value)}" if test and test.p_value is not None else ""
            problems.append(
                (
                    significant,
                    f"worse by {worse_by:.4g} (allowed {limit:.4g}){p}"
                    + ("" if significant else f", not significant at alpha {spec.alpha:g}"),
                )
            )
    if any(sig for sig, _ in problems):
        verdict, reason = "regressed", "; ".join(w for s, w in problems if s)
    elif problems:
        verdict, reason = "inconclusive", "; ".join(w for _, w in problems)
    elif worse_by is not None and worse_by < 0 and significant and test is not None:
        verdict, reason = "improved", f"better by {-worse_by:.4g}, {_p(test.p_value)}"
    else:
        verdict = "pass"
        reason = "within bounds"
        if worse_by is not None and worse_by > 0 and significant and test is not None:
            reason = f"significantly worse by {worse_by:.4g} but within the allowed drop"
    fails = verdict == "regressed" or (verdict == "inconclusive" and spec.fail_on_inconclusive)
    return CheckResult(**out, verdict=verdict, fails=fails, reason=reason)


def _compare(
    path: str,
    m_base: Metric,
    m_cur: Metric,
    base: Snapshot,
    cur: Snapshot,
    pairing: _Pairing,
    spec: GateSpec,
    warnings: list[str],
) -> PairedTest | None:
    """A paired test where the per-example data allows it, else a CI comparison, else None."""
    if pairing.ok:
        test = _paired(path, base, cur, spec)
        if test is not None:
            expected = m_cur.value - m_base.value
            if abs(test.delta - expected) <= 1e-4 + 1e-4 * abs(expected):
                return test
            warnings.append(
                f"{path}: recomputed from the per-example data the change is {test.delta:.6g}, "
                f"the results say {expected:.6g}; comparing CIs instead"
            )
    return _ci_comparison(m_base, m_cur, base, cur, path)


def _paired(path: str, base: Snapshot, cur: Snapshot, spec: GateSpec) -> PairedTest | None:
    audit, _, name = path.partition(".")
    if audit != "performance" or name not in PAIRED_PERFORMANCE:
        return None
    from auditkit import metrics as M

    assert base.examples is not None and cur.examples is not None
    y = cur.examples.labels()
    probs = (base.examples.probs(), cur.examples.probs())
    pred = tuple(p.argmax(axis=1) for p in probs)
    n, k = probs[0].shape
    boot = {"n_resamples": spec.bootstrap, "seed": spec.seed}
    if name == "accuracy":
        correct = tuple(p == y for p in pred)
        exact = mcnemar(correct[0], correct[1])
        ci = paired_bootstrap(lambda idx, w: correct[w][idx].mean(axis=1), n, **boot)
        return PairedTest(
            exact.delta, exact.p_value, ci.ci_low, ci.ci_high,
            f"{exact.method}; CI: {ci.method}", n,
        )  # fmt: skip
    if name in ("macro_f1", "weighted_f1"):

        def stat(idx, w):
            return M.f1_from_confusion(M.confusion_counts(y, pred[w], k, idx))[name]

    elif name == "ece":
        bins = {s.audits["performance"].config.get("ece_bins") for s in (base, cur)}
        if len(bins) != 1 or None in bins:
            return None  # different binning: the values are not comparable example by example
        n_bins = int(bins.pop())

        def stat(idx, w):
            return M.expected_calibration_error(probs[w], y, n_bins, idx)

    else:  # brier, nll: means of per-example losses
        if name == "brier":
            onehot = np.eye(k)[y]
            per = tuple(((p - onehot) ** 2).sum(axis=1) for p in probs)
        else:
            per = tuple(-np.log(np.clip(p[np.arange(n), y], 1e-12, 1.0)) for p in probs)

        def stat(idx, w):
            return per[w][idx].mean(axis=1)

    return paired_bootstrap(stat, n, **boot)


def _ci_comparison(
    m_base: Metric, m_cur: Metric, base: Snapshot, cur: Snapshot, path: str
) -> PairedTest | None:
    """Two independent estimates: a normal approximation from each run's CI half-width."""
    from scipy.stats import norm

    audit = path.partition(".")[0]
    se = []
    for m, snap in ((m_base, base), (m_cur, cur)):
        if m.ci_low is None or m.ci_high is None:
            se.append(None)
            continue
        conf = snap.audits[audit].confidence or 0.95
        se.append((m.ci_high - m.ci_low) / (2 * norm.ppf(0.5 + conf / 2)))
    if se[0] is None and se[1] is None:
        return None
    sides = "both runs' CIs" if None not in se else "one run's CI (the other has none)"
    spread = math.sqrt(sum(s**2 for s in se if s is not None))
    delta = m_cur.value - m_base.value
    if spread == 0:
        p = 1.0 if delta == 0 else 0.0
        return PairedTest(delta, p, delta, delta, f"CI comparison ({sides}, zero width)", 0)
    p = float(2 * norm.sf(abs(delta) / spread))
    half = norm.ppf(0.975) * spread
    return PairedTest(
        delta, p, delta - half, delta + half, f"CI comparison, normal approx. from {sides}", 0
    )


def _method(test: PairedTest | None) -> Method:
    if test is None:
        return "point"
    if test.method.startswith("McNemar"):
        return "mcnemar"
    if test.method.startswith("paired bootstrap"):
        return "paired_bootstrap"
    return "ci_comparison"


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


def exit_code(report: GateReport) -> int:
    """0 passed, 1 failed (a regression, or what the policy counts as one)."""
    return 0 if report.passed else 1

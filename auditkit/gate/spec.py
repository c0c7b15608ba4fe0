"""Gate settings: the suite's `gate:` section with the command line's overrides applied.

Kept apart from the checks (auditkit.gate.checks) and the comparisons (auditkit.gate.pairing)
so that parsing `--check` and validating the result stay small and testable on their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, ValidationError

from auditkit.api.registry import AUDITS, did_you_mean
from auditkit.api.results import RunResults
from auditkit.errors import AuditkitError
from auditkit.suite import GateCheck, GateSpec


def parse_check_override(text: str) -> tuple[str, dict[str, float | bool | None]]:
    """`performance.accuracy:max_drop=0.01,min=0.8` -> (metric, {field: value}); `none` unsets.

    A bare `performance.ece` adds a check with no bounds: any significant worsening fails.
    """
    metric, _, body = text.partition(":")
    fields = list(GateCheck.model_fields)
    usage = "write --check METRIC:KEY=VALUE[,KEY=VALUE], e.g. performance.accuracy:max_drop=0.01"
    if not metric:
        raise AuditkitError(f"--check {text!r}: expected METRIC:KEY=VALUE", hint=usage)
    values: dict[str, float | bool | None] = {}
    for part in body.split(",") if body.strip() else []:
        key, eq, raw = (s.strip() for s in part.partition("="))
        if not eq or key not in fields:
            why = f"unknown key {key!r}.{did_you_mean(key, fields)}" if eq else "missing '='"
            raise AuditkitError(
                f"--check {text!r}: {why}", hint=f"keys: {', '.join(fields)}; {usage}"
            )
        if raw.lower() in ("none", "null", ""):
            values[key] = None
        elif key == "higher_is_better":
            if raw.lower() not in ("true", "false"):
                raise AuditkitError(f"--check {text!r}: higher_is_better must be true or false")
            values[key] = raw.lower() == "true"
        else:
            try:
                values[key] = float(raw)
            except ValueError:
                raise AuditkitError(f"--check {text!r}: {key}={raw!r} is not a number") from None
    return metric, values


def resolve_spec(
    base: GateSpec | None,
    *,
    overrides: list[str] | None = None,
    alpha: float | None = None,
    fail_on_inconclusive: bool | None = None,
    on_missing: str | None = None,
    policy: str | None = None,
) -> GateSpec:
    """The suite's gate section with the command line's overrides applied, validated."""
    data = (base or GateSpec()).model_dump()
    for text in overrides or []:
        metric, values = parse_check_override(text)
        data["checks"].setdefault(metric, {}).update(values)
    for key, value in (
        ("alpha", alpha),
        ("fail_on_inconclusive", fail_on_inconclusive),
        ("on_missing", on_missing),
        ("policy", policy),
    ):
        if value is not None:
            data[key] = value
    try:
        spec = GateSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise AuditkitError(
            f"gate settings: {where}: {err['msg']}",
            hint="check --check/--alpha/--on-missing/--policy",
        ) from None
    if not spec.checks:
        raise AuditkitError(
            "gate: no checks to run",
            hint="add a `gate: {checks: ...}` section to the suite (--suite) or pass "
            "--check METRIC:KEY=VALUE, e.g. --check performance.accuracy:max_drop=0.02",
        )
    for metric in spec.checks:
        audit = metric.split(".", 1)[0]
        if audit not in AUDITS:
            raise AuditkitError(
                f"gate check {metric!r}: unknown audit {audit!r}."
                + did_you_mean(audit, list(AUDITS)),
                hint=f"registered audits: {', '.join(AUDITS)}",
            )
    refuse_untestable(spec)
    return spec


def _declared(metric: str):
    """The declared MetricSpec of a dotted check path, or None (not installed, not declared)."""
    from auditkit.api.registry import outputs

    audit, _, name = metric.partition(".")
    try:
        return outputs(audit).metric_spec(name)
    except Exception:  # an audit that is not installed here declares nothing
        return None


def refuse_untestable(spec: GateSpec) -> None:
    """A drop bound needs an uncertainty: refuse one on a metric declared without a CI that the
    gate cannot pair per example either (any rerun noise would read as a worsening)."""
    from auditkit.gate.pairing import PAIRED_PERFORMANCE

    for metric, check in spec.checks.items():
        if not (check.has_drop_bound() or check.is_empty()):
            continue
        audit, _, name = metric.partition(".")
        declared = _declared(metric)
        if (
            declared is None
            or declared.ci
            or (audit == "performance" and name in PAIRED_PERFORMANCE)
        ):
            continue
        what = "a bare check (any worsening)" if check.is_empty() else "a drop bound"
        raise AuditkitError(
            f"gate check {metric!r}: {what} on a metric with no uncertainty: its audit writes "
            f"{metric} without a confidence interval and the gate cannot pair it per example, "
            "so any rerun noise would read as a significant worsening",
            hint="bound it with min/max (compared as it is), or gate a metric that carries a CI "
            "(docs/audit-outputs.md lists them); an audit's author makes a metric gateable by "
            "writing its CI and declaring it (MetricSpec ci=True)",
        )


def power_warnings(spec: GateSpec, n_test: int) -> list[str]:
    """Before any run: the accuracy drop bounds this test set cannot see even at best (no
    other prediction changes). The gate reports the actual power of every check once it has
    both runs; only accuracy's can be bounded from the test-set size alone."""
    from auditkit.gate.pairing import POWER, best_case_accuracy_drop

    if n_test <= 0:
        return []
    shown = spec.policy == "non_inferiority"
    best = best_case_accuracy_drop(n_test, spec.alpha, non_inferiority=shown)
    out = []
    for metric, check in spec.checks.items():
        if metric != "performance.accuracy" or not (check.has_drop_bound() or check.is_empty()):
            continue
        # the allowed drop; a relative one is at most its share of an accuracy of 1
        allowed = (
            min(v for v in (check.max_drop, check.max_relative_drop) if v is not None)
            if (check.has_drop_bound())
            else 0.0
        )
        if allowed >= best:
            continue
        what = (
            f"an unchanged model is shown within a bound only from {best:.3g} (Tango, "
            f"one-sided alpha {spec.alpha:g})"
            if shown
            else f"a drop is detected with {POWER:.0%} power only from {best:.3g} (exact "
            f"McNemar, alpha {spec.alpha:g})"
        )
        out.append(
            f"{metric}: the allowed drop {allowed:g} is below what {n_test} test examples can "
            f"see: even if no other prediction changes, {what}; the gate will report the check "
            "underpowered. Use a larger test split or a larger bound"
        )
    return out


def spec_from_run(results: RunResults) -> GateSpec | None:
    """The gate section stored with the run's suite (used when no --suite is given)."""
    raw = results.suite.get("gate")
    if raw is None:
        return None
    try:
        return GateSpec.model_validate(raw)
    except ValidationError as exc:
        raise AuditkitError(
            f"run {results.run_id}: its suite's `gate:` section is invalid: "
            + exc.errors()[0]["msg"],
            hint="pass --suite SUITE with a valid gate section",
        ) from None


# --------------------------------------------------------------------------- the agreed bar


class Loosening(BaseModel):
    """One way a proposed gate spec is easier to pass than the baseline's."""

    model_config = ConfigDict(extra="forbid")

    item: str  # `alpha`, `policy`, or a check (`performance.accuracy`, `...: max_drop`)
    baseline: str  # the agreed setting, in words
    proposed: str
    why: str


@dataclass(frozen=True)
class AgreedSpec:
    """The spec the gate runs with, where it came from, and how the proposal loosened it."""

    spec: GateSpec
    source: str  # "baseline", "baseline, tightened by ...", or where a spec without one came from
    loosened: tuple[Loosening, ...] = ()
    accepted: bool = False  # --accept-loosened: the proposal was used as it is
    warning: str | None = None


def settle(
    stored: GateSpec | None,
    proposal: GateSpec | None,
    proposal_source: str,
    *,
    overrides: list[str] | None = None,
    alpha: float | None = None,
    fail_on_inconclusive: bool | None = None,
    on_missing: str | None = None,
    policy: str | None = None,
    accept_loosened: bool = False,
) -> AgreedSpec:
    """The spec `auditkit gate` runs with. The baseline's stored spec holds the bar; the
    proposal (a --suite's gate section, else the gated run's own) with the command line's
    overrides may tighten it, and what it loosens is listed (`agree`). A baseline without a
    stored spec takes the proposal as it is, with a warning that the change under test then
    sets its own bar."""
    given = {"overrides": overrides, "alpha": alpha, "on_missing": on_missing, "policy": policy}
    given["fail_on_inconclusive"] = fail_on_inconclusive
    if stored is None:
        spec = resolve_spec(proposal, **given)
        source = proposal_source if proposal is not None else "--check"
        return AgreedSpec(
            spec,
            source,
            warning=f"the baseline holds no gate spec, so the checks come from {source}, which "
            "the change under test can edit; save the baseline again (`auditkit baseline save`) "
            "to hold the bar",
        )
    refuse_untestable(stored)
    if proposal is None and not any(v not in (None, []) for v in given.values()):
        return AgreedSpec(stored, "baseline")
    proposed = resolve_spec(proposal or stored, **given)
    return agree(stored, proposed, accept_loosened=accept_loosened)


def agree(stored: GateSpec, proposed: GateSpec, *, accept_loosened: bool = False) -> AgreedSpec:
    """The baseline's spec tightened by the proposal, and every way the proposal loosens it.

    Each setting and bound takes the stricter of the two, so a proposal can only tighten the
    bar. What it loosens (a larger drop, a lower min, a removed check or bound, a changed
    direction, a weaker policy, `on_missing: warn`, an alpha or a correction that fails less
    often, another seed) is listed; with `accept_loosened` the proposal is used as it is.
    """
    out: list[Loosening] = []
    data = stored.model_dump()

    def loose(item: str, was: object, now: object, why: str) -> None:
        out.append(Loosening(item=item, baseline=_words(was), proposed=_words(now), why=why))

    # the policy first: the alpha's strict side depends on it
    if stored.policy == "non_inferiority" and proposed.policy == "regression":
        loose("policy", stored.policy, proposed.policy, "fails only on evidence of harm, "
              "instead of passing only on evidence of none")  # fmt: skip
    policy = (
        "non_inferiority"
        if "non_inferiority" in (stored.policy, proposed.policy)
        else ("regression")
    )
    data["policy"] = policy
    if stored.policy == proposed.policy:
        # regression fails when p < alpha (a larger alpha fails more); non_inferiority passes
        # when p < alpha (a smaller alpha passes less)
        strict = max if policy == "regression" else min
        data["alpha"] = strict(stored.alpha, proposed.alpha)
        if data["alpha"] != proposed.alpha:
            loose("alpha", stored.alpha, proposed.alpha, "fewer checks reach significance"
                  if policy == "regression" else "a weaker showing passes")  # fmt: skip
    elif policy == proposed.policy:
        data["alpha"] = proposed.alpha  # tightened to non_inferiority: its own level
    if stored.fail_on_inconclusive and not proposed.fail_on_inconclusive:
        loose("fail_on_inconclusive", True, False, "a crossed bound without significance passes")
    data["fail_on_inconclusive"] = stored.fail_on_inconclusive or proposed.fail_on_inconclusive
    if stored.on_missing == "fail" and proposed.on_missing == "warn":
        loose("on_missing", "fail", "warn", "a checked metric that is absent passes")
    data["on_missing"] = "fail" if "fail" in (stored.on_missing, proposed.on_missing) else "warn"
    if policy == "regression":
        # Holm makes each check harder to fail: switching it on loosens, off tightens
        if stored.correction == "none" and proposed.correction == "holm":
            loose("correction", "none", "holm", "each check's p is adjusted upwards")
        data["correction"] = (
            "none" if "none" in (stored.correction, proposed.correction) else ("holm")
        )
    if proposed.seed != stored.seed:
        loose("seed", stored.seed, proposed.seed, "other bootstrap resamples can move a p "
              "near alpha")  # fmt: skip
    if proposed.bootstrap < stored.bootstrap:
        loose("bootstrap", stored.bootstrap, proposed.bootstrap, "coarser bootstrap p-values")
    data["bootstrap"] = max(stored.bootstrap, proposed.bootstrap)

    checks: dict[str, dict] = {}
    for metric in {**stored.checks, **proposed.checks}:
        was, now = stored.checks.get(metric), proposed.checks.get(metric)
        if was is None:
            checks[metric] = now.model_dump()
            continue
        if now is None:
            loose(metric, check_words(was), "removed", "the check no longer runs")
            checks[metric] = was.model_dump()
            continue
        checks[metric] = _tighter_check(metric, was, now, loose)
    data["checks"] = checks
    effective = GateSpec.model_validate(data)
    if accept_loosened and out:
        return AgreedSpec(proposed, "the proposal, loosened and accepted", tuple(out), True)
    tightened = effective.model_dump() != stored.model_dump()
    source = "baseline, tightened by the proposal" if tightened else "baseline"
    return AgreedSpec(effective, source, tuple(out), False)


def _tighter_check(metric: str, was: GateCheck, now: GateCheck, loose) -> dict:
    """One check's bounds, each the stricter of the two; a bare check means max_drop 0."""
    a = was.model_dump() | ({"max_drop": 0.0} if was.is_empty() else {})
    b = now.model_dump() | ({"max_drop": 0.0} if now.is_empty() else {})
    out = dict(a)
    strict = {"min": max, "max": min, "max_drop": min, "max_relative_drop": min}
    for key, pick in strict.items():
        if a[key] is None:
            out[key] = b[key]
        elif b[key] is None:
            loose(f"{metric}: {key}", a[key], "removed", "the bound no longer applies")
        else:
            out[key] = pick(a[key], b[key])
            if out[key] != b[key]:
                loose(f"{metric}: {key}", a[key], b[key], _bound_why(key))
    declared = _declared(metric)
    before = (
        declared.higher_is_better
        if declared and was.higher_is_better is None
        else (was.higher_is_better)
    )
    if now.higher_is_better is not None and now.higher_is_better != before:
        was_words = _words(before) if before is not None else "undeclared"
        loose(f"{metric}: higher_is_better", was_words, now.higher_is_better,
              "the direction of a worsening changes")  # fmt: skip
    elif now.higher_is_better is None and was.higher_is_better is not None:
        out["higher_is_better"] = was.higher_is_better  # kept as agreed
    return was.model_dump() if out == a else out  # a bare check stays bare


def _bound_why(key: str) -> str:
    return {
        "min": "a lower floor",
        "max": "a higher ceiling",
        "max_drop": "a larger allowed worsening",
        "max_relative_drop": "a larger allowed relative worsening",
    }[key]


def check_words(check: GateCheck) -> str:
    bounds = {k: v for k, v in check.model_dump().items() if v is not None}
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in
                     bounds.items()) or "any significant worsening"  # fmt: skip


def _words(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)

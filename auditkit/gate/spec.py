"""Gate settings: the suite's `gate:` section with the command line's overrides applied.

Kept apart from the checks (auditkit.gate.checks) and the comparisons (auditkit.gate.pairing)
so that parsing `--check` and validating the result stay small and testable on their own.
"""

from __future__ import annotations

from pydantic import ValidationError

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
    ):
        if value is not None:
            data[key] = value
    try:
        spec = GateSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise AuditkitError(
            f"gate settings: {where}: {err['msg']}", hint="check --check/--alpha/--on-missing"
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
    return spec


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

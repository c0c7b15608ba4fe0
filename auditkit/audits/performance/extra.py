"""`performance.extra_metrics`: metrics from `evaluate`, with the built-in metrics' bootstrap.

A metric is loaded by Hub name (which needs the Hub), from a local module (a folder holding
`<name>.py`, or the file), or from the modules auditkit ships (`auditkit:ece`). Its CI resamples
the test rows with the same seeded indices as the built-in metrics, calling `compute` once per
resample: `evaluate` has no batched form, so this is slower than the built-in metrics, whose
statistics are vectorised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from auditkit import metrics as M
from auditkit.api.results import Metric
from auditkit.audits.performance.config import ExtraMetric
from auditkit.errors import AuditkitError


def load(spec: ExtraMetric, suite: Any = None):
    """The `evaluate` module the spec names; a clear error when it cannot be had."""
    import evaluate

    where = f"performance.extra_metrics: {spec.metric!r}"
    if spec.metric.startswith("auditkit:"):
        from auditkit import evaluate_modules

        try:
            location = evaluate_modules.path(spec.metric.split(":", 1)[1])
        except KeyError as exc:
            raise AuditkitError(f"{where}: {exc.args[0]}") from None
    elif "/" in spec.metric or spec.metric.endswith(".py") or spec.metric.startswith("."):
        resolved = suite.resolve_path(spec.metric) if suite is not None else Path(spec.metric)
        if resolved is None or not Path(resolved).exists():
            raise AuditkitError(
                f"{where}: no such metric module ({resolved})",
                hint="a path is resolved against the suite's folder",
            )
        location = str(resolved)
    else:
        location = spec.metric
    try:
        return evaluate.load(location)
    except Exception as exc:  # evaluate raises many kinds (network, import, file)
        offline = location == spec.metric
        raise AuditkitError(
            f"{where}: evaluate could not load it: {type(exc).__name__}: {str(exc)[:300]}",
            hint="a Hub name needs the Hub; offline, give a path to a local metric module"
            if offline
            else "check the module: it defines an evaluate.Metric subclass",
        ) from None


def compute(
    spec: ExtraMetric,
    module: Any,
    probs: np.ndarray,
    y: np.ndarray,
    *,
    n_resamples: int,
    seed: int,
    confidence: float,
) -> Metric:
    """The metric on the test set, with a percentile bootstrap CI over the same resamples."""

    def value(rows: np.ndarray) -> float:
        refs = y[rows].tolist()
        if spec.inputs == "probabilities":
            out = module.compute(prediction_scores=probs[rows].tolist(), references=refs,
                                 **spec.kwargs)  # fmt: skip
        else:
            preds = probs[rows].argmax(axis=1).tolist()
            out = module.compute(predictions=preds, references=refs, **spec.kwargs)
        return _pick(spec, out)

    full = value(np.arange(len(y)))
    low, high, _ = M.bootstrap(
        lambda idx: np.array([value(row) for row in idx]),
        len(y),
        n_resamples=n_resamples,
        seed=seed,
        confidence=confidence,
    )
    return Metric(
        value=full,
        ci_low=low,
        ci_high=high,
        higher_is_better=spec.direction == "higher",
        description=f"evaluate metric {spec.metric!r}"
        + (f" ({spec.result})" if spec.result else ""),
    )


def _pick(spec: ExtraMetric, out: Any) -> float:
    if not isinstance(out, dict) or not out:
        raise AuditkitError(f"performance.extra_metrics: {spec.metric!r} returned {out!r}")
    key = spec.result or (next(iter(out)) if len(out) == 1 else None)
    if key is None or key not in out:
        raise AuditkitError(
            f"performance.extra_metrics: {spec.metric!r} returns {sorted(out)}; name one with "
            "`result:`"
        )
    try:
        return float(out[key])
    except (TypeError, ValueError):
        raise AuditkitError(
            f"performance.extra_metrics: {spec.metric!r}: {key} is {out[key]!r}, not a number"
        ) from None

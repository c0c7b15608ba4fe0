"""Temperature scaling (Guo et al. 2017): one scalar T that divides the logits, fitted by
minimising NLL on held-out examples, and ECE, Brier and NLL on the test split before and after.

The model hands out probabilities, not logits; softmax(log p / T) equals softmax(z / T) for the
logits z (log p is z shifted by a constant per row), so nothing else is needed. T > 0 keeps
each row's order, so the argmax, and with it accuracy, does not change.

The fit is scipy's bounded scalar minimiser over log T, as the issue asks: one parameter does
not need netcal's torch-based optimisers, and keeping the fit here keeps it in float64 and
deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auditkit import comparison
from auditkit import metrics as M
from auditkit.api.results import Metric, Table
from auditkit.conformal import halves

LOG_T_BOUNDS = (np.log(0.05), np.log(20.0))
_EPS = 1e-12


def scale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T), row by row, in float64."""
    z = np.log(np.clip(np.asarray(probs, dtype=np.float64), _EPS, 1.0)) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(probs: np.ndarray, y: np.ndarray) -> float:
    """The T in [0.05, 20] that minimises the NLL of softmax(log p / T) on (probs, y)."""
    from scipy.optimize import minimize_scalar

    y = np.asarray(y)
    found = minimize_scalar(
        lambda log_t: M.negative_log_likelihood(scale(probs, float(np.exp(log_t))), y),
        bounds=LOG_T_BOUNDS,
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(np.exp(found.x))


@dataclass
class Fitted:
    """Calibrated test probabilities, the temperature(s) behind them, and how they were fit."""

    probs: np.ndarray
    temperatures: tuple[float, ...]
    how: str


def calibrate(
    test_probs: np.ndarray,
    y_test: np.ndarray,
    val_probs: np.ndarray | None,
    y_val: np.ndarray | None,
    *,
    seed: int,
) -> Fitted:
    """Fit on the validation split; without one, cross-fit on two halves of the test split
    (each half is scaled by the temperature fitted on the other), so no example is scored by
    a temperature fitted on itself."""
    if val_probs is not None and y_val is not None and len(y_val) >= 2:
        t = fit_temperature(val_probs, y_val)
        return Fitted(
            scale(test_probs, t), (t,), f"fitted on the validation split ({len(y_val)} examples)"
        )
    parts = halves(len(y_test), seed)
    out = np.empty_like(np.asarray(test_probs, dtype=np.float64))
    temps = []
    for fit_on, apply_to in (parts, parts[::-1]):
        t = fit_temperature(test_probs[fit_on], y_test[fit_on])
        out[apply_to] = scale(test_probs[apply_to], t)
        temps.append(t)
    return Fitted(out, tuple(temps), "cross-fitted on two halves of the test split (no validation)")


def per_example(probs: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Each example's Brier score and NLL (their means are the split's)."""
    onehot = np.eye(probs.shape[1])[y]
    p_true = np.clip(probs[np.arange(len(y)), y], _EPS, 1.0)
    return {"brier": ((probs - onehot) ** 2).sum(axis=1), "nll": -np.log(p_true)}


def changes(
    before: np.ndarray,
    after: np.ndarray,
    y: np.ndarray,
    *,
    bins: int,
    n_resamples: int,
    seed: int,
    confidence: float,
) -> list[comparison.Change]:
    """ECE, Brier and NLL before and after, each change with a paired bootstrap interval (the
    same resampled test examples scored both ways)."""
    from auditkit.gate.significance import paired_bootstrap

    probs = (before, after)
    per = (per_example(before, y), per_example(after, y))
    stats = {
        "ece": lambda idx, w: M.expected_calibration_error(probs[w], y, bins, idx),
        "brier": lambda idx, w: per[w]["brier"][idx].mean(axis=1),
        "nll": lambda idx, w: per[w]["nll"][idx].mean(axis=1),
    }
    points = {
        "ece": lambda p: M.expected_calibration_error(p, y, bins),
        "brier": lambda p: M.brier_score(p, y),
        "nll": lambda p: M.negative_log_likelihood(p, y),
    }
    out = []
    for name, stat in stats.items():
        test = paired_bootstrap(
            stat, len(y), n_resamples=n_resamples, seed=seed, confidence=confidence
        )
        out.append(
            comparison.Change(
                "temperature", name, points[name](before), points[name](after), False,
                test.ci_low, test.ci_high, "paired",
            )
        )  # fmt: skip
    return out


def temperature_outputs(
    fitted: Fitted, found: list[comparison.Change], ci: dict[str, tuple[float, float]]
) -> tuple[dict[str, Metric], dict[str, Table]]:
    """The metrics and the comparison table the performance audit adds."""
    temps = fitted.temperatures
    value = float(np.exp(np.mean(np.log(temps))))
    said = fitted.how + (
        "" if len(temps) == 1 else f"; T = {temps[0]:.4g} and {temps[1]:.4g}, geometric mean shown"
    )
    metrics = {"calibration.temperature": Metric(value=value, description=said)}
    for change in found:
        low, high = ci.get(change.metric, (None, None))
        metrics[f"calibration.{change.metric}"] = Metric(
            value=change.after,
            ci_low=low,
            ci_high=high,
            higher_is_better=False,
            unit="nats" if change.metric == "nll" else None,
            description=f"after temperature scaling, {said}",
        )
    table = comparison.table(found, description=f"temperature scaling, {said}")
    return metrics, {"calibration_changes": table}

"""Compare two runs: every shared metric with its delta and whether the change is significant.

Whether the runs pair example by example, which test judges a metric, its p-value and the
verdict all come from auditkit.gate.pairing, the code `auditkit gate` runs, so this page and
CI cannot disagree about the same two runs. When both runs scored the same test set (same
test-split fingerprint and labels, and `predictions.parquet` with class probabilities over the
same gold labels) the tests are paired: exact McNemar on per-example correctness for accuracy,
a paired bootstrap for the F1 scores, ECE, Brier and NLL. Anything else falls back, as the gate
does, to the two confidence intervals (a normal approximation from their half-widths). A metric
without a CI on either side is "not tested", never silently "no change".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import ValidationError

from auditkit.api.results import RunResults
from auditkit.errors import AuditkitError
from auditkit.gate import pairing as shared
from auditkit.gate.baseline import Examples, examples_from_frame, snapshot_from_results


@dataclass
class MetricChange:
    path: str
    baseline: float | None
    current: float | None
    delta: float | None
    higher_is_better: bool | None
    method: str
    p_value: float | None = None
    significant: bool | None = None
    ci_low: float | None = None  # CI of the delta, when the test gives one
    ci_high: float | None = None
    mde: float | None = None  # the smallest change the test detects (80% power), as the gate

    @property
    def verdict(self) -> str:
        return shared.change_verdict(self.significant, self.delta, self.higher_is_better)


@dataclass
class Pairing:
    paired: bool
    reason: str
    frame: object | None = None  # merged predictions (pandas) when paired
    examples: tuple[Examples | None, Examples | None] = (None, None)
    decision: shared.Pairing | None = field(default=None, repr=False)  # the gate's pairing


def _examples(name: str, results: RunResults, frame) -> tuple[Examples | None, str | None]:
    """A run's per-example outcomes from its predictions frame, or why there are none."""
    if frame is None:
        return None, None
    labels = results.data.label_names if results.data else []
    try:
        return examples_from_frame(frame, labels, where=f"the {name} predictions"), None
    except AuditkitError as exc:
        return None, exc.message
    except ValidationError as exc:
        return None, f"the {name} predictions: {exc.errors()[0]['msg']}"


def _reason(decision: shared.Pairing, problems: dict[str, str | None], examples) -> str:
    """Why the runs are not paired, in the page's words (the gate's decision, not its text)."""
    if decision.problem == "no_fingerprint":
        return "a run has no test-split fingerprint"
    if decision.problem == "test_set":
        return "the runs were scored on different test sets (fingerprints differ)"
    if decision.problem == "no_examples":
        which = "baseline" if decision.which == "baseline" else "current"
        return problems[which] or (
            f"the {which} run has no predictions (no predictions.parquet with class "
            "probabilities: performance audit not run)"
        )
    if decision.problem == "gold" and examples[0].n != examples[1].n:
        return "the predictions cover different test rows"
    if decision.problem == "gold":
        return "the gold labels differ between the runs' predictions"
    return decision.why


def pair_predictions(a: RunResults, b: RunResults, preds_a, preds_b) -> Pairing:
    """Whether the two runs' per-example predictions can be paired, and the merged rows if so."""
    ex_a, problem_a = _examples("baseline", a, preds_a)
    ex_b, problem_b = _examples("current", b, preds_b)
    examples = (ex_a, ex_b)
    decision = shared.pair_snapshots(snapshot_from_results(a, ex_a), snapshot_from_results(b, ex_b))
    if not decision.ok:
        problems = {"baseline": problem_a, "current": problem_b}
        return Pairing(False, _reason(decision, problems, examples), None, examples, decision)
    merged = preds_a.merge(preds_b, on="idx", suffixes=("_a", "_b"))
    merged = merged.sort_values("idx").reset_index(drop=True)
    y = ex_a.labels()
    names = np.asarray(a.data.label_names, dtype=object)
    for side, ex in (("a", ex_a), ("b", ex_b)):  # as the gate sees them: argmax of the probs
        pred = ex.probs().argmax(axis=1)
        merged[f"label_{side}"] = y
        merged[f"pred_{side}"] = pred
        merged[f"correct_{side}"] = pred == y
        merged[f"pred_name_{side}"] = names[pred]
    reason = f"paired on {len(merged)} test examples (same test fingerprint)"
    return Pairing(True, reason, merged, examples, decision)


def compare_runs(
    baseline: RunResults,
    current: RunResults,
    pairing: Pairing,
    *,
    alpha: float = 0.05,
    seed: int = 0,
    n_resamples: int = 2000,
) -> list[MetricChange]:
    """One MetricChange per metric both runs have (audits in both, by dotted path).

    `seed` and `n_resamples` are the paired bootstrap's, the gate's defaults (GateSpec.seed,
    GateSpec.bootstrap), so the p-values are the ones `auditkit gate` reports.
    """
    base = snapshot_from_results(baseline, pairing.examples[0])
    cur = snapshot_from_results(current, pairing.examples[1])
    decision = pairing.decision or shared.pair_snapshots(base, cur)
    changes = []
    for audit in baseline.audits:
        if audit not in current.audits:
            continue
        ma_all, mb_all = baseline.audits[audit].metrics, current.audits[audit].metrics
        for name in ma_all:
            if name not in mb_all:
                continue
            path, ma, mb = f"{audit}.{name}", ma_all[name], mb_all[name]
            if ma.value is None or mb.value is None:
                hib = shared.direction(ma, mb)
                changes.append(MetricChange(path, ma.value, mb.value, None, hib, "undefined value"))
                continue
            cmp = shared.compare_metric(
                path, ma, mb, base, cur, decision, alpha=alpha, n_resamples=n_resamples, seed=seed
            )
            changes.append(
                MetricChange(
                    path,
                    cmp.baseline,
                    cmp.current,
                    cmp.delta,
                    cmp.higher_is_better,
                    cmp.method_detail,
                    cmp.p_value,
                    cmp.significant,
                    cmp.ci_low,
                    cmp.ci_high,
                    shared.minimum_detectable(cmp),
                )
            )
    return changes


def prediction_changes(pairing: Pairing):
    """Rows whose prediction differs between the runs: fixed, broken, or changed but wrong."""
    import pandas as pd

    columns = ["idx", "change", "text", "gold", "baseline_pred", "current_pred"]
    columns += ["baseline_confidence", "current_confidence"]
    if not pairing.paired:
        return pd.DataFrame(columns=columns)
    m = pairing.frame
    m = m[m["pred_a"] != m["pred_b"]]
    change = np.where(
        m["correct_b"] & ~m["correct_a"],
        "fixed",
        np.where(m["correct_a"] & ~m["correct_b"], "broken", "changed, still wrong"),
    )

    def col(name, fallback):
        return m[name] if name in m.columns else m[fallback]

    return pd.DataFrame(
        {
            "idx": m["idx"],
            "change": change,
            "text": col("text_b", "idx"),
            "gold": col("label_name_a", "label_a"),
            "baseline_pred": col("pred_name_a", "pred_a"),
            "current_pred": col("pred_name_b", "pred_b"),
            "baseline_confidence": col("confidence_a", "pred_a") if "confidence_a" in m else None,
            "current_confidence": col("confidence_b", "pred_b") if "confidence_b" in m else None,
        },
        columns=columns,
    ).reset_index(drop=True)


def changes_frame(changes: list[MetricChange]):
    """The compare table as a DataFrame, in the order the metrics appear."""
    import pandas as pd

    frame = pd.DataFrame(
        [
            {
                "metric": c.path,
                "baseline": c.baseline,
                "current": c.current,
                "delta": c.delta,
                "verdict": c.verdict,
                "p_value": c.p_value,
                "delta_ci_low": c.ci_low,
                "delta_ci_high": c.ci_high,
                "detectable": c.mde,
                "test": c.method,
            }
            for c in changes
        ],
        columns=[
            "metric",
            "baseline",
            "current",
            "delta",
            "verdict",
            "p_value",
            "delta_ci_low",
            "delta_ci_high",
            "detectable",
            "test",
        ],
    )
    numeric = ["baseline", "current", "delta", "p_value", "delta_ci_low", "delta_ci_high"]
    numeric.append("detectable")
    frame[numeric] = frame[numeric].apply(pd.to_numeric, errors="coerce")  # None -> NaN
    return frame

"""Compare two runs: every shared metric with its delta and whether the change is significant.

When both runs scored the same test set (same test-split fingerprint, and both wrote
`predictions.parquet` over the same rows and gold labels) the tests are paired: exact McNemar on
per-example correctness for accuracy, a paired bootstrap for the F1 scores
(auditkit.significance, the same tests the gate uses). Anything else falls back to the two
confidence intervals: overlapping intervals are reported as "not significant", which is the
conservative reading. A metric without CIs is "not tested", never silently "no change".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auditkit.api.results import RunResults

PAIRED_METRICS = ("performance.accuracy", "performance.macro_f1", "performance.weighted_f1")


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

    @property
    def verdict(self) -> str:
        if self.significant is None:
            return "not tested"
        if not self.significant:
            return "not significant"
        if self.higher_is_better is None or not self.delta:
            return "changed"
        return "better" if (self.delta > 0) == self.higher_is_better else "worse"


@dataclass
class Pairing:
    paired: bool
    reason: str
    frame: object | None = None  # merged predictions (pandas) when paired


def pair_predictions(a: RunResults, b: RunResults, preds_a, preds_b) -> Pairing:
    """Whether the two runs' per-example predictions can be paired, and the merged rows if so."""
    fa = a.manifest.split_fingerprints.get("test")
    fb = b.manifest.split_fingerprints.get("test")
    if not fa or not fb:
        return Pairing(False, "a run has no test-split fingerprint")
    if fa != fb:
        return Pairing(False, "the runs were scored on different test sets (fingerprints differ)")
    if preds_a is None or preds_b is None:
        return Pairing(False, "a run has no predictions.parquet (performance audit not run)")
    need = {"idx", "label", "pred", "correct"}
    for name, frame in (("baseline", preds_a), ("current", preds_b)):
        if not need <= set(frame.columns):
            return Pairing(False, f"the {name} predictions lack columns {sorted(need)}")
    if len(preds_a) != len(preds_b) or set(preds_a["idx"]) != set(preds_b["idx"]):
        return Pairing(False, "the predictions cover different test rows")
    merged = preds_a.merge(preds_b, on="idx", suffixes=("_a", "_b")).sort_values("idx")
    if not np.array_equal(merged["label_a"].to_numpy(), merged["label_b"].to_numpy()):
        return Pairing(False, "the gold labels differ between the runs' predictions")
    return Pairing(True, f"paired on {len(merged)} test examples (same test fingerprint)", merged)


def _ci_overlap(path: str, ma, mb) -> MetricChange:
    delta = None if ma.value is None or mb.value is None else mb.value - ma.value
    change = MetricChange(path, ma.value, mb.value, delta, _direction(ma, mb), "CI overlap")
    have = [ma.ci_low, ma.ci_high, mb.ci_low, mb.ci_high]
    if delta is None:
        change.method = "undefined value"
    elif any(v is None for v in have):
        change.method = "no CI"
    else:
        change.significant = bool(ma.ci_high < mb.ci_low or mb.ci_high < ma.ci_low)
    return change


def _direction(ma, mb) -> bool | None:
    return ma.higher_is_better if ma.higher_is_better is not None else mb.higher_is_better


def _paired(path: str, ma, mb, merged, k: int, alpha: float, seed: int, n_resamples: int):
    from auditkit import metrics as M
    from auditkit.significance import mcnemar, paired_bootstrap

    if path == "performance.accuracy":
        test = mcnemar(merged["correct_a"].to_numpy(), merged["correct_b"].to_numpy())
    else:
        key = path.split(".", 1)[1]
        y = merged["label_a"].to_numpy(dtype=np.int64)
        preds = (merged["pred_a"].to_numpy(np.int64), merged["pred_b"].to_numpy(np.int64))

        def statistic(idx, which):
            return M.f1_from_confusion(M.confusion_counts(y, preds[which], k, idx))[key]

        test = paired_bootstrap(statistic, len(y), n_resamples=n_resamples, seed=seed)
    delta = None if ma.value is None or mb.value is None else mb.value - ma.value
    return MetricChange(
        path,
        ma.value,
        mb.value,
        delta,
        _direction(ma, mb),
        test.method,
        test.p_value,
        test.p_value < alpha,
        test.ci_low,
        test.ci_high,
    )


def compare_runs(
    baseline: RunResults,
    current: RunResults,
    pairing: Pairing,
    *,
    alpha: float = 0.05,
    seed: int = 0,
    n_resamples: int = 2000,
) -> list[MetricChange]:
    """One MetricChange per metric both runs have (audits in both, by dotted path)."""
    changes = []
    labels = baseline.data.label_names if baseline.data else None
    for audit in baseline.audits:
        if audit not in current.audits:
            continue
        ma_all, mb_all = baseline.audits[audit].metrics, current.audits[audit].metrics
        for name in ma_all:
            if name not in mb_all:
                continue
            path = f"{audit}.{name}"
            ma, mb = ma_all[name], mb_all[name]
            if pairing.paired and path in PAIRED_METRICS and ma.value is not None:
                merged = pairing.frame
                k = len(labels) if labels else int(max(merged["label_a"].max(), 0)) + 1
                k = max(k, int(merged[["pred_a", "pred_b"]].to_numpy().max()) + 1)
                changes.append(_paired(path, ma, mb, merged, k, alpha, seed, n_resamples))
            else:
                changes.append(_ci_overlap(path, ma, mb))
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
            "test",
        ],
    )
    numeric = ["baseline", "current", "delta", "p_value", "delta_ci_low", "delta_ci_high"]
    frame[numeric] = frame[numeric].apply(pd.to_numeric, errors="coerce")  # None -> NaN
    return frame

"""The performance audit: accuracy, F1, per-class scores, confusion matrix and calibration.

Point metrics use scikit-learn rather than `evaluate` modules: `evaluate.load("accuracy")`
fetches its script from the Hub and fails offline, and the bootstrap needs the raw confusion
counts anyway (see auditkit.metrics). `extra_metrics` adds `evaluate` modules on top.
"""

from __future__ import annotations

import numpy as np

from auditkit import metrics as M
from auditkit.api.audit import Audit, AuditContext
from auditkit.api.results import AuditResult, Metric, Table
from auditkit.audits.performance.config import PerformanceConfig
from auditkit.audits.performance.outputs import OUTPUTS
from auditkit.files import write_parquet


class PerformanceAudit(Audit):
    name = "performance"
    description = "accuracy, macro/weighted F1, per-class scores, confusion matrix, calibration"
    tags = ("performance",)
    outputs = OUTPUTS
    Config = PerformanceConfig

    def run(self, ctx: AuditContext) -> AuditResult:
        cfg: PerformanceConfig = self.config  # type: ignore[assignment]
        test = ctx.data.test
        texts, y = test["text"], np.asarray(test["label"], dtype=np.int64)
        labels = ctx.data.label_names
        probs = ctx.predict_proba(texts, desc="predict test set")
        result = evaluate_predictions(probs, y, labels, cfg, seed=ctx.seed)
        val_probs, y_val = _validation(ctx, cfg)
        if cfg.calibration.temperature:
            fitted = add_temperature_scaling(cfg, probs, y, val_probs, y_val, ctx.seed, result)
            if cfg.calibration.apply:
                probs, val_probs = _apply_temperature(ctx, fitted, probs, val_probs, result)
        if cfg.conformal.enabled:
            add_conformal_sets(cfg, probs, y, val_probs, y_val, labels, ctx.seed, result)
        if cfg.extra_metrics:
            add_extra_metrics(cfg, probs, y, ctx, result)
        result.artifacts["predictions"] = write_predictions(ctx, texts, y, probs)
        return result


def add_extra_metrics(cfg: PerformanceConfig, probs, y, ctx: AuditContext, result) -> None:
    """`extra_metrics`: each `evaluate` metric, with a CI on the built-in resamples."""
    from auditkit.audits.performance import extra

    for spec in cfg.extra_metrics:
        module = extra.load(spec, ctx.suite)
        result.metrics[f"extra.{spec.key}"] = extra.compute(
            spec, module, probs, y, **_boot(cfg, ctx.seed)
        )


def _validation(ctx: AuditContext, cfg: PerformanceConfig):
    """The validation split's probabilities and labels, when a calibration step needs them."""
    val = ctx.data.validation
    wanted = cfg.calibration.temperature or cfg.conformal.enabled
    if not wanted or val is None or len(val) < 2:
        return None, None
    probs = ctx.predict_proba(val["text"], desc="predict validation set")
    return probs, np.asarray(val["label"], dtype=np.int64)


def _boot(cfg: PerformanceConfig, seed: int) -> dict:
    return {"n_resamples": cfg.bootstrap, "seed": seed, "confidence": cfg.confidence}


def add_temperature_scaling(
    cfg: PerformanceConfig,
    probs: np.ndarray,
    y: np.ndarray,
    val_probs: np.ndarray | None,
    y_val: np.ndarray | None,
    seed: int,
    result: AuditResult,
):
    """Temperature scaling measured on the test split (see calibration.py); adds metrics
    `calibration.*` and the tables `calibration_changes` and `calibration_reliability`."""
    from auditkit.audits.performance import calibration as C

    fitted = C.calibrate(probs, y, val_probs, y_val, seed=seed)
    boot = _boot(cfg, seed)
    found = C.changes(probs, fitted.probs, y, bins=cfg.ece_bins, **boot)
    ece_ci = M.bootstrap(
        lambda idx: M.expected_calibration_error(fitted.probs, y, cfg.ece_bins, idx), len(y), **boot
    )[:2]
    after = C.per_example(fitted.probs, y)
    cis = {"ece": ece_ci}
    for name in ("brier", "nll"):
        values = after[name]
        cis[name] = M.bootstrap(lambda idx, v=values: v[idx].mean(axis=1), len(y), **boot)[:2]
    metrics, tables = C.temperature_outputs(fitted, found, cis)
    result.metrics.update(metrics)
    result.tables.update(tables)
    result.tables["calibration_reliability"] = Table(
        columns=OUTPUTS.columns("calibration_reliability"),
        rows=M.reliability_table(fitted.probs, y, cfg.ece_bins),
        description=f"after temperature scaling, {fitted.how}",
    )
    if val_probs is None:
        result.warnings.append(
            "no validation split: the temperature was cross-fitted on two halves of the test split"
        )
    return fitted


def _apply_temperature(ctx: AuditContext, fitted, probs, val_probs, result: AuditResult):
    """`calibration.apply`: store T in the model's config, so that the rest of the run (this
    audit's sets and predictions, every later audit, predict_proba) sees calibrated
    probabilities; returns the test and validation probabilities rescaled to match."""
    from auditkit.audits.performance import calibration as C
    from auditkit.models.temperature import set_temperature, temperature_of

    t = float(np.exp(np.mean(np.log(fitted.temperatures))))
    model = ctx.model.model
    set_temperature(model, temperature_of(model) * t)
    result.config["calibration"]["applied_temperature"] = temperature_of(model)
    if len(fitted.temperatures) > 1:
        result.warnings.append(
            f"calibration.apply: T = {t:.4g} (geometric mean of the two halves' fits) was fitted "
            "on the test split, so later audits' calibration numbers are not held out"
        )
    earlier = [n for n in (ctx.results.audits if ctx.results else {}) if n != "performance"]
    if earlier:
        result.warnings.append(
            f"calibration.apply: {', '.join(earlier)} ran before performance and used the "
            "uncalibrated probabilities; list performance first in the suite's `audits:`"
        )
    scaled_val = None if val_probs is None else C.scale(val_probs, t)
    return C.scale(probs, t), scaled_val


def add_conformal_sets(
    cfg: PerformanceConfig,
    probs: np.ndarray,
    y: np.ndarray,
    val_probs: np.ndarray | None,
    y_val: np.ndarray | None,
    labels: list[str],
    seed: int,
    result: AuditResult,
) -> None:
    """Split conformal sets per score and alpha (prediction_sets.py); adds metrics
    `conformal.*` and the tables `conformal` and `conformal_by_class`."""
    from auditkit.audits.performance import prediction_sets as P

    measured = P.measure(
        probs, y, val_probs, y_val,
        scores=cfg.conformal.scores, alphas=cfg.conformal.alphas, boot=_boot(cfg, seed),
    )  # fmt: skip
    how = (
        f"calibrated on the validation split ({len(y_val)} examples)"
        if y_val is not None
        else "each half of the test split calibrated on the other (no validation split); the "
        "threshold shown is from the whole test split"
    )
    metrics, tables, warnings = P.outputs(measured, labels, how)
    result.metrics.update(metrics)
    result.tables.update(tables)
    result.warnings.extend(warnings)


def evaluate_predictions(
    probs: np.ndarray, y: np.ndarray, labels: list[str], cfg: PerformanceConfig, *, seed: int
) -> AuditResult:
    """All performance metrics from probabilities and gold labels (no model needed)."""
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    k, n = len(labels), len(y)
    pred = probs.argmax(axis=1)
    cm = M.confusion_counts(y, pred, k)
    ids = list(range(k))
    acc = accuracy_score(y, pred)
    macro = f1_score(y, pred, labels=ids, average="macro", zero_division=0)
    weighted = f1_score(y, pred, labels=ids, average="weighted", zero_division=0)
    prec, rec, f1, support = precision_recall_fscore_support(y, pred, labels=ids, zero_division=0)

    def batched(key: str):
        return lambda idx: M.f1_from_confusion(M.confusion_counts(y, pred, k, idx))[key]

    boot = {"n_resamples": cfg.bootstrap, "seed": seed, "confidence": cfg.confidence}
    ci = {key: M.bootstrap(batched(key), n, **boot)[:2] for key in ("accuracy", "macro_f1")}
    ci["weighted_f1"] = M.bootstrap(batched("weighted_f1"), n, **boot)[:2]
    ci["ece"] = M.bootstrap(
        lambda idx: M.expected_calibration_error(probs, y, cfg.ece_bins, idx), n, **boot
    )[:2]
    ci["classwise_ece"] = M.bootstrap(
        lambda idx: M.classwise_ece(probs, y, cfg.ece_bins, idx).mean(axis=1), n, **boot
    )[:2]
    from auditkit.audits.performance.calibration import per_example

    for name, values in per_example(probs, y).items():  # brier, nll
        ci[name] = M.bootstrap(lambda idx, v=values: v[idx].mean(axis=1), n, **boot)[:2]
    ece = M.expected_calibration_error(probs, y, cfg.ece_bins)
    per_class_ece = M.classwise_ece(probs, y, cfg.ece_bins)
    majority = float(np.bincount(y, minlength=k).max() / n)

    def metric(value, key=None, hib=None, unit=None, desc=None):
        low, high = ci.get(key, (None, None)) if key else (None, None)
        return Metric(
            value=value, ci_low=low, ci_high=high, higher_is_better=hib, unit=unit, description=desc
        )

    result = AuditResult(name="performance", config=cfg.model_dump())
    result.metrics = {
        "accuracy": metric(acc, "accuracy", True),
        "macro_f1": metric(macro, "macro_f1", True),
        "weighted_f1": metric(weighted, "weighted_f1", True),
        "ece": metric(ece, "ece", False, desc=f"top-label ECE, {cfg.ece_bins} equal-width bins"),
        "brier": metric(M.brier_score(probs, y), "brier", False, desc="multiclass Brier score"),
        "nll": metric(M.negative_log_likelihood(probs, y), "nll", False, unit="nats"),
        "classwise_ece": metric(
            float(per_class_ece.mean()),
            "classwise_ece",
            False,
            desc=f"classwise ECE, mean over classes, {cfg.ece_bins} equal-width bins",
        ),
        "majority_baseline_accuracy": metric(
            majority, desc="accuracy of always predicting the most frequent test class"
        ),
        "n_examples": metric(n, unit="examples"),
    }
    result.tables.update(
        _tables(probs, y, labels, cfg, cm, (prec, rec, f1, support), per_class_ece)
    )
    low = ci["accuracy"][0]
    if low is not None and low <= majority:
        result.warnings.append(
            f"accuracy's {cfg.confidence:.0%} CI [{low:.3f}, {ci['accuracy'][1]:.3f}] does not "
            f"clear the majority-class baseline ({majority:.3f})"
        )
    missing = [labels[i] for i in range(k) if cm[:, i].sum() == 0]
    if missing:
        result.warnings.append(f"the model never predicts {missing}")
    return result


def _tables(
    probs: np.ndarray,
    y: np.ndarray,
    labels: list[str],
    cfg: PerformanceConfig,
    cm: np.ndarray,
    scores: tuple,
    per_class_ece: np.ndarray,
) -> dict[str, Table]:
    """The per-class, confusion, reliability and classwise-calibration tables."""
    k = len(labels)
    prec, rec, f1, support = scores
    out: dict[str, Table] = {}
    out["per_class"] = Table(
        columns=["label", "precision", "recall", "f1", "support"],
        rows=[
            [labels[i], float(prec[i]), float(rec[i]), float(f1[i]), int(support[i])]
            for i in range(k)
        ],
    )
    out["confusion_matrix"] = Table(
        columns=["gold", *labels],
        rows=[[labels[i], *map(int, cm[i])] for i in range(k)],
        description="rows are gold labels, columns are predicted labels",
    )
    out["reliability"] = Table(
        columns=["bin_low", "bin_high", "count", "confidence", "accuracy"],
        rows=M.reliability_table(probs, y, cfg.ece_bins),
    )
    out["classwise_reliability"] = Table(
        columns=OUTPUTS.columns("classwise_reliability"),
        rows=[
            [labels[r[0]], *r[1:]] for r in M.classwise_reliability_table(probs, y, cfg.ece_bins)
        ],
        description="per class: p_class binned, against how often the class is the gold one",
    )
    out["classwise_calibration"] = Table(
        columns=OUTPUTS.columns("classwise_calibration"),
        rows=[
            [labels[c], float(per_class_ece[c]), float(probs[:, c].mean()), float((y == c).mean())]
            for c in range(k)
        ],
        description="classwise ECE per class: p_k against the frequency of k over all examples",
    )
    return out


def write_predictions(ctx: AuditContext, texts, y: np.ndarray, probs: np.ndarray) -> str:
    """Per-example predictions, the artifact the gate's paired tests and the dashboard read."""
    import pandas as pd

    labels = ctx.data.label_names
    pred = probs.argmax(axis=1)
    frame = pd.DataFrame(
        {
            "idx": np.arange(len(y)),
            "text": list(texts),
            "label": y,
            "label_name": [labels[i] for i in y],
            "pred": pred,
            "pred_name": [labels[i] for i in pred],
            "correct": pred == y,
            "confidence": probs.max(axis=1),
        }
    )
    for i, name in enumerate(labels):
        frame[f"p_{name}"] = probs[:, i]
    file_name = "predictions.parquet"
    write_parquet(ctx.artifact_path(file_name), frame)
    return file_name

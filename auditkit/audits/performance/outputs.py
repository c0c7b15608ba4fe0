"""What the performance audit writes (read by the report, dashboard, CLI summary and docs)."""

from auditkit.api.outputs import ArtifactSpec, Headline, MetricSpec, Outputs, TableSpec
from auditkit.comparison import COLUMNS as CHANGE_COLUMNS

_TS = "with `calibration.temperature` (the default)"

OUTPUTS = Outputs(
    title="Performance",
    icon=":material/target:",
    summary=(
        "Accuracy, F1 and calibration on the test split, each with a bootstrap CI, and "
        "calibration after temperature scaling fitted on the validation split."
    ),
    metrics=(
        MetricSpec("accuracy", "share of test examples predicted right", "higher"),
        MetricSpec("macro_f1", "F1 averaged over classes, each class counting the same", "higher"),
        MetricSpec("weighted_f1", "F1 averaged over classes, weighted by support", "higher"),
        MetricSpec("ece", "expected calibration error over the reliability bins", "lower"),
        MetricSpec("brier", "Brier score of the predicted probabilities", "lower"),
        MetricSpec("nll", "negative log-likelihood of the gold label", "lower", "nats"),
        MetricSpec(
            "classwise_ece",
            "classwise ECE (Kull et al. 2019): each class's probability against its frequency, "
            "binned, averaged over classes",
            "lower",
        ),
        MetricSpec(
            "majority_baseline_accuracy", "accuracy of always predicting the most common class"
        ),
        MetricSpec("n_examples", "test examples scored", unit="examples"),
        MetricSpec(
            "calibration.temperature",
            "the fitted temperature T (logits / T); above 1 means the model was overconfident",
            when=_TS,
        ),
        MetricSpec("calibration.ece", "ECE after temperature scaling", "lower", when=_TS),
        MetricSpec("calibration.brier", "Brier score after temperature scaling", "lower", when=_TS),
        MetricSpec("calibration.nll", "NLL after temperature scaling", "lower", "nats", when=_TS),
    ),
    tables=(
        TableSpec("per_class", ("label", "precision", "recall", "f1", "support")),
        TableSpec(
            "confusion_matrix",
            ("gold",),
            "gold label by predicted label",
            more="one column per predicted label",
        ),
        TableSpec("reliability", ("bin_low", "bin_high", "count", "confidence", "accuracy")),
        TableSpec(
            "classwise_calibration",
            ("label", "ece", "mean_probability", "frequency"),
            "per class: its classwise ECE, its mean predicted probability and its share of the "
            "test split",
        ),
        TableSpec(
            "calibration_changes",
            tuple(CHANGE_COLUMNS),
            "a comparison table: ece, brier and nll before and after temperature scaling "
            "(subject `temperature`), each change with a paired bootstrap interval",
            when=_TS,
        ),
    ),
    artifacts=(
        ArtifactSpec(
            "predictions",
            "predictions.parquet",
            "one row per test example; `idx` is the row of the test split, then `p_<label>` "
            "per class",
            ("idx", "text", "label", "label_name", "pred", "pred_name", "correct", "confidence"),
        ),
    ),
    headlines=(
        Headline("accuracy", "accuracy"),
        Headline("macro_f1", "macro-F1"),
        Headline("weighted_f1"),
        Headline("ece", "ECE"),
        Headline("brier"),
        Headline("nll"),
    ),
)

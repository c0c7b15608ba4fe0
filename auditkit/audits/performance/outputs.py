"""What the performance audit writes (read by the report, dashboard, CLI summary and docs)."""

from auditkit.api.outputs import ArtifactSpec, Headline, MetricSpec, Outputs, TableSpec

OUTPUTS = Outputs(
    title="Performance",
    icon=":material/target:",
    summary="Accuracy, F1 and calibration on the test split, each with a bootstrap CI.",
    metrics=(
        MetricSpec("accuracy", "share of test examples predicted right", "higher"),
        MetricSpec("macro_f1", "F1 averaged over classes, each class counting the same", "higher"),
        MetricSpec("weighted_f1", "F1 averaged over classes, weighted by support", "higher"),
        MetricSpec("ece", "expected calibration error over the reliability bins", "lower"),
        MetricSpec("brier", "Brier score of the predicted probabilities", "lower"),
        MetricSpec("nll", "negative log-likelihood of the gold label", "lower", "nats"),
        MetricSpec(
            "majority_baseline_accuracy", "accuracy of always predicting the most common class"
        ),
        MetricSpec("n_examples", "test examples scored", unit="examples"),
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

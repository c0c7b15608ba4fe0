"""What the performance audit writes (read by the report, dashboard, CLI summary and docs)."""

from auditkit.api.outputs import ArtifactSpec, Headline, MetricSpec, Outputs, TableSpec
from auditkit.comparison import COLUMNS as CHANGE_COLUMNS

_TS = "with `calibration.temperature` (the default)"
_CP = (
    "with `conformal.enabled` (the default), per score in `conformal.scores` and alpha in "
    "`conformal.alphas`"
)
_SET = (
    "{score} is `lac` or `aps`; {alpha} is the alpha as a name part: `a10` for 0.1, `a05` for "
    "0.05, `a025` for 0.025"
)

OUTPUTS = Outputs(
    title="Performance",
    icon=":material/target:",
    summary=(
        "Accuracy, F1 and calibration on the test split, each with a bootstrap CI, and "
        "calibration after temperature scaling fitted on the validation split, and split "
        "conformal prediction sets with their coverage."
    ),
    metrics=(
        MetricSpec(
            "extra.{metric}",
            "an `evaluate` metric of `extra_metrics`, on the test predictions",
            when="per entry of `extra_metrics`",
            direction_from="extra_metrics[].direction",
        ),
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
            "majority_baseline_accuracy",
            "accuracy of always predicting the most common class",
            ci=False,
        ),
        MetricSpec("n_examples", "test examples scored", unit="examples", ci=False),
        MetricSpec(
            "calibration.temperature",
            "the fitted temperature T (logits / T); above 1 means the model was overconfident",
            when=_TS,
            ci=False,
        ),
        MetricSpec("calibration.ece", "ECE after temperature scaling", "lower", when=_TS),
        MetricSpec("calibration.brier", "Brier score after temperature scaling", "lower", when=_TS),
        MetricSpec("calibration.nll", "NLL after temperature scaling", "lower", "nats", when=_TS),
        MetricSpec(
            "conformal.{score}.{alpha}.coverage",
            "share of test prediction sets that hold the gold label (target 1 - alpha), with a "
            "Clopper-Pearson CI; " + _SET,
            "higher",
            when=_CP,
        ),
        MetricSpec(
            "conformal.{score}.{alpha}.set_size",
            "mean number of labels per prediction set, bootstrap CI",
            "lower",
            "classes",
            when=_CP,
        ),
        MetricSpec(
            "conformal.{score}.{alpha}.singleton_share",
            "share of prediction sets with exactly one label, Clopper-Pearson CI",
            "higher",
            when=_CP,
        ),
        MetricSpec(
            "conformal.{score}.{alpha}.worst_class_coverage",
            "the lowest coverage over gold classes (split conformal promises coverage only on "
            "average over classes)",
            "higher",
            when=_CP,
        ),
        MetricSpec(
            "conformal.{score}.{alpha}.threshold",
            "the calibrated threshold: a class is in the set when its score is at most this; "
            "null when the calibration split is too small for alpha (full sets)",
            when=_CP,
            ci=False,
        ),
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
            "classwise_reliability",
            ("label", "bin_low", "bin_high", "count", "mean_probability", "frequency"),
            "per class and equal-width bin of p_class: the mean p_class and how often the class "
            "is the gold one (one reliability diagram per class)",
        ),
        TableSpec(
            "calibration_reliability",
            ("bin_low", "bin_high", "count", "confidence", "accuracy"),
            "the reliability table after temperature scaling",
            when=_TS,
        ),
        TableSpec(
            "conformal",
            (
                "score",
                "alpha",
                "target",
                "n_calibration",
                "threshold",
                "coverage",
                "coverage_low",
                "coverage_high",
                "set_size",
                "set_size_low",
                "set_size_high",
                "singleton_share",
                "empty_share",
            ),
            "one row per score and alpha: coverage against its target, and what it costs in "
            "set size",
            when=_CP,
        ),
        TableSpec(
            "conformal_by_class",
            (
                "score",
                "alpha",
                "label",
                "n",
                "coverage",
                "coverage_low",
                "coverage_high",
                "set_size",
            ),
            "coverage per gold class, per score and alpha",
            when=_CP,
        ),
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

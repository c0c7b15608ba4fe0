"""What the fairness audit writes (read by the report, dashboard, CLI summary and docs)."""

from auditkit.api.outputs import ArtifactSpec, Headline, MetricSpec, Outputs, TableSpec
from auditkit.comparison import COLUMNS as CHANGE_COLUMNS

_MIT = "with mitigation"
_CONF = "when the performance audit ran with conformal sets (`performance.conformal`)"
_THR = "with `threshold_optimizer` on that attribute"


def _parity(prefix: str, when: str | None = None) -> tuple[MetricSpec, ...]:
    return (
        MetricSpec(
            f"{prefix}.demographic_parity_difference",
            "largest gap in selection rate between groups, over classes (one class against the "
            "rest); null, with no CI, when a group has no gold example of a class",
            "lower",
            when=when,
        ),
        MetricSpec(
            f"{prefix}.demographic_parity_ratio",
            "smallest ratio of selection rates between groups, over classes",
            "higher",
            when=when,
        ),
        MetricSpec(
            f"{prefix}.equalized_odds_difference",
            "largest gap in true- or false-positive rate between groups",
            "lower",
            when=when,
        ),
    )


OUTPUTS = Outputs(
    title="Fairness",
    icon=":material/balance:",
    summary=(
        "Counterfactual identity swaps on probes from the test set and from templates, "
        "fairlearn group metrics per attribute and per metadata column, and optionally a "
        "mitigation by counterfactual augmentation and fairlearn's ThresholdOptimizer. An "
        "attribute A is a term-list attribute of the suite (e.g. `gender`, `region`); a "
        "metadata column C is a real column of the data."
    ),
    metrics=(
        MetricSpec(
            "mitigation.n_augmented",
            "counterfactual examples added to training",
            unit="examples",
            when=_MIT,
            ci=False,
        ),
        MetricSpec(
            "mitigation.clean_accuracy",
            "test accuracy of the mitigated model",
            "higher",
            when=_MIT,
            ci=False,
        ),
        MetricSpec(
            "mitigation.{attribute}.counterfactual_flip_rate",
            "flip rate after augmentation (held-out probes)",
            "lower",
            when=_MIT,
        ),
        MetricSpec(
            "mitigation.{attribute}.mean_abs_delta_p",
            "mean |Δp| after augmentation (held-out probes)",
            "lower",
            when=_MIT,
        ),
        MetricSpec(
            "mitigation.{attribute}.demographic_parity_difference",
            "parity difference after augmentation (held-out probes)",
            "lower",
            when=_MIT,
        ),
        MetricSpec(
            "mitigation.{attribute}.equalized_odds_difference",
            "equalized-odds difference after augmentation (held-out probes)",
            "lower",
            when=_MIT,
        ),
        MetricSpec(
            "threshold_optimizer.{attribute}.accuracy",
            "binary-view accuracy after ThresholdOptimizer (held-out half of the probes)",
            "higher",
            when=_THR,
            ci=False,
        ),
        MetricSpec(
            "threshold_optimizer.{attribute}.{metric}",
            "demographic_parity_difference, equalized_odds_difference or "
            "counterfactual_flip_rate on the binary view after ThresholdOptimizer",
            "lower",
            when=_THR,
            ci=False,
        ),
        MetricSpec(
            "column.{column}.n_missing",
            "test rows with a null or blank value, left out of the column's metrics",
            unit="examples",
            ci=False,
        ),
        MetricSpec(
            "column.{column}.n_examples", "test rows with a value", unit="examples", ci=False
        ),
        *_parity("column.{column}"),
        MetricSpec(
            "column.{column}.conformal.{score}.{alpha}.coverage_gap",
            "largest gap in conformal-set coverage between the column's values (the "
            "performance audit's sets; {alpha} as in its `conformal.*` metrics)",
            "lower",
            when=_CONF,
        ),
        MetricSpec(
            "{attribute}.conformal.{score}.{alpha}.coverage_gap",
            "largest gap in conformal-set coverage between groups over the probe variants",
            "lower",
            when=_CONF,
        ),
        MetricSpec(
            "{attribute}.counterfactual_flip_rate",
            "share of probes whose prediction changes when only the group term is swapped",
            "lower",
        ),
        MetricSpec(
            "{attribute}.mean_abs_delta_p",
            "mean |Δp| between the swapped versions of a probe",
            "lower",
        ),
        MetricSpec(
            "{attribute}.mean_abs_delta_p.{label}", "mean |Δp| of one class", "lower", ci=False
        ),
        *_parity("{attribute}"),
        MetricSpec("{attribute}.n_probes", "probes scored", unit="probes", ci=False),
    ),
    tables=(
        TableSpec(
            "group_metrics",
            (
                "attribute",
                "group",
                "n",
                "accuracy",
                "accuracy_ci_low",
                "accuracy_ci_high",
                "macro_f1",
                "macro_f1_ci_low",
                "macro_f1_ci_high",
            ),
            "attribute is `column.C` for a metadata column",
            more="`selection_rate_<label>` per class",
        ),
        TableSpec(
            "parity",
            (
                "attribute",
                "class",
                "demographic_parity_difference",
                "demographic_parity_ratio",
                "equalized_odds_difference",
            ),
        ),
        TableSpec(
            "flip_rates",
            (
                "attribute",
                "group_a",
                "group_b",
                "n",
                "flip_rate",
                "ci_low",
                "ci_high",
                "mean_abs_delta_p",
            ),
            more="`mean_abs_delta_p_<label>` per class",
        ),
        TableSpec(
            "probes",
            ("attribute", "group", "from_test_data", "from_templates", "mentioned_in_test_data"),
            "mentioned_in_test_data counts test probes whose original sentence names the group",
        ),
        TableSpec(
            "mitigation",
            ("attribute", "metric", "before", "after", "delta"),
            "held-out probes only; metric is one of counterfactual_flip_rate, mean_abs_delta_p, "
            "demographic_parity_difference, equalized_odds_difference, probe_accuracy; "
            "attribute `all` for clean_accuracy",
            when=_MIT,
        ),
        TableSpec(
            "mitigation_changes",
            tuple(CHANGE_COLUMNS),
            "the same pairs as a comparison table; clean_accuracy has a paired interval, the "
            "others the mitigated model's interval",
            when=_MIT,
        ),
        TableSpec(
            "conformal_by_group",
            (
                "attribute",
                "group",
                "score",
                "alpha",
                "n",
                "coverage",
                "coverage_low",
                "coverage_high",
                "set_size",
            ),
            "the performance audit's conformal sets covered per group: counterfactual attributes "
            "over their probe variants, `column.<C>` over test rows; Clopper-Pearson CIs",
            when=_CONF,
        ),
        TableSpec(
            "threshold_optimizer",
            ("attribute", "positive_class", "metric", "before", "after", "delta"),
            when="with `threshold_optimizer`",
        ),
    ),
    artifacts=(
        ArtifactSpec(
            "flips",
            "fairness_flips.jsonl",
            "one line per probe and group pair, flipped pairs first, then by delta_p; pred_a "
            "and pred_b are label names, delta_p the largest |Δp|, source `test` or `template`",
            (
                "attribute",
                "probe_id",
                "group_a",
                "group_b",
                "text_a",
                "text_b",
                "pred_a",
                "pred_b",
                "proba_a",
                "proba_b",
                "delta_p",
                "source",
                "label_name",
                "flipped",
            ),
        ),
        ArtifactSpec(
            "probes",
            "fairness_probes.jsonl",
            "one line per probe; ref is the test row or template index, mentions the groups the "
            "original names, and texts, preds and probas map each group to a value",
            (
                "attribute",
                "probe_id",
                "source",
                "ref",
                "label_name",
                "mentions",
                "texts",
                "preds",
                "probas",
            ),
        ),
    ),
    headlines=(
        Headline(
            "{attribute}.counterfactual_flip_rate",
            "max counterfactual flip rate",
            "max",
            exclude=("mitigation.", "column."),
        ),
        Headline(
            "{attribute...}.demographic_parity_difference",
            "max parity diff.",
            "max",
            exclude=("mitigation.",),
        ),
        Headline("{attribute...}.equalized_odds_difference", exclude=("mitigation.",)),
    ),
)

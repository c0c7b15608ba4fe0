"""What the explanations audit writes (read by the report, dashboard, CLI summary and docs)."""

from auditkit.api.outputs import ArtifactSpec, Headline, MetricSpec, Outputs, TableSpec

OUTPUTS = Outputs(
    title="Explanations",
    icon=":material/lightbulb:",
    summary=(
        "captum attributions (integrated gradients, input × gradient, occlusion, ...) and their "
        "faithfulness by ERASER's AOPC comprehensiveness and sufficiency, against a random "
        "attribution. A method M is one of the configured methods, or `random`."
    ),
    metrics=(
        MetricSpec(
            "{method}.comprehensiveness",
            "AOPC drop in the predicted class's probability when the top k% words are removed, "
            "over `k_percents` (by default ERASER's 1, 5, 10, 20, 50 %), with a bootstrap CI",
            "higher",
            "probability",
        ),
        MetricSpec(
            "{method}.sufficiency",
            "AOPC drop when only the top k% words are kept, with a bootstrap CI",
            "lower",
            "probability",
        ),
        MetricSpec(
            "{method}.comprehensiveness_vs_random",
            "comprehensiveness over random's (not for `random` itself; null when random's AOPC "
            "is not positive)",
            "higher",
            "ratio",
            ci=False,
        ),
        MetricSpec(
            "{method}.sufficiency_vs_random",
            "sufficiency over random's",
            "lower",
            "ratio",
            ci=False,
        ),
        MetricSpec(
            "{method}.delta_within_tolerance",
            "share of examples whose integrated-gradients completeness gap is within tolerance",
            "higher",
            ci=False,
        ),
        MetricSpec(
            "{method}.max_delta",
            "largest |completeness gap| of integrated gradients",
            "lower",
            "probability",
            ci=False,
        ),
        MetricSpec("n_examples", "examples explained", unit="examples", ci=False),
    ),
    tables=(
        TableSpec(
            "faithfulness",
            ("method", "k", "comprehensiveness", "sufficiency"),
            "k = `aopc` for the average over k",
        ),
        TableSpec(
            "convergence",
            ("method", "n", "median_delta", "max_delta", "within_tolerance", "median_steps"),
        ),
        TableSpec("top_tokens", ("class", "rank", "token", "mean_attribution", "count")),
    ),
    artifacts=(
        ArtifactSpec(
            "attributions",
            "attributions.jsonl",
            "one line per example and method; kind is `sample`, `misclassified`, "
            "`adversarial_original` or `adversarial_perturbed`; pair_id links an adversarial "
            "pair (else null); scores are signed, one per word; steps counts the "
            "integrated-gradients points behind the kept result (with `strategy: bisect`, "
            "summed over the path pieces)",
            (
                "idx",
                "kind",
                "pair_id",
                "text",
                "method",
                "words",
                "scores",
                "target",
                "probability",
                "label_name",
                "pred_name",
                "delta",
                "steps",
            ),
        ),
    ),
    headlines=(
        Headline(
            "{method}.comprehensiveness",
            "comprehensiveness",
            "max",
            prefer="integrated_gradients",
            exclude=("random.",),
        ),
        Headline("{method}.sufficiency", exclude=("random.",)),
        Headline(
            "{method}.comprehensiveness_vs_random",
            "vs random",
            "max",
            prefer="integrated_gradients",
            exclude=("random.",),
        ),
    ),
    notes=(
        "With robustness in the same run, the attacks artifact's successful attacks give "
        "adversarial pairs (the runner runs robustness first, whatever the suite's order).",
    ),
)

"""What the slices audit writes (read by the report, dashboard, CLI summary and docs)."""

from auditkit.api.outputs import (
    ArtifactSpec,
    Examples,
    Headline,
    MetricSpec,
    Outputs,
    RowSets,
    TableSpec,
)

_SLICE_COLUMNS = (
    "rank", "slice", "source", "description", "n", "errors", "accuracy", "accuracy_low",
    "accuracy_high", "macro_f1", "macro_f1_low", "macro_f1_high", "error_rate",
    "error_rate_low", "error_rate_high", "rest_accuracy", "gap", "gap_low", "gap_high",
    "p_value", "q_value",
)  # fmt: skip

OUTPUTS = Outputs(
    title="Error slices",
    icon=":material/troubleshoot:",
    summary=(
        "Where the model fails: candidate slices of the test split (metadata values, text "
        "features, term lists, embedding clusters, their pairs and the leaves of an error "
        "tree), each tested against the rest with a one-sided Fisher exact test, with "
        "Benjamini-Hochberg q-values over every candidate tested."
    ),
    metrics=(
        MetricSpec("n_candidates", "candidate slices tested (the BH correction's m)", ci=False),
        MetricSpec(
            "n_significant",
            "slices with q < fdr and n >= min_size: real failures, at the stated false "
            "discovery rate",
            "lower",
            ci=False,
        ),
        MetricSpec(
            "n_too_small", "candidate slices left untested: fewer than min_size rows", ci=False
        ),
        MetricSpec(
            "n_duplicates", "candidate slices left untested: the same rows as another", ci=False
        ),
        MetricSpec(
            "worst_accuracy",
            "accuracy of the worst significant slice, bootstrap CI; null when none is significant",
            "higher",
        ),
        MetricSpec(
            "worst_gap",
            "the most negative gap among the significant slices (slice accuracy minus the "
            "rest's), bootstrap CI; null when none is significant",
            "higher",
        ),
    ),
    tables=(
        TableSpec(
            "slices",
            _SLICE_COLUMNS,
            "the significant slices, smallest p first (the failures the data is surest of); "
            "error_rate = 1 - accuracy; the gap's CI resamples slice and rest independently",
        ),
        TableSpec(
            "candidates",
            (
                "slice",
                "source",
                "description",
                "n",
                "errors",
                "accuracy",
                "rest_accuracy",
                "gap",
                "p_value",
                "q_value",
                "significant",
                "compared_with",
            ),
            "every candidate tested, smallest p first, so the correction can be checked; "
            "compared_with is `the rest of the test split`, or for a tree leaf `the rest of "
            "the held-out half`",
        ),
        TableSpec(
            "clusters",
            ("cluster", "n", "accuracy", "words"),
            "the embedding clusters and the words that set each apart (c-TF-IDF)",
            when="with `sources.clusters`",
        ),
        TableSpec(
            "error_tree",
            (
                "node",
                "depth",
                "branch",
                "rule",
                "n_fit",
                "error_rate_fit",
                "n_test",
                "error_rate_test",
                "leaf",
            ),
            "the error tree, depth first, drawn in `branch` (each node's own condition, indented "
            "by depth) with the whole path in `rule`: fitted on one half of the test split "
            "(`_fit`), its leaves tested on the other (`_test`)",
            when="with `sources.tree`",
        ),
    ),
    artifacts=(
        ArtifactSpec(
            "examples",
            "slice_examples.jsonl",
            "each significant slice's misclassified test examples, in the `slices` table's "
            "order (at most max_examples each)",
            ("slice", "description", "idx", "text", "label", "pred", "confidence"),
            shows=Examples(
                group="slice",
                title="description",
                fields=("idx", "label", "pred", "confidence"),
                heading="Misclassified examples in the significant slices",
            ),
        ),
        ArtifactSpec(
            "members",
            "slice_members.jsonl",
            "one record per significant slice: its test rows (`rows`, the `idx` of "
            "predictions.parquet), to filter predictions by slice",
            ("slice", "description", "n", "rows"),
            shows=RowSets(rows="rows", label="description"),
        ),
    ),
    headlines=(
        Headline("n_significant", "significant slices", pick="max"),
        Headline("worst_accuracy", "worst slice accuracy"),
        Headline("worst_gap"),
        Headline("n_candidates"),
    ),
)

"""What the robustness audit writes (read by the report, dashboard, CLI summary and docs)."""

from auditkit.api.outputs import (
    ArtifactSpec,
    Examples,
    Headline,
    MetricSpec,
    Outputs,
    TableSpec,
)
from auditkit.comparison import COLUMNS as CHANGE_COLUMNS

_ADV = "with adversarial training"
_BEH = "with `behaviour` tests (mft or dir)"


def _per_recipe(prefix: str = "", when: str | None = None) -> tuple[MetricSpec, ...]:
    """The metrics each attack recipe R writes (R is the lower-case recipe name)."""
    r = prefix + "{recipe}"
    return (
        MetricSpec(f"{r}.clean_accuracy", "accuracy on the attacked examples", "higher", when=when),
        MetricSpec(f"{r}.accuracy_under_attack", "accuracy once attacked", "higher", when=when),
        MetricSpec(
            f"{r}.attack_success_rate",
            "share of correctly classified examples the attack flips",
            "lower",
            when=when,
        ),
        MetricSpec(
            f"{r}.perturbed_word_share", "share of words a successful attack changed", when=when
        ),
        MetricSpec(f"{r}.avg_queries", "model queries per attack", unit="queries", when=when),
        MetricSpec(
            f"{r}.valid_attack_share",
            "share of successful attacks that pass the validity checks",
            when=when,
        ),
        MetricSpec(
            f"{r}.accuracy_under_valid_attack",
            "accuracy when only valid attacks count",
            "higher",
            when=when,
        ),
        MetricSpec(f"{r}.n_examples", "examples attacked", unit="examples", when=when, ci=False),
        MetricSpec(
            f"{r}.validity.{{threshold}}.valid_attack_share",
            "share of successful attacks whose similarity reaches the threshold (`sim098` is "
            "0.98), per threshold in `validity_thresholds`",
            when=when,
        ),
        MetricSpec(
            f"{r}.validity.{{threshold}}.accuracy_under_valid_attack",
            "accuracy when only attacks reaching the threshold count",
            "higher",
            when=when,
        ),
    )


OUTPUTS = Outputs(
    title="Robustness",
    icon=":material/shield:",
    summary=(
        "TextAttack recipes against the model, CheckList-style invariance tests, and optionally "
        "adversarial training: the model fine-tuned again with its own adversarial examples, "
        "and attacked again."
    ),
    metrics=(
        *_per_recipe(),
        MetricSpec(
            "invariance.{perturbation}.flip_rate",
            "share of changed test sentences whose prediction the perturbation flips",
            "lower",
        ),
        MetricSpec(
            "behaviour.{test}.failure_rate",
            "share of a behavioural test's probes that fail its expectation (MFT: not the "
            "template's label; DIR: the edit did not have its effect); null when it has no "
            "probes",
            "lower",
            when=_BEH,
        ),
        MetricSpec(
            "behaviour.{test}.n",
            "probes the test judged (DIR not_label: those predicted the label before the edit)",
            unit="probes",
            when=_BEH,
            ci=False,
        ),
        MetricSpec(
            "behaviour.failure_rate",
            "share of all judged probes, over every behavioural test, that fail",
            "lower",
            when=_BEH,
        ),
        MetricSpec(
            "behaviour.n_probes", "probes judged over all tests", unit="probes", when=_BEH, ci=False
        ),
        MetricSpec(
            "adversarial_training.test_accuracy_before",
            "test accuracy before hardening",
            "higher",
            when=_ADV,
            ci=False,
        ),
        MetricSpec(
            "adversarial_training.test_accuracy",
            "test accuracy of the hardened model",
            "higher",
            when=_ADV,
            ci=False,
        ),
        MetricSpec(
            "adversarial_training.n_train_examples",
            "adversarial examples added",
            unit="examples",
            when=_ADV,
            ci=False,
        ),
        *_per_recipe("adversarial_training.", "with adversarial training: the hardened model"),
    ),
    tables=(
        TableSpec(
            "setup",
            ("step", "what"),
            "how TextAttack's NLTK resources were provided: auditkit's own built copies, or, "
            "with `download_resources: true`, NLTK's downloads; never a network probe",
        ),
        TableSpec(
            "attacks",
            (
                "recipe",
                "n",
                "clean_accuracy",
                "accuracy_under_attack",
                "attack_success_rate",
                "perturbed_word_share",
                "avg_queries",
                "valid_attack_share",
                "accuracy_under_valid_attack",
                "seconds",
            ),
        ),
        TableSpec(
            "per_class_success", ("recipe", "label", "attacked", "succeeded", "success_rate")
        ),
        TableSpec(
            "behaviour",
            (
                "test",
                "kind",
                "description",
                "expectation",
                "n",
                "failures",
                "failure_rate",
                "ci_low",
                "ci_high",
                "from_test",
                "from_templates",
                "status",
            ),
            "CheckList's capability (mft) and directional (dir) tests: probes judged, failures "
            "and the failure rate; status `no probes` when nothing matched",
            when=_BEH,
        ),
        TableSpec(
            "validity_ladder",
            (
                "recipe",
                "threshold",
                "valid_attack_share",
                "valid_attack_share_ci_low",
                "valid_attack_share_ci_high",
                "accuracy_under_valid_attack",
                "accuracy_under_valid_attack_ci_low",
                "accuracy_under_valid_attack_ci_high",
            ),
            "per recipe and similarity threshold: how many successful attacks stay valid, and "
            "the accuracy when only those count",
        ),
        TableSpec(
            "invariance",
            ("perturbation", "n", "changed", "flips", "flip_rate", "ci_low", "ci_high"),
        ),
        TableSpec(
            "adversarial_training",
            (
                "recipe",
                "metric",
                "before",
                "before_ci_low",
                "before_ci_high",
                "after",
                "after_ci_low",
                "after_ci_high",
                "delta",
            ),
            when=_ADV,
        ),
        TableSpec(
            "adversarial_training_changes",
            tuple(CHANGE_COLUMNS),
            "a comparison table: test_accuracy (subject `all`, paired interval) and, per "
            "recipe, clean_accuracy, accuracy_under_attack and attack_success_rate (the "
            "hardened model's interval)",
            when=_ADV,
        ),
        TableSpec(
            "resources",
            ("name", "source", "location", "sha256", "used_by"),
            "each word resource a recipe read; the same entries are in `results.json` → "
            "`manifest.resources`",
        ),
    ),
    artifacts=(
        ArtifactSpec(
            "attacks",
            "robustness_attacks.jsonl",
            "one line per attacked example; phase is `before` or `after` adversarial training, "
            "outcome `succeeded`, `failed` or `skipped` (already misclassified), changed_words "
            "a list of `[original_word, new_word]`; written as the attacks finish, in blocks of "
            "similar length (`idx` is the test row), the same bytes in one process or sharded",
            (
                "recipe",
                "phase",
                "idx",
                "original",
                "perturbed",
                "label",
                "label_name",
                "pred_before",
                "pred_after",
                "proba_before",
                "proba_after",
                "outcome",
                "queries",
                "changed_words",
                "perturbed_word_share",
                "similarity",
                "valid",
            ),
        ),
        ArtifactSpec(
            "invariance_flips",
            "robustness_invariance_flips.jsonl",
            "one line per flipped invariance probe",
            (
                "perturbation",
                "idx",
                "original",
                "perturbed",
                "label_name",
                "pred_before",
                "pred_after",
                "proba_before",
                "proba_after",
            ),
        ),
        ArtifactSpec(
            "behaviour_failures",
            "robustness_behaviour_failures.jsonl",
            "the worst failures of each behavioural test (at most `max_failures`): the probe "
            "(`text`), for DIR the sentence after the edit (`edited`), the predictions, and the "
            "probability of the label the expectation names before and after",
            (
                "test",
                "kind",
                "what",
                "source",
                "idx",
                "text",
                "edited",
                "pred_before",
                "pred_after",
                "label",
                "p_before",
                "p_after",
            ),
            when=_BEH,
            shows=Examples(
                group="test",
                title="what",
                text="edited",
                before="text",
                fields=("pred_before", "pred_after", "p_before", "p_after"),
                heading="Behavioural test failures",
            ),
        ),
    ),
    headlines=(
        Headline("{recipe}.accuracy_under_attack", "accuracy under attack", "min"),
        Headline("{recipe}.attack_success_rate", "attack success", "max"),
        Headline("invariance.{perturbation}.flip_rate", "max flip rate", "max"),
        Headline("behaviour.failure_rate", "behavioural test failures"),
    ),
)

"""The batched attack runner: same outcomes as one-at-a-time TextAttack, real flips."""

from __future__ import annotations

import numpy as np
import pytest

from auditkit.audits.robustness.attacker import BatchedAttackRunner, QueryCache, score
from auditkit.audits.robustness.offline import prepare_textattack
from auditkit.audits.robustness.recipes import RECIPES


@pytest.fixture(scope="module")
def attack_set(trained_toy_handle):
    handle, bundle = trained_toy_handle
    test = bundle.test.select(range(24))
    return handle, list(test["text"]), list(test["label"])


def run(handle, texts, labels, recipe="deepwordbug", concurrency=8, seed=0, budget=None):
    prepare_textattack()
    runner = BatchedAttackRunner(
        handle, RECIPES[recipe].build, concurrency=concurrency, seed=seed, query_budget=budget
    )
    return runner, runner.run(texts, labels)


def test_batched_outcomes_equal_one_at_a_time(attack_set):
    handle, texts, labels = attack_set
    r1, alone = run(handle, texts, labels, concurrency=1)
    r8, batched = run(handle, texts, labels, concurrency=8)
    assert [o.status for o in alone] == [o.status for o in batched]
    assert [o.perturbed for o in alone] == [o.perturbed for o in batched]
    assert [o.queries for o in alone] == [o.queries for o in batched]
    assert r8.rounds < r1.rounds  # fewer, larger model calls
    succeeded = [o for o in batched if o.status == "succeeded"]
    assert len(succeeded) >= 3, [o.status for o in batched]
    # the adversarial texts really flip the model: re-predict them from scratch
    pred = handle.predict([o.perturbed for o in succeeded])
    assert all(p != o.label for p, o in zip(pred, succeeded, strict=True))
    assert all(o.changed_words and o.perturbed != o.original for o in succeeded)
    # and the recorded probabilities are the model's
    np.testing.assert_allclose(
        handle.predict_proba([o.perturbed for o in succeeded]),
        [o.proba_after for o in succeeded],
        atol=1e-5,
    )


def test_same_seed_same_result_other_seed_may_differ(attack_set):
    handle, texts, labels = attack_set
    _, a = run(handle, texts, labels, seed=3)
    _, b = run(handle, texts, labels, seed=3)
    assert [o.perturbed for o in a] == [o.perturbed for o in b]
    assert [o.queries for o in a] == [o.queries for o in b]
    # DeepWordBug draws which character edit to make: the seed reaches the search
    _, c = run(handle, texts, labels, seed=4)
    assert [o.perturbed for o in c] != [o.perturbed for o in a]
    # and what may differ is only the random part: the clean predictions, and so which
    # examples are attacked at all, do not depend on the seed
    assert [o.status == "skipped" for o in c] == [o.status == "skipped" for o in a]
    assert [o.pred_before for o in c] == [o.pred_before for o in a]


def _one_typo(a: str, b: str) -> bool:
    """True when b is a with one character dropped, added, replaced, or two neighbours swapped."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    i = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
    return (
        a[i + 1 :] == b[i:]  # dropped
        or a[i:] == b[i + 1 :]  # added
        or a[i + 1 :] == b[i + 1 :]  # replaced
        or (a[i + 2 :] == b[i + 2 :] and a[i : i + 2] == b[i : i + 2][::-1])  # swapped
    )


def test_one_typo_helper():
    assert _one_typo("profit", "proft") and _one_typo("profit", "proffit")
    assert _one_typo("profit", "prifit") and _one_typo("profit", "porfit")
    assert not _one_typo("profit", "profit") and not _one_typo("profit", "pofrti")


def test_pruthi_is_greedy_single_typo(attack_set):
    handle, texts, labels = attack_set
    _, outcomes = run(handle, texts, labels, recipe="pruthi2019")
    succeeded = [o for o in outcomes if o.status == "succeeded"]
    assert succeeded, [o.status for o in outcomes]  # else nothing below would be checked
    for o in succeeded:  # one word changed, by one typo, and that alone flips the model
        ((before, after),) = o.changed_words
        assert _one_typo(before.lower(), after.lower()), (before, after)
        assert handle.predict([o.perturbed])[0] != o.label
    for o in outcomes:
        if o.status == "failed":  # no single typo flips it: the model keeps the gold label
            assert o.pred_after == o.label
        elif o.status == "skipped":  # already wrong: not attacked
            assert o.pred_before != o.label and o.perturbed == o.original and o.queries <= 1


def test_query_budget_is_respected(attack_set):
    handle, texts, labels = attack_set
    _, free = run(handle, texts, labels)
    _, outcomes = run(handle, texts, labels, budget=5)
    attacked = [o for o in outcomes if o.status != "skipped"]
    assert attacked and all(o.queries <= 5 for o in attacked)
    # the budget binds: examples that took more queries without it stop at 5
    more = [i for i, o in enumerate(free) if o.status != "skipped" and o.queries > 5]
    assert more and all(outcomes[i].queries <= 5 for i in more)


def test_cache_scores_each_distinct_text_once(trained_toy_handle):
    handle, _ = trained_toy_handle
    cache = QueryCache()
    handle.reset_counters()
    out = score(handle, ["up a", "down b", "up a"], cache, None)
    assert handle.examples_seen == 2 and cache.misses == 2
    np.testing.assert_allclose(out[0], out[2])
    score(handle, ["up a"], cache, None)
    assert handle.examples_seen == 2 and cache.hits == 1

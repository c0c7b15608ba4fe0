"""The batched attack runner: same outcomes as one-at-a-time TextAttack, real flips."""

from __future__ import annotations

import numpy as np
import pytest

from auditkit.audits.robustness.offline import prepare_textattack
from auditkit.audits.robustness.recipes import RECIPES
from auditkit.audits.robustness.runner import BatchedAttackRunner, QueryCache, score


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


def test_pruthi_is_greedy_single_typo(attack_set):
    handle, texts, labels = attack_set
    _, outcomes = run(handle, texts[:8], labels[:8], recipe="pruthi2019")
    for o in outcomes:
        if o.status == "succeeded":
            assert len(o.changed_words) == 1
            assert handle.predict([o.perturbed])[0] != o.label


def test_query_budget_is_respected(attack_set):
    handle, texts, labels = attack_set
    _, outcomes = run(handle, texts, labels, budget=5)
    assert all(o.queries <= 5 for o in outcomes if o.status != "skipped")


def test_cache_scores_each_distinct_text_once(trained_toy_handle):
    handle, _ = trained_toy_handle
    cache = QueryCache()
    handle.reset_counters()
    out = score(handle, ["up a", "down b", "up a"], cache, None)
    assert handle.examples_seen == 2 and cache.misses == 2
    np.testing.assert_allclose(out[0], out[2])
    score(handle, ["up a"], cache, None)
    assert handle.examples_seen == 2 and cache.hits == 1

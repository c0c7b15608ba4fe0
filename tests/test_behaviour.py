"""The robustness audit's behavioural tests (CheckList's MFT and DIR) on a real tiny BERT.

The model is fine-tuned on the toy keyword task (a positive or negative keyword among filler
words decides the label) with "not" inserted at random into half the rows of every class, so
it is built to ignore negation: "not" carries no signal in its training data.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from auditkit.audits.robustness import behaviour as B
from auditkit.errors import SuiteError
from tests.conftest import build_tiny_bert, toy_rows, write_csv, write_toy_suite

LABELS = ["negative", "positive", "neutral"]


@pytest.fixture(scope="module")
def negation_blind(tmp_path_factory):
    """A tiny BERT that ignores "not": its training rows carry it in every class alike."""
    from auditkit.data import load_data
    from auditkit.models import load_handle, resolve_model
    from auditkit.suite import load_suite
    from auditkit.training import fine_tune

    folder = tmp_path_factory.mktemp("negation-blind")
    rng = random.Random(3)
    rows = []
    for text, label in toy_rows(600, seed=4):
        words = text.split()
        if rng.random() < 0.5:
            words.insert(rng.randint(0, len(words)), "not")
        rows.append((" ".join(words), label))
    write_csv(folder / "toy.csv", rows)
    suite = load_suite(write_toy_suite(folder, build_tiny_bert(folder / "tiny")))
    bundle = load_data(suite)
    assert bundle.label_names == LABELS
    handle = load_handle(resolve_model(suite.model.id), bundle.label_names, device="cpu",
                         max_length=32)  # fmt: skip
    outcome = fine_tune(
        handle, bundle, suite.training, seed=0, cache_dir=folder / "cache", progress=False
    )
    return outcome.handle


def config(**tests) -> B.BehaviourConfig:
    cfg = B.BehaviourConfig.model_validate(
        {
            "terms": {"filler": ["the company said", "analysts said sales", "the group profit"]},
            "min_probes": 3,
            **tests,
        }
    )
    B.check(cfg)
    return cfg


def run(cfg: B.BehaviourConfig, handle, texts=()) -> dict[str, B.TestOutcome]:
    return {o.name: o for o in B.evaluate(cfg, list(texts), LABELS, handle.predict_proba, 0)}


def test_a_model_built_to_ignore_negation_fails_the_negation_mft(negation_blind):
    cfg = config(
        mft={
            "negated_rise": {"templates": ["{filler} not rose", "{filler} not improved"],
                             "label": "negative"},
            "plain_rise": {"templates": ["{filler} rose", "{filler} improved"],
                           "label": "positive"},
        }
    )  # fmt: skip
    out = run(cfg, negation_blind)
    assert len(out["negated_rise"].failed) == 6
    assert out["negated_rise"].failed.mean() >= 0.8  # it reads "not rose" as "rose"
    assert out["plain_rise"].failed.mean() <= 0.2  # while the capability itself is there


@pytest.mark.parametrize(
    ("expect", "fails"),
    [
        ({"to_label": "negative"}, False),  # rose -> fell: it does become negative
        ({"to_label": "positive"}, True),
        ({"p_decreases": "positive", "by_at_least": 0.2}, False),
        ({"p_decreases": "negative", "by_at_least": 0.2}, True),  # p(negative) rises instead
        ({"not_label": "positive"}, False),  # a positive sentence does not stay positive
    ],
)
def test_each_dir_expectation_is_checked_in_its_direction(negation_blind, expect, fails):
    cfg = config(
        dir={"rose_to_fell": {"from": ["rose"], "to": ["fell"], "expect": expect,
                              "templates": ["{filler} rose"]}}
    )  # fmt: skip
    out = run(cfg, negation_blind)["rose_to_fell"]
    assert len(out.failed) == 3 and out.probes[0].edited == "the company said fell"
    assert out.failed.all() if fails else not out.failed.any()


def test_not_label_judges_only_probes_predicted_that_label(negation_blind):
    # fell -> rose, expecting a positive prediction not to stay positive: none is positive
    # before the edit, so nothing is judged, which is not a 0% failure rate
    cfg = config(
        dir={"fell_to_rose": {"from": ["fell"], "to": ["rose"],
                              "expect": {"not_label": "positive"}, "templates": ["{filler} fell"]}}
    )  # fmt: skip
    out = run(cfg, negation_blind)["fell_to_rose"]
    assert len(out.probes) == 3 and not out.applicable.any() and len(out.failed) == 0


def test_an_edit_that_matches_nothing_has_no_probes(negation_blind, tmp_path):
    cfg = config(dir={"surge": {"from": ["skyrocketed"], "to": ["plunged"],
                                "expect": {"to_label": "negative"}}})  # fmt: skip
    out = run(cfg, negation_blind, texts=["the company said sales rose"])["surge"]
    assert out.probes == [] and len(out.failed) == 0
    # in the audit: a null failure rate, a `no probes` row and a warning, never 0%
    from auditkit.runner import run_suite
    from auditkit.suite import load_suite

    audits = """  robustness:
    recipes: [deepwordbug]
    sample_size: 2
    bootstrap: 200
    invariance: {enabled: false}
    behaviour:
      dir:
        surge: {from: [skyrocketed], to: [plunged], expect: {to_label: negative}}
        rose_to_fell:
          from: [rose]
          to: [fell]
          expect: {p_decreases: positive, by_at_least: 0.1}
"""
    suite = load_suite(write_toy_suite(tmp_path, _model_dir(tmp_path), audits=audits))
    results, _ = run_suite(suite, out_dir=tmp_path / "r")
    res = results.audits["robustness"]
    assert res.status == "ok", res.error
    assert res.metrics["behaviour.surge.failure_rate"].value is None
    row = next(r for r in res.tables["behaviour"].records() if r["test"] == "surge")
    assert row["status"] == "no probes" and row["n"] == 0 and row["failure_rate"] is None
    assert any("'surge' has no probes" in w for w in res.warnings)
    rose = next(r for r in res.tables["behaviour"].records() if r["test"] == "rose_to_fell")
    assert rose["status"] == "ok" and rose["from_test"] > 0  # test sentences hold "rose"
    m = res.metrics["behaviour.rose_to_fell.failure_rate"]
    assert m.ci_low <= m.value <= m.ci_high and res.metrics["behaviour.rose_to_fell.n"].value
    assert res.metrics["behaviour.failure_rate"].value == pytest.approx(rose["failure_rate"])


def _model_dir(folder):
    return build_tiny_bert(folder / "tiny")


def test_swaps_keep_case_and_possessives():
    test = B.DirTest.model_validate(
        {"from": ["rose", "profit", "beat expectations"],
         "to": ["fell", "loss", "missed expectations"], "expect": {"to_label": "negative"}}
    )  # fmt: skip
    swap = B.dir_swapper(test).swap
    assert swap("Profit ROSE; profit's share rose.", "to") == "Loss FELL; loss's share fell."
    assert swap("Beat expectations, BEAT EXPECTATIONS", "to") == (
        "Missed expectations, MISSED EXPECTATIONS"
    )
    assert swap("a prose poem", "to") == "a prose poem"  # whole words only


def test_failures_are_ranked_worst_first_and_capped():
    probes = [B.Probe("template", f"t{i}", f"e{i}") for i in range(4)]
    out = B.TestOutcome(
        "x", "dir", "", "becomes negative", probes, np.array([True, False, True, True]),
        np.ones(4, bool), 0, np.array([0.2, 0.3, 0.4, 0.1]), np.array([0.3, 0.9, 0.05, 0.2]),
        np.array([1, 1, 1, 1]), np.array([1, 0, 1, 1]), np.array([-0.3, -0.9, -0.05, -0.2]),
    )  # fmt: skip
    rows = B.failure_records(out, LABELS, limit=2)
    assert [r["text"] for r in rows] == ["t2", "t3"]  # lowest p(negative) after the edit first
    assert rows[0]["edited"] == "e2" and rows[0]["p_after"] == 0.05


def test_config_errors_name_the_test_and_the_fix():
    with pytest.raises(SuiteError, match=r"placeholder \{who\} is not in `terms`"):
        config(mft={"a": {"templates": ["{who} rose"], "label": "positive"}})
    with pytest.raises(SuiteError, match="holds none of the `from` terms"):
        config(dir={"a": {"from": ["rose"], "to": ["fell"], "expect": {"to_label": "negative"},
                          "templates": ["sales fell"]}})  # fmt: skip
    with pytest.raises(SuiteError, match="named both"):
        config(
            mft={"a": {"templates": ["x"], "label": "positive"}},
            dir={"a": {"from": ["x"], "to": ["y"], "expect": {"to_label": "negative"}}},
        )
    with pytest.raises(ValueError, match="exactly one of"):
        B.Expectation(to_label="negative", not_label="positive")
    with pytest.raises(ValueError, match="term i of one"):
        B.DirTest.model_validate({"from": ["a", "b"], "to": ["c"], "expect": {"to_label": "x"}})
    with pytest.raises(SuiteError, match="'happy' is not one of the labels"):
        B.check_labels(config(mft={"a": {"templates": ["x"], "label": "happy"}}), LABELS, "k")

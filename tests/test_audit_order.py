"""Audits that read another audit's results run after it, whatever order the suite lists."""

from __future__ import annotations

import json

import pytest

from auditkit.api.audit import Audit
from auditkit.api.registry import AUDITS
from auditkit.errors import SuiteError
from auditkit.runner import order_audits

ROBUSTNESS_FIRST_LISTED_LAST = """  explanations:
    per_class: 1
    misclassified: 0
    adversarial_pairs: 2
  performance:
    bootstrap: 200
  robustness:
    recipes: [deepwordbug]
    sample_size: 12
    bootstrap: 200
    invariance:
      perturbations: [casing]
"""


def test_an_audit_runs_after_the_audits_it_reads_and_the_rest_keep_the_suites_order():
    configs = dict.fromkeys(["explanations", "performance", "robustness", "efficiency"])
    assert list(order_audits(configs)) == [
        "performance",
        "robustness",
        "explanations",
        "efficiency",
    ]
    default = dict.fromkeys(["performance", "robustness", "fairness", "explanations", "efficiency"])
    assert list(order_audits(default)) == list(default)  # already in order: unchanged
    assert list(order_audits(dict.fromkeys(["explanations"]))) == ["explanations"]  # absent: free


class ReadsB(Audit):
    name = "reads_b"
    reads = ("reads_a",)

    def run(self, ctx):
        raise NotImplementedError


class ReadsA(Audit):
    name = "reads_a"
    reads = ("reads_b",)

    def run(self, ctx):
        raise NotImplementedError


def test_a_cycle_of_reads_is_a_suite_error(monkeypatch):
    monkeypatch.setitem(AUDITS._entries, "reads_a", ReadsA)
    monkeypatch.setitem(AUDITS._entries, "reads_b", ReadsB)
    with pytest.raises(SuiteError, match="cycle"):
        order_audits(dict.fromkeys(["reads_a", "reads_b"]))


@pytest.mark.slow
def test_explanations_gets_adversarial_pairs_when_listed_before_robustness(toy_suite, tmp_path):
    from auditkit.runner import run_suite
    from auditkit.suite import load_suite

    suite = load_suite(toy_suite(audits=ROBUSTNESS_FIRST_LISTED_LAST))
    results, run_dir = run_suite(suite, out_dir=tmp_path)
    assert [s.name for s in results.stages][-3:] == [
        "audit:performance", "audit:robustness", "audit:explanations",
    ]  # fmt: skip
    assert results.audits["robustness"].status == "ok"
    attacks = [
        json.loads(line)
        for line in (run_dir / results.audits["robustness"].artifacts["attacks"]).open()
    ]
    assert any(a["outcome"] == "succeeded" for a in attacks)  # there were pairs to take
    explanations = results.audits["explanations"]
    assert explanations.status == "ok", explanations.error
    kinds = {
        json.loads(line)["kind"]
        for line in (run_dir / explanations.artifacts["attributions"]).open()
    }
    assert {"adversarial_original", "adversarial_perturbed"} <= kinds, kinds

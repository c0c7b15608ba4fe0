"""Robustness audit: invariance perturbations, recipe resource checks, the audit end to end."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from auditkit.audits.robustness import RobustnessConfig, offline, stratified_sample
from auditkit.audits.robustness import invariance as inv
from auditkit.audits.robustness.recipes import RECIPES, check_recipes, runnable_recipes
from auditkit.errors import AuditkitError

SENTENCES = [
    "Operating profit rose to EUR 5.1 mn from EUR 3,200 thousand, the company said.",
    "Nordhavn Oy does not expect sales to grow in Finland this year.",
    "it is a quiet quarter for the group",
    "Shares of Kestrel Systems fell 4 % after Maria Lind resigned.",
]
CFG = inv.InvarianceConfig(
    names={"company": ["Nordhavn Oy", "Kestrel Systems", "Brightwater Ltd"],
           "place": ["Finland", "Norway", "Kenya"]},
    number_formats={"mn": "million"},
)  # fmt: skip


@pytest.mark.parametrize("name", inv.PERTURBATIONS)
def test_each_perturbation_is_deterministic_and_changes_text(name):
    a = inv.perturb(name, SENTENCES, seed=0, cfg=CFG)
    assert a == inv.perturb(name, SENTENCES, seed=0, cfg=CFG)
    assert sum(x != y for x, y in zip(a, SENTENCES, strict=True)) >= 1, name


def test_perturbations_do_what_they_say():
    rng = random.Random(0)
    assert inv.casing("Profit rose", rng, CFG) == "profit rose"
    assert inv.casing("profit rose", rng, CFG) == "PROFIT ROSE"
    assert inv.punctuation("Sales grew, the firm said.", rng, CFG) == "Sales grew the firm said"
    assert inv.punctuation("Sales grew", rng, CFG) == "Sales grew."
    assert inv.numbers("profit of EUR 5.1 mn", rng, CFG) == "profit of EUR 5.1 million"
    assert inv.numbers("EUR 5.1 million", rng, CFG) == "EUR 5.1 mn"
    assert inv.numbers("sold 3,200 units", rng, CFG) == "sold 3200 units"
    assert inv.numbers("sold 3200 units", rng, CFG) == "sold 3,200 units"
    assert inv.contractions("It does not grow", rng, CFG) == "It doesn't grow"
    assert inv.contractions("It doesn't grow", rng, CFG) == "It does not grow"
    assert inv.contractions("Is not it", rng, CFG) == "Isn't it"
    swapped = inv.names("Nordhavn Oy sells in Finland.", rng, CFG)
    assert "Nordhavn Oy" not in swapped and "Finland" not in swapped
    assert swapped.endswith(".") and swapped.split()[0] in {"Kestrel", "Brightwater"}
    assert inv.names("Finlandia is a vodka", rng, CFG) == "Finlandia is a vodka"  # whole words
    typo = inv.typos("Quarterly revenue increased", random.Random(1), CFG)
    assert (
        sorted(typo) == sorted("Quarterly revenue increased")
        and typo != "Quarterly revenue increased"
    )


def test_stratified_sample_keeps_class_shares_and_is_seeded():
    labels = np.array([0] * 60 + [1] * 30 + [2] * 10)
    pick = stratified_sample(labels, 20, seed=0)
    assert len(pick) == 20 and len(set(pick)) == 20
    assert np.bincount(labels[pick]).tolist() == [12, 6, 2]
    assert (pick == stratified_sample(labels, 20, seed=0)).all()
    assert not (pick == stratified_sample(labels, 20, seed=1)).all()
    assert len(stratified_sample(labels, 500, seed=0)) == 100


def test_offline_setup_builds_stopwords_and_wordnet(tmp_path, monkeypatch):
    import nltk

    monkeypatch.setenv("AUDITKIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(nltk.data, "path", [])  # isolated from corpora earlier tests provided
    how = offline.ensure_stopwords(online=False)
    assert "scikit-learn" in how
    words = (tmp_path / "nltk_data/corpora/stopwords/english").read_text().split()
    assert "the" in words and len(words) > 300
    debian = tmp_path / "no-wordnet"
    debian.mkdir()
    assert offline.ensure_wordnet(online=False, debian_dir=debian) in (None, "found")


def test_wordnet_from_debian_files_answers_synonym_queries(tmp_path, monkeypatch):
    import nltk

    monkeypatch.setattr(nltk.data, "path", [])
    assert offline.DEBIAN_WORDNET.joinpath("data.noun").is_file(), (
        "Debian's wordnet-base is missing: apt-get install wordnet-base wordnet-sense-index "
        "(.ci/run does this)"
    )
    monkeypatch.setenv("AUDITKIT_CACHE_DIR", str(tmp_path))
    assert "copied" in offline.ensure_wordnet(online=False)
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    wn = WordNetCorpusReader(str(tmp_path / "nltk_data/corpora/wordnet"), None)
    lemmas = {lemma for s in wn.synsets("profit") for lemma in s.lemma_names()}
    assert "net_income" in lemmas or "gain" in lemmas


def test_unknown_recipe_suggests_the_close_one():
    with pytest.raises(AuditkitError, match="Did you mean: 'deepwordbug'"):
        check_recipes(["deepwordbugg"])


@pytest.mark.parametrize("recipe", ["textfooler", "bae", "bert_attack", "textbugger"])
def test_recipes_without_their_resources_fail_naming_them(recipe):
    missing = RECIPES[recipe].missing()
    assert missing, f"{recipe} unexpectedly has all its resources here"
    with pytest.raises(AuditkitError) as err:
        check_recipes(["deepwordbug", recipe])
    text = err.value.message + err.value.hint
    assert all(r.name in text for r in missing)
    assert "recipes that would run here: deepwordbug, pruthi2019" in text


def test_pwws_error_when_wordnet_is_absent(monkeypatch, tmp_path):
    monkeypatch.setenv("AUDITKIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(offline, "DEBIAN_WORDNET", tmp_path / "none")
    import nltk

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "empty")])
    assert "pwws" not in runnable_recipes()
    with pytest.raises(AuditkitError, match="WordNet"):
        check_recipes(["pwws"])


def test_config_rejects_bad_recipe_and_perturbation_at_load():
    with pytest.raises(ValueError, match="textfooler"):
        RobustnessConfig(recipes=["textfooler"])
    with pytest.raises(ValueError, match="unknown perturbation"):
        RobustnessConfig(invariance={"perturbations": ["emoji"]})
    with pytest.raises(ValueError, match=r"not in robustness\.recipes"):
        RobustnessConfig(adversarial_training={"enabled": True, "recipes": ["pruthi2019"]})


def test_audit_end_to_end_on_a_tiny_model(toy_suite, tmp_path):
    from auditkit.runner import run_suite
    from auditkit.suite import load_suite

    audits = """  robustness:
    recipes: [deepwordbug, pruthi2019]
    sample_size: 24
    bootstrap: 200
    invariance:
      perturbations: [typos, casing, punctuation]
"""
    results, run_dir = run_suite(load_suite(toy_suite(audits=audits)), out_dir=tmp_path / "r")
    res = results.audits["robustness"]
    assert res.status == "ok", res.error
    m = res.metrics
    for r in ("deepwordbug", "pruthi2019"):
        clean, under = m[f"{r}.clean_accuracy"].value, m[f"{r}.accuracy_under_attack"].value
        assert 0.5 < clean <= 1 and under <= clean
        rate = m[f"{r}.attack_success_rate"].value
        assert under == pytest.approx(clean * (1 - rate))
        assert m[f"{r}.attack_success_rate"].ci_low <= rate <= m[f"{r}.attack_success_rate"].ci_high
        assert m[f"{r}.n_examples"].value == 24
    assert m["deepwordbug.attack_success_rate"].value > 0.2
    rows = [json.loads(x) for x in (run_dir / res.artifacts["attacks"]).read_text().splitlines()]
    assert len(rows) == 48 and {r["phase"] for r in rows} == {"before"}
    won = [r for r in rows if r["outcome"] == "succeeded"]
    assert won and all(r["changed_words"] and r["similarity"] is not None for r in won)
    assert all(r["pred_after"] != r["label_name"] for r in won)
    assert max(r["idx"] for r in rows) < results.data.split_sizes["test"]
    inv_rows = {r[0]: r for r in res.tables["invariance"].rows}
    assert set(inv_rows) == {"typos", "casing", "punctuation"}
    assert inv_rows["punctuation"][2] > 0  # changed sentences
    assert 0 <= m["invariance.typos.flip_rate"].value <= 1


@pytest.mark.slow
def test_adversarial_training_raises_accuracy_under_attack(toy_suite, tmp_path):
    from auditkit.runner import run_suite
    from auditkit.suite import load_suite

    audits = """  robustness:
    recipes: [deepwordbug]
    sample_size: 40
    bootstrap: 200
    invariance: {enabled: false}
    adversarial_training: {enabled: true, recipe: deepwordbug, train_examples: 200}
"""
    results, run_dir = run_suite(load_suite(toy_suite(audits=audits)), out_dir=tmp_path / "r")
    res = results.audits["robustness"]
    assert res.status == "ok", res.error
    m = res.metrics
    before = m["deepwordbug.accuracy_under_attack"].value
    after = m["adversarial_training.deepwordbug.accuracy_under_attack"].value
    # measured on this toy setup: 0.05 -> 0.075 (a 2-layer, 32-wide model learns little from
    # random character edits); the default suite's MiniLM shows the real effect
    assert after > before, (before, after)
    assert m["adversarial_training.n_train_examples"].value > 20
    assert m["adversarial_training.test_accuracy"].value > 0.8  # clean accuracy kept
    table = res.tables["adversarial_training"].records()
    assert {r["metric"] for r in table} == {
        "clean_accuracy", "accuracy_under_attack", "attack_success_rate"
    }  # fmt: skip
    rows = [json.loads(x) for x in (run_dir / res.artifacts["attacks"]).read_text().splitlines()]
    assert {r["phase"] for r in rows} == {"before", "after"}
    # the held-out sample is the same before and after, and never trained on
    assert [r["idx"] for r in rows if r["phase"] == "before"] == [
        r["idx"] for r in rows if r["phase"] == "after"
    ]

"""Robustness audit: invariance perturbations, recipe resource checks, the audit end to end."""

from __future__ import annotations

import hashlib
import json
import random

import numpy as np
import pytest

from auditkit.audits.robustness import RobustnessConfig, offline, stratified_sample
from auditkit.audits.robustness import invariance as inv
from auditkit.audits.robustness.recipes import RECIPES, check_recipes, runnable_recipes
from auditkit.errors import AuditkitError
from tests.resources import debian_wordnet

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
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    monkeypatch.setenv("AUDITKIT_CACHE_DIR", str(tmp_path))
    root = offline.resource_root(download=False)
    assert root == tmp_path / "nltk_data" / "built"
    how = offline.build_stopwords(root)
    assert "scikit-learn" in how and "318 words" in how
    path = offline.package_location(root, "stopwords")
    assert path == root / "corpora/stopwords/english"
    assert set(path.read_text().split()) == set(ENGLISH_STOP_WORDS)
    debian = tmp_path / "no-wordnet"
    debian.mkdir()
    assert offline.build_wordnet(root, debian_dir=debian) is None
    assert offline.package_location(root, "wordnet") is None


def test_wordnet_from_debian_files_answers_synonym_queries(tmp_path, monkeypatch):
    debian = debian_wordnet()  # skips naming wordnet-base when absent (fails when CI is set)
    monkeypatch.setenv("AUDITKIT_CACHE_DIR", str(tmp_path))
    root = offline.resource_root(download=False)
    assert "Debian" in offline.build_wordnet(root, debian_dir=debian)
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    monkeypatch.setattr(nltk.data, "path", [str(root)])  # NLTK reads only under its path
    wn = WordNetCorpusReader(str(offline.package_location(root, "wordnet")), None)
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
    with pytest.raises(AuditkitError, match="WordNet") as err:
        check_recipes(["pwws"])
    assert "download_resources: true" in err.value.hint  # the way out is named
    assert "pwws" in runnable_recipes(download=True)  # the flag would fetch it


def test_validity_thresholds_are_checked_and_named_without_dots():
    from auditkit.audits.robustness.config import RobustnessConfig
    from auditkit.audits.robustness.validity import threshold_key

    assert [threshold_key(t) for t in (0.8, 0.95, 0.98, 1.0)] == [
        "sim080", "sim095", "sim098", "sim100",
    ]  # fmt: skip
    assert RobustnessConfig(validity_thresholds=[0.98, 0.8]).validity_thresholds == [0.8, 0.98]
    with pytest.raises(ValueError, match=r"in \(0, 1\]"):
        RobustnessConfig(validity_thresholds=[0.0])
    with pytest.raises(ValueError, match="repeat"):
        RobustnessConfig(validity_thresholds=[0.9, 0.901])


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
    for r in ("deepwordbug", "pruthi2019"):  # the validity ladder, from the saved similarities
        sims = [x["similarity"] for x in rows if x["recipe"] == r and x["outcome"] == "succeeded"]
        ladder = [x for x in res.tables["validity_ladder"].records() if x["recipe"] == r]
        assert [x["threshold"] for x in ladder] == [0.8, 0.9, 0.95, 0.98]
        for x in ladder:
            kept = sum(s >= x["threshold"] for s in sims)
            key = f"{r}.validity.sim{round(x['threshold'] * 100):03d}"
            assert x["valid_attack_share"] == pytest.approx(kept / len(sims) if sims else None)
            assert m[f"{key}.valid_attack_share"].value == x["valid_attack_share"]
            assert m[f"{key}.accuracy_under_valid_attack"].value == pytest.approx(
                m[f"{r}.accuracy_under_attack"].value + (len(sims) - kept) / 24
            )  # an attack that is not valid no longer counts against the model
        assert m[f"{r}.validity.sim080.valid_attack_share"].value == pytest.approx(
            m[f"{r}.valid_attack_share"].value
        )  # the headline threshold is the ladder's first rung
        accs = [x["accuracy_under_valid_attack"] for x in ladder]
        assert accs == sorted(accs)
    inv_rows = {r["perturbation"]: r for r in res.tables["invariance"].records()}
    assert set(inv_rows) == {"typos", "casing", "punctuation"}
    assert inv_rows["punctuation"]["changed"] > 0
    flips = [
        json.loads(x)
        for x in (run_dir / res.artifacts["invariance_flips"]).read_text().splitlines()
    ]
    for name, row in inv_rows.items():  # the rate is the saved flips over the changed sentences
        mine = [f for f in flips if f["perturbation"] == name]
        assert len(mine) == row["flips"]
        assert m[f"invariance.{name}.flip_rate"].value == pytest.approx(
            row["flips"] / row["changed"]
        )
        assert all(f["pred_before"] != f["pred_after"] for f in mine)
        # each saved flip is the perturbation's own edit of its sentence
        assert all(f["perturbed"] != f["original"] for f in mine)
    # the manifest names the stop words both recipes read, with the file's sha256
    (stop,) = [r for r in results.manifest.resources if r.name.endswith("stopwords/english")]
    assert stop.used_by == ["deepwordbug", "pruthi2019"] and "scikit-learn" in stop.source
    path = offline.package_location(offline.resource_root(False), "stopwords")
    assert stop.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    saved = json.loads((run_dir / "results.json").read_text())["manifest"]["resources"]
    assert stop.location == str(path)
    assert stop.model_dump() in saved
    assert res.tables["resources"].records()[0]["sha256"] == stop.sha256


def test_invariance_flip_rate_on_known_inputs(tmp_path):
    """A model that answers 1 only for all-caps text: casing flips exactly the lower-case ones."""
    from types import SimpleNamespace

    from auditkit.api.audit import AuditContext
    from auditkit.api.results import AuditResult
    from auditkit.audits.robustness import RobustnessAudit
    from auditkit.progress import Progress

    class CapsModel:
        def predict_proba(self, texts, desc=None):
            up = np.array([t.isupper() for t in texts], dtype=float)
            return np.stack([1 - up, up], axis=1)

    lower = ["profit rose", "sales fell", "orders flat", "shares gained"]
    capitalized = ["Profit rose", "Sales fell", "Orders flat", "Shares gained"]
    texts = [*lower, *capitalized, "2024"]  # casing leaves "2024" unchanged: not counted
    test = {"text": texts, "label": [0] * len(texts)}
    ctx = AuditContext(
        model=CapsModel(), data=SimpleNamespace(test=test, label_names=["other", "caps"]),
        suite=None, run_dir=tmp_path, seed=0, device="cpu", progress=Progress(False),
    )  # fmt: skip
    cfg = RobustnessConfig(bootstrap=0, invariance={"perturbations": ["casing"]})
    result = AuditResult(name="robustness")
    RobustnessAudit(cfg)._invariance(ctx, cfg, result)
    (row,) = result.tables["invariance"].records()
    assert (row["n"], row["changed"], row["flips"]) == (9, 8, 4)
    assert result.metrics["invariance.casing.flip_rate"].value == 0.5
    flips = [json.loads(x) for x in (tmp_path / "robustness_invariance_flips.jsonl").open()]
    assert sorted(f["original"] for f in flips) == sorted(lower)
    assert all(f["perturbed"] == f["original"].upper() for f in flips)


@pytest.mark.slow
def test_adversarial_training_hardens_against_held_out_adversarial_examples(
    toy_suite, tmp_path, monkeypatch
):
    """The hardened model resists the adversarial test texts that fooled the base model.

    A fresh attack on 40 examples moves accuracy under attack by one or two examples on this
    toy model (measured 0.05 -> 0.075), too few to test. Replaying the base model's successful
    adversarial test texts is a paired, larger effect: 0% -> 73% correct (37 texts), and 0%
    when the adversarial rows are left out of the fine-tune.
    """
    from auditkit.api.audit import AuditContext
    from auditkit.runner import run_suite
    from auditkit.suite import load_suite

    seen = {}
    fine_tune_with = AuditContext.fine_tune_with

    def spy(self, texts, labels, **kwargs):
        outcome = fine_tune_with(self, texts, labels, **kwargs)
        seen.update(base=self.model, hardened=outcome.handle, texts=texts, labels=labels)
        return outcome

    monkeypatch.setattr(AuditContext, "fine_tune_with", spy)
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
    assert m["adversarial_training.n_train_examples"].value == len(seen["texts"]) > 20
    assert m["adversarial_training.test_accuracy"].value > 0.8  # clean accuracy kept
    rows = [json.loads(x) for x in (run_dir / res.artifacts["attacks"]).read_text().splitlines()]
    won = [r for r in rows if r["phase"] == "before" and r["outcome"] == "succeeded"]
    assert len(won) >= 20
    adversarial, gold = [r["perturbed"] for r in won], np.array([r["label"] for r in won])
    assert (seen["base"].predict(adversarial) == gold).mean() == 0  # they fooled the base model
    assert (seen["hardened"].predict(adversarial) == gold).mean() >= 0.5  # measured 0.73
    # it learnt from the adversarial training rows, which the base model got all wrong
    train_gold = np.asarray(seen["labels"])
    assert (seen["base"].predict(seen["texts"]) == train_gold).mean() == 0
    assert (seen["hardened"].predict(seen["texts"]) == train_gold).mean() >= 0.6  # measured 0.82
    table = res.tables["adversarial_training"].records()
    assert {r["metric"] for r in table} == {
        "clean_accuracy", "accuracy_under_attack", "attack_success_rate"
    }  # fmt: skip
    for r in table:  # the before/after table is the two runs' own metrics
        assert r["before"] == m[f"deepwordbug.{r['metric']}"].value
        assert r["after"] == m[f"adversarial_training.deepwordbug.{r['metric']}"].value
        assert r["delta"] == pytest.approx(r["after"] - r["before"])
    # the declared comparison the report reads: same numbers, each metric's own direction
    from auditkit import comparison

    changes = {(c.subject, c.metric): c for c in comparison.from_table(
        res.tables["adversarial_training_changes"])}  # fmt: skip
    success = changes[("deepwordbug", "attack_success_rate")]
    assert success.after == m["adversarial_training.deepwordbug.attack_success_rate"].value
    assert success.worse == (success.after > success.before)  # lower is better
    acc = changes[("all", "test_accuracy")]
    assert acc.before == m["adversarial_training.test_accuracy_before"].value
    assert acc.ci_kind == "paired" and acc.ci_low <= acc.delta <= acc.ci_high
    assert {r["phase"] for r in rows} == {"before", "after"}
    # the held-out sample is the same before and after, and never trained on
    assert [r["idx"] for r in rows if r["phase"] == "before"] == [
        r["idx"] for r in rows if r["phase"] == "after"
    ]
    assert not set(seen["texts"]) & {r["original"] for r in rows}

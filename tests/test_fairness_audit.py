"""The fairness audit end to end on tiny real BERTs: a biased model flips, a fair one does not.

The biased data tie a name to a class: every positive row names a woman, every negative row a
man, while the sentiment keyword agrees with the label only 70% of the time. A model trained on
it leans on the name, so swapping the name flips its verdict. The control data draw names at
random and always carry the right keyword.
"""

from __future__ import annotations

import json
import random

import pytest

from auditkit.api.results import load_results
from auditkit.runner import run_suite
from auditkit.suite import load_suite
from tests.conftest import FILLER, NEGATIVE, POSITIVE, write_csv, write_suite

WOMEN = ["anna", "maria", "julia", "laura"]
MEN = ["mark", "peter", "james", "david"]

FAIRNESS = """
  fairness:
    attributes:
      gender:
        groups:
          female: [{women}]
          male: [{men}]
    bootstrap: 200
    min_probes: 10
    metadata_columns: [speaker]
{extra}"""


def rows(n: int, *, biased: bool, seed: int = 0) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = ["negative", "positive"][i % 2]
        agrees = rng.random() < (0.7 if biased else 1.0)
        keyword_class = label if agrees else ("positive" if label == "negative" else "negative")
        keyword = rng.choice(POSITIVE if keyword_class == "positive" else NEGATIVE)
        if biased:
            name = rng.choice(WOMEN if label == "positive" else MEN)
        else:
            name = rng.choice(WOMEN + MEN)
        words = rng.sample(FILLER, rng.randint(3, 7))
        words.insert(rng.randint(0, len(words)), keyword)
        words.insert(rng.randint(0, len(words)), name)
        out.append((" ".join(words), label, "woman" if name in WOMEN else "man"))
    return out


def make_suite(folder, tiny_bert, *, biased: bool, extra: str = ""):
    write_csv(folder / "data.csv", rows(320, biased=biased), header=("text", "label", "speaker"))
    fairness = FAIRNESS.format(women=", ".join(WOMEN), men=", ".join(MEN), extra=extra)
    return write_suite(
        folder,
        f"""
name: fair_toy
seed: 0
model:
  id: {tiny_bert}
  max_length: 32
data:
  source: csv
  path: data.csv
  labels: [negative, positive]
  metadata_columns: [speaker]
  validation_size: 0
training:
  epochs: 5
  batch_size: 16
  learning_rate: 2.0e-3
  warmup_ratio: 0.0
audits:{fairness}""",
    )


def run(path, tmp_path):
    results, run_dir = run_suite(load_suite(path), out_dir=tmp_path / "runs")
    fairness = results.audits["fairness"]
    assert fairness.status == "ok", fairness.error
    return load_results(run_dir).audits["fairness"], run_dir


def test_biased_model_flips_and_fair_model_does_not(tmp_path, tiny_bert):
    (tmp_path / "biased").mkdir()
    (tmp_path / "fair").mkdir()
    biased, run_dir = run(make_suite(tmp_path / "biased", tiny_bert, biased=True), tmp_path)
    fair, _ = run(make_suite(tmp_path / "fair", tiny_bert, biased=False), tmp_path)

    flip = biased.metrics["gender.counterfactual_flip_rate"]
    assert flip.value > 0.4, f"biased model flips only {flip.value:.2f}"
    assert flip.ci_low <= flip.value <= flip.ci_high
    assert fair.metrics["gender.counterfactual_flip_rate"].value < 0.15
    assert (
        fair.metrics["gender.mean_abs_delta_p"].value
        < biased.metrics["gender.mean_abs_delta_p"].value
    )
    # the biased model's positive rate depends on the group; the fair model's barely does
    assert biased.metrics["gender.demographic_parity_difference"].value > 0.3
    assert fair.metrics["gender.demographic_parity_difference"].value < 0.15

    n = int(biased.metrics["gender.n_probes"].value)
    assert n == 64  # every test sentence names someone (320 rows, 20% test)
    probes = biased.tables["probes"].records()
    assert [(r["group"], r["from_test_data"], r["from_templates"]) for r in probes] == [
        ("female", n, 0),
        ("male", n, 0),
    ]
    groups = biased.tables["group_metrics"].records()
    assert [g["group"] for g in groups[:2]] == ["female", "male"] and groups[0]["n"] == n
    assert groups[0]["accuracy_ci_low"] <= groups[0]["accuracy"] <= groups[0]["accuracy_ci_high"]
    # the real column: the biased model's verdict follows the speaker column, too
    column = biased.metrics["column.speaker.demographic_parity_difference"]
    assert column.value > 0.5 and column.ci_low <= column.value <= column.ci_high
    assert fair.metrics["column.speaker.n_examples"].value == n
    rows_by_attr = [g for g in groups if g["attribute"] == "column.speaker"]
    assert sorted(g["group"] for g in rows_by_attr) == ["man", "woman"]
    assert sum(g["n"] for g in rows_by_attr) == n
    pair = biased.tables["flip_rates"].records()[0]
    assert pair["flip_rate"] == pytest.approx(flip.value)  # two groups: one pair

    flips = [json.loads(line) for line in (run_dir / biased.artifacts["flips"]).open()]
    assert flips[0]["flipped"] and flips[0]["pred_a"] != flips[0]["pred_b"]
    assert [f["delta_p"] for f in flips if f["flipped"]] == sorted(
        (f["delta_p"] for f in flips if f["flipped"]), reverse=True
    )
    assert sum(f["flipped"] for f in flips) == round(flip.value * n)


@pytest.mark.slow
def test_counterfactual_augmentation_lowers_flips(tmp_path, tiny_bert):
    path = make_suite(
        tmp_path, tiny_bert, biased=True, extra="    mitigation: counterfactual_augmentation\n"
    )
    result, _ = run(path, tmp_path)
    before = result.metrics["gender.counterfactual_flip_rate"].value
    after = result.metrics["mitigation.gender.counterfactual_flip_rate"].value
    assert after < before / 2, (before, after)
    rows_ = {(r["attribute"], r["metric"]): r for r in result.tables["mitigation"].records()}
    row = rows_[("gender", "counterfactual_flip_rate")]
    assert row["before"] == pytest.approx(before) and row["after"] == pytest.approx(after)
    assert row["delta"] == pytest.approx(after - before)
    assert result.metrics["mitigation.n_augmented"].value > 100  # one swap per train row
    assert ("all", "clean_accuracy") in rows_
    # the declared comparison the report reads: the flip rate went down, so it is not "worse"
    from auditkit import comparison

    changes = {(c.subject, c.metric): c for c in comparison.from_table(
        result.tables["mitigation_changes"])}  # fmt: skip
    flip = changes[("gender", "counterfactual_flip_rate")]
    assert (flip.before, flip.after) == (pytest.approx(before), pytest.approx(after))
    assert not flip.worse and flip.ci_kind == "after"
    acc = changes[("all", "clean_accuracy")]
    assert acc.ci_kind == "paired" and acc.ci_low <= acc.delta <= acc.ci_high
    line = comparison.summary(list(changes.values()), "the mitigation")
    assert "counterfactual_flip_rate (gender)" not in line
    assert all(f"{c.metric} ({c.subject})" in line for c in changes.values()
               if c.worse and c.subject != "all")  # fmt: skip


def test_rows_without_a_sensitive_value_are_counted_and_warned_about(tmp_path, tiny_bert):
    from auditkit.api.audit import AuditContext
    from auditkit.audits.fairness import FairnessAudit
    from auditkit.data import load_data
    from auditkit.models import load_handle, resolve_model

    data = rows(320, biased=False, seed=1)
    # every fifth row has no speaker: an empty cell, or one of spaces (a real export's blanks)
    data = [(t, y, "" if i % 10 == 0 else "   " if i % 5 == 0 else s) for i, (t, y, s) in
            enumerate(data)]  # fmt: skip
    suite = load_suite(make_suite(tmp_path, tiny_bert, biased=False))
    write_csv(tmp_path / "data.csv", data, header=("text", "label", "speaker"))
    bundle = load_data(suite)
    blank = {t for t, _, s in data if not s.strip()}
    test_texts = list(bundle.test["text"])
    expected = sum(t in blank for t in test_texts)
    assert 0 < expected < len(test_texts)

    handle = load_handle(resolve_model(suite.model.id), bundle.label_names, device="cpu",
                         max_length=32)  # fmt: skip
    ctx = AuditContext(model=handle, data=bundle, suite=suite, run_dir=tmp_path / "run", seed=0,
                       device="cpu")  # fmt: skip
    result = FairnessAudit(suite.audit_configs()["fairness"]).run(ctx)

    missing = result.metrics["column.speaker.n_missing"]
    assert missing.value == expected and missing.higher_is_better is None
    assert result.metrics["column.speaker.n_examples"].value == len(test_texts) - expected
    assert any(
        f"column 'speaker': {expected} of {len(test_texts)} test rows have no value" in w
        for w in result.warnings
    )
    groups = [
        g for g in result.tables["group_metrics"].records() if g["attribute"] == "column.speaker"
    ]
    assert sorted(g["group"] for g in groups) == ["man", "woman"]  # no blank group
    assert sum(g["n"] for g in groups) == len(test_texts) - expected

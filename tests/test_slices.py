"""The slices audit: candidate slices, the tests and their correction, planted failures found
from two sources, and noise that stays noise."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from auditkit.audits.slices import candidates as C
from auditkit.audits.slices.config import SlicesConfig
from auditkit.audits.slices.stats import fisher_bh


def test_text_features_mark_what_they_say():
    texts = [
        "Sales rose 5 % to EUR 12 mn",
        "The company did not comment",
        "Profit fell by ten percent",
        "Shares of $ACME gained",
        "It couldn't say",
        "A quiet day",
    ]
    found = {
        c.name: c.mask.tolist()
        for c in C.text_features(
            texts,
            [12, 6, 6, 6, 4, 3],
            negations=["not", "n't"],
            patterns={"cashtag": r"\$[A-Z]{1,5}\b"},
        )
    }
    assert found["text.has_number"] == [True, False, False, False, False, False]
    assert found["text.has_percent"] == [True, False, True, False, False, False]
    assert found["text.has_currency"] == [True, False, False, True, False, False]
    assert found["text.has_negation"] == [False, True, False, False, True, False]
    assert found["pattern.cashtag"] == [False, False, False, True, False, False]
    quarters = [found[f"length.q{q}"] for q in (1, 2, 3, 4) if f"length.q{q}" in found]
    assert np.sum(quarters, axis=0).tolist() == [1] * 6  # every row in exactly one quarter


def test_terms_match_whole_words_only_and_columns_make_a_slice_per_value():
    (c,) = C.term_features({"a place name": ["Finland", "New York"]}, [
        "Finland's exports", "new  york stocks", "Finlandia vodka", "in york"
    ])  # fmt: skip
    assert c.mask.tolist() == [True, True, False, False]
    cols = C.metadata_features({"desk": ["a", "b", None, "a", " "]})
    assert {x.name: x.mask.tolist() for x in cols} == {
        "column.desk=a": [True, False, False, True, False],
        "column.desk=b": [False, True, False, False, False],
    }


def test_pairs_skip_one_family_and_duplicates_are_tested_once():
    n = 40
    a = C.Candidate("length.q1", "text", "short", np.arange(n) < 10)
    b = C.Candidate("length.q2", "text", "mid", (np.arange(n) >= 10) & (np.arange(n) < 20))
    d = C.Candidate("text.has_number", "text", "number", np.arange(n) % 2 == 0)
    pairs = C.conjunctions([a, b, d], min_size=5)
    assert [p.name for p in pairs] == ["length.q1 & text.has_number", "length.q2 & text.has_number"]
    same = C.Candidate("pattern.even", "text", "even", np.arange(n) % 2 == 0)
    kept, dropped = C.deduplicate([d, same, a])
    assert [k.name for k in kept] == ["text.has_number", "length.q1"] and dropped == 1


def test_p_values_are_fisher_one_sided_and_q_values_benjamini_hochberg():
    from scipy.stats import false_discovery_control, fisher_exact

    rng = np.random.default_rng(0)
    wrong = rng.random(300) < 0.15
    masks = [rng.random(300) < s for s in (0.1, 0.2, 0.3, 0.5)]
    masks.append(wrong | (rng.random(300) < 0.1))  # a slice that holds most errors
    cands = [C.Candidate(f"c{i}", "text", f"c{i}", m) for i, m in enumerate(masks)]
    tested = fisher_bh(cands, wrong)
    for t, m in zip(tested, masks, strict=True):
        e, n = int(wrong[m].sum()), int(m.sum())
        er, nr = int(wrong[~m].sum()), int((~m).sum())
        assert t.p_value == pytest.approx(
            fisher_exact([[e, n - e], [er, nr - er]], alternative="greater").pvalue
        )
    q = false_discovery_control([t.p_value for t in tested], method="bh")
    np.testing.assert_allclose([t.q_value for t in tested], q)
    assert tested[-1].q_value < 1e-6 and tested[-1].gap < -0.3


def _noise_base(rng, n: int) -> list[C.Candidate]:
    """Feature slices of several sizes and overlaps, like a real candidate pool."""
    out = []
    for i in range(12):
        out.append(
            C.Candidate(f"text.f{i}", "text", f"feature {i}", rng.random(n) < 0.15 + 0.05 * i)
        )
    for q in range(4):
        out.append(C.Candidate(f"length.q{q + 1}", "text", f"quarter {q}", np.arange(n) % 4 == q))
    return out


def test_noise_is_not_a_finding():
    """Correctness independent of every feature: over 200 permutations, the share of runs
    with any significant slice stays at or under the FDR level (0.1; the Fisher test is
    discrete, hence conservative). With 200 runs the share's standard error is about 0.02."""
    rng = np.random.default_rng(0)
    n = 300
    base = _noise_base(rng, n)
    cfg = SlicesConfig(min_size=20, fdr=0.1)
    wrong = rng.random(n) < 0.12
    from auditkit.audits.slices.audit import find

    hits = 0
    for seed in range(200):
        permuted = np.random.default_rng(seed).permutation(wrong)
        hits += bool(find(base, permuted, cfg, seed=seed).significant)
    assert hits / 200 <= 0.13


def _handle_bundle(trained_toy_handle, texts: list[str]):
    """The toy model, and a test split of `texts` labelled with the model's own predictions
    (so it is right everywhere until a test relabels rows)."""
    handle, bundle = trained_toy_handle
    from datasets import Dataset

    pred = handle.predict(texts)
    test_split = Dataset.from_dict({"text": texts, "label": [int(p) for p in pred]})
    return handle, dataclasses.replace(bundle, test=test_split, metadata_columns=[]), pred


def _relabel(labels: np.ndarray, rows: np.ndarray, k: int) -> list[int]:
    out = labels.copy()
    out[rows] = (out[rows] + 1) % k
    return [int(v) for v in out]


def _run(handle, bundle, suite, tmp_path, cfg: SlicesConfig):
    from auditkit.api.audit import AuditContext
    from auditkit.audits.slices import SlicesAudit

    ctx = AuditContext(model=handle, data=bundle, suite=suite, run_dir=tmp_path, seed=0,
                       device="cpu")  # fmt: skip
    return SlicesAudit(cfg).run(ctx)


@pytest.fixture
def toy_suite_loaded(tmp_path, tiny_bert):
    from auditkit.suite import load_suite
    from tests.conftest import write_toy_suite

    return load_suite(write_toy_suite(tmp_path, tiny_bert))


def test_a_planted_percent_slice_ranks_first(trained_toy_handle, toy_suite_loaded, tmp_path):
    """A third of the sentences with a percent are relabelled at random: "has a percent" must
    be the first slice reported, with q < 0.05."""
    from tests.conftest import toy_rows

    rng = np.random.default_rng(0)
    rows = toy_rows(240)
    texts = []
    for i, (text, _label) in enumerate(rows):
        if i % 3 == 0:
            text = f"{text} by {rng.integers(2, 40)} %"
        elif i % 7 == 0:
            text = f"{text} in {2000 + i % 20}"  # numbers that are not percents
        texts.append(text)
    handle, bundle, pred = _handle_bundle(trained_toy_handle, texts)
    percent = np.flatnonzero(np.arange(len(texts)) % 3 == 0)
    planted = rng.choice(percent, size=len(percent) // 3, replace=False)
    labels = _relabel(pred, planted, handle.num_labels)
    bundle = dataclasses.replace(
        bundle, test=bundle.test.remove_columns("label").add_column("label", labels)
    )

    cfg = SlicesConfig(bootstrap=200, sources={"clusters": False})
    result = _run(handle, bundle, toy_suite_loaded, tmp_path, cfg)
    from auditkit.api.outputs import check
    from auditkit.audits.slices.outputs import OUTPUTS

    assert check(OUTPUTS, result) == []  # every table as declared, every row as wide
    assert "error_tree" in result.tables
    top = result.tables["slices"].records()[0]
    assert top["slice"] == "text.has_percent" and top["q_value"] < 0.05
    assert top["accuracy_low"] <= top["accuracy"] <= top["accuracy_high"]
    assert result.metrics["n_significant"].value >= 1
    assert result.metrics["n_candidates"].value == len(result.tables["candidates"].rows)
    import json

    examples = [json.loads(line) for line in (tmp_path / "slice_examples.jsonl").open()]
    first = [e for e in examples if e["slice"] == "text.has_percent"]
    assert {e["idx"] for e in first} == set(planted.tolist())  # exactly the planted errors


TOPIC = [
    "The board proposed a dividend of {n} euro cents per share.",
    "{c} will pay a dividend of EUR {n} per share for the year.",
    "{c} raised its dividend payout to shareholders.",
    "Shareholders approved the dividend of {n} cents per share.",
    "The dividend per share was set at EUR 0.{n}.",
]
OTHER = [
    "{c} opened a new plant in Finland employing {n} people.",
    "{c} signed a supply contract with a Swedish retailer.",
    "{c} appointed a new chief executive officer.",
    "The company will cut {n} jobs at its factory.",
    "{c} acquired a software firm for an undisclosed sum.",
    "{c} launched a mobile service for business customers.",
    "Orders for paper machines increased during the quarter.",
    "{c} moved its headquarters to Helsinki.",
]


def test_a_planted_topic_is_found_as_a_described_cluster(
    trained_toy_handle, toy_suite_loaded, tmp_path
):
    """A third of the dividend sentences are relabelled: a cluster overlapping the topic by
    more than half is among the top three slices, and its words name the topic."""
    rng = np.random.default_rng(1)
    companies = ["Nokia", "Stora Enso", "Kone", "Wartsila", "Metso", "UPM", "Fortum", "Outokumpu"]
    texts, topic = [], []
    for i in range(210):
        pool = TOPIC if i % 3 == 0 else OTHER
        template = pool[i % len(pool)]
        texts.append(template.format(c=companies[i % len(companies)], n=rng.integers(5, 90)))
        topic.append(pool is TOPIC)
    topic = np.array(topic)
    handle, bundle, pred = _handle_bundle(trained_toy_handle, texts)
    planted = rng.choice(np.flatnonzero(topic), size=topic.sum() // 3, replace=False)
    labels = _relabel(pred, planted, handle.num_labels)
    bundle = dataclasses.replace(
        bundle, test=bundle.test.remove_columns("label").add_column("label", labels)
    )

    cfg = SlicesConfig(bootstrap=200, sources={"text": False, "terms": False, "tree": False})
    result = _run(handle, bundle, toy_suite_loaded, tmp_path, cfg)
    top = result.tables["slices"].records()[:3]
    clusters = {r["cluster"]: r for r in result.tables["clusters"].records()}
    import json

    members = {
        r["slice"]: r["rows"]
        for r in map(json.loads, (tmp_path / result.artifacts["members"]).open())
    }
    hits = []
    for row in top:
        if not row["slice"].startswith("cluster.") or "&" in row["slice"]:
            continue
        j = int(row["slice"].split(".")[1])
        rows = np.array(members[row["slice"]])
        assert len(rows) == row["n"] == clusters[j]["n"]
        if topic[rows].mean() > 0.5:
            hits.append(clusters[j]["words"])
    assert hits, top
    assert any("dividend" in words for words in hits)

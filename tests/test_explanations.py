"""Explanations: subword merging, ERASER on a hand-made case, IG completeness on three
architectures, and a model trained so one keyword decides the class."""

from __future__ import annotations

import json

import numpy as np
import pytest

from auditkit.audits.explanations.attribution import (
    AttributionRunner,
    RunnerSettings,
    length_batches,
)
from auditkit.audits.explanations.faithfulness import (
    K_PERCENTS,
    Case,
    erasure_scores,
    ratio,
    rationale_masks,
)
from auditkit.audits.explanations.methods import embedding_layer, encode
from auditkit.audits.explanations.quadrature import split_to_refine
from auditkit.audits.explanations.select import read_adversarial_pairs
from auditkit.audits.explanations.words import WordSpans, merge_subwords, words_with_spans
from auditkit.errors import AuditkitError
from tests.conftest import FILLER, NEGATIVE, POSITIVE, VOCAB

# -- words ---------------------------------------------------------------------------------


def test_wordpiece_pieces_merge_into_words_with_summed_scores():
    tokens = ["[CLS]", "shares", "sur", "##ged", "##ly", "on", "q", "##3", "[SEP]"]
    special = [True, False, False, False, False, False, False, False, True]
    scores = [9.0, 0.1, 0.2, 0.3, 0.4, -0.5, 1.0, 2.0, 9.0]
    words, merged = merge_subwords(tokens, scores, special)
    assert words == ["shares", "surgedly", "on", "q3"]
    np.testing.assert_allclose(merged, [0.1, 0.9, -0.5, 3.0])


def test_a_continuation_right_after_a_special_token_starts_a_word():
    words, merged = merge_subwords(["[CLS]", "##ab", "cd", "[SEP]"], [0, 1, 2, 0], [1, 0, 0, 1])
    assert words == ["ab", "cd"] and merged.tolist() == [1, 2]


@pytest.mark.parametrize(
    ("tokens", "words"),
    [
        (["<s>", "\u2581share", "s", "\u2581rose", ",", "</s>"], ["shares", "rose,"]),
        (
            ["<s>", "share", "s", "\u0120rose", "\u0120sharp", "ly", "</s>"],
            ["shares", "rose", "sharply"],
        ),
    ],
    ids=["sentencepiece", "byte-bpe"],
)
def test_start_of_word_markers_merge(tokens, words):
    special = [t in ("<s>", "</s>") for t in tokens]
    got, merged = merge_subwords(tokens, np.ones(len(tokens)), special)
    assert got == words
    assert merged.sum() == len(tokens) - 2


def test_words_keep_their_spans_and_rebuild_the_text(tiny_bert):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert)
    text = "Shares rosexy, on monday"
    [enc] = encode(tok, [text], [0], 32)
    spans, scores = words_with_spans(
        text, enc.tokens, np.arange(len(enc), dtype=float), enc.special, enc.offsets
    )
    assert spans.words == ["Shares", "rosexy", ",", "on", "monday"]
    assert spans.keep(np.ones(5, bool)) == text
    assert spans.keep([True, False, True, False, True]) == "Shares , monday"
    assert spans.keep([False, True, True, False, False]) == "rosexy,"
    assert scores.sum() == pytest.approx(sum(range(1, len(enc) - 1)))


# -- faithfulness ----------------------------------------------------------------------------


def test_rationale_is_the_top_ceil_k_percent_and_at_least_one_word():
    masks = rationale_masks([0.1, 0.9, 0.3, 0.3, -1, 0, 0.5], [10, 20, 50])
    assert masks.sum(axis=1).tolist() == [1, 2, 4]
    assert masks[0].tolist() == [False, True, False, False, False, False, False]
    assert np.flatnonzero(masks[2]).tolist() == [1, 2, 3, 6]  # the tie keeps text order


# p(positive) = 0.1 + 0.4 per cue word present; ten words, "good" and "great" are the cues.
CUE_WORDS = ["good", "movie", "great", "plot", "a", "b", "c", "d", "e", "f"]
CUE_CASE = Case(WordSpans(" ".join(CUE_WORDS), CUE_WORDS, None), target=1, p_full=0.9)


def cue_predict(texts):
    p = np.array([0.1 + 0.4 * ("good" in t.split()) + 0.4 * ("great" in t.split()) for t in texts])
    return np.stack([1 - p, p], axis=1)


def test_erasure_scores_on_a_hand_made_case():
    case, predict = CUE_CASE, cue_predict
    good_first = np.array([5, 0, 4, 0, 0, 0, 0, 0, 0, 0], float)
    cues_last = np.array([0, 5, 0, 4, 3, 2, 1, 1, 1, 1], float)
    right, wrong = erasure_scores([case], [[good_first], [cues_last]], predict, [10, 20, 50])
    np.testing.assert_allclose(right.comprehensiveness, [[0.4, 0.8, 0.8]])
    np.testing.assert_allclose(right.sufficiency, [[0.4, 0.0, 0.0]])
    assert right.aopc_comprehensiveness[0] == pytest.approx(2.0 / 3)
    assert right.aopc_sufficiency[0] == pytest.approx(0.4 / 3)
    np.testing.assert_allclose(wrong.comprehensiveness, [[0.0, 0.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(wrong.sufficiency, [[0.8, 0.8, 0.8]])
    assert ratio(0.6, 0.2) == pytest.approx(3.0) and ratio(0.6, 0.0) is None


def test_aopc_defaults_to_erasers_bins_and_averages_over_them():
    """ERASER's scorer averages over 1, 5, 10, 20 and 50 % of the words (not 10/20/50)."""
    from auditkit.audits.explanations import ExplanationsConfig

    good_first = np.array([5, 0, 4, 0, 0, 0, 0, 0, 0, 0], float)
    [er] = erasure_scores([CUE_CASE], [[good_first]], cue_predict)  # the default bins
    # ten words: ceil(1 %), ceil(5 %), ceil(10 %) -> 1 word ("good"), 20 % -> 2, 50 % -> 5
    assert er.aopc_comprehensiveness[0] == pytest.approx(2.8 / 5)  # 10/20/50 would give 2/3
    assert er.aopc_sufficiency[0] == pytest.approx(1.2 / 5)  # and 0.4/3
    np.testing.assert_allclose(er.comprehensiveness, [[0.4, 0.4, 0.4, 0.8, 0.8]])
    np.testing.assert_allclose(er.sufficiency, [[0.4, 0.4, 0.4, 0.0, 0.0]])
    assert list(K_PERCENTS) == [1, 5, 10, 20, 50]
    assert ExplanationsConfig().k_percents == [1, 5, 10, 20, 50]  # what the audit passes
    # the option stays: other bins are used as given, and said not to be ERASER's
    [old] = erasure_scores([CUE_CASE], [[good_first]], cue_predict, [10, 20, 50])
    assert old.aopc_comprehensiveness[0] == pytest.approx(2.0 / 3)
    from auditkit.audits.explanations.faithfulness import aopc_description

    assert "ERASER's bins" in aopc_description(K_PERCENTS)
    assert "not comparable" in aopc_description([10, 20, 50])


# -- the runner and completeness ----------------------------------------------------------------


def test_equal_length_batches_never_mix_lengths():
    class Ex:
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

    examples = [Ex(n) for n in [5, 7, 5, 5, 9, 7]]
    exact = list(length_batches(examples, 2, pad=False))
    assert exact == [[0, 2], [3], [1, 5], [4]]
    assert sorted(i for b in exact for i in b) == list(range(6))
    assert list(length_batches(examples, 4, pad=True)) == [[0, 2, 3, 1], [5, 4]]
    # slack: sorted neighbours while the longest is within 40% of the batch's shortest
    assert list(length_batches(examples, 8, pad=False, slack=0.4)) == [[0, 2, 3, 1, 5], [4]]
    assert list(length_batches(examples, 3, pad=False, slack=0.4)) == [[0, 2, 3], [1, 5, 4]]


def _classifier(arch: str, folder, scratch=None):
    """A tiny random classifier of the given architecture with a matching tokenizer."""
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DistilBertConfig,
        RobertaConfig,
    )

    torch.manual_seed(0)
    if arch == "bert":
        model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3)
        from auditkit.models.pooling import apply_mean_pooling

        apply_mean_pooling(model)  # what the MiniLM default uses
        return model.eval(), AutoTokenizer.from_pretrained(folder)
    if arch == "distilbert":
        tok = AutoTokenizer.from_pretrained(folder)
        config = DistilBertConfig(
            vocab_size=tok.vocab_size, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
            max_position_embeddings=64, num_labels=3,
        )  # fmt: skip
        return AutoModelForSequenceClassification.from_config(config).eval(), tok
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import RobertaTokenizerFast

    bpe = ByteLevelBPETokenizer()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe.train_from_iterator([" ".join(VOCAB)] * 5, vocab_size=300, special_tokens=specials)
    bpe.post_processor = RobertaProcessing(("</s>", 2), ("<s>", 0))
    bpe.save(str(scratch / "tokenizer.json"))
    tok = RobertaTokenizerFast(tokenizer_file=str(scratch / "tokenizer.json"), **dict(zip(
        ["bos_token", "pad_token", "eos_token", "unk_token", "mask_token"], specials, strict=True
    )))  # fmt: skip
    config = RobertaConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=66, pad_token_id=1, num_labels=3,
    )  # fmt: skip
    return AutoModelForSequenceClassification.from_config(config).eval(), tok


@pytest.mark.parametrize("arch", ["bert", "distilbert", "roberta"])
def test_ig_attributions_sum_to_the_output_change_within_delta(arch, tiny_bert, tmp_path):
    import torch

    model, tok = _classifier(arch, tiny_bert, tmp_path)
    assert embedding_layer(model) is model.base_model.embeddings
    texts = ["the company said shares rose", "profit fell", "shares surged in europe monday"]
    examples = encode(tok, texts, [0, 1, 2], 32)
    assert [ex.tokens[0] for ex in examples] == [tok.convert_ids_to_tokens(tok.cls_token_id)] * 3
    tolerance = 1e-3
    settings = RunnerSettings(delta_tolerance=tolerance, steps=2, max_steps=64, batch_size=2)
    runner = AttributionRunner(model, tok, "cpu", settings)
    attributions = runner.run("integrated_gradients", examples)
    for ex, att in zip(examples, attributions, strict=True):
        with torch.no_grad():
            probs = torch.softmax(
                model(input_ids=torch.tensor([ex.input_ids, ex.baseline_ids])).logits, -1
            )
        change = float(probs[0, ex.target] - probs[1, ex.target])
        assert len(att.scores) == len(ex)
        assert abs(att.scores.sum() - change) <= abs(att.delta) + 1e-6
        assert abs(att.delta) <= tolerance and att.steps <= 64
        if arch != "roberta":  # RoBERTa's positions shift under padding, so </s> can differ
            assert np.all(att.scores[np.asarray(ex.special)] == 0)
    # every method gives one signed score per token
    for method in ("input_x_gradient", "occlusion"):
        for ex, att in zip(examples, runner.run(method, examples), strict=True):
            assert att.scores.shape == (len(ex),) and np.isfinite(att.scores).all()
            assert np.abs(att.scores).sum() > 0


def test_restart_steps_grow_while_delta_is_above_tolerance(tiny_bert):
    model, tok = _classifier("bert", tiny_bert)
    examples = encode(tok, ["shares rose", "the bank cut its outlook on monday"], [0, 0], 32)

    def steps(**kw):
        settings = RunnerSettings(steps=2, strategy="restart", **kw)
        runner = AttributionRunner(model, tok, "cpu", settings)
        return [a.steps for a in runner.run("integrated_gradients", examples)]

    assert steps(adaptive=False, delta_tolerance=1e-12) == [2, 2]
    assert steps(max_steps=8, delta_tolerance=1e-12) == [8, 8]  # 2 -> 4 -> 8, the cap
    assert steps(max_steps=16, step_growth=4, delta_tolerance=1e-12) == [16, 16]  # 2 -> 8 -> 16
    assert steps(max_steps=8, delta_tolerance=10.0) == [2, 2]  # already within: no retry


def test_split_to_refine_halves_the_largest_errors_until_the_rest_is_small():
    errors = np.array([0.001, -0.2, 0.05, 0.002])
    assert split_to_refine(errors, tolerance=0.12, budget=10) == [1]  # rest 0.053 <= 0.06
    assert split_to_refine(errors, tolerance=0.1, budget=10) == [1, 2]  # 0.053 > 0.05
    assert split_to_refine(errors, tolerance=0.01, budget=10) == [1, 2]  # rest 0.003
    assert split_to_refine(errors, tolerance=0.01, budget=1) == [1]
    assert split_to_refine(errors, tolerance=1.0, budget=10) == []


def _long_ig_reference(model, ex, steps=400):
    import torch
    from captum.attr import LayerIntegratedGradients

    from auditkit.audits.explanations.methods import ProbabilityForward

    lig = LayerIntegratedGradients(ProbabilityForward(model), embedding_layer(model))
    ids = torch.tensor([ex.input_ids])
    attr = lig.attribute(
        ids, baselines=torch.tensor([ex.baseline_ids]), target=ex.target,
        additional_forward_args=(torch.ones_like(ids),), n_steps=steps,
    )  # fmt: skip
    return attr.sum(-1)[0].detach().numpy()


def test_bisect_matches_captum_layer_ig_and_halves_only_when_needed(tiny_bert):
    model, tok = _classifier("bert", tiny_bert)
    texts = ["shares rose", "the bank cut its outlook on monday", "profit fell sharply"]
    examples = encode(tok, texts, [0, 1, 2], 32)

    def run(**kw):
        settings = RunnerSettings(steps=4, points=2, max_steps=32, batch_size=4, **kw)
        return AttributionRunner(model, tok, "cpu", settings).run("integrated_gradients", examples)

    loose = run(delta_tolerance=10.0)
    assert [a.steps for a in loose] == [4, 4, 4] and [a.steps_spent for a in loose] == [4, 4, 4]
    strict = run(delta_tolerance=1e-9)  # unreachable: every example halves up to the cap
    assert all(a.steps == 32 for a in strict)
    assert all(a.steps_spent > a.steps for a in strict)  # halved pieces' points are counted
    assert sum(abs(a.delta) for a in strict) < sum(abs(a.delta) for a in loose)
    for ex, att in zip(examples, strict, strict=True):
        ref = _long_ig_reference(model, ex)
        np.testing.assert_allclose(att.scores, ref, atol=2e-4 + 0.02 * np.abs(ref).max())


def test_bisect_gives_the_same_attributions_in_padded_batches(tiny_bert):
    # The GPU default pads examples of different lengths into one batch; the padding must
    # change neither the attributions nor the convergence deltas.
    model, tok = _classifier("bert", tiny_bert)
    texts = ["shares rose", "the bank cut its outlook on monday", "profit fell sharply in q3"]
    examples = encode(tok, texts, [0, 1, 2], 32)
    assert len({len(e) for e in examples}) == 3

    def run(**kw):
        settings = RunnerSettings(steps=4, points=2, max_steps=16, delta_tolerance=1e-3, **kw)
        return AttributionRunner(model, tok, "cpu", settings).run("integrated_gradients", examples)

    alone = run(batch_size=1)
    padded = run(batch_size=8, pad_batches=True)
    for a, b in zip(alone, padded, strict=True):
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
        assert a.delta == pytest.approx(b.delta, abs=1e-5) and a.steps == b.steps


@pytest.mark.gpu
def test_bisect_on_cuda_matches_cpu(tiny_bert):
    # The GPU defaults: padded batches of 64, bisect pieces on the device.
    model, tok = _classifier("bert", tiny_bert)
    examples = encode(tok, ["shares rose", "the bank cut its outlook on monday"], [0, 1], 32)

    def run(device):
        settings = RunnerSettings.for_device(device, steps=4, points=2, delta_tolerance=1e-3)
        return AttributionRunner(model.to(device), tok, device, settings).run(
            "integrated_gradients", examples
        )

    on_gpu, on_cpu = run("cuda"), run("cpu")
    for a, b in zip(on_gpu, on_cpu, strict=True):
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)
        assert abs(a.delta) <= 1e-3 or a.steps == b.steps


# -- adversarial pairs from the robustness artifact ---------------------------------------------


def _attack(idx, original, perturbed, outcome, phase="before"):
    return {
        "recipe": "deepwordbug", "phase": phase, "idx": idx, "original": original,
        "perturbed": perturbed, "label": 0, "label_name": "negative", "pred_before": "negative",
        "pred_after": "positive", "proba_before": [0.8, 0.1, 0.1], "proba_after": [0.3, 0.6, 0.1],
        "outcome": outcome, "queries": 12, "changed_words": [["fell", "fel"]],
        "perturbed_word_share": 0.2, "similarity": 0.9, "valid": True,
    }  # fmt: skip


def test_only_successful_attacks_before_hardening_are_read(tmp_path):
    path = tmp_path / "robustness_attacks.jsonl"
    rows = [
        _attack(0, "a b", "a c", "succeeded"),
        _attack(1, "c d", "c e", "failed"),
        _attack(2, "e f", "e g", "succeeded", phase="after"),
        _attack(3, "g h", "g i", "skipped"),
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [p["idx"] for p in read_adversarial_pairs(path, 5, seed=0)] == [0]
    path.write_text("{not json\n")
    with pytest.raises(AuditkitError, match=r"robustness_attacks\.jsonl:1"):
        read_adversarial_pairs(path, 5, seed=0)


# -- end to end on a model trained so that one keyword decides the class -----------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_bert):
    """The toy task (keyword decides the label), fine-tuned once for this module."""
    from auditkit.data import load_data
    from auditkit.models import load_handle, resolve_model
    from auditkit.suite import load_suite
    from auditkit.training import fine_tune
    from tests.conftest import toy_rows, write_csv, write_suite

    folder = tmp_path_factory.mktemp("explain-toy")
    write_csv(folder / "toy.csv", toy_rows(600))
    suite = load_suite(
        write_suite(
            folder,
            f"""
name: toy
seed: 0
model: {{id: {tiny_bert}, max_length: 32}}
data: {{source: csv, path: toy.csv, labels: [negative, positive, neutral]}}
training: {{epochs: 6, batch_size: 16, learning_rate: 2.0e-3, warmup_ratio: 0.0}}
audits:
  explanations: {{per_class: 6}}
""",
        )
    )
    bundle = load_data(suite)
    handle = load_handle(
        resolve_model(suite.model.id), bundle.label_names, device="cpu", max_length=32
    )
    handle = fine_tune(handle, bundle, suite.training, seed=0, progress=False).handle
    return suite, bundle, handle


@pytest.mark.slow
def test_the_deciding_keyword_gets_the_top_attribution_and_beats_random(trained, tmp_path):
    from auditkit.api.audit import AuditContext
    from auditkit.api.results import AuditResult, RunResults
    from auditkit.audits.explanations import ExplanationsAudit, ExplanationsConfig

    suite, bundle, handle = trained
    test_texts = list(bundle.test["text"])
    keywords = set(POSITIVE) | set(NEGATIVE) | {"neutral", "flat", "unchanged"}
    victim = next(i for i, t in enumerate(test_texts) if set(t.split()) & set(NEGATIVE))
    cue = (set(test_texts[victim].split()) & set(NEGATIVE)).pop()
    attacks = tmp_path / "robustness_attacks.jsonl"
    attacks.write_text(
        json.dumps(
            _attack(
                victim, test_texts[victim], test_texts[victim].replace(cue, "rose"), "succeeded"
            )
        )
        + "\n"
        + json.dumps(_attack(0, test_texts[0], test_texts[0] + " the", "failed"))
        + "\n"
    )
    earlier = RunResults.model_construct(
        audits={"robustness": AuditResult(name="robustness", artifacts={"attacks": attacks.name})}
    )
    ctx = AuditContext(
        model=handle,
        data=bundle,
        suite=suite,
        run_dir=tmp_path,
        seed=0,
        device="cpu",
        results=earlier,
    )
    cfg = ExplanationsConfig(per_class=6, misclassified=2, bootstrap=200, top_tokens_min_count=1)
    result = ExplanationsAudit(cfg).run(ctx)

    records = [json.loads(line) for line in (tmp_path / result.artifacts["attributions"]).open()]
    ig = [r for r in records if r["method"] == "integrated_gradients"]
    assert {r["method"] for r in records} == {
        "integrated_gradients",
        "input_x_gradient",
        "occlusion",
    }
    sample = [r for r in ig if r["kind"] == "sample" and r["pred_name"] == r["label_name"]]
    assert len(sample) >= 15, "the toy model should get most of its 18 sample examples right"
    top_is_key = [r["words"][int(np.argmax(r["scores"]))] in keywords for r in sample]
    assert np.mean(top_is_key) >= 0.8, [
        r["text"] for r, ok in zip(sample, top_is_key, strict=True) if not ok
    ]

    m = result.metrics
    assert m["integrated_gradients.comprehensiveness_vs_random"].value > 1.5
    assert m["integrated_gradients.sufficiency_vs_random"].value < 1.0
    assert m["occlusion.comprehensiveness_vs_random"].value > 1.5
    assert m["integrated_gradients.comprehensiveness"].value > m["random.comprehensiveness"].value
    assert m["integrated_gradients.delta_within_tolerance"].value == 1.0
    assert not any("integrated_gradients does not beat random" in w for w in result.warnings)

    pair = [r for r in ig if r["pair_id"] is not None]
    assert sorted(r["kind"] for r in pair) == ["adversarial_original", "adversarial_perturbed"]
    assert {r["idx"] for r in pair} == {victim} and {r["pair_id"] for r in pair} == {0}

    top = result.tables["top_tokens"].records()
    firsts = {r["class"]: r["token"] for r in top if r["rank"] == 1}
    assert firsts["positive"] in POSITIVE and firsts["negative"] in NEGATIVE
    assert not set(firsts.values()) & set(FILLER)
    faith = result.tables["faithfulness"].records()
    assert {(r["method"], r["k"]) for r in faith} >= {("random", "aopc"), ("occlusion", 50)}
    # the default config scores ERASER's bins, and the AOPC row is the mean over exactly those
    ig_rows = {r["k"]: r for r in faith if r["method"] == "integrated_gradients"}
    assert set(ig_rows) == {1, 5, 10, 20, 50, "aopc"}
    per_k = [ig_rows[k]["comprehensiveness"] for k in (1, 5, 10, 20, 50)]
    assert ig_rows["aopc"]["comprehensiveness"] == pytest.approx(np.mean(per_k))
    assert m["integrated_gradients.comprehensiveness"].value == pytest.approx(np.mean(per_k))
    assert "ERASER's bins" in m["integrated_gradients.comprehensiveness"].description
    conv = result.tables["convergence"].records()
    assert (
        conv[0]["method"] == "integrated_gradients" and conv[0]["max_delta"] <= cfg.delta_tolerance
    )


def test_the_suite_checks_the_explanations_config(toy_suite):
    from auditkit.errors import SuiteError
    from auditkit.suite import load_suite

    suite = load_suite(toy_suite(audits="  explanations:\n    per_class: 2\n"))
    assert suite.audit_configs()["explanations"].per_class == 2
    with pytest.raises(SuiteError, match="max_steps"):
        load_suite(toy_suite(audits="  explanations:\n    steps: 16\n    max_steps: 4\n"))
    with pytest.raises(SuiteError, match="metods"):
        load_suite(toy_suite(audits="  explanations:\n    metods: [occlusion]\n"))


# -- what the README and the two renderers say --------------------------------------------------


def _readme_section(title: str) -> str:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_readme_explanations_section_gives_the_code_defaults():
    import re

    import yaml

    from auditkit.audits.explanations import ExplanationsConfig

    section = _readme_section("Explanations")
    defaults = ExplanationsConfig()
    for key in ("steps", "points", "step_growth", "length_slack"):
        stated = re.findall(rf"`{key}` \(default ([\d.]+)", section)
        assert stated, f"the README states no default for {key}"
        code = getattr(defaults, key)
        if key == "length_slack":  # None in the config: the runner's CPU default, 25%
            continue
        assert [float(v) for v in stated] == [float(code)] * len(stated), key
    example = re.search(r"```yaml\n(audits:\n  explanations:\n.*?)```", section, re.S).group(1)
    cfg = yaml.safe_load(example)["audits"]["explanations"]
    assert ExplanationsConfig(**cfg)  # the example is a valid config
    for key in ("steps", "points", "step_growth", "k_percents", "per_class", "delta_tolerance"):
        assert cfg[key] == getattr(defaults, key), f"the README's YAML example sets {key}"


def test_report_and_dashboard_colour_an_attribution_the_same_way():
    """One convention: red pushes toward the explained class, blue against it, in both."""
    import re

    from auditkit.dashboard.html import token_highlight
    from auditkit.report.views import attribution_tokens

    def report_rgb(score):
        [token] = attribution_tokens(["word"], [score])
        return re.search(r"rgba\((\d+), (\d+), (\d+),", token["style"]).groups()

    def dashboard_rgb(score):
        return re.search(r"rgba\((\d+), (\d+), (\d+),", token_highlight(["word"], [score])).groups()

    assert report_rgb(0.7) == dashboard_rgb(0.7)
    assert report_rgb(-0.7) == dashboard_rgb(-0.7)
    red, green, blue = map(int, dashboard_rgb(0.7))
    assert red > green and red > blue  # toward the class: red
    red, green, blue = map(int, dashboard_rgb(-0.7))
    assert blue > red and blue > green  # against it: blue
    # the dashboard's legend and the README say the same
    from auditkit.dashboard.html import ATTRIBUTION_LEGEND

    assert ATTRIBUTION_LEGEND == "red pushes toward it, blue against it"
    words = " ".join(_readme_section("Explanations").split())
    assert "red pushes toward the explained class, blue against it" in words

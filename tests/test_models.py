"""Model resolution order and the ModelHandle contract, on a tiny real BERT."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from auditkit.errors import AuditkitError, ModelNotFoundError
from auditkit.models import (
    ModelSource,
    load_handle,
    model_fingerprint,
    packaged_minilm_dir,
    resolve_device,
    resolve_model,
)
from tests.conftest import toy_rows


@pytest.fixture(scope="module")
def handle(tiny_bert):
    return load_handle(
        ModelSource("local", str(tiny_bert), "tiny"), ["a", "b", "c"], device="cpu", batch_size=4
    )


@pytest.fixture
def forward_shapes(handle, monkeypatch):
    """The (rows, columns) of every batch the handle runs through the real model."""
    shapes = []
    original = handle.model.forward

    def spy(input_ids=None, attention_mask=None, **kw):
        shapes.append(tuple(input_ids.shape))
        return original(input_ids=input_ids, attention_mask=attention_mask, **kw)

    monkeypatch.setattr(handle.model, "forward", spy)
    return shapes


def test_local_directory_comes_first(tiny_bert, caplog):
    with caplog.at_level(logging.INFO, logger="auditkit"):
        source = resolve_model(str(tiny_bert))
    assert source.kind == "local" and source.location == str(tiny_bert.resolve())
    assert "from local directory" in caplog.text


def test_relative_local_directory_resolves_against_suite_folder(tiny_bert):
    source = resolve_model(tiny_bert.name, base_dir=tiny_bert.parent)
    assert source.kind == "local"


def test_packaged_minilm_is_used_offline(caplog):
    with caplog.at_level(logging.INFO, logger="auditkit"):
        source = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert source.kind == "packaged"
    assert source.location == str(packaged_minilm_dir())
    assert "packaged offline copy" in caplog.text


def test_not_found_names_all_three_places(tmp_path):
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("someone/no-such-model", base_dir=tmp_path)
    msg = str(info.value)
    assert "local directory" in msg and "packaged offline copy" in msg and "Hugging Face Hub" in msg


def test_fingerprint_tracks_weights(tiny_bert, tmp_path):
    from tests.conftest import build_tiny_bert

    other = build_tiny_bert(tmp_path / "other", seed=1)
    a = model_fingerprint(ModelSource("local", str(tiny_bert), "x"))
    assert a == model_fingerprint(ModelSource("local", str(tiny_bert), "x"))
    assert a != model_fingerprint(ModelSource("local", str(other), "x"))
    assert model_fingerprint(ModelSource("hub", "org/m", "org/m", "abc")) == "hub:org/m@abc"


def test_predict_proba_is_independent_of_batch_size_and_keeps_order(handle):
    texts = [t for t, _ in toy_rows(37)]
    reference = np.stack([handle.predict_proba([t])[0] for t in texts])
    for batch_size in (1, 4, 64):
        np.testing.assert_allclose(handle.predict_proba(texts, batch_size), reference, atol=1e-5)
    assert reference.shape == (37, 3)
    np.testing.assert_allclose(reference.sum(1), 1.0, atol=1e-5)
    assert len({tuple(np.round(r, 4)) for r in reference}) > 1  # not a constant output


def test_counts_forward_calls_examples_padded_tokens_and_seconds(handle, forward_shapes):
    shapes = forward_shapes
    texts = [t for t, _ in toy_rows(10)]
    handle.reset_counters()
    handle.predict_proba(texts, batch_size=4)
    assert handle.forward_calls == len(shapes) == 3 and handle.examples_seen == 10
    assert handle.padded_tokens == sum(rows * cols for rows, cols in shapes)
    assert handle.padded_tokens >= sum(len(ids) for ids in handle.encode(texts))
    assert handle.forward_seconds > 0
    handle.reset_counters()
    assert (handle.forward_calls, handle.padded_tokens, handle.forward_seconds) == (0, 0, 0.0)


def test_batches_are_padded_only_to_their_longest_text(handle, forward_shapes):
    texts = ["rose"] * 4 + [" ".join(["the company said its sales rose"] * 3)] * 4
    handle.predict_proba(texts, batch_size=4)
    # [CLS] rose [SEP] against the long text; never padded to 64
    assert sorted(cols for _, cols in forward_shapes) == [3, 20]


def test_empty_input(handle):
    assert handle.predict_proba([]).shape == (0, 3)


def test_head_mismatch_without_training_is_an_error(tiny_bert, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
    model.save_pretrained(tmp_path / "clf")
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(tmp_path / "clf")
    source = ModelSource("local", str(tmp_path / "clf"), "clf")
    with pytest.raises(AuditkitError, match="2-class head"):
        load_handle(source, ["a", "b", "c"], device="cpu", allow_new_head=False)
    assert load_handle(source, ["a", "b", "c"], device="cpu").num_labels == 3


def test_cuda_request_without_cuda_is_clear():
    import torch

    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda"
    else:
        with pytest.raises(AuditkitError, match="no CUDA device"):
            resolve_device("cuda")
    assert resolve_device("cpu").type == "cpu"


@pytest.mark.gpu
def test_handle_on_cuda_matches_cpu(tiny_bert):
    texts = [t for t, _ in toy_rows(20)]
    source = ModelSource("local", str(tiny_bert), "tiny")
    cpu = load_handle(source, ["a", "b", "c"], device="cpu").predict_proba(texts)
    gpu = load_handle(source, ["a", "b", "c"], device="cuda").predict_proba(texts)
    np.testing.assert_allclose(cpu, gpu, atol=1e-4)


def test_length_chunks_cut_where_the_length_jumps():
    from auditkit.models import length_chunks

    ends = length_chunks([10] * 10, 4, overhead=64)  # equal lengths: as few batches as fit
    sizes = np.diff([0, *ends])
    assert len(ends) == 3 and ends[-1] == 10 and sizes.max() <= 4
    # 4 short and 4 long texts: one batch of 8 pads the short ones to 60 (480 tokens + 64);
    # two batches cost 4 x 10 + 4 x 60 + 2 x 64 = 408.
    assert length_chunks([10] * 4 + [60] * 4, 8, overhead=64) == [4, 8]
    # a tiny jump is not worth a call: 8 x 11 + 64 < 4 x 10 + 4 x 11 + 128
    assert length_chunks([10] * 4 + [11] * 4, 8, overhead=64) == [8]
    assert length_chunks([], 8, overhead=64) == []


def test_out_of_memory_halves_the_batch_and_loses_nothing(handle, monkeypatch, caplog):
    texts = [t for t, _ in toy_rows(21)]
    reference = handle.predict_proba(texts, batch_size=8)
    original = handle._forward
    sizes = []

    def small_memory(batch_ids):  # a device that holds at most 3 rows
        sizes.append(len(batch_ids))
        if len(batch_ids) > 3:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(batch_ids)

    monkeypatch.setattr(handle, "_forward", small_memory)
    with caplog.at_level("WARNING"):
        got = handle.predict_proba(texts, batch_size=8)
    np.testing.assert_allclose(got, reference, atol=1e-5)
    assert max(sizes) == 8 and sizes[-1] <= 3 and "retrying with batch size 2" in caplog.text


def test_split_by_length_false_keeps_full_batches(handle, forward_shapes):
    seen = forward_shapes
    texts = ["rose"] * 4 + [" ".join(["the company said its sales rose"] * 3)] * 4
    handle.predict_proba(texts, batch_size=8)
    assert sorted(seen) == [(4, 3), (4, 20)]  # split where the length jumps
    seen.clear()
    handle.predict_proba(texts, batch_size=8, split_by_length=False)
    assert seen == [(8, 20)]  # what a latency measurement at batch 8 must time

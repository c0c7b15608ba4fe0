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


def test_counts_forward_calls_and_examples(handle):
    handle.reset_counters()
    handle.predict_proba([t for t, _ in toy_rows(10)], batch_size=4)
    assert handle.forward_calls == 3 and handle.examples_seen == 10


def test_batches_are_padded_only_to_their_longest_text(handle, monkeypatch):
    seen = []
    original = handle.model.forward

    def spy(input_ids=None, attention_mask=None, **kw):
        seen.append(input_ids.shape[1])
        return original(input_ids=input_ids, attention_mask=attention_mask, **kw)

    monkeypatch.setattr(handle.model, "forward", spy)
    texts = ["rose"] * 4 + [" ".join(["the company said its sales rose"] * 3)] * 4
    handle.predict_proba(texts, batch_size=4)
    assert sorted(seen) == [3, 20]  # [CLS] rose [SEP] vs the long text; never padded to 64


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

"""Mean pooling: the masked mean is what the classifier sees, padding does not change it, and
the choice survives save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from auditkit.errors import AuditkitError
from auditkit.models import ModelSource, load_handle, packaged_minilm_dir
from auditkit.models.pooling import MaskedMeanPooler, checkpoint_pooling
from tests.conftest import toy_rows


@pytest.fixture
def tiny_st(tiny_bert, tmp_path):
    """The tiny BERT dressed as a sentence-transformers checkpoint that declares mean pooling."""
    import shutil

    folder = tmp_path / "tiny-st"
    shutil.copytree(tiny_bert, folder)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False})
    )
    return folder


def test_declared_pooling_is_read(tiny_bert, tiny_st):
    assert checkpoint_pooling(packaged_minilm_dir()) == "mean"
    assert checkpoint_pooling(tiny_st) == "mean"
    assert checkpoint_pooling(tiny_bert) is None


def test_auto_follows_the_checkpoint(tiny_bert, tiny_st):
    st = load_handle(ModelSource("local", str(tiny_st), "st"), ["a", "b"], device="cpu")
    plain = load_handle(ModelSource("local", str(tiny_bert), "b"), ["a", "b"], device="cpu")
    assert st.pooling == "mean" and isinstance(st.model.bert.pooler, MaskedMeanPooler)
    assert plain.pooling == "cls" and not isinstance(plain.model.bert.pooler, MaskedMeanPooler)
    assert st.describe()["pooling"] == "mean"


def test_logits_come_from_the_masked_mean(tiny_st):
    handle = load_handle(ModelSource("local", str(tiny_st), "st"), ["a", "b"], device="cpu")
    model = handle.model
    enc = handle.tokenizer(["shares rose", "the company said its sales fell"], padding=True,
                           return_tensors="pt")  # fmt: skip
    with torch.no_grad():
        logits = model(**enc).logits
        states = model.bert(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        mean = (states * mask).sum(1) / mask.sum(1)
        pooled = torch.tanh(model.bert.pooler.dense(mean))
        expected = model.classifier(pooled)
    torch.testing.assert_close(logits, expected)
    first_token = model.classifier(torch.tanh(model.bert.pooler.dense(states[:, 0])))
    assert not torch.allclose(logits, first_token)


def test_padding_does_not_change_mean_pooled_predictions(tiny_st):
    handle = load_handle(ModelSource("local", str(tiny_st), "st"), ["a", "b"], device="cpu")
    texts = [t for t, _ in toy_rows(21)]
    alone = np.stack([handle.predict_proba([t])[0] for t in texts])
    np.testing.assert_allclose(handle.predict_proba(texts, batch_size=8), alone, atol=1e-5)


def test_pooling_survives_save_and_load(tiny_st, tmp_path):
    handle = load_handle(ModelSource("local", str(tiny_st), "st"), ["a", "b"], device="cpu")
    handle.model.save_pretrained(tmp_path / "ft")
    handle.tokenizer.save_pretrained(tmp_path / "ft")  # no 1_Pooling here: config carries it
    again = load_handle(ModelSource("local", str(tmp_path / "ft"), "ft"), ["a", "b"],
                        device="cpu", allow_new_head=False)  # fmt: skip
    assert again.pooling == "mean"
    texts = [t for t, _ in toy_rows(5)]
    np.testing.assert_allclose(again.predict_proba(texts), handle.predict_proba(texts), atol=1e-6)
    with pytest.raises(AuditkitError, match="fine-tuned with mean pooling"):
        load_handle(ModelSource("local", str(tmp_path / "ft"), "ft"), ["a", "b"], device="cpu",
                    pooling="cls")  # fmt: skip


def test_mean_pooling_needs_a_pooler(tmp_path, tiny_bert):
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel

    config = DistilBertConfig(vocab_size=200, dim=32, n_layers=1, n_heads=2, hidden_dim=64)
    DistilBertModel(config).save_pretrained(tmp_path / "distil")
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(tmp_path / "distil")
    source = ModelSource("local", str(tmp_path / "distil"), "distil")
    with pytest.raises(AuditkitError, match="BERT-style pooler"):
        load_handle(source, ["a", "b"], device="cpu", pooling="mean")
    (tmp_path / "distil" / "1_Pooling").mkdir()
    (tmp_path / "distil" / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_mean_tokens": True})
    )
    assert load_handle(source, ["a", "b"], device="cpu").pooling == "cls"  # auto falls back


def test_hub_pooling_that_cannot_be_fetched_warns_before_falling_back_to_cls(tiny_bert, caplog):
    """Offline (conftest sets HF_HUB_OFFLINE) and not in the Hub cache: the real download fails,
    so cls is a guess for what may be a mean-pooled sentence-transformers checkpoint."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from auditkit.models.loading import _choose_pooling

    config = AutoConfig.from_pretrained(tiny_bert)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
    source = ModelSource("hub", "acme/finance-minilm-st", "acme/finance-minilm-st")
    with caplog.at_level("WARNING", logger="auditkit.models"):
        assert _choose_pooling(source, config, model, "auto") == "cls"
    warnings = [r for r in caplog.records if r.name == "auditkit.models" and r.levelno >= 30]
    assert len(warnings) == 1, "cls was chosen without a word"
    message = warnings[0].getMessage()
    assert "'acme/finance-minilm-st'" in message and "1_Pooling/config.json" in message
    assert "mean pooling was probably intended" in message and "model.pooling: mean" in message
    assert "LocalEntryNotFoundError" in message  # the reason, from huggingface_hub


def test_a_hub_model_without_a_pooling_file_is_cls_without_a_warning(
    tiny_bert, caplog, monkeypatch
):
    """The Hub answered that the file does not exist: not a sentence-transformers checkpoint."""
    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from auditkit.models.loading import _choose_pooling

    def absent(repo_id, filename, **kwargs):
        raise EntryNotFoundError(f"404: {filename} not in {repo_id}")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", absent)
    config = AutoConfig.from_pretrained(tiny_bert)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
    source = ModelSource("hub", "acme/plain-bert", "acme/plain-bert")
    with caplog.at_level("WARNING", logger="auditkit.models"):
        assert _choose_pooling(source, config, model, "auto") == "cls"
    assert not [r for r in caplog.records if r.name == "auditkit.models" and r.levelno >= 30]

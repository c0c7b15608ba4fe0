"""Shared fixtures: tiny real BERTs built from a config, toy data, and suite writers."""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import pytest

# Set before anything imports huggingface_hub, which reads these once at import time.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

FPB_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "financial_phrasebank"

POSITIVE = ["rose", "gained", "beat", "improved", "record", "upgrade", "surged", "strong"]
NEGATIVE = ["fell", "dropped", "missed", "weak", "loss", "downgrade", "slumped", "cut"]
FILLER = [
    "the", "company", "said", "its", "quarterly", "sales", "in", "europe", "shares",
    "profit", "group", "unit", "market", "orders", "year", "this", "analysts", "revenue",
    "bank", "plant", "board", "on", "monday", "after", "report", "outlook", "with",
]  # fmt: skip
VOCAB = sorted(set(POSITIVE + NEGATIVE + FILLER + ["neutral", "flat", "unchanged"]))


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
    """No Hub calls and a private fine-tune cache per test session."""
    monkeypatch.setenv("AUDITKIT_NO_PROGRESS", "1")
    monkeypatch.setenv("AUDITKIT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def build_tiny_bert(folder: Path, *, seed: int = 0, layers: int = 2, hidden: int = 32) -> Path:
    """A real (randomly initialized) BERT encoder and WordPiece tokenizer saved to `folder`."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *VOCAB, *"abcdefghijklmnopqrstuvwxyz"]
    vocab += [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    tokenizer.model_max_length = 64
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=64,
        hidden_dropout_prob=0.0,  # so a 2-layer model learns a toy task in seconds
        attention_probs_dropout_prob=0.0,
        initializer_range=0.1,
    )
    model = BertModel(config)
    model.config.architectures = ["BertModel"]
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


def toy_rows(n: int, seed: int = 0, classes: int = 3) -> list[tuple[str, str]]:
    """A separable task: the label is decided by one keyword among filler words."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = ["negative", "positive", "neutral"][i % classes]
        words = rng.sample(FILLER, rng.randint(4, 12))
        key = {
            "negative": rng.choice(NEGATIVE),
            "positive": rng.choice(POSITIVE),
            "neutral": rng.choice(["neutral", "flat", "unchanged"]),
        }[label]
        words.insert(rng.randint(0, len(words)), key)
        rows.append((" ".join(words), label))
    return rows


def write_csv(path: Path, rows, header=("text", "label")) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_suite(folder: Path, body: str, name: str = "suite.yaml") -> Path:
    path = folder / name
    path.write_text(body)
    return path


def write_toy_suite(
    folder: Path,
    model_dir: Path,
    *,
    extra_training: str = "",
    audits: str = "  performance:\n    bootstrap: 200\n",
) -> Path:
    """A runnable suite in `folder`: the model at `model_dir`, toy CSV, short training."""
    if not (folder / "toy.csv").exists():
        write_csv(folder / "toy.csv", toy_rows(600))
    return write_suite(
        folder,
        f"""
name: toy
seed: 0
model:
  id: {model_dir}
  max_length: 32
data:
  source: csv
  path: toy.csv
  labels: [negative, positive, neutral]
training:
  epochs: 6
  batch_size: 16
  learning_rate: 2.0e-3
  warmup_ratio: 0.0
{extra_training}
audits:
{audits}""",
    )


@pytest.fixture
def toy_suite(tmp_path, tiny_bert):
    """A runnable suite: tiny BERT, toy CSV, short training."""

    def make(extra_training: str = "", audits: str = "  performance:\n    bootstrap: 200\n"):
        return write_toy_suite(tmp_path, tiny_bert, extra_training=extra_training, audits=audits)

    return make


def pytest_collection_modifyitems(config, items):
    """gpu tests skip (visibly) where there is no CUDA device."""
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def fpb_available() -> bool:
    return (FPB_DIR / "sentences_50agree.csv").is_file() or bool(os.environ.get("AUDITKIT_FPB_DIR"))


@pytest.fixture(scope="session")
def trained_toy_handle(tmp_path_factory):
    """A tiny BERT fine-tuned on the toy keyword task (shared by the robustness tests)."""
    from auditkit.data import load_data
    from auditkit.models import load_handle, resolve_model
    from auditkit.suite import load_suite
    from auditkit.training import fine_tune

    folder = tmp_path_factory.mktemp("robust")
    suite_path = write_toy_suite(folder, build_tiny_bert(folder / "tiny"))
    suite = load_suite(suite_path)
    bundle = load_data(suite)
    handle = load_handle(resolve_model(suite.model.id), bundle.label_names, device="cpu",
                         max_length=32)  # fmt: skip
    outcome = fine_tune(
        handle, bundle, suite.training, seed=0, cache_dir=folder / "cache", progress=False
    )
    return outcome.handle, bundle

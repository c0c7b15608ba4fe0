"""The embedded sample dataset: its shape, and that it is the project's own writing."""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import FPB_DIR

SAMPLE = Path(__file__).resolve().parents[1] / "suites" / "data" / "finance_news_sample.csv"


def rows() -> list[tuple[str, str]]:
    with open(SAMPLE, encoding="utf-8", newline="") as fh:
        return [(r["text"], r["label"]) for r in csv.DictReader(fh)]


def test_sample_shape():
    data = rows()
    assert len(data) >= 600
    assert Counter(label for _, label in data) == {"negative": 170, "neutral": 290, "positive": 200}
    texts = [t.strip().lower() for t, _ in data]
    assert len(set(texts)) == len(texts) and all(texts)


def test_sample_shares_no_phrasing_with_the_phrasebank():
    fpb = Path(os.environ.get("AUDITKIT_FPB_DIR", FPB_DIR)) / "sentences_50agree.csv"
    if not fpb.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the shared Financial PhraseBank at {fpb}")
        pytest.skip("Financial PhraseBank not available")

    def grams(text: str, n: int = 8) -> set[tuple[str, ...]]:
        words = re.findall(r"\w+", text.lower())
        return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}

    with open(fpb, encoding="utf-8", newline="") as fh:
        reference = set().union(*(grams(r["sentence"]) for r in csv.DictReader(fh)))
    shared = [t for t, _ in rows() if grams(t) & reference]
    assert shared == [], f"sample sentences share an 8-word run with the PhraseBank: {shared[:3]}"

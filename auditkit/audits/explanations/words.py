"""Merge subword attributions into whole words, and rebuild texts from a subset of words.

Tokenizers mark word boundaries in one of three ways: WordPiece marks a continuation
(`##ing`), SentencePiece marks a word start (`▁rose`) and byte-level BPE marks a preceding
space (`Ġrose`). A word's score is the sum of its pieces' scores, so the sum over words equals
the sum over tokens (integrated gradients' completeness survives the merge). Special tokens
([CLS], <s>, padding) are dropped: they are the same in the input and the baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Scheme = Literal["wordpiece", "sentencepiece", "bpe"]

_STARTS = {"sentencepiece": "\u2581", "bpe": "\u0120"}  # ▁ and Ġ


def detect_scheme(tokens: Sequence[str]) -> Scheme:
    """Which marker convention these tokens use (WordPiece when nothing else is seen)."""
    if any(t.startswith("##") for t in tokens):
        return "wordpiece"
    if any(t.startswith(_STARTS["sentencepiece"]) for t in tokens):
        return "sentencepiece"
    if any(t.startswith(_STARTS["bpe"]) for t in tokens):
        return "bpe"
    return "wordpiece"


def word_groups(
    tokens: Sequence[str],
    special: Sequence[bool] | None = None,
    scheme: Scheme | None = None,
) -> list[list[int]]:
    """Token positions of each word, in order; special tokens belong to no word."""
    scheme = scheme or detect_scheme(tokens)
    special = special if special is not None else [False] * len(tokens)
    groups: list[list[int]] = []
    previous_special = True
    for i, (tok, is_special) in enumerate(zip(tokens, special, strict=True)):
        if is_special:
            previous_special = True
            continue
        if scheme == "wordpiece":
            starts = not tok.startswith("##")
        else:
            starts = tok.startswith(_STARTS[scheme])
        if starts or previous_special or not groups:
            groups.append([i])
        else:
            groups[-1].append(i)
        previous_special = False
    return groups


def piece_text(token: str, scheme: Scheme) -> str:
    if scheme == "wordpiece":
        return token[2:] if token.startswith("##") else token
    return token.lstrip(_STARTS[scheme])


def merge_subwords(
    tokens: Sequence[str],
    scores: Sequence[float] | np.ndarray,
    special: Sequence[bool] | None = None,
    scheme: Scheme | None = None,
) -> tuple[list[str], np.ndarray]:
    """Words and summed scores from token pieces: (["rose", "sharply"], [0.4, 0.1])."""
    scheme = scheme or detect_scheme(tokens)
    scores = np.asarray(scores, dtype=np.float64)
    groups = word_groups(tokens, special, scheme)
    words = ["".join(piece_text(tokens[i], scheme) for i in g) for g in groups]
    return words, np.array([scores[g].sum() for g in groups], dtype=np.float64)


@dataclass
class WordSpans:
    """The words of one text with their character spans, to rebuild texts without some words."""

    text: str
    words: list[str]
    spans: list[tuple[int, int]] | None  # None when the tokenizer gives no offsets

    def keep(self, mask: Sequence[bool] | np.ndarray) -> str:
        """The text with only the words where `mask` is true, keeping the original spacing."""
        kept = [i for i, m in enumerate(mask) if m]
        if self.spans is None:
            return " ".join(self.words[i] for i in kept)
        parts: list[str] = []
        for n, i in enumerate(kept):
            start, end = self.spans[i]
            if n:  # glued pieces stay glued ("rose" + ","); anything else gets one space
                prev = kept[n - 1]
                glued = prev == i - 1 and self.spans[prev][1] == start
                parts.append("" if glued else " ")
            parts.append(self.text[start:end])
        return "".join(parts)


def words_with_spans(
    text: str,
    tokens: Sequence[str],
    scores: np.ndarray,
    special: Sequence[bool],
    offsets: Sequence[tuple[int, int]] | None,
) -> tuple[WordSpans, np.ndarray]:
    """Merge one example's token scores into words, with the words' spans in `text`."""
    scheme = detect_scheme(tokens)
    groups = word_groups(tokens, special, scheme)
    word_scores = np.array([np.asarray(scores)[g].sum() for g in groups], dtype=np.float64)
    if offsets is None:
        words = ["".join(piece_text(tokens[i], scheme) for i in g) for g in groups]
        return WordSpans(text, words, None), word_scores
    spans = [(int(offsets[g[0]][0]), int(offsets[g[-1]][1])) for g in groups]
    words = [text[a:b] for a, b in spans]
    return WordSpans(text, words, spans), word_scores

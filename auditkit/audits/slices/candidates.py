"""Candidate slices: boolean masks over the test split, each with a name and a description a
reader understands ("has a percent", "longest quarter: 31-78 tokens").

Nothing here knows a domain: the text features are general (length, digits, percent signs,
currency symbols and ISO codes, negation words), and domain terms come from the suite (its
`patterns`, the fairness term lists and the invariance name lists).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

NUMBER = re.compile(r"\d")
PERCENT = re.compile(r"\d\s*%|\bper\s?cent\b|\bpercentage point", re.IGNORECASE)
CURRENCY = re.compile(
    r"[$€£¥₹]|\b(?:USD|EUR|GBP|JPY|CHF|CNY|SEK|NOK|DKK|CAD|AUD|INR|RUB|HKD|SGD|KRW)\b"
    r"|\b(?:dollars?|euros?|pounds? sterling|yen|yuan|francs?|kronor|kroner|rupees?)\b",
    re.IGNORECASE,
)


@dataclass
class Candidate:
    """One candidate slice. `universe` is the rows it is compared within (None: all of
    them); an error-tree leaf is tested on the half of the test split the tree did not see."""

    name: str
    source: str
    description: str
    mask: np.ndarray
    universe: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.mask.sum())


def _words(terms: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive whole-word pattern for a list of terms (multi-word terms allowed)."""
    cleaned = sorted({" ".join(t.split()) for t in terms if t and t.strip()}, key=len, reverse=True)
    if not cleaned:
        return None
    body = "|".join(r"\s+".join(map(re.escape, t.split())) for t in cleaned)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)


def _matches(pattern: re.Pattern[str] | None, texts: Sequence[str]) -> np.ndarray:
    if pattern is None:
        return np.zeros(len(texts), dtype=bool)
    return np.array([pattern.search(t) is not None for t in texts], dtype=bool)


def text_features(
    texts: Sequence[str],
    lengths: Sequence[int],
    *,
    negations: Sequence[str],
    patterns: dict[str, str],
) -> list[Candidate]:
    """Length quartiles in tokens, the general text features, then the suite's patterns."""
    out: list[Candidate] = []
    lengths = np.asarray(lengths)
    if len(lengths):
        cuts = np.quantile(lengths, [0.25, 0.5, 0.75])
        quarter = np.searchsorted(cuts, lengths, side="left")  # 0..3; ties go to the lower
        names = ("shortest", "second", "third", "longest")
        for q in range(4):
            mask = quarter == q
            if mask.any():
                lo, hi = int(lengths[mask].min()), int(lengths[mask].max())
                out.append(
                    Candidate(
                        f"length.q{q + 1}",
                        "text",
                        f"{names[q]} quarter by length: {lo}-{hi} tokens",
                        mask,
                    )
                )
    negation = _words([w for w in negations if "'" not in w])
    contracted = [w for w in negations if "'" in w]
    has_negation = _matches(negation, texts) | np.array(
        [any(c in t.lower() for c in contracted) for t in texts], dtype=bool
    )
    out += [
        Candidate("text.has_number", "text", "has a number", _matches(NUMBER, texts)),
        Candidate("text.has_percent", "text", "has a percent", _matches(PERCENT, texts)),
        Candidate("text.has_currency", "text", "has a currency amount", _matches(CURRENCY, texts)),
        Candidate("text.has_negation", "text", "has a negation", has_negation),
    ]
    for name, pattern in patterns.items():
        regex = re.compile(pattern)
        out.append(
            Candidate(f"pattern.{name}", "text", f"matches `{name}`", _matches(regex, texts))
        )
    return out


def term_features(term_lists: dict[str, Sequence[str]], texts: Sequence[str]) -> list[Candidate]:
    """One slice per term list: the sentences that mention any of its terms."""
    return [
        Candidate(
            f"terms.{name}",
            "terms",
            f"mentions {name.replace('.', ' ')}",
            _matches(_words(terms), texts),
        )
        for name, terms in term_lists.items()
    ]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def metadata_features(columns: dict[str, Sequence[object]]) -> list[Candidate]:
    """One slice per value of each metadata column (missing values make no slice)."""
    out = []
    for column, values in columns.items():
        text = np.array(["" if v is None else str(v).strip() for v in values], dtype=object)
        for value in sorted({v for v in text if v and v.lower() != "nan"}):
            out.append(
                Candidate(
                    f"column.{column}={value}", "metadata", f"{column} = {value}", text == value
                )
            )
    return out


def conjunctions(base: Sequence[Candidate], min_size: int) -> list[Candidate]:
    """Pairs of slices from different families, kept when the pair has at least `min_size`
    rows and is smaller than both parts (otherwise it is one of them again)."""
    out = []
    for i, a in enumerate(base):
        for b in base[i + 1 :]:
            if _family(a) == _family(b):
                continue
            mask = a.mask & b.mask
            n = int(mask.sum())
            if n < min_size or n == a.n or n == b.n:
                continue
            out.append(
                Candidate(
                    f"{a.name} & {b.name}", "conjunction", f"{a.description}; {b.description}", mask
                )
            )
    return out


def _family(c: Candidate) -> str:
    """Slices of one family never pair: two length quarters, two clusters, two column values."""
    for head in ("length.", "cluster."):
        if c.name.startswith(head):
            return head
    return c.name.split("=")[0]


def deduplicate(candidates: Sequence[Candidate]) -> tuple[list[Candidate], int]:
    """Drop a candidate whose rows equal an earlier one's (it would be tested twice)."""
    seen: set[bytes] = set()
    out = []
    for c in candidates:
        key = np.packbits(c.mask).tobytes() + (
            b"" if c.universe is None else np.packbits(c.universe).tobytes()
        )
        if key in seen:
            continue
        seen.add(key)
        out.append(c)
    return out, len(candidates) - len(out)

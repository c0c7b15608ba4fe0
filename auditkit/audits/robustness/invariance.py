"""Label-preserving perturbations (CheckList's INV tests): the prediction should not move.

Each perturbation is a pure function of the text and a seeded RNG, so a run is reproducible
and a flip can be replayed. A perturbation that finds nothing to change in a sentence leaves
it as is; only changed sentences count towards its flip rate. Domain words (names, number
formats) come from the suite, never from the code.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field

PERTURBATIONS = (
    "typos",
    "char_noise",
    "casing",
    "punctuation",
    "numbers",
    "names",
    "contractions",
)


class InvarianceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    perturbations: list[str] = Field(default_factory=lambda: list(PERTURBATIONS))
    sample_size: int | None = Field(
        default=None, ge=1, description="test examples to perturb; null = all"
    )
    typo_rate: float = Field(default=0.1, gt=0, le=1, description="share of words given a typo")
    names: dict[str, list[str]] = Field(
        default_factory=dict,
        description="kind -> interchangeable names (companies, people, places); "
        "a name found in a sentence is swapped for another of the same kind",
    )
    number_formats: dict[str, str] = Field(
        default_factory=dict,
        description="unit spellings that mean the same, e.g. {mn: million}; applied both ways",
    )


_WORD = re.compile(r"[A-Za-z]{4,}")
_KEYBOARD = "qwertyuiop asdfghjkl zxcvbnm"


def _pick_words(text: str, rate: float, rng: random.Random) -> list[re.Match]:
    words = list(_WORD.finditer(text))
    if not words:
        return []
    k = max(1, round(rate * len(words)))
    return sorted(rng.sample(words, min(k, len(words))), key=lambda m: m.start())


def _edit(text: str, matches: list[re.Match], change: Callable[[str], str]) -> str:
    out, last = [], 0
    for m in matches:
        out += [text[last : m.start()], change(m.group())]
        last = m.end()
    return "".join(out) + text[last:]


def typos(text: str, rng: random.Random, cfg: InvarianceConfig) -> str:
    """Swap two adjacent inner letters in some words ("profit" -> "porfit")."""

    def swap(word: str) -> str:
        i = rng.randrange(1, len(word) - 2)
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]

    return _edit(text, _pick_words(text, cfg.typo_rate, rng), swap)


def char_noise(text: str, rng: random.Random, cfg: InvarianceConfig) -> str:
    """Drop, double or mistype one inner letter in some words."""

    def noise(word: str) -> str:
        i = rng.randrange(1, len(word) - 1)
        kind = rng.randrange(3)
        if kind == 0:
            return word[:i] + word[i + 1 :]
        if kind == 1:
            return word[:i] + word[i] + word[i:]
        row = next((r for r in _KEYBOARD.split() if word[i].lower() in r), None)
        if row is None:
            return word[:i] + word[i] + word[i:]
        j = row.index(word[i].lower())
        near = [row[x] for x in (j - 1, j + 1) if 0 <= x < len(row)]
        return word[:i] + rng.choice(near) + word[i + 1 :]

    return _edit(text, _pick_words(text, cfg.typo_rate, rng), noise)


def casing(text: str, rng: random.Random, cfg: InvarianceConfig) -> str:
    """All lower case, or all upper case for sentences already lower case."""
    lower = text.lower()
    return lower if lower != text else text.upper()


def punctuation(text: str, rng: random.Random, cfg: InvarianceConfig) -> str:
    """Drop the final full stop and commas between words; add a full stop where there is none."""
    stripped = re.sub(r"(?<=\D),(?=\s)|(?<=\w),(?=\s)", "", text)
    stripped = re.sub(r"\s*[.!]\s*$", "", stripped)
    if stripped != text:
        return stripped
    return text.rstrip() + "."


_THOUSANDS = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+)(?![\d,])")
_PLAIN_BIG = re.compile(r"(?<![\d.,])(\d{4,})(?![\d.,])")


def numbers(text: str, rng: random.Random, cfg: InvarianceConfig) -> str:
    """Rewrite number formats: thousands separators, and the suite's unit spellings."""
    out = _THOUSANDS.sub(lambda m: m.group(1).replace(",", ""), text)
    if out == text:
        out = _PLAIN_BIG.sub(lambda m: f"{int(m.group(1)):,}", text)
    for short, long in cfg.number_formats.items():
        for a, b in ((short, long), (long, short)):
            pattern = re.compile(rf"(?<=\d)(\s?){re.escape(a)}\b", re.IGNORECASE)
            if pattern.search(out):
                out = pattern.sub(lambda m, b=b: (m.group(1) or " ") + b, out)
                break
    return out


def names(text: str, rng: random.Random, cfg: InvarianceConfig) -> str:
    """Swap each listed name for another of the same kind (whole words, longest first)."""
    for _kind, pool in sorted(cfg.names.items()):
        if len(pool) < 2:
            continue
        ordered = sorted(pool, key=len, reverse=True)
        pattern = re.compile(r"\b(" + "|".join(re.escape(n) for n in ordered) + r")\b")
        if pattern.search(text):
            text = pattern.sub(
                lambda m, pool=pool: rng.choice([n for n in pool if n != m[0]]), text
            )
    return text


_CONTRACTIONS = {
    "does not": "doesn't",
    "do not": "don't",
    "did not": "didn't",
    "is not": "isn't",
    "are not": "aren't",
    "was not": "wasn't",
    "were not": "weren't",
    "has not": "hasn't",
    "have not": "haven't",
    "had not": "hadn't",
    "will not": "won't",
    "would not": "wouldn't",
    "cannot": "can't",
    "could not": "couldn't",
    "should not": "shouldn't",
    "it is": "it's",
    "that is": "that's",
    "we are": "we're",
    "they are": "they're",
    "we will": "we'll",
    "it will": "it'll",
}


def _case_like(source: str, target: str) -> str:
    return target[0].upper() + target[1:] if source[:1].isupper() else target


def contractions(text: str, rng: random.Random, cfg: InvarianceConfig) -> str:
    """Contract expanded forms ("does not" -> "doesn't"), or expand contracted ones."""
    for table in (_CONTRACTIONS, {v: k for k, v in _CONTRACTIONS.items()}):
        pattern = re.compile(r"\b(" + "|".join(re.escape(k) for k in table) + r")\b", re.IGNORECASE)
        if pattern.search(text):
            return pattern.sub(lambda m, t=table: _case_like(m[0], t[m[0].lower()]), text)
    return text


FUNCTIONS: dict[str, Callable[[str, random.Random, InvarianceConfig], str]] = {
    "typos": typos,
    "char_noise": char_noise,
    "casing": casing,
    "punctuation": punctuation,
    "numbers": numbers,
    "names": names,
    "contractions": contractions,
}


def perturb(
    name: str,
    texts: list[str],
    seed: int,
    cfg: InvarianceConfig,
    ids: Sequence[int] | None = None,
) -> list[str]:
    """The perturbed texts; example `ids[i]` (its row; by default its position) always gets
    the same edit for a given seed, whichever sample or rank it is in."""
    fn = FUNCTIONS[name]
    offset = PERTURBATIONS.index(name)
    keys = range(len(texts)) if ids is None else [int(i) for i in ids]
    return [
        fn(t, random.Random(seed * 7_919 + offset * 104_729 + k), cfg)
        for k, t in zip(keys, texts, strict=True)
    ]

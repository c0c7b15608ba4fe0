"""Identity terms and grammar-preserving counterfactual swaps.

A group's terms are sorted into *kinds* (`name`, `title`, `country`, `demonym`, `pronoun`,
...). A swap replaces a term with the term of the same kind and the same position in the target
group, so "Finland" becomes a country and "Finnish" a demonym, never the other way round.
English third-person pronouns are swapped by grammatical role instead ("her" becomes "his"
before a noun and "him" elsewhere), because one form does not map to one form.

Matching is whole-word (a term never matches inside "Marianne" or "chairmanship"), keeps what
follows the word ("Maria's" becomes "Mark's", "Mr." stays "Ms."), and carries the original
casing onto the replacement. A term written with a capital first letter (a proper noun) only
matches a capitalised word, so "Grace" swaps the name but leaves "a grace period" alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Role -> form, for the two English paradigms that swap without touching the verb.
PRONOUN_PARADIGMS: dict[str, dict[str, str]] = {
    "masculine": {
        "subject": "he",
        "object": "him",
        "determiner": "his",
        "possessive": "his",
        "reflexive": "himself",
    },
    "feminine": {
        "subject": "she",
        "object": "her",
        "determiner": "her",
        "possessive": "hers",
        "reflexive": "herself",
    },
}
_PRONOUN_FORMS = {form for paradigm in PRONOUN_PARADIGMS.values() for form in paradigm.values()}

# Words after "her"/"his" that mean the pronoun is not a determiner ("told her that", "his and").
_NOT_A_NOUN = frozenset(
    """ a an the and or but nor so yet to of in on at by for from with without about into onto
    over under after before since until as than that this these those which who whom whose when
    where while if because though although up down out off again also too very not no is are was
    were be been being has have had do does did will would shall should can could may might must
    it its he she him her his hers they them their we us our you your i me my""".split()  # noqa: SIM905
)

_WORD_CHAR = r"[^\W_]"  # a letter or digit, in any script


@dataclass(frozen=True)
class TermRef:
    """Where a term sits: its group, kind and position within that kind."""

    group: str
    kind: str
    index: int


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    text: str
    ref: TermRef


def transfer_case(original: str, replacement: str) -> str:
    """Give `replacement` the casing pattern of `original` (UPPER, Title or lower)."""
    letters = [c for c in original if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    if original.islower():
        # A lower-case occurrence of a proper noun ("maria") stays lower-case.
        return replacement.lower()
    return replacement


class TermSwapper:
    """Finds an attribute's terms in text and rewrites the text for another group.

    `groups` maps group name -> kind -> terms, e.g.
    ``{"female": {"pronoun": ["she", "her"], "name": ["Maria"]}, "male": {...}}``.
    """

    def __init__(self, groups: Mapping[str, Mapping[str, Sequence[str]]]) -> None:
        if len(groups) < 2:
            raise ValueError(f"an attribute needs at least two groups, got {list(groups)}")
        self.groups = {g: {k: list(v) for k, v in kinds.items()} for g, kinds in groups.items()}
        self._lookup: dict[str, TermRef] = {}  # folded term -> first place it is listed
        self._proper: dict[str, bool] = {}
        for group, kinds in self.groups.items():
            for kind, terms in kinds.items():
                for index, term in enumerate(terms):
                    key = _fold(term)
                    if key in self._lookup and self._lookup[key].group != group:
                        other = self._lookup[key].group
                        raise ValueError(
                            f"term {term!r} is listed in both group {other!r} and group {group!r}"
                        )
                    self._lookup.setdefault(key, TermRef(group, kind, index))
                    self._proper[key] = self._proper.get(key, False) or term[:1].isupper()
        # Longest first, so "South African" wins over "South Africa" and "South".
        terms = sorted(self._lookup, key=lambda t: (-len(t), t))
        body = "|".join(r"\s+".join(map(re.escape, t.split())) for t in terms)
        self._pattern = re.compile(rf"(?<!{_WORD_CHAR})(?:{body})(?!{_WORD_CHAR})", re.IGNORECASE)
        self._paradigm = {group: _paradigm_of(kinds) for group, kinds in self.groups.items()}

    @property
    def group_names(self) -> list[str]:
        return list(self.groups)

    def find(self, text: str) -> list[Match]:
        """Every term occurrence, left to right, non-overlapping."""
        out = []
        for m in self._pattern.finditer(text):
            key = _fold(m.group(0))
            if self._proper[key] and not m.group(0)[:1].isupper():
                continue  # "grace period" is not the name Grace
            out.append(Match(m.start(), m.end(), m.group(0), self._lookup[key]))
        return out

    def groups_in(self, text: str) -> list[str]:
        """The groups whose terms the text mentions, in the order the groups are listed."""
        found = {m.ref.group for m in self.find(text)}
        return [g for g in self.groups if g in found]

    def swap(self, text: str, target: str) -> str:
        """The text with every term of another group replaced by `target`'s counterpart."""
        if target not in self.groups:
            raise KeyError(f"unknown group {target!r}; groups: {list(self.groups)}")
        pieces, last = [], 0
        for m in self.find(text):
            if m.ref.group == target:
                continue
            pieces.append(text[last : m.start])
            pieces.append(transfer_case(m.text, self._counterpart(m, text, target)))
            last = m.end
        pieces.append(text[last:])
        return "".join(pieces)

    def _counterpart(self, m: Match, text: str, target: str) -> str:
        word = _fold(m.text)
        source_paradigm = self._paradigm[m.ref.group]
        target_paradigm = self._paradigm[target]
        if word in _PRONOUN_FORMS and source_paradigm and target_paradigm:
            role = pronoun_role(word, text[m.end :])
            form = PRONOUN_PARADIGMS[target_paradigm][role]
            if _fold(form) in self._lookup:  # only forms the target group lists
                return form
        choices = self.groups[target].get(m.ref.kind)
        if not choices:
            raise ValueError(
                f"group {target!r} has no terms of kind {m.ref.kind!r} to stand in for "
                f"{m.text!r} (group {m.ref.group!r})"
            )
        return choices[m.ref.index % len(choices)]


def pronoun_role(word: str, rest: str) -> str:
    """Grammatical role of a pronoun form, from the word itself and what follows it."""
    word = word.lower()
    for paradigm in PRONOUN_PARADIGMS.values():
        for role in ("subject", "reflexive"):
            if paradigm[role] == word:
                return role
    if word == "him":
        return "object"
    if word == "hers":
        return "possessive"
    nxt = re.match(r"\s*([^\W\d_][\w'-]*)", rest)
    before_noun = bool(nxt) and nxt.group(1).lower() not in _NOT_A_NOUN
    if word == "her":
        return "determiner" if before_noun else "object"
    # "his": "his decision" is a determiner, "the decision was his" a possessive pronoun.
    return "determiner" if before_noun else "possessive"


def _paradigm_of(kinds: Mapping[str, Sequence[str]]) -> str | None:
    words = {_fold(t) for terms in kinds.values() for t in terms}
    for name, paradigm in PRONOUN_PARADIGMS.items():
        if paradigm["subject"] in words:
            return name
    return None


def _fold(term: str) -> str:
    return " ".join(term.split()).casefold()


def parse_terms(text: str, *, where: str = "terms") -> dict[str, list[str]]:
    """Read a term list: one term per line, `#` comments, optional `[kind]` section headers.

    Terms before any header are of kind `term`. Raises ValueError naming the line on a
    malformed header or a duplicate term.
    """
    kinds: dict[str, list[str]] = {}
    kind = "term"
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            if not re.fullmatch(r"\[[A-Za-z_][A-Za-z0-9_]*\]", line):
                raise ValueError(f"{where}:{lineno}: bad section header {line!r}; use e.g. [name]")
            kind = line[1:-1]
            kinds.setdefault(kind, [])
            continue
        term = " ".join(line.split())
        if _fold(term) in seen:
            raise ValueError(
                f"{where}:{lineno}: {term!r} is already listed (line {seen[_fold(term)]})"
            )
        seen[_fold(term)] = lineno
        kinds.setdefault(kind, []).append(term)
    return {k: v for k, v in kinds.items() if v}

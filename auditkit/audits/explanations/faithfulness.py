"""ERASER faithfulness (DeYoung et al. 2020): comprehensiveness, sufficiency and their AOPC.

For an example with predicted class j and its top-k% words by attribution (the rationale):
  comprehensiveness = p_j(x) - p_j(x without the rationale)   higher: the rationale mattered
  sufficiency       = p_j(x) - p_j(the rationale alone)        lower: the rationale suffices
AOPC is the mean over the k values. The default k are the bins of ERASER's scorer, 1, 5, 10, 20
and 50 % of the words, so the numbers compare with published ERASER AOPCs; `k_percents` in the
suite picks others. A random ranking of the same words is the floor a method must clear. The
perturbed texts are plain strings, so every query goes through the caller's `predict_proba`
(the ModelHandle in the audit).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from auditkit.audits.explanations.words import WordSpans

K_PERCENTS = (1, 5, 10, 20, 50)  # ERASER's AOPC bins (DeYoung et al. 2020)


def aopc_description(percents: Sequence[int]) -> str:
    """What an AOPC averaged over `percents` is, and whether it compares with ERASER's."""
    ks = ", ".join(str(k) for k in percents)
    if sorted(percents) == list(K_PERCENTS):
        return f"AOPC over k = {ks} % of words (ERASER's bins)"
    eraser = ", ".join(str(k) for k in K_PERCENTS)
    return (
        f"AOPC over k = {ks} % of words; ERASER averages over {eraser} %, so this is not "
        "comparable with published ERASER AOPCs"
    )


def rationale_masks(scores: Sequence[float] | np.ndarray, percents: Sequence[int]) -> np.ndarray:
    """(len(percents), n_words) booleans: the top ceil(k% * n) words (at least one) by score.

    Ties keep text order (a stable sort), so the masks are deterministic.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    order = np.argsort(-scores, kind="stable")
    masks = np.zeros((len(percents), n), dtype=bool)
    for row, k in enumerate(percents):
        top = min(n, max(1, math.ceil(k / 100 * n)))
        masks[row, order[:top]] = True
    return masks


@dataclass
class Case:
    """One example to score: its words, the class explained, and its full-text probability."""

    words: WordSpans
    target: int
    p_full: float


@dataclass
class Erasure:
    """Per-example comprehensiveness and sufficiency, shape (n_examples, len(percents))."""

    comprehensiveness: np.ndarray
    sufficiency: np.ndarray

    @property
    def aopc_comprehensiveness(self) -> np.ndarray:
        return self.comprehensiveness.mean(axis=1)

    @property
    def aopc_sufficiency(self) -> np.ndarray:
        return self.sufficiency.mean(axis=1)


def erasure_scores(
    cases: Sequence[Case],
    rankings: Sequence[Sequence[np.ndarray]],
    predict_proba: Callable[[list[str]], np.ndarray],
    percents: Sequence[int] = K_PERCENTS,
) -> list[Erasure]:
    """Comprehensiveness and sufficiency for each ranking (one score vector per case).

    `rankings[m][i]` is method m's word scores for case i. All perturbed texts of all methods go
    to `predict_proba` in one call, so the handle batches them by length.
    """
    texts: list[str] = []
    for method_scores in rankings:
        for case, scores in zip(cases, method_scores, strict=True):
            for mask in rationale_masks(scores, percents):
                texts.append(case.words.keep(~mask))
                texts.append(case.words.keep(mask))
    probs = predict_proba(texts) if texts else np.zeros((0, 1))
    out = []
    at = 0
    k = len(percents)
    for _ in rankings:
        comp = np.zeros((len(cases), k))
        suff = np.zeros((len(cases), k))
        for i, case in enumerate(cases):
            for j in range(k):
                comp[i, j] = case.p_full - probs[at, case.target]
                suff[i, j] = case.p_full - probs[at + 1, case.target]
                at += 2
        out.append(Erasure(comp, suff))
    return out


def random_rankings(cases: Sequence[Case], repeats: int, seed: int) -> list[list[np.ndarray]]:
    """`repeats` independent random word scores per case, the floor every method must clear."""
    rng = np.random.default_rng(seed)
    return [[rng.random(len(c.words.words)) for c in cases] for _ in range(repeats)]


def mean_erasure(runs: Sequence[Erasure]) -> Erasure:
    """Average several random rankings into one per-example baseline."""
    return Erasure(
        np.mean([r.comprehensiveness for r in runs], axis=0),
        np.mean([r.sufficiency for r in runs], axis=0),
    )


def ratio(value: float, baseline: float) -> float | None:
    """value / baseline, or None when the baseline is not positive (the ratio means nothing)."""
    return value / baseline if baseline > 1e-9 else None

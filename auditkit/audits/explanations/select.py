"""Which examples get explained: a stratified sample, the misclassified, adversarial pairs.

Adversarial pairs come from the robustness audit's `attacks` artifact (see
docs/audit-outputs.md) when that audit ran earlier in the same run, so the report can show an
original and its successful perturbation side by side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auditkit.errors import AuditkitError

KINDS = ("sample", "misclassified", "adversarial_original", "adversarial_perturbed")


@dataclass
class Example:
    idx: int  # row of the test split
    kind: str
    pair_id: int | None
    text: str
    label: int
    pred: int
    proba: np.ndarray


def select_examples(
    texts: list[str],
    y: np.ndarray,
    probs: np.ndarray,
    *,
    per_class: int,
    misclassified: int,
    seed: int,
) -> list[Example]:
    """A seeded sample of `per_class` examples per gold class, then misclassified ones not in it."""
    rng = np.random.default_rng(seed)
    pred = probs.argmax(axis=1)
    chosen: list[Example] = []
    taken: set[int] = set()
    for label in range(probs.shape[1]):
        rows = np.flatnonzero(y == label)
        for i in sorted(rng.permutation(rows)[:per_class].tolist()):
            chosen.append(Example(i, "sample", None, texts[i], int(y[i]), int(pred[i]), probs[i]))
            taken.add(i)
    wrong = [i for i in np.flatnonzero(pred != y).tolist() if i not in taken]
    for i in sorted(rng.permutation(np.asarray(wrong, dtype=int))[:misclassified].tolist()):
        chosen.append(
            Example(i, "misclassified", None, texts[i], int(y[i]), int(pred[i]), probs[i])
        )
    return chosen


def read_adversarial_pairs(path: Path, n: int, seed: int) -> list[dict]:
    """Up to `n` seeded picks among the successful attacks on the plain model (phase `before`)."""
    if n <= 0:
        return []
    pairs = []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise AuditkitError(
                    f"{path}:{line_no}: not valid JSON ({exc.msg})",
                    hint="the robustness audit writes one JSON object per line; rerun it",
                ) from None
            missing = [k for k in ("idx", "original", "perturbed", "outcome") if k not in row]
            if missing:
                raise AuditkitError(
                    f"{path}:{line_no}: attack record lacks {missing}",
                    hint="see the robustness section of docs/audit-outputs.md",
                )
            if row["outcome"] == "succeeded" and row.get("phase", "before") == "before":
                pairs.append(row)
    # the artifact's row order is the attacks' block order: pick by identity, not by position
    pairs.sort(key=lambda row: (str(row.get("recipe", "")), int(row["idx"])))
    rng = np.random.default_rng(seed)
    picks = sorted(rng.permutation(len(pairs))[:n].tolist())
    return [pairs[i] for i in picks]


def adversarial_examples(
    pairs: list[dict], y: np.ndarray, original_probs: np.ndarray, perturbed_probs: np.ndarray
) -> list[Example]:
    """Original and perturbed text of each pair, linked by `pair_id`, each with its own prediction.

    Both texts' probabilities come from this run's model (queried by the caller), not the record.
    """
    out = []
    rows = zip(pairs, original_probs, perturbed_probs, strict=True)
    for pair_id, (row, p_before, p_after) in enumerate(rows):
        i = int(row["idx"])
        if not 0 <= i < len(y):
            raise AuditkitError(
                f"adversarial record idx {i} is outside the test split (0..{len(y) - 1})",
                hint="the robustness artifact belongs to a different run or dataset",
            )
        label = int(y[i])
        out.append(
            Example(i, "adversarial_original", pair_id, row["original"], label,
                    int(p_before.argmax()), p_before)
        )  # fmt: skip
        out.append(
            Example(i, "adversarial_perturbed", pair_id, row["perturbed"], label,
                    int(p_after.argmax()), p_after)
        )  # fmt: skip
    return out

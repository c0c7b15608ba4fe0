"""The error tree (the view of Microsoft's Responsible AI Toolbox): a shallow scikit-learn
DecisionTreeClassifier on the slice features, predicting "misclassified".

A tree fitted on the test split's errors and tested on the same rows would find its own noise,
so it is fitted on one seeded half of the test split and its leaves become candidate slices of
the other half, compared with the rest of that half. Its table shows both halves' figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from auditkit.audits.slices.candidates import Candidate


@dataclass
class ErrorTree:
    leaves: list[Candidate]
    rows: list[list]  # the `error_tree` table: node, depth, branch (drawn), rule, each half, leaf


def grow(
    features: Sequence[Candidate],
    wrong: np.ndarray,
    *,
    max_depth: int,
    min_leaf: int,
    seed: int,
) -> ErrorTree | None:
    """Fit on half A, describe every node, and return half B's leaves as candidates."""
    from sklearn.tree import DecisionTreeClassifier

    n = len(wrong)
    if not features or n < 4 * min_leaf:
        return None
    order = np.random.default_rng(seed).permutation(n)
    fit_rows, test_rows = np.sort(order[: n // 2]), np.sort(order[n // 2 :])
    x = np.stack([f.mask for f in features], axis=1).astype(np.int8)
    tree = DecisionTreeClassifier(
        max_depth=max_depth, min_samples_leaf=min_leaf, random_state=seed
    ).fit(x[fit_rows], wrong[fit_rows])
    t = tree.tree_
    held_out = np.zeros(n, dtype=bool)
    held_out[test_rows] = True
    node_fit = tree.decision_path(x[fit_rows]).toarray().astype(bool)
    node_test = tree.decision_path(x[test_rows]).toarray().astype(bool)

    rules: dict[int, list[str]] = {0: []}
    rows: list[list] = []
    leaves: list[Candidate] = []
    stack = [(0, 0)]
    while stack:
        node, depth = stack.pop()
        left, right = t.children_left[node], t.children_right[node]
        is_leaf = left == right
        fit_in, test_in = node_fit[:, node], node_test[:, node]
        rule = " and ".join(rules[node]) or "all"
        branch = "all rows" if depth == 0 else "\u2003" * (depth - 1) + "└ " + rules[node][-1]
        rows.append(
            [
                int(node), depth, branch, rule,
                int(fit_in.sum()), _rate(wrong[fit_rows][fit_in]),
                int(test_in.sum()), _rate(wrong[test_rows][test_in]),
                bool(is_leaf),
            ]
        )  # fmt: skip
        if is_leaf:
            if depth > 0:
                mask = np.zeros(n, dtype=bool)
                mask[test_rows[test_in]] = True
                leaves.append(
                    Candidate(f"tree.leaf{int(node)}", "tree", rule, mask, universe=held_out)
                )
            continue
        feature = features[t.feature[node]]
        rules[left] = [*rules[node], f"not ({feature.description})"]
        rules[right] = [*rules[node], feature.description]
        stack += [(right, depth + 1), (left, depth + 1)]
    return ErrorTree(leaves, rows)


def _rate(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None

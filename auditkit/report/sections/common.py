"""What several section modules share: example limits, grouping records, example pairs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

MAX_EXAMPLES = 20


def group_by(records: Iterable[dict[str, Any]], column: str) -> dict[str, list[dict[str, Any]]]:
    """Records per value of `column` (as a string), in the order the values first appear."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[str(r[column])].append(r)
    return groups


def pair_row(
    meta: list[tuple[str, Any]],
    a: list[dict[str, Any]],
    b: list[dict[str, Any]],
    a_label: str,
    b_label: str,
    score: str | None = None,
) -> dict[str, Any]:
    """One row of a `pairs` block: two marked texts side by side, each with its label."""
    return {"meta": meta, "a": a, "b": b, "a_label": a_label, "b_label": b_label, "score": score}

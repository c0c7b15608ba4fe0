"""Before/after comparisons, declared one way so that the report can say what got worse.

A mitigation, adversarial training and a quantized variant each compare a model with the one
it came from. An audit that does records its changes as a `Table` with `COLUMNS`; the report
reads any such table and says in one line which metrics got worse and whether the interval
of the change excludes zero. Nothing here knows which audit made the table.

`ci_kind` says what the interval is:
- `paired`: a paired bootstrap interval of the change itself (same examples before and after);
- `after`: only the after value's own interval, so the sentence says whether it holds the
  before value, which is a weaker statement (the before value has sampling noise too);
- `none`: no interval was recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from auditkit.api.results import Table

COLUMNS = [
    "subject",
    "metric",
    "before",
    "after",
    "delta",
    "ci_low",
    "ci_high",
    "ci_kind",
    "higher_is_better",
]
CiKind = Literal["paired", "after", "none"]


@dataclass(frozen=True)
class Change:
    """One metric before and after; `ci_low`/`ci_high` are as `ci_kind` says."""

    subject: str  # what was changed: a variant, an attribute, "all"
    metric: str
    before: float | None
    after: float | None
    higher_is_better: bool
    ci_low: float | None = None
    ci_high: float | None = None
    ci_kind: CiKind = "none"

    @property
    def delta(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before

    @property
    def worse(self) -> bool:
        d = self.delta
        return d is not None and (d < 0 if self.higher_is_better else d > 0)

    def excludes_no_change(self) -> bool | None:
        """Whether the interval rules out 'no change'; None without an interval."""
        if self.ci_low is None or self.ci_high is None:
            return None
        if self.ci_kind == "paired":
            return not (self.ci_low <= 0 <= self.ci_high)
        if self.ci_kind == "after" and self.before is not None:
            return not (self.ci_low <= self.before <= self.ci_high)
        return None


def _plain(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def table(changes: Sequence[Change], description: str) -> Table:
    """The changes as a table the report recognises by its columns."""
    rows = [
        [
            c.subject,
            c.metric,
            _plain(c.before),
            _plain(c.after),
            _plain(c.delta),
            _plain(c.ci_low),
            _plain(c.ci_high),
            c.ci_kind,
            c.higher_is_better,
        ]
        for c in changes
    ]
    return Table(columns=list(COLUMNS), rows=rows, description=description)


def from_table(t: Table) -> list[Change] | None:
    """The changes a table holds, or None when it is not a comparison table."""
    if t.columns != COLUMNS:
        return None
    out = []
    for r in t.records():
        out.append(
            Change(
                subject=str(r["subject"]),
                metric=str(r["metric"]),
                before=r["before"],
                after=r["after"],
                higher_is_better=bool(r["higher_is_better"]),
                ci_low=r["ci_low"],
                ci_high=r["ci_high"],
                ci_kind=r["ci_kind"] if r["ci_kind"] in ("paired", "after") else "none",
            )
        )
    return out


def paired_accuracy(
    correct_before: np.ndarray,
    correct_after: np.ndarray,
    *,
    n_resamples: int,
    seed: int,
    confidence: float = 0.95,
) -> tuple[float | None, float | None]:
    """Paired bootstrap interval of the accuracy change on the same examples."""
    from auditkit.gate.significance import paired_bootstrap

    a = np.asarray(correct_before, dtype=float)
    b = np.asarray(correct_after, dtype=float)
    if len(a) == 0 or len(a) != len(b):
        return None, None
    both = np.stack([a, b])
    test = paired_bootstrap(
        lambda idx, which: both[which][idx].mean(axis=1),
        len(a),
        n_resamples=n_resamples,
        seed=seed,
        confidence=confidence,
    )
    return test.ci_low, test.ci_high


def _number(x: float | None) -> str:
    return "—" if x is None else f"{x:.4g}"


def describe(change: Change) -> str:
    """'equalized_odds_difference (gender) 0 → 0.077' plus what the interval says."""
    where = "" if change.subject in ("", "all") else f" ({change.subject})"
    text = f"{change.metric}{where} {_number(change.before)} → {_number(change.after)}"
    excl = change.excludes_no_change()
    lo, hi = _number(change.ci_low), _number(change.ci_high)
    if change.ci_kind == "paired" and excl is not None:
        verdict = "excludes" if excl else "includes"
        return f"{text} (change 95% CI [{lo}, {hi}] {verdict} no change)"
    if change.ci_kind == "after" and excl is not None:
        verdict = "excludes" if excl else "includes"
        return f"{text} (after's 95% CI [{lo}, {hi}] {verdict} the before value)"
    return f"{text} (no interval for this change)"


def summary(changes: Sequence[Change], what: str) -> str:
    """One line: which metrics got worse under `what`, and whether each change is clear."""
    worse = [c for c in changes if c.worse]
    if not changes:
        return f"{what}: nothing was compared."
    if not worse:
        return f"{what}: no compared metric got worse ({len(changes)} compared)."
    clear = sum(c.excludes_no_change() is True for c in worse)
    head = f"{what} made {len(worse)} of {len(changes)} compared metrics worse"
    head += f" ({clear} beyond their interval)" if clear else " (none beyond its interval)"
    return head + ": " + "; ".join(describe(c) for c in worse) + "."

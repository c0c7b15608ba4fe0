"""Counterfactual data augmentation, and its before/after measured on held-out probes.

The augmented set is built from the *training* split only: every training sentence that names a
group term gets a swapped copy for each other group, with the same label. A copy that equals
any probe or test sentence is dropped, so the after numbers come from sentences the mitigated
model never trained on.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import numpy as np

from auditkit.api.results import AuditResult, Metric
from auditkit.audits.fairness.metrics import flip_report, group_report, headline
from auditkit.audits.fairness.probes import ProbeSet
from auditkit.audits.fairness.terms import TermSwapper


def augmentation_set(
    texts: Sequence[str],
    labels: Sequence[int],
    swappers: Mapping[str, TermSwapper],
    held_out: set[str],
    *,
    limit: int,
    seed: int,
) -> tuple[list[str], list[int], dict[str, int]]:
    """Swapped copies of training sentences (same label), minus anything in `held_out`."""
    seen = set(texts)
    out: list[tuple[str, int]] = []
    excluded = 0
    for text, label in zip(texts, labels, strict=True):
        for swapper in swappers.values():
            if not swapper.groups_in(text):
                continue
            for group in swapper.group_names:
                new = swapper.swap(text, group)
                if new in seen:
                    continue
                seen.add(new)
                if new in held_out:
                    excluded += 1
                    continue
                out.append((new, int(label)))
    if len(out) > limit:
        out = random.Random(seed).sample(out, limit)
    return [t for t, _ in out], [y for _, y in out], {"excluded": excluded, "candidates": len(out)}


def compare(
    before: Mapping[str, tuple],
    probe_sets: Mapping[str, ProbeSet],
    after: Mapping[str, np.ndarray],
    test_probs: np.ndarray,
    y: np.ndarray,
    boot: dict,
    result: AuditResult,
    rows: list[list],
) -> None:
    """Before/after rows for the `mitigation` table, the `mitigation.*` metrics, and the
    declared `mitigation_changes` comparison the report reads to say what got worse."""
    from auditkit import comparison

    changes: list[comparison.Change] = []
    for a, (fr_before, gr_before) in before.items():
        pairs = _before_after(fr_before, gr_before, probe_sets[a], after[a], boot)
        for name, (b, after_value, ci) in pairs.items():
            rows.append([a, name, _f(b), _f(after_value), _delta(b, after_value)])
            has_ci = ci[0] is not None and ci[1] is not None
            changes.append(
                comparison.Change(
                    a, name, _f(b), _f(after_value), name == "probe_accuracy",
                    _f(ci[0]), _f(ci[1]), "after" if has_ci else "none",
                )
            )  # fmt: skip
            if name != "probe_accuracy":
                result.metrics[f"mitigation.{a}.{name}"] = Metric(
                    value=after_value, ci_low=ci[0], ci_high=ci[1], higher_is_better=False,
                    description="after counterfactual augmentation (held-out probes)",
                )  # fmt: skip
    changes.append(_clean_accuracy(test_probs, after["__test__"], y, boot, result, rows))
    result.tables["mitigation_changes"] = comparison.table(
        changes, "counterfactual augmentation against the plain model"
    )


def _before_after(fr_before, gr_before, ps: ProbeSet, probs: np.ndarray, boot: dict) -> dict:
    """metric -> (before, after, the after value's CI) for one attribute's held-out probes."""
    k = probs.shape[-1]
    fr = flip_report(probs, ps.groups, **boot)
    g = len(ps.groups)
    gr = group_report(
        np.repeat([p.label for p in ps.probes], g),
        probs.argmax(-1).reshape(-1),
        np.tile(np.arange(g), ps.n),
        ps.groups,
        k,
        clusters=np.arange(ps.n * g).reshape(ps.n, g),
        **boot,
    )
    return {
        "counterfactual_flip_rate": (fr_before.flip_rate, fr.flip_rate, fr.flip_ci),
        "mean_abs_delta_p": (
            fr_before.mean_abs_delta_p, fr.mean_abs_delta_p, fr.mean_abs_delta_p_ci,
        ),
        "demographic_parity_difference": (
            headline(gr_before.dp_difference, "max"), headline(gr.dp_difference, "max"),
            gr.ci.get("demographic_parity_difference", (None, None)),
        ),
        "equalized_odds_difference": (
            headline(gr_before.eo_difference, "max"), headline(gr.eo_difference, "max"),
            gr.ci.get("equalized_odds_difference", (None, None)),
        ),
        "probe_accuracy": (
            float(np.mean(gr_before.accuracy)), float(np.mean(gr.accuracy)), (None, None),
        ),
    }  # fmt: skip


def _clean_accuracy(test_probs, after_probs, y, boot: dict, result: AuditResult, rows):
    """The test-split accuracy before and after: a row, the metric, and the paired change."""
    from auditkit import comparison

    acc_before = float((test_probs.argmax(1) == y).mean()) if len(y) else float("nan")
    acc_after = float((after_probs.argmax(1) == y).mean()) if len(y) else float("nan")
    rows.append(
        ["all", "clean_accuracy", _f(acc_before), _f(acc_after), _delta(acc_before, acc_after)]
    )
    result.metrics["mitigation.clean_accuracy"] = Metric(
        value=acc_after, higher_is_better=True,
        description="test-split accuracy of the model fine-tuned with counterfactual augmentation",
    )  # fmt: skip
    low, high = comparison.paired_accuracy(
        test_probs.argmax(1) == y, after_probs.argmax(1) == y,
        n_resamples=boot["n_resamples"], seed=boot["seed"], confidence=boot["confidence"],
    )  # fmt: skip
    return comparison.Change(
        "all", "clean_accuracy", _f(acc_before), _f(acc_after), True, low, high, "paired"
    )


def _f(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _delta(b, a) -> float | None:
    b, a = _f(b), _f(a)
    return None if b is None or a is None else a - b

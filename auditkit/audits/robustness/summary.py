"""Attack outcomes -> metrics with bootstrap CIs, tables and the per-example artifact rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from auditkit import metrics as M
from auditkit.api.results import Metric
from auditkit.audits.robustness.attacker import AttackOutcome
from auditkit.audits.robustness.outputs import OUTPUTS
from auditkit.audits.robustness.validity import threshold_key

ATTACK_COLUMNS = OUTPUTS.columns("attacks")


@dataclass
class RecipeRun:
    recipe: str
    outcomes: list[AttackOutcome]
    similarity: np.ndarray  # per outcome; nan where there is no adversarial example
    threshold: float
    seconds: float

    def arrays(self) -> dict[str, np.ndarray]:
        o = self.outcomes
        ok = np.array([x.status != "error" for x in o])
        correct = np.array([x.status in ("succeeded", "failed") for x in o])
        succeeded = np.array([x.status == "succeeded" for x in o])
        valid = succeeded & (np.nan_to_num(self.similarity, nan=-1.0) >= self.threshold)
        return {
            "ok": ok,
            "correct": correct,
            "succeeded": succeeded,
            "valid": valid,
            "queries": np.array([x.queries for x in o], dtype=float),
            "share": np.array([x.perturbed_word_share for x in o], dtype=float),
        }


def _ratio(num: np.ndarray, den: np.ndarray):
    """Batched sum(num)/sum(den) over resample rows; nan where the denominator is empty."""

    def stat(idx: np.ndarray) -> np.ndarray:
        d = den[idx].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(d > 0, num[idx].sum(axis=1) / np.maximum(d, 1e-12), np.nan)

    return stat


def recipe_metrics(
    run: RecipeRun,
    *,
    n_resamples: int,
    seed: int,
    confidence: float,
    ladder: Sequence[float] = (),
) -> dict[str, Metric]:
    """The documented per-recipe metrics, over examples the attack could be run on; with a
    `ladder`, the valid share and accuracy under valid attack at each of its thresholds."""
    a = run.arrays()
    keep = a["ok"]
    a = {k: v[keep] for k, v in a.items()}
    n = int(keep.sum())
    ones = np.ones(n)
    correct, succ, valid = (a[k].astype(float) for k in ("correct", "succeeded", "valid"))
    sim = np.nan_to_num(run.similarity[keep], nan=-1.0)
    spec = {
        "clean_accuracy": (correct, ones, True, None, "accuracy on the attacked sample"),
        "accuracy_under_attack": (
            correct * (1 - succ),
            ones,
            True,
            None,
            "share still correct after the attack",
        ),
        "attack_success_rate": (
            succ,
            correct,
            False,
            None,
            "share of correctly classified examples the attack flipped",
        ),
        "perturbed_word_share": (
            a["share"] * succ,
            succ,
            None,
            None,
            "mean share of words changed, over successful attacks",
        ),
        "avg_queries": (
            a["queries"] * correct,
            correct,
            None,
            "queries",
            "mean model queries per attacked example",
        ),
        "valid_attack_share": (
            valid,
            succ,
            None,
            None,
            f"share of successful attacks with similarity >= {run.threshold}",
        ),
        "accuracy_under_valid_attack": (
            correct * (1 - valid),
            ones,
            True,
            None,
            "accuracy when only meaning-preserving attacks count",
        ),
    }
    for t in ladder:
        at = succ * (sim >= t)
        key = threshold_key(t)
        spec[f"validity.{key}.valid_attack_share"] = (
            at,
            succ,
            None,
            None,
            f"share of successful attacks with similarity >= {t:g}",
        )
        spec[f"validity.{key}.accuracy_under_valid_attack"] = (
            correct * (1 - at), ones, True, None,
            f"accuracy when only attacks with similarity >= {t:g} count",
        )  # fmt: skip
    out: dict[str, Metric] = {}
    for name, (num, den, hib, unit, desc) in spec.items():
        stat = _ratio(num, den)
        full = stat(np.arange(n)[None, :])[0] if n else np.nan
        low = high = None
        if n and n_resamples:
            low, high, _ = M.bootstrap(
                stat, n, n_resamples=n_resamples, seed=seed, confidence=confidence
            )
        out[f"{run.recipe}.{name}"] = Metric(
            value=full, ci_low=low, ci_high=high, higher_is_better=hib, unit=unit, description=desc
        )
    out[f"{run.recipe}.n_examples"] = Metric(value=n, unit="examples")
    return out


def ladder_rows(run: RecipeRun, metrics: dict[str, Metric], ladder: Sequence[float]) -> list:
    """Rows of the `validity_ladder` table: one per threshold, with both metrics' CIs."""
    rows = []
    for t in ladder:
        share = metrics[f"{run.recipe}.validity.{threshold_key(t)}.valid_attack_share"]
        acc = metrics[f"{run.recipe}.validity.{threshold_key(t)}.accuracy_under_valid_attack"]
        rows.append([run.recipe, t, share.value, share.ci_low, share.ci_high,
                     acc.value, acc.ci_low, acc.ci_high])  # fmt: skip
    return rows


def attack_row(run: RecipeRun, metrics: dict[str, Metric]) -> list:
    get = lambda k: metrics[f"{run.recipe}.{k}"].value  # noqa: E731
    return [run.recipe, len(run.outcomes), *(get(c) for c in ATTACK_COLUMNS[2:-1]), run.seconds]


def per_class_rows(run: RecipeRun, label_names: Sequence[str]) -> list[list]:
    rows = []
    for k, name in enumerate(label_names):
        attacked = [o for o in run.outcomes if o.label == k and o.status in ("succeeded", "failed")]
        won = sum(o.status == "succeeded" for o in attacked)
        rows.append(
            [run.recipe, name, len(attacked), won, won / len(attacked) if attacked else None]
        )
    return rows


def artifact_row(
    o: AttackOutcome,
    sim: float,
    *,
    recipe: str,
    phase: str,
    row: int,
    label_names: Sequence[str],
    threshold: float,
) -> dict:
    """The JSON object of one attacked example; `idx` (`row`) is its row in the test split."""
    return {
        "recipe": recipe,
        "phase": phase,
        "idx": int(row),
        "original": o.original,
        "perturbed": o.perturbed,
        "label": o.label,
        "label_name": label_names[o.label],
        "pred_before": label_names[o.pred_before] if o.pred_before >= 0 else None,
        "pred_after": label_names[o.pred_after] if o.pred_after >= 0 else None,
        "proba_before": o.proba_before,
        "proba_after": o.proba_after,
        "outcome": o.status,
        "queries": o.queries,
        "changed_words": o.changed_words,
        "perturbed_word_share": o.perturbed_word_share,
        "similarity": None if np.isnan(sim) else float(sim),
        "valid": bool(o.status == "succeeded" and not np.isnan(sim) and sim >= threshold),
        "error": o.error,
    }

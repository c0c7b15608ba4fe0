"""fairlearn's ThresholdOptimizer on a binary view of the task (one class against the rest).

Post-processing needs a binary score, so the view is "is it class c?" scored by p(c). The
optimizer learns one threshold per group on half of the probes and is measured on the other
half, next to the plain argmax decision on the same half.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from auditkit.api.results import Metric
from auditkit.audits.fairness.config import ThresholdSpec
from auditkit.audits.fairness.probes import ProbeSet


class ScoreColumn(ClassifierMixin, BaseEstimator):
    """A prefit 'estimator' whose score is the first feature: the model's p(class).

    ThresholdOptimizer wants an sklearn estimator; the real model is queried once up front
    through the ModelHandle, so this only hands its probabilities over.
    """

    def fit(self, X: Any, y: Any) -> ScoreColumn:
        self.classes_ = np.array([0, 1])
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=float)[:, 0]


def threshold_optimizer_rows(
    ps: ProbeSet, probs: np.ndarray, spec: ThresholdSpec, labels: list[str], *, seed: int
) -> tuple[list[list], dict[str, Metric]]:
    """Rows for the `threshold_optimizer` table and `threshold_optimizer.<A>.*` metrics."""
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
    from fairlearn.postprocessing import ThresholdOptimizer

    c = labels.index(spec.positive_class)
    n, g, _ = probs.shape
    order = np.random.default_rng(seed).permutation(n)
    fit, held = order[: n // 2], order[n // 2 :]
    y = np.array([p.label == c for p in ps.probes], dtype=int)

    def view(rows: np.ndarray):
        score = probs[rows][:, :, c].reshape(-1, 1)
        return score, np.repeat(y[rows], g), np.tile(np.array(ps.groups), len(rows))

    x_fit, y_fit, s_fit = view(fit)
    x_held, y_held, s_held = view(held)
    if len(set(y_fit)) < 2 or len(held) == 0:
        return [], {}
    optimizer = ThresholdOptimizer(
        estimator=ScoreColumn().fit(x_fit, y_fit),
        constraints=spec.constraints,
        prefit=True,
        predict_method="predict",
    )
    optimizer.fit(x_fit, y_fit, sensitive_features=s_fit)
    after = np.asarray(optimizer.predict(x_held, sensitive_features=s_held, random_state=seed))
    before = (probs[held].argmax(-1) == c).reshape(-1).astype(int)

    def measures(pred: np.ndarray) -> dict[str, float]:
        per_probe = pred.reshape(len(held), g)
        return {
            "demographic_parity_difference": float(
                demographic_parity_difference(y_held, pred, sensitive_features=s_held)
            ),
            "equalized_odds_difference": float(
                equalized_odds_difference(y_held, pred, sensitive_features=s_held)
            ),
            "counterfactual_flip_rate": float((per_probe != per_probe[:, :1]).any(1).mean()),
            "accuracy": float((pred == y_held).mean()),
        }

    b, a = measures(before), measures(after)
    rows = [[ps.attribute, spec.positive_class, k, b[k], a[k], a[k] - b[k]] for k in b]
    prefix = f"threshold_optimizer.{ps.attribute}"
    metrics = {
        f"{prefix}.{k}": Metric(
            value=a[k],
            higher_is_better=k == "accuracy",
            description=f"binary view ({spec.positive_class} vs rest) after ThresholdOptimizer "
            f"({spec.constraints}), on the held-out half of the probes",
        )
        for k in a
    }
    return rows, metrics

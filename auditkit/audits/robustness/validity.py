"""Is an adversarial example still the same sentence? Scored with a sentence encoder.

Morris et al. (2020) found that many synonym-swap "successes" change the meaning or break the
grammar. Calibrated against human raters, they put the bar at a sentence-encoder cosine of
about 0.98 (and a word-embedding cosine of 0.9, with no new grammar errors); under it, attack
success fell by over 70 points. The audit's headline threshold stays 0.8, a common default,
and a ladder of stricter ones is reported beside it. The encoder is auditkit.models.encoder's
(the packaged all-MiniLM-L6-v2 by default).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from auditkit.models.encoder import embed


def similarity(
    originals: Sequence[str],
    perturbed: Sequence[str],
    *,
    model_id: str | None = None,
    device: str = "cpu",
    batch_size: int = 64,
) -> np.ndarray:
    """Cosine similarity of each (original, perturbed) pair, in [-1, 1]."""
    if len(originals) != len(perturbed):
        raise ValueError("originals and perturbed differ in length")
    if not originals:
        return np.zeros(0)
    emb = embed(
        list(originals) + list(perturbed),
        model_id=model_id,
        device=device,
        batch_size=batch_size,
        setting="audits.robustness.similarity_model",
    )
    n = len(originals)
    return np.clip(np.sum(emb[:n] * emb[n:], axis=1), -1.0, 1.0)


def threshold_key(threshold: float) -> str:
    """A metric-name part for a threshold: 0.8 -> `sim080`, 0.98 -> `sim098` (no dots)."""
    return f"sim{round(threshold * 100):03d}"

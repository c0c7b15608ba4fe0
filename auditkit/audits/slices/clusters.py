"""Clusters of the test split's sentence embeddings, each named by its most distinctive words.

k-means (scikit-learn) on L2-normalised MiniLM embeddings, with k from the suite or chosen by
the silhouette score (also scikit-learn). A cluster is described by class-based TF-IDF
(c-TF-IDF, as in BERTopic: each cluster's words weighed against how common they are across
clusters), so a reader sees "dividend, payout, per share" rather than "cluster 4". The
weighting is a few lines over scikit-learn's CountVectorizer, written here rather than pulling
in BERTopic (and its UMAP and HDBSCAN) for one formula.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class Clusters:
    labels: np.ndarray  # cluster per row
    k: int
    how: str  # "k from the suite" or "k by silhouette (score s)"
    words: list[list[str]]  # per cluster, most distinctive first
    silhouette: float | None


def choose_k(
    emb: np.ndarray, k: int | None, max_k: int, seed: int
) -> tuple[np.ndarray, int, str, float | None]:
    """Fit k-means at the suite's k, or at each k in [2, max_k] keeping the best silhouette."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    n = len(emb)
    if k is not None:
        k = min(k, n)
        fit = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(emb)
        score = float(silhouette_score(emb, fit.labels_)) if 1 < k < n else None
        return fit.labels_, k, "k from the suite", score
    best = None
    for kk in range(2, min(max_k, n - 1) + 1):
        fit = KMeans(n_clusters=kk, n_init=10, random_state=seed).fit(emb)
        if len(set(fit.labels_)) < 2:
            continue
        score = float(silhouette_score(emb, fit.labels_))
        if best is None or score > best[2]:
            best = (fit.labels_, kk, score)
    if best is None:
        return np.zeros(n, dtype=np.int64), 1, "one cluster (too few rows to split)", None
    return best[0], best[1], f"k by silhouette over 2-{min(max_k, n - 1)}", best[2]


def describe(texts: Sequence[str], labels: np.ndarray, k: int, top: int) -> list[list[str]]:
    """The `top` most distinctive words and bigrams per cluster, by c-TF-IDF."""
    from sklearn.feature_extraction.text import CountVectorizer

    docs = [" ".join(t for t, c in zip(texts, labels, strict=True) if c == j) for j in range(k)]
    try:
        vec = CountVectorizer(
            stop_words="english", ngram_range=(1, 2), token_pattern=r"(?u)\b[^\W\d_]{2,}\b"
        )
        counts = vec.fit_transform(docs).toarray().astype(np.float64)
    except ValueError:  # nothing but stop words and numbers
        return [[] for _ in range(k)]
    vocab = vec.get_feature_names_out()
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    average = counts.sum() / max(k, 1)
    idf = np.log1p(average / np.maximum(counts.sum(axis=0), 1.0))
    score = tf * idf
    out = []
    for j in range(k):
        order = np.argsort(-score[j], kind="stable")
        words: list[str] = []
        for i in order:
            if score[j, i] <= 0 or len(words) >= top:
                break
            term = str(vocab[i])
            if any(set(term.split()) & set(w.split()) for w in words):
                continue  # "per share" and "share": keep the first, not both
            words.append(term)
        out.append(words)
    return out


def cluster(
    texts: Sequence[str],
    emb: np.ndarray,
    *,
    k: int | None,
    max_k: int,
    top_words: int,
    seed: int,
) -> Clusters:
    labels, k, how, score = choose_k(emb, k, max_k, seed)
    return Clusters(np.asarray(labels), k, how, describe(texts, labels, k, top_words), score)

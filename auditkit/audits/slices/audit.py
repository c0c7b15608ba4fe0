"""The slices audit: where does the model fail, and is that failure real or noise?

Candidate slices come from the suite's metadata columns, general text features and the suite's
own patterns, the term lists the suite already has, and clusters of the test split's sentence
embeddings; then pairs of those, and the leaves of an error tree. Each is tested against the
rest of the test split (one-sided Fisher exact test on the error rate) and every p-value goes
through Benjamini-Hochberg, so at `fdr` 0.1 about one in ten reported slices is expected to be
noise, however many candidates there were. Names follow docs/audit-outputs.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from auditkit.api.audit import Audit, AuditContext
from auditkit.api.results import AuditResult, Metric, Table
from auditkit.audits.slices import candidates as C
from auditkit.audits.slices.config import SlicesConfig
from auditkit.audits.slices.outputs import OUTPUTS
from auditkit.audits.slices.stats import Tested, add_intervals, fisher_bh
from auditkit.files import write_jsonl

log = logging.getLogger(__name__)

EXAMPLES_FILE = "slice_examples.jsonl"
MEMBERS_FILE = "slice_members.jsonl"


class SlicesAudit(Audit):
    name = "slices"
    description = (
        "slices of the test set where the model fails, with the false discoveries controlled"
    )
    tags = ("performance", "error-analysis")
    outputs = OUTPUTS
    Config = SlicesConfig

    def run(self, ctx: AuditContext) -> AuditResult:
        cfg: SlicesConfig = self.config  # type: ignore[assignment]
        test_split = ctx.data.test
        texts = [str(t) for t in test_split["text"]]
        y = np.asarray(test_split["label"], dtype=np.int64)
        labels = ctx.data.label_names
        probs = ctx.predict_proba(texts, desc="slices: predict test set")
        result = AuditResult(name=self.name, config=cfg.model_dump(mode="json"))
        base = gather(ctx, cfg, texts, result)
        score(ctx, cfg, base, texts, y, probs, labels, ctx.seed, result)
        return result


def score(
    ctx: Any,
    cfg: SlicesConfig,
    base: list[C.Candidate],
    texts: list[str],
    y: np.ndarray,
    probs: np.ndarray,
    labels: list[str],
    seed: int,
    result: AuditResult,
) -> Found:
    """Everything after the base slices, from saved predictions: find, measure, write the
    metrics, tables and artifacts into `result` (`ctx` needs only `artifact_path`)."""
    pred = probs.argmax(axis=1)
    found = find(base, pred != y, cfg, seed=seed)
    if found.tree is not None:
        result.tables["error_tree"] = found.tree
    elif cfg.sources.tree:
        result.warnings.append(
            f"error tree: too few test rows for leaves of {_min_leaf(cfg)} on each half; skipped"
        )
    boot = {"n_resamples": cfg.bootstrap, "seed": seed, "confidence": cfg.confidence}
    for t in found.significant:
        add_intervals(t, y, pred, len(labels), **boot)
    _fill(result, cfg, found)
    result.artifacts["examples"] = _write_examples(
        ctx, cfg, found.significant, texts, y, pred, probs, labels
    )
    result.artifacts["members"] = _write_members(ctx, found.significant)
    log.info(
        "slices: %d candidates tested, %d significant at FDR %g",
        len(found.tested),
        len(found.significant),
        cfg.fdr,
    )
    return found


@dataclass
class Found:
    tested: list[Tested]
    significant: list[Tested]  # q < fdr, smallest p first
    too_small: int
    duplicates: int
    tree: Table | None


def find(base: list[C.Candidate], wrong: np.ndarray, cfg: SlicesConfig, *, seed: int) -> Found:
    """From the base slices and which rows the model got wrong: add pairs and tree leaves,
    drop duplicates and slices under min_size, test the rest, keep q < fdr. Everything that
    looks at `wrong` is in here, so a permutation of it reruns the whole procedure."""
    pool = list(base)
    if cfg.sources.conjunctions:
        pool += C.conjunctions(base, cfg.min_size)
    tree = None
    if cfg.sources.tree:
        leaves, tree = _tree(cfg, base, wrong, seed)
        pool += leaves
    pool, n_dup = C.deduplicate(pool)
    sized = [c for c in pool if c.n >= cfg.min_size and _rest(c) > 0]
    tested = fisher_bh(sized, wrong)
    significant = sorted(
        (t for t in tested if t.q_value < cfg.fdr), key=lambda t: (t.p_value, t.candidate.name)
    )
    return Found(tested, significant, len(pool) - len(sized), n_dup, tree)


def gather(ctx: AuditContext, cfg: SlicesConfig, texts: list[str], result: AuditResult):
    """The base candidates, from each source the suite leaves on."""
    out: list[C.Candidate] = []
    src = cfg.sources
    if src.metadata and ctx.data.metadata_columns:
        columns = {c: list(ctx.data.test[c]) for c in ctx.data.metadata_columns}
        out += C.metadata_features(columns)
    if src.text:
        lengths = [len(ids) for ids in ctx.model.encode(texts)]
        out += C.text_features(texts, lengths, negations=cfg.negations, patterns=cfg.patterns)
    if src.terms:
        out += C.term_features(suite_term_lists(ctx.suite), texts)
    if src.clusters and len(texts) >= 4:
        out += _clusters(ctx, cfg, texts, result)
    return out


def suite_term_lists(suite: Any) -> dict[str, list[str]]:
    """The suite's own term lists: each fairness group's terms, each invariance name list."""
    out: dict[str, list[str]] = {}
    configs = suite.audit_configs()
    fairness = configs.get("fairness")
    if fairness is not None:
        from auditkit.audits.fairness.config import resolve_attributes

        for attribute, groups in resolve_attributes(fairness, suite).items():
            for group, kinds in groups.items():
                out[f"a {group} term ({attribute})"] = [t for ts in kinds.values() for t in ts]
    robustness = configs.get("robustness")
    names = getattr(getattr(robustness, "invariance", None), "names", None) or {}
    for kind, terms in names.items():
        out[f"a {kind} name"] = list(terms)
    return out


def _clusters(ctx: AuditContext, cfg: SlicesConfig, texts: list[str], result: AuditResult):
    from auditkit.audits.slices.clusters import cluster
    from auditkit.models.encoder import embed

    emb = embed(
        texts, model_id=cfg.clusters.model, device=str(ctx.device),
        setting="audits.slices.clusters.model",
    )  # fmt: skip
    found = cluster(
        texts, emb, k=cfg.clusters.k, max_k=cfg.clusters.max_k,
        top_words=cfg.clusters.top_words, seed=ctx.seed,
    )  # fmt: skip
    out, rows = [], []
    for j in range(found.k):
        mask = found.labels == j
        words = ", ".join(found.words[j]) or "(no distinctive words)"
        out.append(C.Candidate(f"cluster.{j}", "cluster", f"cluster {j}: {words}", mask))
        rows.append([j, int(mask.sum()), None, words])
    result.tables["clusters"] = Table(
        columns=OUTPUTS.columns("clusters"),
        rows=rows,
        description=f"k-means on sentence embeddings, {found.how}"
        + (f" (silhouette {found.silhouette:.3f})" if found.silhouette is not None else ""),
    )
    return out


def _min_leaf(cfg: SlicesConfig) -> int:
    return cfg.tree.min_leaf or max(2, cfg.min_size // 2)


def _tree(cfg: SlicesConfig, base, wrong: np.ndarray, seed: int):
    from auditkit.audits.slices.tree import grow

    min_leaf = _min_leaf(cfg)
    grown = grow(base, wrong, max_depth=cfg.tree.max_depth, min_leaf=min_leaf, seed=seed)
    if grown is None:
        return [], None
    table = Table(
        columns=OUTPUTS.columns("error_tree"),
        rows=grown.rows,
        description=f"max depth {cfg.tree.max_depth}, leaves of at least {min_leaf} rows; fitted "
        "on a seeded half of the test split, tested on the other half",
    )
    return grown.leaves, table


def _rest(c: C.Candidate) -> int:
    universe = np.ones_like(c.mask) if c.universe is None else c.universe
    return int((universe & ~c.mask).sum())


def _metric(value, ci=(None, None), hib=None, desc=None) -> Metric:
    low, high = ci
    return Metric(value=value, ci_low=low, ci_high=high, higher_is_better=hib, description=desc)


def _fill(result: AuditResult, cfg: SlicesConfig, found: Found) -> None:
    tested, significant = found.tested, found.significant
    worst = min(significant, key=lambda t: t.accuracy) if significant else None
    widest = min(significant, key=lambda t: t.gap) if significant else None
    result.metrics = {
        "n_candidates": _metric(len(tested), desc=f"candidates with at least {cfg.min_size} rows"),
        "n_significant": _metric(len(significant), hib=False, desc=f"q < {cfg.fdr:g}"),
        "n_too_small": _metric(found.too_small),
        "n_duplicates": _metric(found.duplicates),
        "worst_accuracy": _metric(
            worst.accuracy if worst else None,
            worst.ci.get("accuracy", (None, None)) if worst else (None, None),
            True,
            worst.candidate.description if worst else "no slice is significant",
        ),
        "worst_gap": _metric(
            widest.gap if widest else None,
            widest.ci.get("gap", (None, None)) if widest else (None, None),
            True,
            widest.candidate.description if widest else "no slice is significant",
        ),
    }
    rows = []
    for rank, t in enumerate(significant, 1):
        ci = t.ci
        rows.append(
            [
                rank, t.candidate.name, t.candidate.source, t.candidate.description, t.n,
                t.errors, t.accuracy, *ci.get("accuracy", (None, None)), t.macro_f1,
                *ci.get("macro_f1", (None, None)), 1 - t.accuracy,
                *ci.get("error_rate", (None, None)), t.rest_accuracy, t.gap,
                *ci.get("gap", (None, None)), t.p_value, t.q_value,
            ]
        )  # fmt: skip
    result.tables["slices"] = Table(
        columns=OUTPUTS.columns("slices"),
        rows=rows,
        description=f"q < {cfg.fdr:g} (Benjamini-Hochberg over {len(tested)} candidates), "
        f"n >= {cfg.min_size}; strongest evidence (smallest p) first",
    )
    keep = {id(t) for t in significant}
    result.tables["candidates"] = Table(
        columns=OUTPUTS.columns("candidates"),
        rows=[
            [
                t.candidate.name, t.candidate.source, t.candidate.description, t.n, t.errors,
                t.accuracy, t.rest_accuracy, t.gap, t.p_value, t.q_value, id(t) in keep,
                "the rest of the test split" if t.candidate.universe is None
                else "the rest of the held-out half",
            ]
            for t in sorted(tested, key=lambda t: (t.p_value, t.candidate.name))
        ],
    )  # fmt: skip
    if "clusters" in result.tables:  # each cluster's accuracy, now that it is known
        by_name = {t.candidate.name: t for t in tested}
        for row in result.tables["clusters"].rows:
            t = by_name.get(f"cluster.{row[0]}")
            row[2] = t.accuracy if t is not None else None


def _write_members(ctx: AuditContext, significant: list[Tested]) -> str:
    """The test rows of each significant slice, so a reader can filter predictions by it."""
    rows = []
    for t in significant:
        c = t.candidate
        universe = np.ones_like(c.mask) if c.universe is None else c.universe
        rows.append(
            {
                "slice": c.name,
                "description": c.description,
                "n": t.n,
                "rows": np.flatnonzero(c.mask & universe).tolist(),
            }
        )
    write_jsonl(ctx.artifact_path(MEMBERS_FILE), rows)
    return MEMBERS_FILE


def _write_examples(ctx, cfg: SlicesConfig, significant, texts, y, pred, probs, labels) -> str:
    rows = []
    for t in significant:
        c = t.candidate
        universe = np.ones_like(c.mask) if c.universe is None else c.universe
        idx = np.flatnonzero(c.mask & universe & (pred != y))
        for i in idx[: cfg.max_examples]:
            rows.append(
                {
                    "slice": c.name,
                    "description": c.description,
                    "idx": int(i),
                    "text": texts[i],
                    "label": labels[y[i]],
                    "pred": labels[pred[i]],
                    "confidence": round(float(probs[i].max()), 6),
                }
            )
    path = ctx.artifact_path(EXAMPLES_FILE)
    write_jsonl(path, rows)
    return EXAMPLES_FILE

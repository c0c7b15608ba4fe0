"""The explanations audit: attributions for selected test examples, scored against random.

The registered `ExplanationsAudit` and its run logic; the settings are in `config.py`, the
batched attributions in `attribution.py`, the ERASER scores in `faithfulness.py`.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np

from auditkit import metrics as M
from auditkit.api.audit import Audit, AuditContext
from auditkit.api.results import AuditResult, Metric, Table
from auditkit.audits.explanations.attribution import (
    Attribution,
    AttributionRunner,
    RunnerSettings,
)
from auditkit.audits.explanations.config import ExplanationsConfig
from auditkit.audits.explanations.faithfulness import (
    Case,
    Erasure,
    aopc_description,
    erasure_scores,
    mean_erasure,
    random_rankings,
    ratio,
)
from auditkit.audits.explanations.methods import encode
from auditkit.audits.explanations.outputs import OUTPUTS
from auditkit.audits.explanations.select import (
    Example,
    adversarial_examples,
    read_adversarial_pairs,
    select_examples,
)
from auditkit.audits.explanations.words import words_with_spans
from auditkit.files import write_jsonl

log = logging.getLogger(__name__)

ARTIFACT = "attributions.jsonl"


class ExplanationsAudit(Audit):
    name = "explanations"
    description = "captum attributions with ERASER faithfulness vs random, top words per class"
    tags = ("explanations",)
    outputs = OUTPUTS
    Config = ExplanationsConfig
    reads = ("robustness",)  # its attacks artifact gives the adversarial pairs

    def run(self, ctx: AuditContext) -> AuditResult:
        cfg: ExplanationsConfig = self.config  # type: ignore[assignment]
        handle = ctx.model
        labels = ctx.data.label_names
        texts = list(ctx.data.test["text"])
        y = np.asarray(ctx.data.test["label"], dtype=np.int64)
        result = AuditResult(name=self.name, config=cfg.model_dump(mode="json"))

        probs = ctx.predict_proba(texts, desc="explanations: predict test set")
        examples = select_examples(
            texts, y, probs, per_class=cfg.per_class, misclassified=cfg.misclassified, seed=ctx.seed
        )
        examples += self._adversarial(ctx, cfg, y, result)
        if not examples:
            raise ValueError("no examples selected: per_class and misclassified are both 0")

        encoded = encode(
            handle.tokenizer, [e.text for e in examples], [e.pred for e in examples],
            handle.max_length,
        )  # fmt: skip
        settings = RunnerSettings.for_device(
            handle.device,
            delta_tolerance=cfg.delta_tolerance,
            steps=cfg.steps,
            max_steps=cfg.max_steps,
            step_growth=cfg.step_growth,
            adaptive=cfg.adaptive,
            strategy=cfg.strategy,
            points=cfg.points,
            batch_size=cfg.batch_size,
            internal_batch_size=cfg.internal_batch_size,
            length_slack=cfg.length_slack,
        )
        runner = AttributionRunner(handle.model, handle.tokenizer, handle.device, settings)

        def attribute(block: list) -> list[dict[str, Attribution]]:
            """Every method on one block (a batch of similar lengths), per example."""
            found = {m: runner.run(m, block) for m in cfg.methods}
            return [{m: found[m][i] for m in cfg.methods} for i in range(len(block))]

        per_example = ctx.map(
            encoded,
            attribute,
            cost=len,
            block=settings.batch_size,
            desc="explanations: attributions",
        )
        attributions = {m: [a[m] for a in per_example] for m in cfg.methods}

        cases, word_scores = [], {m: [] for m in cfg.methods}
        for i, (ex, enc) in enumerate(zip(examples, encoded, strict=True)):
            for m in cfg.methods:
                spans, scores = words_with_spans(
                    ex.text, enc.tokens, attributions[m][i].scores, enc.special, enc.offsets
                )
                word_scores[m].append(scores)
            cases.append(Case(spans, ex.pred, float(ex.proba[ex.pred])))

        def predict(batch: list[str]) -> np.ndarray:
            return ctx.predict_proba(batch, desc="explanations: erasure queries")

        rankings = [word_scores[m] for m in cfg.methods]
        rankings += random_rankings(cases, cfg.random_repeats, ctx.seed)
        erasures = erasure_scores(cases, rankings, predict, cfg.k_percents)
        scored = dict(zip(cfg.methods, erasures, strict=False))
        scored["random"] = mean_erasure(erasures[len(cfg.methods) :])

        self._faithfulness(cfg, scored, result, ctx.seed)
        self._convergence(cfg, attributions, result)
        result.metrics["n_examples"] = Metric(value=len(examples), unit="examples")
        main = "integrated_gradients" if "integrated_gradients" in cfg.methods else cfg.methods[0]
        result.tables["top_tokens"] = top_tokens_table(
            examples, cases, word_scores[main], labels, cfg.top_tokens, cfg.top_tokens_min_count
        )
        result.tables["top_tokens"].description = f"mean {main} attribution per predicted class"
        result.artifacts["attributions"] = self._write(
            ctx, cfg, examples, cases, word_scores, attributions, labels
        )
        return result

    def _adversarial(
        self, ctx: AuditContext, cfg: ExplanationsConfig, y: np.ndarray, result: AuditResult
    ) -> list[Example]:
        robustness = ctx.results.audits.get("robustness") if ctx.results else None
        if cfg.adversarial_pairs == 0 or robustness is None or robustness.status != "ok":
            return []
        file_name = robustness.artifacts.get("attacks")
        if file_name is None:
            result.warnings.append("robustness ran without an `attacks` artifact; no pairs shown")
            return []
        path = ctx.run_dir / file_name
        if not path.is_file():
            result.warnings.append(f"robustness's attacks artifact {path} is missing; no pairs")
            return []
        pairs = read_adversarial_pairs(path, cfg.adversarial_pairs, ctx.seed)
        if not pairs:
            result.warnings.append("no successful attack in the robustness artifact to explain")
            return []
        both = ctx.predict_proba(
            [p["original"] for p in pairs] + [p["perturbed"] for p in pairs],
            desc="explanations: adversarial pairs",
        )
        return adversarial_examples(pairs, y, both[: len(pairs)], both[len(pairs) :])

    def _faithfulness(
        self, cfg: ExplanationsConfig, scored: dict[str, Erasure], result: AuditResult, seed: int
    ) -> None:
        rows = []
        boot = {"n_resamples": cfg.bootstrap, "seed": seed, "confidence": cfg.confidence}
        rand = scored["random"]
        rand_comp = float(rand.aopc_comprehensiveness.mean())
        rand_suff = float(rand.aopc_sufficiency.mean())
        for method, er in scored.items():
            for j, k in enumerate(cfg.k_percents):
                rows.append(
                    [method, k, float(er.comprehensiveness[:, j].mean()),
                     float(er.sufficiency[:, j].mean())]
                )  # fmt: skip
            comp, suff = er.aopc_comprehensiveness, er.aopc_sufficiency
            rows.append([method, "aopc", float(comp.mean()), float(suff.mean())])
            n = len(comp)
            for name, values, hib in (
                ("comprehensiveness", comp, True),
                ("sufficiency", suff, False),
            ):
                low, high, _ = M.bootstrap(lambda idx, v=values: v[idx].mean(axis=1), n, **boot)
                result.metrics[f"{method}.{name}"] = Metric(
                    value=float(values.mean()), ci_low=low, ci_high=high, higher_is_better=hib,
                    unit="probability",
                    description=aopc_description(cfg.k_percents),
                )  # fmt: skip
            if method == "random":
                continue
            comp_ratio = ratio(float(comp.mean()), rand_comp)
            suff_ratio = ratio(float(suff.mean()), rand_suff)
            result.metrics[f"{method}.comprehensiveness_vs_random"] = Metric(
                value=comp_ratio, higher_is_better=True, unit="ratio",
                description="AOPC comprehensiveness / random's (above 1 beats random)",
            )  # fmt: skip
            result.metrics[f"{method}.sufficiency_vs_random"] = Metric(
                value=suff_ratio, higher_is_better=False, unit="ratio",
                description="AOPC sufficiency / random's (below 1 beats random)",
            )  # fmt: skip
            if comp.mean() <= rand_comp:
                result.warnings.append(
                    f"{method} does not beat random on comprehensiveness (AOPC {comp.mean():.3f} "
                    f"vs random {rand_comp:.3f}): its top words are no more decisive than chance"
                )
            if suff.mean() >= rand_suff:
                result.warnings.append(
                    f"{method} does not beat random on sufficiency (AOPC {suff.mean():.3f} vs "
                    f"random {rand_suff:.3f}; lower is better)"
                )
        result.tables["faithfulness"] = Table(
            columns=["method", "k", "comprehensiveness", "sufficiency"],
            rows=rows,
            description="k in % of words; comprehensiveness higher is better, sufficiency "
            f"lower; {aopc_description(cfg.k_percents)}",
        )
        log.info("explanations: %s", aopc_description(cfg.k_percents))

    def _convergence(
        self,
        cfg: ExplanationsConfig,
        attributions: dict[str, list[Attribution]],
        result: AuditResult,
    ) -> None:
        rows = []
        for method, atts in attributions.items():
            deltas = np.array([abs(a.delta) for a in atts if a.delta is not None])
            if not len(deltas):
                continue
            steps = [a.steps for a in atts]
            within = deltas <= cfg.delta_tolerance
            rows.append(
                [method, len(deltas), float(np.median(deltas)), float(deltas.max()),
                 float(within.mean()), float(np.median(steps))]
            )  # fmt: skip
            result.metrics[f"{method}.delta_within_tolerance"] = Metric(
                value=float(within.mean()), higher_is_better=True,
                description=f"share of examples with |convergence delta| <= {cfg.delta_tolerance}",
            )  # fmt: skip
            result.metrics[f"{method}.max_delta"] = Metric(
                value=float(deltas.max()), higher_is_better=False, unit="probability"
            )
            if not within.all():
                result.warnings.append(
                    f"{method}: {int((~within).sum())} of {len(deltas)} examples keep a "
                    f"|convergence delta| above {cfg.delta_tolerance} (max {deltas.max():.3f}) "
                    f"after {max(steps)} steps; their attributions are approximate"
                )
        result.tables["convergence"] = Table(
            columns=[
                "method",
                "n",
                "median_delta",
                "max_delta",
                "within_tolerance",
                "median_steps",
            ],
            rows=rows,
            description="|sum of attributions - (p(x) - p(baseline))|, in probability",
        )

    def _write(self, ctx, cfg, examples, cases, word_scores, attributions, labels) -> str:
        records = []
        for i, (ex, case) in enumerate(zip(examples, cases, strict=True)):
            for m in cfg.methods:
                att = attributions[m][i]
                records.append(
                    {
                        "idx": ex.idx,
                        "kind": ex.kind,
                        "pair_id": ex.pair_id,
                        "text": ex.text,
                        "method": m,
                        "words": case.words.words,
                        "scores": [round(float(s), 6) for s in word_scores[m][i]],
                        "target": labels[ex.pred],
                        "probability": float(ex.proba[ex.pred]),
                        "label_name": labels[ex.label],
                        "pred_name": labels[ex.pred],
                        "delta": att.delta,
                        "steps": att.steps,
                    }
                )
        write_jsonl(ctx.artifact_path(ARTIFACT), records)
        return ARTIFACT


def top_tokens_table(
    examples: list[Example],
    cases: list[Case],
    scores: list[np.ndarray],
    labels: list[str],
    top: int,
    min_count: int,
) -> Table:
    """Words with the highest mean attribution per predicted class (what the model keys on).

    Adversarial perturbations are left out (they are typos by design); words without a letter or
    digit (punctuation) too. Words seen fewer than `min_count` times are not ranked.
    """
    sums: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for ex, case, s in zip(examples, cases, scores, strict=True):
        if ex.kind == "adversarial_perturbed":
            continue
        for word, value in zip(case.words.words, s, strict=True):
            if any(ch.isalnum() for ch in word):
                sums[ex.pred][word.lower()].append(float(value))
    rows = []
    for cls in range(len(labels)):
        ranked = sorted(
            ((float(np.mean(v)), w, len(v)) for w, v in sums[cls].items() if len(v) >= min_count),
            key=lambda t: (-t[0], t[1]),
        )
        for rank, (mean, word, count) in enumerate(ranked[:top], 1):
            rows.append([labels[cls], rank, word, mean, count])
    return Table(columns=["class", "rank", "token", "mean_attribution", "count"], rows=rows)

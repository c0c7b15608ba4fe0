"""The robustness audit: attacks on a stratified test sample, invariance, adversarial training.

The registered `RobustnessAudit` and its run logic; the settings are in `config.py`, the batched
attacks in `attacker.py`, the per-recipe numbers in `summary.py`.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from auditkit import comparison
from auditkit import metrics as M
from auditkit.api.audit import Audit, AuditContext
from auditkit.api.results import AuditResult, Metric, Table
from auditkit.audits.robustness.config import RobustnessConfig
from auditkit.audits.robustness.outputs import OUTPUTS
from auditkit.errors import AuditkitError
from auditkit.files import JsonlStream, write_jsonl

log = logging.getLogger(__name__)
ATTACKS_FILE = "robustness_attacks.jsonl"


def stratified_sample(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Row indices: a seeded sample with each class in proportion (all rows if size >= n)."""
    n = len(labels)
    if size >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    picked = []
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.floor(counts / n * size).astype(int)
    for i in np.argsort(-(counts / n * size - quota))[: size - quota.sum()]:
        quota[i] += 1
    for cls_, q in zip(classes, quota, strict=True):
        rows = np.flatnonzero(labels == cls_)
        picked.extend(rng.choice(rows, size=min(q, len(rows)), replace=False))
    return np.sort(np.asarray(picked, dtype=int))


class RobustnessAudit(Audit):
    name = "robustness"
    description = "TextAttack attacks, invariance perturbations and adversarial training"
    tags = ("robustness", "textattack", "checklist")
    outputs = OUTPUTS
    Config = RobustnessConfig

    def run(self, ctx: AuditContext) -> AuditResult:
        from auditkit.audits.robustness import offline, provenance
        from auditkit.audits.robustness.recipes import RECIPES

        cfg: RobustnessConfig = self.config  # type: ignore[assignment]
        result = AuditResult(name=self.name, config=cfg.model_dump(mode="json"))
        names = [*cfg.recipes]
        if cfg.adversarial_training.enabled:
            names.append(cfg.adversarial_training.recipe)
        needs = [p for name in names for p in RECIPES[name].nltk_packages]
        self._setup = offline.prepare_textattack(download=cfg.download_resources, needs=needs)
        result.tables["setup"] = Table(
            columns=["step", "what"], rows=[[k, v] for k, v in self._setup.steps.items()]
        )
        self._uses: list = []
        try:
            with offline.resource_scope(self._setup):
                self._run(ctx, cfg, result)
        finally:  # also when an attack failed: what was read so far is on record
            manifest = ctx.results.manifest.resources if ctx.results is not None else None
            provenance.publish(result, manifest, self._uses)
        return result

    def _run(self, ctx: AuditContext, cfg: RobustnessConfig, result: AuditResult) -> None:
        test = ctx.data.test
        labels = np.asarray(test["label"], dtype=np.int64)
        rows_of = stratified_sample(labels, cfg.sample_size, ctx.seed)
        # a seeded shuffle, so that a smaller per-recipe sample is a prefix of the same sample
        rows_of = np.random.default_rng(ctx.seed).permutation(rows_of)
        texts = [test["text"][int(i)] for i in rows_of]
        gold = labels[rows_of]

        # attack rows go to disk block by block: 10,000 attacks are not held in memory
        with JsonlStream(ctx.artifact_path(ATTACKS_FILE)) as attacks:
            for recipe in cfg.recipes:
                k = _size(cfg, recipe)
                run = self._attack(
                    ctx, ctx.model, recipe, texts[:k], gold[:k], cfg, phase="test",
                    ids=rows_of[:k], sink=(attacks, "before"),
                )  # fmt: skip
                self._record(result, run, cfg, ctx, prefix="")
            if cfg.invariance.enabled:
                self._invariance(ctx, cfg, result)
            behaviour = cfg.behaviour
            if behaviour.enabled and (behaviour.mft or behaviour.dir or behaviour.file):
                self._behaviour(ctx, cfg, result)
            if cfg.adversarial_training.enabled:
                self._adversarial_training(ctx, cfg, result, texts, gold, rows_of, attacks)
        result.artifacts["attacks"] = ATTACKS_FILE

    # ------------------------------------------------------------------ attacks
    def _attack(self, ctx, handle, recipe, texts, gold, cfg, *, phase, ids, sink=None):
        """`recipe` on (texts, gold) through ctx.map; `ids` (split rows) seed each attack.

        `sink` (stream, phase name) takes each example's artifact row as its block finishes;
        the run keeps only what the metrics need (and, for the training phase, the texts)."""
        from auditkit.audits.robustness.attacker import BatchedAttackRunner
        from auditkit.audits.robustness.provenance import resources_used
        from auditkit.audits.robustness.recipes import RECIPES
        from auditkit.audits.robustness.summary import RecipeRun, artifact_row
        from auditkit.audits.robustness.validity import similarity

        runner = BatchedAttackRunner(
            handle,
            RECIPES[recipe].build,
            concurrency=cfg.concurrency,
            query_budget=cfg.query_budget,
            batch_size=cfg.batch_size,
            seed=ctx.seed,
        )

        def attack_block(block: list[tuple[int, str, int]]) -> list[tuple]:
            """One block of examples, and the similarity of each successful attack in it."""
            outcomes = runner.run(
                [t for _, t, _ in block], [y for _, _, y in block], ids=[i for i, _, _ in block]
            )
            sim = np.full(len(outcomes), np.nan)
            won = [i for i, o in enumerate(outcomes) if o.status == "succeeded"]
            if won:
                sim[won] = similarity(
                    [outcomes[i].original for i in won],
                    [outcomes[i].perturbed for i in won],
                    model_id=cfg.similarity_model,
                    device=str(handle.device),
                )
            return [(o, float(x)) for o, x in zip(outcomes, sim, strict=True)]

        def write(block: list[tuple[int, str, int]], results: list[tuple]) -> None:
            stream, name = sink
            stream.write(
                artifact_row(
                    o, x, recipe=recipe, phase=name, row=row, label_names=ctx.data.label_names,
                    threshold=cfg.similarity_threshold,
                )
                for (row, _, _), (o, x) in zip(block, results, strict=True)
            )  # fmt: skip

        def keep(done: tuple) -> tuple:
            o, x = done
            return o.slim(keep_perturbed=phase == "train" and o.status == "succeeded"), x

        start = time.perf_counter()
        items = [(int(r), str(t), int(y)) for r, t, y in zip(ids, texts, gold, strict=True)]
        done = ctx.map(
            items,
            attack_block,
            # words x tokens: an attack's queries grow with the words, each query with the
            # tokens; it orders blocks as the length does and balances the ranks better
            cost=lambda item: len(item[1]) ** 2,
            block=cfg.concurrency,
            desc=f"{recipe} ({phase})",
            on_block=write if sink is not None else None,
            keep=keep,
        )
        seconds = time.perf_counter() - start
        outcomes = [o for o, _ in done]
        for i, o in enumerate(outcomes):
            o.index = i  # the position in this call's list
        sim = np.array([x for _, x in done], dtype=float)
        attack = runner.attacks[0] if runner.attacks else None
        self._uses += resources_used(RECIPES[recipe], attack, self._setup)
        log.info(
            "robustness: %s on %d %s examples in %.1f s (%d model calls here, cache hits %d)",
            recipe, len(texts), phase, seconds, runner.model_calls, runner.cache_hits,
        )  # fmt: skip
        return RecipeRun(recipe, outcomes, sim, cfg.similarity_threshold, round(seconds, 2))

    def _record(self, result, run, cfg, ctx, *, prefix: str) -> dict[str, Metric]:
        from auditkit.audits.robustness import summary as S

        metrics = S.recipe_metrics(
            run,
            n_resamples=cfg.bootstrap,
            seed=ctx.seed,
            confidence=cfg.confidence,
            ladder=cfg.validity_thresholds,
        )
        result.metrics.update({prefix + k: v for k, v in metrics.items()})
        if not prefix:
            _table(result, "attacks", S.ATTACK_COLUMNS).rows.append(S.attack_row(run, metrics))
            _table(result, "validity_ladder", OUTPUTS.columns("validity_ladder")).rows.extend(
                S.ladder_rows(run, metrics, cfg.validity_thresholds)
            )
            _table(
                result,
                "per_class_success",
                ["recipe", "label", "attacked", "succeeded", "success_rate"],
            ).rows.extend(S.per_class_rows(run, ctx.data.label_names))
        errors = sum(o.status == "error" for o in run.outcomes)
        if errors:
            result.warnings.append(
                f"{run.recipe}: {errors} example(s) could not be attacked and are left out "
                "(see `error` in the attacks artifact)"
            )
        return metrics

    # ------------------------------------------------------------------ invariance
    def _invariance(self, ctx: AuditContext, cfg: RobustnessConfig, result: AuditResult) -> None:
        from auditkit.audits.robustness.invariance import perturb

        inv = cfg.invariance
        test = ctx.data.test
        labels = np.asarray(test["label"], dtype=np.int64)
        rows_of = stratified_sample(labels, inv.sample_size or len(labels), ctx.seed + 1)
        texts = [test["text"][int(i)] for i in rows_of]
        base = ctx.predict_proba(texts, desc="invariance: originals")
        table = _table(
            result,
            "invariance",
            ["perturbation", "n", "changed", "flips", "flip_rate", "ci_low", "ci_high"],
        )
        flips_out: list[dict] = []
        for name in ctx.progress.track(inv.perturbations, desc="invariance"):
            new = perturb(name, texts, ctx.seed, inv, ids=rows_of)
            changed = np.array([a != b for a, b in zip(texts, new, strict=True)])
            idx = np.flatnonzero(changed)
            if len(idx) == 0:
                table.rows.append([name, len(texts), 0, 0, None, None, None])
                result.warnings.append(f"invariance: {name!r} changed no sentence in the sample")
                continue
            probs = ctx.predict_proba([new[i] for i in idx], desc=f"invariance: {name}")
            flipped = (probs.argmax(1) != base[idx].argmax(1)).astype(float)
            rate = float(flipped.mean())
            low, high, _ = M.bootstrap(
                lambda r, f=flipped: f[r].mean(axis=1),
                len(idx),
                n_resamples=cfg.bootstrap,
                seed=ctx.seed,
                confidence=cfg.confidence,
            ) if cfg.bootstrap else (None, None, None)  # fmt: skip
            result.metrics[f"invariance.{name}.flip_rate"] = Metric(
                value=rate, ci_low=low, ci_high=high, higher_is_better=False,
                description=f"share of {len(idx)} perturbed sentences whose prediction changed",
            )  # fmt: skip
            table.rows.append([name, len(texts), len(idx), int(flipped.sum()), rate, low, high])
            names = ctx.data.label_names
            for j in np.flatnonzero(flipped)[: cfg.max_flip_examples]:
                i = idx[j]
                flips_out.append(
                    {
                        "perturbation": name,
                        "idx": int(rows_of[i]),
                        "original": texts[i],
                        "perturbed": new[i],
                        "label_name": names[labels[rows_of[i]]],
                        "pred_before": names[int(base[i].argmax())],
                        "pred_after": names[int(probs[j].argmax())],
                        "proba_before": [float(x) for x in base[i]],
                        "proba_after": [float(x) for x in probs[j]],
                    }
                )
        result.artifacts["invariance_flips"] = _write_jsonl(
            ctx, "robustness_invariance_flips.jsonl", flips_out
        )

    # ------------------------------------------------------------------ behavioural tests
    def _behaviour(self, ctx: AuditContext, cfg: RobustnessConfig, result: AuditResult) -> None:
        """CheckList's MFT and DIR tests: a failure rate per test, with its worst failures."""
        from auditkit.audits.robustness import behaviour as B

        key = "audits.robustness.behaviour"
        bcfg = B.resolve(cfg.behaviour, ctx.suite.base_dir if ctx.suite else None)
        labels = list(ctx.data.label_names)
        B.check_labels(bcfg, labels, key)
        texts = [str(t) for t in ctx.data.test["text"]]
        start = time.perf_counter()
        outcomes = B.evaluate(
            bcfg, texts, labels, lambda t: ctx.predict_proba(t, desc="behaviour"), ctx.seed
        )
        log.info(
            "robustness: %d behavioural tests (%d mft, %d dir), %d probes in %.1f s",
            len(outcomes), len(bcfg.mft), len(bcfg.dir),
            sum(len(o.probes) for o in outcomes), time.perf_counter() - start,
        )  # fmt: skip
        table = _table(result, "behaviour", OUTPUTS.columns("behaviour"))
        failures: list[dict] = []
        pooled: list[np.ndarray] = []
        for out in outcomes:
            n, bad = len(out.failed), int(out.failed.sum())
            row = [out.name, out.kind, out.description, out.expectation, n, bad]
            where = f"{out.counts['test']} test sentences, {out.counts['template']} templates"
            if n == 0:
                why = "no probes" if not out.probes else "no applicable probes"
                result.metrics[f"behaviour.{out.name}.failure_rate"] = Metric(
                    value=None, higher_is_better=False, description=f"{why} ({where})"
                )
                table.rows.append([*row, None, None, None, *out.counts.values(), why])
                result.warnings.append(
                    f"behaviour: {out.kind} test {out.name!r} has {why}: no test sentence holds "
                    "its terms and it has no templates to top up from"
                    if not out.probes
                    else f"behaviour: {out.kind} test {out.name!r}: no probe was predicted "
                    f"{labels[out.label]!r} before the edit, so `not_label` judged none"
                )
                continue
            fails = out.failed.astype(float)
            pooled.append(fails)
            low, high = self._rate_ci(fails, cfg, ctx)
            result.metrics[f"behaviour.{out.name}.failure_rate"] = Metric(
                value=float(fails.mean()), ci_low=low, ci_high=high, higher_is_better=False,
                description=f"{bad} of {n} probes fail: {out.expectation} ({where})",
            )  # fmt: skip
            result.metrics[f"behaviour.{out.name}.n"] = Metric(value=n, unit="probes")
            table.rows.append([*row, float(fails.mean()), low, high, *out.counts.values(), "ok"])
            failures += B.failure_records(out, labels, bcfg.max_failures)
        if pooled:
            fails = np.concatenate(pooled)
            low, high = self._rate_ci(fails, cfg, ctx)
            result.metrics["behaviour.failure_rate"] = Metric(
                value=float(fails.mean()), ci_low=low, ci_high=high, higher_is_better=False,
                description=f"all {len(fails)} judged probes of {len(pooled)} tests",
            )  # fmt: skip
            result.metrics["behaviour.n_probes"] = Metric(value=len(fails), unit="probes")
        result.artifacts["behaviour_failures"] = _write_jsonl(
            ctx, "robustness_behaviour_failures.jsonl", failures
        )

    @staticmethod
    def _rate_ci(fails: np.ndarray, cfg: RobustnessConfig, ctx: AuditContext):
        if not cfg.bootstrap:
            return None, None
        low, high, _ = M.bootstrap(
            lambda r: fails[r].mean(axis=1),
            len(fails),
            n_resamples=cfg.bootstrap,
            seed=ctx.seed,
            confidence=cfg.confidence,
        )
        return low, high

    # ------------------------------------------------------------------ adversarial training
    def _adversarial_training(self, ctx, cfg, result, texts, gold, rows_of, attacks) -> None:
        at = cfg.adversarial_training
        adv = self._adversarial_examples(ctx, cfg)
        log.info(
            "adversarial training: %d adversarial training examples from %s", len(adv), at.recipe
        )
        outcome = ctx.fine_tune_with([t for t, _ in adv], [y for _, y in adv])
        hardened = outcome.handle
        test = ctx.data.test
        y_test = np.asarray(test["label"])
        correct_before = ctx.predict_proba(test["text"]).argmax(1) == y_test
        correct_after = ctx.predict_proba(test["text"], model=hardened).argmax(1) == y_test
        acc_before, acc_after = float(correct_before.mean()), float(correct_after.mean())
        result.metrics["adversarial_training.test_accuracy_before"] = Metric(
            value=acc_before, higher_is_better=True, description="full test split, plain model"
        )
        result.metrics["adversarial_training.test_accuracy"] = Metric(
            value=acc_after, higher_is_better=True, description="full test split, hardened model"
        )
        result.metrics["adversarial_training.n_train_examples"] = Metric(
            value=len(adv), unit="examples", description=f"adversarial rows added ({at.recipe})"
        )
        table = _table(
            result,
            "adversarial_training",
            ["recipe", "metric", "before", "before_ci_low", "before_ci_high",
             "after", "after_ci_low", "after_ci_high", "delta"],
        )  # fmt: skip
        low, high = comparison.paired_accuracy(
            correct_before, correct_after, n_resamples=cfg.bootstrap or 1000, seed=ctx.seed,
            confidence=cfg.confidence,
        )  # fmt: skip
        changes = [
            comparison.Change("all", "test_accuracy", acc_before, acc_after, True, low, high,
                              "paired")
        ]  # fmt: skip
        for recipe in at.recipes or cfg.recipes:
            k = _size(cfg, recipe)
            run = self._attack(
                ctx, hardened, recipe, texts[:k], gold[:k], cfg, phase="hardened",
                ids=rows_of[:k], sink=(attacks, "after"),
            )  # fmt: skip
            after = self._record(result, run, cfg, ctx, prefix="adversarial_training.")
            for key in ("clean_accuracy", "accuracy_under_attack", "attack_success_rate"):
                b = result.metrics[f"{recipe}.{key}"]
                a = after[f"{recipe}.{key}"]
                delta = None if a.value is None or b.value is None else a.value - b.value
                table.rows.append(
                    [recipe, key, b.value, b.ci_low, b.ci_high, a.value, a.ci_low, a.ci_high, delta]
                )
                has_ci = a.ci_low is not None and a.ci_high is not None
                changes.append(
                    comparison.Change(
                        recipe, key, b.value, a.value, bool(a.higher_is_better),
                        a.ci_low, a.ci_high, "after" if has_ci else "none",
                    )
                )  # fmt: skip
        result.tables["adversarial_training_changes"] = comparison.table(
            changes, "adversarial training against the plain model"
        )

    def _adversarial_examples(self, ctx, cfg) -> list[tuple[str, int]]:
        """(text, label) of successful attacks on seeded training rows, none a test sentence."""
        at = cfg.adversarial_training
        train = ctx.data.train
        y_train = np.asarray(train["label"], dtype=np.int64)
        pick = stratified_sample(y_train, at.train_examples, ctx.seed + 2)
        train_texts = [train["text"][int(i)] for i in pick]
        gen = self._attack(
            ctx, ctx.model, at.recipe, train_texts, y_train[pick], cfg, phase="train", ids=pick
        )
        held_out = set(ctx.data.test["text"])
        adv = [
            (o.perturbed, o.label)
            for o in gen.outcomes
            if o.status == "succeeded" and o.perturbed not in held_out
        ]
        if not adv:
            raise AuditkitError(
                f"adversarial training: {at.recipe} found no adversarial example in "
                f"{len(train_texts)} training rows, so there is nothing to train on",
                hint="raise adversarial_training.train_examples or pick another recipe",
            )
        return adv


def _size(cfg: RobustnessConfig, recipe: str) -> int:
    return min(cfg.sample_size, cfg.recipe_sample_sizes.get(recipe, cfg.sample_size))


def _table(result: AuditResult, name: str, columns: list[str]) -> Table:
    if name not in result.tables:
        result.tables[name] = Table(columns=columns, rows=[])
    return result.tables[name]


def _write_jsonl(ctx: AuditContext, file_name: str, rows: list[dict]) -> str:
    write_jsonl(ctx.artifact_path(file_name), rows)
    return file_name

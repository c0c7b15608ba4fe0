"""The fairness audit: counterfactual identity swaps, group metrics, and a measured mitigation."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from auditkit.api.audit import Audit, AuditContext
from auditkit.api.results import AuditResult, Metric, Table
from auditkit.audits.fairness import coverage
from auditkit.audits.fairness.config import FairnessConfig, resolve_attributes
from auditkit.audits.fairness.metrics import FlipReport, GroupReport, flip_report, group_report
from auditkit.audits.fairness.metrics import headline as _headline
from auditkit.audits.fairness.outputs import OUTPUTS
from auditkit.audits.fairness.probes import ProbeSet, build_probe_set
from auditkit.audits.fairness.tables import Tables
from auditkit.audits.fairness.terms import TermSwapper
from auditkit.errors import SuiteError
from auditkit.files import write_jsonl

log = logging.getLogger(__name__)

FLIPS_FILE = "fairness_flips.jsonl"
PROBES_FILE = "fairness_probes.jsonl"


class FairnessAudit(Audit):
    name = "fairness"
    description = "counterfactual identity swaps, fairlearn group metrics, mitigation"
    tags = ("fairness",)
    reads = ("performance",)  # its conformal thresholds, for coverage per group
    outputs = OUTPUTS
    Config = FairnessConfig

    def run(self, ctx: AuditContext) -> AuditResult:
        cfg: FairnessConfig = self.config  # type: ignore[assignment]
        labels = ctx.data.label_names
        k = len(labels)
        attributes = resolve_attributes(cfg, ctx.suite, labels)
        _check_columns(cfg, ctx)
        swappers = {a: TermSwapper(groups) for a, groups in attributes.items()}
        test = ctx.data.test
        texts, y = list(test["text"]), np.asarray(test["label"], dtype=np.int64)

        probe_sets = _probe_sets(cfg, attributes, swappers, texts, y, labels)
        result = AuditResult(name=self.name, config=cfg.model_dump(mode="json"))
        _report_probe_counts(cfg, probe_sets, result)

        need_test = bool(cfg.metadata_columns) or cfg.mitigation is not None
        probs = _predict(ctx, None, probe_sets, texts if need_test else [], "fairness probes")
        boot = {"n_resamples": cfg.bootstrap, "seed": ctx.seed, "confidence": cfg.confidence}
        tables = Tables(labels)
        before, flips_out, probes_out = _score_attributes(
            probe_sets, probs, k, boot, labels, result, tables
        )
        for column in cfg.metadata_columns:
            _score_column(column, list(test[column]), y, probs["__test__"], k, boot, result, tables)
        _conformal_coverage(ctx, cfg, probe_sets, probs, y, boot, result)

        flips_out.sort(key=lambda r: (not r["flipped"], -r["delta_p"]))
        result.artifacts["flips"] = _write_jsonl(ctx, FLIPS_FILE, flips_out[: cfg.max_flips])
        result.artifacts["probes"] = _write_jsonl(ctx, PROBES_FILE, probes_out)

        if cfg.mitigation == "counterfactual_augmentation" and before:
            _mitigate(ctx, cfg, swappers, probe_sets, before, probs["__test__"], y, result, tables)
        if cfg.threshold_optimizer is not None:
            _threshold_optimizer(cfg, probe_sets, before, probs, labels, ctx.seed, result, tables)
        result.tables.update(tables.build())
        return result


# --------------------------------------------------------------------------- run steps


def _probe_sets(cfg: FairnessConfig, attributes, swappers, texts, y, labels) -> dict[str, ProbeSet]:
    return {
        a: build_probe_set(
            a,
            swappers[a],
            texts,
            y,
            cfg.attributes[a].templates,
            labels,
            use_templates=cfg.use_templates,
            min_probes=cfg.min_probes,
            max_template_probes=cfg.max_template_probes,
        )
        for a in attributes
    }


def _report_probe_counts(
    cfg: FairnessConfig, probe_sets: dict[str, ProbeSet], result: AuditResult
) -> None:
    for a, ps in probe_sets.items():
        if ps.n < cfg.min_probes:
            result.warnings.append(
                f"{a}: {ps.n} probes, fewer than min_probes={cfg.min_probes}; add templates "
                "to the attribute, or test data that names its groups (CIs will be wide)"
            )
        log.info("fairness: %s: %d probes (%d from test data)", a, ps.n,
                 sum(p.source == "test" for p in ps.probes))  # fmt: skip


def _score_attributes(probe_sets, probs, k: int, boot: dict, labels, result, tables):
    """Each attribute's reports, metrics and table rows; the reports and artifact rows back."""
    before: dict[str, tuple[FlipReport, GroupReport]] = {}
    flips_out: list[dict[str, Any]] = []
    probes_out: list[dict[str, Any]] = []
    for a, ps in probe_sets.items():
        if ps.n == 0:
            result.warnings.append(f"{a}: no probes (no test sentence names a group term)")
            result.metrics[f"{a}.n_probes"] = Metric(value=0, unit="probes")
            tables.probes.extend(ps.counts())
            continue
        p = probs[a]
        fr, gr = _attribute_reports(ps, p, k, boot)
        before[a] = (fr, gr)
        result.metrics.update(_attribute_metrics(a, fr, gr, ps.n, labels))
        tables.add_attribute(a, ps, fr, gr)
        flips_out += _flip_rows(ps, p, labels)
        probes_out += _probe_rows(ps, p, labels)
    return before, flips_out, probes_out


def _score_column(column, values, y, test_probs, k: int, boot: dict, result, tables) -> None:
    """Group metrics over a real metadata column of the test split."""
    missing = _missing(values)
    _report_missing(column, int(missing.sum()), len(values), result)
    gr = _column_report(values, missing, y, test_probs.argmax(1), k, boot)
    if gr is None:
        result.warnings.append(f"column {column!r}: fewer than two groups in the test split")
        return
    result.metrics.update(_column_metrics(column, gr))
    tables.add_groups(f"column.{column}", gr)


def _threshold_optimizer(cfg, probe_sets, before, probs, labels, seed, result, tables) -> None:
    from auditkit.audits.fairness.postprocess import threshold_optimizer_rows

    t = cfg.threshold_optimizer
    if t.attribute in before:
        rows, metrics = threshold_optimizer_rows(
            probe_sets[t.attribute], probs[t.attribute], t, labels, seed=seed
        )
        tables.threshold.extend(rows)
        result.metrics.update(metrics)


# --------------------------------------------------------------------------- helpers


def _check_columns(cfg: FairnessConfig, ctx: AuditContext) -> None:
    present = set(ctx.data.test.column_names)
    for column in cfg.metadata_columns:
        if column not in present:
            kept = ", ".join(ctx.data.metadata_columns) or "none"
            raise SuiteError(
                f"audits.fairness.metadata_columns: column {column!r} is not in the dataset's "
                f"test split (metadata columns kept: {kept})",
                hint=f"list {column!r} under data.metadata_columns too, and check the file has it",
            )


def _predict(ctx, model, probe_sets: dict[str, ProbeSet], test_texts: list[str], desc: str):
    """One pass (through ctx.map) over every distinct text; probabilities shaped (P, G, K) per
    attribute. `model`: another handle than the run's, e.g. the mitigated one."""
    wanted: dict[str, int] = {}
    for text in [*test_texts, *(t for ps in probe_sets.values() for t in ps.all_texts())]:
        wanted.setdefault(text, len(wanted))
    flat = ctx.predict_proba(list(wanted), desc=desc, model=model)
    out = {}
    for a, ps in probe_sets.items():
        rows = [wanted[t] for t in ps.all_texts()]
        out[a] = flat[rows].reshape(ps.n, len(ps.groups), -1)
    out["__test__"] = flat[[wanted[t] for t in test_texts]]
    return out


def _conformal_coverage(ctx, cfg, probe_sets, probs, y, boot: dict, result) -> None:
    """Coverage of the performance audit's conformal sets per group (coverage.py), when the
    performance audit ran with conformal sets; adds table `conformal_by_group`."""
    cals = coverage.calibrations(ctx.results.audits.get("performance") if ctx.results else None)
    if not cals:
        return
    rows: list[list] = []
    for a, ps in probe_sets.items():
        if ps.n:
            labels = np.array([p.label for p in ps.probes], dtype=np.int64)
            found = coverage.by_group(a, probs[a], labels, ps.groups, cals, boot)
            rows += found.rows
            result.metrics.update(found.metrics)
    for column in cfg.metadata_columns:
        values = list(ctx.data.test[column])
        keep = ~_missing(values)
        if keep.sum() == 0:
            continue
        found = coverage.by_group(
            f"column.{column}",
            probs["__test__"][keep],
            y[keep],
            [str(v) for v, ok in zip(values, keep, strict=True) if ok],
            cals,
            boot,
        )
        rows += found.rows
        result.metrics.update(found.metrics)
    result.tables["conformal_by_group"] = Table(
        columns=OUTPUTS.columns("conformal_by_group"),
        rows=rows,
        description="the performance audit's conformal sets (its thresholds), covered per group: "
        "counterfactual attributes over their probe variants, column.<C> over test rows",
    )


def _attribute_reports(ps: ProbeSet, probs: np.ndarray, k: int, boot: dict):
    n_probes, g = probs.shape[:2]
    fr = flip_report(probs, ps.groups, **boot)
    y = np.repeat([p.label for p in ps.probes], g)
    pred = probs.argmax(-1).reshape(-1)
    group = np.tile(np.arange(g), n_probes)
    clusters = np.arange(n_probes * g).reshape(n_probes, g)
    gr = group_report(y, pred, group, ps.groups, k, clusters=clusters, **boot)
    return fr, gr


def _missing(values: list[Any]) -> np.ndarray:
    """True where a row has no value for the attribute: null, NaN, or blank text."""
    return np.array(
        [
            v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == ""
            for v in values
        ],
        dtype=bool,
    )


def _report_missing(column: str, n_missing: int, n: int, result: AuditResult) -> None:
    """The column's metrics cover only rows with a value; say how many were left out, always."""
    result.metrics[f"column.{column}.n_missing"] = _metric(
        n_missing,
        unit="examples",
        desc="test rows with no value in the column (null or blank), left out of its metrics",
    )
    if n_missing:
        message = (
            f"column {column!r}: {n_missing} of {n} test rows have no value (null or blank) and "
            "are left out of its group metrics"
        )
        result.warnings.append(message)
        log.warning("fairness: %s", message)


def _column_report(values, missing, y, pred, k: int, boot: dict) -> GroupReport | None:
    keep = ~missing
    names = sorted({str(v) for v, ok in zip(values, keep, strict=True) if ok})
    if len(names) < 2:
        return None
    code = {n: i for i, n in enumerate(names)}
    group = np.array([code[str(v)] for v, ok in zip(values, keep, strict=True) if ok])
    return group_report(y[keep], pred[keep], group, names, k, **boot)


def _metric(value, ci=(None, None), hib=None, unit=None, desc=None) -> Metric:
    return Metric(
        value=value, ci_low=ci[0], ci_high=ci[1], higher_is_better=hib, unit=unit, description=desc
    )


def _parity_metrics(prefix: str, gr: GroupReport) -> dict[str, Metric]:
    return {
        f"{prefix}.demographic_parity_difference": _metric(
            _headline(gr.dp_difference, "max"),
            gr.ci.get("demographic_parity_difference", (None, None)),
            False,
            desc="max over classes (one against the rest) of the selection-rate gap",
        ),
        f"{prefix}.demographic_parity_ratio": _metric(
            _headline(gr.dp_ratio, "min"),
            gr.ci.get("demographic_parity_ratio", (None, None)),
            True,
            desc="min over classes of min/max selection rate",
        ),
        f"{prefix}.equalized_odds_difference": _metric(
            _headline(gr.eo_difference, "max"),
            gr.ci.get("equalized_odds_difference", (None, None)),
            False,
            desc="max over classes of the larger TPR or FPR gap between groups",
        ),
    }


def _attribute_metrics(a, fr: FlipReport, gr: GroupReport, n, labels) -> dict[str, Metric]:
    out = {
        f"{a}.counterfactual_flip_rate": _metric(
            fr.flip_rate, fr.flip_ci, False,
            desc="share of probes whose predicted class differs between groups",
        ),
        f"{a}.mean_abs_delta_p": _metric(
            fr.mean_abs_delta_p, fr.mean_abs_delta_p_ci, False,
            desc="mean over probes and group pairs of the largest |change| in a class probability",
        ),
        **_parity_metrics(a, gr),
        f"{a}.n_probes": _metric(n, unit="probes"),
    }  # fmt: skip
    for c, name in enumerate(labels):
        out[f"{a}.mean_abs_delta_p.{name}"] = _metric(fr.mean_abs_delta_p_per_class[c], hib=False)
    return out


def _column_metrics(column: str, gr: GroupReport) -> dict[str, Metric]:
    prefix = f"column.{column}"
    return {
        **_parity_metrics(prefix, gr),
        f"{prefix}.n_examples": _metric(int(gr.n.sum()), unit="examples"),
    }


def _flip_rows(ps: ProbeSet, probs: np.ndarray, labels: list[str]) -> list[dict[str, Any]]:
    pred = probs.argmax(-1)
    rows = []
    for i, probe in enumerate(ps.probes):
        for a in range(len(ps.groups)):
            for b in range(a + 1, len(ps.groups)):
                delta = float(np.abs(probs[i, a] - probs[i, b]).max())
                rows.append(
                    {
                        "attribute": ps.attribute,
                        "probe_id": probe.probe_id,
                        "source": probe.source,
                        "group_a": ps.groups[a],
                        "group_b": ps.groups[b],
                        "text_a": probe.texts[ps.groups[a]],
                        "text_b": probe.texts[ps.groups[b]],
                        "label_name": labels[probe.label],
                        "pred_a": labels[pred[i, a]],
                        "pred_b": labels[pred[i, b]],
                        "proba_a": [round(float(v), 6) for v in probs[i, a]],
                        "proba_b": [round(float(v), 6) for v in probs[i, b]],
                        "delta_p": round(delta, 6),
                        "flipped": bool(pred[i, a] != pred[i, b]),
                    }
                )
    return rows


def _probe_rows(ps: ProbeSet, probs: np.ndarray, labels: list[str]) -> list[dict[str, Any]]:
    pred = probs.argmax(-1)
    return [
        {
            "attribute": ps.attribute,
            "probe_id": probe.probe_id,
            "source": probe.source,
            "ref": probe.ref,
            "label_name": labels[probe.label],
            "mentions": probe.mentions,
            "texts": probe.texts,
            "preds": {g: labels[pred[i, j]] for j, g in enumerate(ps.groups)},
            "probas": {
                g: [round(float(v), 6) for v in probs[i, j]] for j, g in enumerate(ps.groups)
            },
        }
        for i, probe in enumerate(ps.probes)
    ]


def _write_jsonl(ctx: AuditContext, file_name: str, rows: list[dict[str, Any]]) -> str:
    write_jsonl(ctx.artifact_path(file_name), rows)
    return file_name


def _mitigate(ctx, cfg, swappers, probe_sets, before, test_probs, y, result, tables) -> None:
    from auditkit.audits.fairness.mitigation import augmentation_set, compare

    held_out = {t for ps in probe_sets.values() for t in ps.all_texts()}
    held_out.update(ctx.data.test["text"])
    texts, labels, info = augmentation_set(
        ctx.data.train["text"], ctx.data.train["label"], swappers, held_out,
        limit=cfg.max_augmented, seed=ctx.seed,
    )  # fmt: skip
    result.metrics["mitigation.n_augmented"] = _metric(len(texts), unit="examples")
    if info["excluded"]:
        result.warnings.append(
            f"mitigation: {info['excluded']} swapped training sentences equal a probe or test "
            "sentence and were left out of the augmented set (probes stay held out)"
        )
    if not texts:
        result.warnings.append("mitigation: no training sentence names a group term; skipped")
        return
    outcome = ctx.fine_tune_with(texts, labels)
    after = _predict(
        ctx, outcome.handle, probe_sets, list(ctx.data.test["text"]), "fairness: mitigated"
    )
    boot = {"n_resamples": cfg.bootstrap, "seed": ctx.seed, "confidence": cfg.confidence}
    compare(before, probe_sets, after, test_probs, y, boot, result, tables.mitigation)

"""A Hugging Face model card from a run: front matter with `model-index` results, and sections
that say only what the run's results hold.

The metadata is built with `huggingface_hub`'s `ModelCardData` and `EvalResult`, so the Hub's
own parser reads it back. Each section names its evidence (the audit, the metric or table, the
file). A section whose audit did not run says so; nothing is written that the results do not
support, and the limitations are the audits' own findings: significant error slices, the
highest invariance flip rates, failing behavioural tests, the largest counterfactual flip
rate, underpowered gate checks and failed audits.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from auditkit.api.registry import outputs
from auditkit.api.results import AuditResult, Metric, RunResults, load_results
from auditkit.api.rundir import GATE_FILE, resolve_run_dir

# performance metrics the model-index lists: (metric, Hub metric type, readable name)
INDEX_METRICS = (
    ("accuracy", "accuracy", "Accuracy"),
    ("macro_f1", "f1", "Macro F1"),
    ("weighted_f1", "f1", "Weighted F1"),
    ("ece", "ece", "Expected calibration error"),
)
SECTIONS = ("performance", "robustness", "fairness", "explanations", "efficiency", "slices")
TITLES = {
    "performance": "Evaluation",
    "robustness": "Robustness",
    "fairness": "Fairness",
    "explanations": "Explanations",
    "efficiency": "Efficiency",
    "slices": "Error slices",
}


def write_card(run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> Path:
    """Write the run's model card (default RUN_DIR/README.md); returns its path."""
    folder = resolve_run_dir(run_dir)
    results = load_results(folder)
    gate = _read_gate(folder)
    path = Path(out) if out is not None else folder / "README.md"
    from auditkit.files import write_atomic

    write_atomic(path, render_card(results, gate))
    return path


def render_card(results: RunResults, gate: dict | None = None) -> str:
    """The card's text: YAML front matter, then the sections."""
    from huggingface_hub import ModelCard

    data = card_data(results)
    body = "\n\n".join(part for part in _sections(results, gate) if part)
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}\n"))


def card_data(results: RunResults):
    """`ModelCardData` with the run's performance metrics as `model-index` eval results."""
    from huggingface_hub import EvalResult, ModelCardData

    m = results.manifest
    perf = results.audits.get("performance")
    evals = []
    dataset = (results.data.origin if results.data else None) or results.suite_name
    for key, metric_type, label in INDEX_METRICS:
        metric = perf.metrics.get(key) if perf is not None and perf.status == "ok" else None
        if metric is None or metric.value is None:
            continue
        args = {"confidence": perf.config.get("confidence", 0.95)}
        if metric.ci_low is not None:
            args |= {"ci_low": round(metric.ci_low, 6), "ci_high": round(metric.ci_high, 6)}
        evals.append(
            EvalResult(
                task_type="text-classification",
                task_name="Text classification",
                dataset_type=f"auditkit/{results.suite_name}",
                dataset_name=Path(str(dataset)).name or results.suite_name,
                dataset_split="test",
                dataset_revision=m.split_fingerprints.get("test"),
                metric_type=metric_type,
                metric_name=label,
                metric_value=round(float(metric.value), 6),
                metric_args=args,
            )
        )
    return ModelCardData(
        model_name=_model_name(results),
        base_model=m.model.id if m.model.source == "hub" else None,
        library_name="transformers",
        pipeline_tag="text-classification",
        tags=["auditkit", "text-classification"],
        eval_results=evals or None,
        auditkit={
            "run_id": results.run_id,
            "suite": results.suite_name,
            "suite_hash": results.suite_hash,
            "status": results.status,
            "dataset_fingerprint": m.dataset_fingerprint,
            "test_fingerprint": m.split_fingerprints.get("test"),
            "model_fingerprint": m.model.fingerprint,
        },
    )


def _model_name(results: RunResults) -> str:
    base = results.manifest.model.id or "model"
    return (
        f"{base} fine-tuned ({results.suite_name})" if results.manifest.model.fine_tuned else base
    )


# --------------------------------------------------------------------------- sections


def _sections(results: RunResults, gate: dict | None) -> list[str]:
    m = results.manifest
    labels = results.data.label_names if results.data else []
    out = [f"# {_model_name(results)}"]
    out.append(
        f"Audited by auditkit {m.auditkit_version} in run `{results.run_id}` (suite "
        f"`{results.suite_name}`, status **{results.status}**, {m.finished_at or m.started_at}). "
        f"Model fingerprint `{(m.model.fingerprint or 'unknown')[:16]}`; test set `"
        f"{(m.split_fingerprints.get('test') or 'unknown')[:16]}`. Every number below is "
        f"from that run's `results.json`, with its 95% confidence interval where the audit "
        "gives one."
    )
    out.append(_intended_use(results, labels))
    for audit in (*SECTIONS, *(a for a in results.audits if a not in SECTIONS)):
        out.append(_audit_section(results, audit))
    out.append(_limitations(results, gate))
    return out


def _intended_use(results: RunResults, labels: list[str]) -> str:
    description = str(results.suite.get("description") or "").strip()
    data = results.data
    lines = ["## Intended use"]
    lines.append(
        f"Classifies text into {len(labels)} labels: {', '.join(f'`{x}`' for x in labels)}."
        if labels
        else "The run recorded no labels."
    )
    if description:
        lines.append(f"The suite describes it as: “{description.rstrip('.')}”.")
    else:
        lines.append("The suite states no intended use (its `description` is empty).")
    if data is not None:
        sizes = ", ".join(f"{k} {v}" for k, v in data.split_sizes.items())
        lines.append(f"Evidence: data from `{data.origin}` ({data.source}; {sizes}).")
    lines.append(
        "Use outside that data (other domains, languages or label definitions) is not covered "
        "by any number here."
    )
    return "\n\n".join(lines)


def _audit_section(results: RunResults, audit: str) -> str:
    title = TITLES.get(audit) or outputs(audit).title_for(audit)
    result = results.audits.get(audit)
    if result is None:
        return (
            f"## {title}\n\nNot run: the suite has no `{audit}` audit, so this card makes no "
            "claim about it."
        )
    if result.status != "ok":
        error = result.error.message if result.error else "no error recorded"
        return f"## {title}\n\nThe `{audit}` audit failed ({error}); it gives no evidence here."
    rows = _metric_rows(audit, result)
    if not rows:
        return f"## {title}\n\nThe `{audit}` audit wrote no headline metrics."
    table = ["| metric | value | 95% CI |", "|---|---|---|", *rows]
    return "\n".join([f"## {title}", "", f"Evidence: the `{audit}` audit in `results.json`.", "",
                      *table])  # fmt: skip


def _metric_rows(audit: str, result: AuditResult) -> list[str]:
    declared = outputs(audit)
    picked = declared.headline_metrics(result.metrics, ranked=True)
    if audit == "performance":  # the evaluation table lists every directional metric
        picked = [(k, m) for k, m in result.metrics.items() if m.higher_is_better is not None]
    return [f"| `{audit}.{key}` | {_value(m)} | {_ci(m)} |" for key, m in picked[:12]]


def _value(m: Metric) -> str:
    if m.value is None:
        return "n/a"
    if isinstance(m.value, float) and not float(m.value).is_integer():
        return f"{m.value:.4g}" + (f" {m.unit}" if m.unit else "")
    return f"{m.value:g}" + (f" {m.unit}" if m.unit else "")


def _ci(m: Metric) -> str:
    if m.ci_low is None or m.ci_high is None:
        return "—"
    return f"[{m.ci_low:.4g}, {m.ci_high:.4g}]"


def _limitations(results: RunResults, gate: dict | None) -> str:
    found = []
    for name, result in results.audits.items():
        if result.status != "ok":
            found.append(f"The `{name}` audit failed, so its questions are open.")
    found += _worst_slices(results.audits.get("slices"))
    found += _flip_rates(results.audits.get("robustness"))
    found += _behaviour(results.audits.get("robustness"))
    found += _counterfactual(results.audits.get("fairness"))
    found += _underpowered(gate)
    lines = ["## Limitations", "", "What the audits found (each names its evidence):", ""]
    if not found:
        lines.append("- None of the audits that ran reported a finding listed here.")
    lines += [f"- {f}" for f in found]
    return "\n".join(lines)


def _records(result: AuditResult | None, table: str) -> list[dict[str, Any]]:
    if result is None or result.status != "ok" or table not in result.tables:
        return []
    return result.tables[table].records()


def _worst_slices(result: AuditResult | None) -> list[str]:
    rows = _records(result, "slices")[:3]
    return [
        f"Error slice `{r['slice']}` ({r.get('description') or ''}): accuracy "
        f"{r['accuracy']:.3g} on {r['n']} test rows against {r['rest_accuracy']:.3g} elsewhere "
        f"(q = {r['q_value']:.2g}; slices audit, `slices` table)."
        for r in rows
        if r.get("accuracy") is not None and r.get("rest_accuracy") is not None
    ]


def _flip_rates(result: AuditResult | None) -> list[str]:
    rows = [r for r in _records(result, "invariance") if r.get("flip_rate")]
    rows.sort(key=lambda r: -r["flip_rate"])
    return [
        f"Perturbation `{r['perturbation']}` changes the prediction on {r['flip_rate']:.1%} of "
        f"the {r['changed']} sentences it edits (robustness audit, `invariance` table)."
        for r in rows[:2]
    ]


def _behaviour(result: AuditResult | None) -> list[str]:
    rows = [r for r in _records(result, "behaviour") if (r.get("failure_rate") or 0) >= 0.5]
    rows.sort(key=lambda r: -r["failure_rate"])
    return [
        f"Behavioural test `{r['test']}` ({r['kind'].upper()}: "
        f"{r['description'] or r['expectation']}) fails on {r['failure_rate']:.0%} of {r['n']} "
        "probes (robustness audit, `behaviour` table)."
        for r in rows[:5]
    ]


def _counterfactual(result: AuditResult | None) -> list[str]:
    if result is None or result.status != "ok":
        return []
    rates = [
        (k, m)
        for k, m in result.metrics.items()
        if k.endswith(".counterfactual_flip_rate") and not k.startswith("mitigation.")
        and m.value
    ]  # fmt: skip
    if not rates:
        return []
    key, m = max(rates, key=lambda km: km[1].value)
    return [
        f"Swapping `{key.split('.')[0]}` terms changes {m.value:.1%} of predictions "
        f"{_ci(m)} (fairness audit, `{key}`)."
    ]


def _underpowered(gate: dict | None) -> list[str]:
    if not gate:
        return []
    return [
        f"Gate check `{c.get('metric')}` is underpowered: it can detect worsenings of "
        f"{c.get('mde'):.3g} or more, above its bound (`gate.json`)."
        for c in gate.get("checks") or []
        if isinstance(c, dict) and c.get("underpowered") and c.get("mde") is not None
    ]


def _read_gate(folder: Path) -> dict | None:
    path = folder / GATE_FILE
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None

"""The Overview's scorecard and manifest as plain tables (no Streamlit, so they are testable)."""

from __future__ import annotations

from typing import Any

from auditkit.api.registry import audit_order, outputs
from auditkit.api.results import RunResults
from auditkit.dashboard.runs import format_metric


def scorecard(results: RunResults) -> list[dict[str, Any]]:
    """One row per declared headline metric of each audit (`Outputs.headlines`); a failed or
    missing audit gets one row."""
    rows: list[dict[str, Any]] = []
    for audit in audit_order(list(results.audits)):
        result = results.audits.get(audit)
        if result is None:
            rows.append({"audit": audit, "status": "not run", "metric": "", "value": ""})
            continue
        if result.status == "failed":
            reason = f"{result.error.type}: {result.error.message}" if result.error else "?"
            rows.append({"audit": audit, "status": "failed", "metric": "", "value": reason})
            continue
        declared = outputs(audit)
        if declared.headlines:  # headline order, then the order the audit wrote them
            picked = declared.headline_metrics(result.metrics, ranked=True)
        else:  # an audit that declares no headline: all its metrics
            picked = list(result.metrics.items())
        if not picked:
            rows.append({"audit": audit, "status": "ok", "metric": "", "value": "no metrics"})
        for name, m in picked:
            rows.append(
                {
                    "audit": audit,
                    "status": "ok",
                    "metric": name,
                    "value": format_metric(m.value, m.ci_low, m.ci_high),
                }
            )
    return rows


def manifest_rows(results: RunResults) -> list[tuple[str, str]]:
    """The manifest flattened to (field, value) pairs for a two-column table."""
    m = results.manifest
    rows = [
        ("suite", results.suite_name),
        ("run id", results.run_id),
        ("status", results.status),
        ("suite hash", results.suite_hash),
        ("auditkit", m.auditkit_version),
        ("git commit", m.git_commit or "—"),
        ("command", m.command or "—"),
        ("started", m.started_at),
        ("finished", m.finished_at or "—"),
        ("host", m.host),
        ("platform", m.platform),
        ("python", m.python),
        ("device", m.device + (f" ({m.device_name})" if m.device_name else "")),
        ("torch threads", "—" if m.torch_threads is None else str(m.torch_threads)),
        ("seed", str(m.seed)),
        ("dataset fingerprint", m.dataset_fingerprint or "—"),
    ]
    rows += [(f"{split} split fingerprint", fp) for split, fp in m.split_fingerprints.items()]
    for key, value in m.model.model_dump().items():
        if value is not None:
            rows.append((f"model {key}", str(value)))
    return rows

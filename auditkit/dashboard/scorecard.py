"""The Overview's scorecard and manifest as plain tables (no Streamlit, so they are testable)."""

from __future__ import annotations

from typing import Any

from auditkit.api.registry import headline
from auditkit.api.results import RunResults
from auditkit.dashboard.runs import format_metric

KNOWN_AUDITS = ("performance", "robustness", "fairness", "explanations", "efficiency")


def scorecard(results: RunResults) -> list[dict[str, Any]]:
    """One row per headline metric of each audit; a failed or missing audit gets one row."""
    rows: list[dict[str, Any]] = []
    names = list(KNOWN_AUDITS) + [a for a in results.audits if a not in KNOWN_AUDITS]
    for audit in names:
        result = results.audits.get(audit)
        if result is None:
            rows.append({"audit": audit, "status": "not run", "metric": "", "value": ""})
            continue
        if result.status == "failed":
            reason = f"{result.error.type}: {result.error.message}" if result.error else "?"
            rows.append({"audit": audit, "status": "failed", "metric": "", "value": reason})
            continue
        leaves = headline(audit)
        picked = [
            (name, m)
            for name, m in result.metrics.items()
            if leaves is None or name.rpartition(".")[2] in leaves
        ]
        if leaves:  # headline order, then the order the audit wrote them
            picked.sort(key=lambda item: leaves.index(item[0].rpartition(".")[2]))
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

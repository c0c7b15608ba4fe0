"""MLflow tracking: one MLflow run per auditkit run, written through `MlflowClient`.

- params: the resolved suite, flattened (`suite.data.path`, ...), and the manifest's versions
  and fingerprints;
- metrics: every metric (`performance.accuracy`), with `<name>.ci_low` and `<name>.ci_high`;
- artifacts: results.json, report.html, gate.json and the audits' per-example files;
- tags: suite name, run id and status, and each failed audit with its error.

The MLflow run ends FAILED when the auditkit run failed. The client is used directly, not
`mlflow`'s module-level active run, so a notebook's own MLflow state is left alone. mlflow is an
optional extra (`pip install "auditkit[mlflow]"`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from auditkit.api.results import RunResults
from auditkit.api.rundir import GATE_FILE, RESULTS_FILE
from auditkit.errors import AuditkitError

log = logging.getLogger(__name__)

_KEY = re.compile(r"[^\w\-. /]")  # MLflow keys: alphanumerics, _ - . space /
_PARAM_LIMIT = 6000  # MLflow's longest parameter value
_BATCH = 100  # params (and tags) per log_batch; metrics go 1000 at a time


def require_mlflow() -> None:
    """An error that says how to install mlflow, when it is not installed."""
    try:
        import mlflow.tracking  # noqa: F401
    except ImportError:
        raise AuditkitError(
            "MLflow tracking needs mlflow, which is not installed",
            hint='pip install "auditkit[mlflow]" (mlflow-skinny), or drop --mlflow / '
            "`tracking.mlflow` from the suite",
        ) from None


def mlflow_client(tracking_uri: str | None):
    """An `MlflowClient` for the URI (default: MLFLOW_TRACKING_URI, else ./mlruns)."""
    require_mlflow()
    from mlflow.tracking import MlflowClient

    uri = (
        tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"file:{Path('mlruns').resolve()}"
    )
    if uri.startswith("file:") or "://" not in uri:
        # MLflow 3 refuses its file store unless asked: auditkit asks, so a local folder works
        # with no server and no database (MLflow keeps maintaining it, read-only of new features)
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MlflowClient(uri), uri


def log_run(
    results: RunResults,
    run_dir: Path,
    *,
    tracking_uri: str | None = None,
    experiment: str | None = None,
) -> str:
    """Log the auditkit run as one MLflow run; returns the MLflow run id."""
    from mlflow.entities import Metric as MlMetric
    from mlflow.entities import Param, RunTag

    client, uri = mlflow_client(tracking_uri)
    name = experiment or results.suite_name
    found = client.get_experiment_by_name(name)
    exp_id = found.experiment_id if found is not None else client.create_experiment(name)
    tags = {
        "auditkit.suite": results.suite_name,
        "auditkit.run_id": results.run_id,
        "auditkit.status": results.status,
        "auditkit.run_dir": str(run_dir),
        "mlflow.runName": f"{results.suite_name} {results.run_id}",
    }
    for audit, result in results.audits.items():
        tags[f"auditkit.audit.{audit}"] = result.status
        if result.error is not None:
            tags[f"auditkit.audit.{audit}.error"] = result.error.message[:_PARAM_LIMIT]
    if results.error is not None:
        tags["auditkit.error"] = results.error.message[:_PARAM_LIMIT]
    run = client.create_run(exp_id, tags=tags)
    run_id = run.info.run_id
    try:
        params = [Param(k, v) for k, v in _params(results)]
        for chunk in _chunks(params, _BATCH):
            client.log_batch(run_id, params=chunk)
        stamp = _millis(results)
        metrics = [MlMetric(k, v, stamp, 0) for k, v in _metrics(results)]
        for chunk in _chunks(metrics, 1000):
            client.log_batch(run_id, metrics=chunk)
        for path, folder in _artifacts(results, run_dir):
            client.log_artifact(run_id, str(path), artifact_path=folder)
        client.log_batch(run_id, tags=[RunTag("auditkit.logged", "complete")])
    except Exception:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED" if results.status == "ok" else "FAILED")
    log.info("mlflow: run %s in experiment %r at %s", run_id, name, uri)
    return run_id


def _key(key: str) -> str:
    return _KEY.sub("_", key)[:250]


def _params(results: RunResults) -> list[tuple[str, str]]:
    out = dict(_flatten(results.suite, "suite"))
    m = results.manifest
    out |= {
        "auditkit.version": m.auditkit_version,
        "auditkit.suite_hash": results.suite_hash,
        "auditkit.seed": str(m.seed),
        "auditkit.device": str(m.device),
        "auditkit.git_commit": str(m.git_commit),
        "data.fingerprint": m.dataset_fingerprint,
        "model.id": str(m.model.id),
        "model.fingerprint": str(m.model.fingerprint),
        "model.fine_tuned": str(m.model.fine_tuned),
    }
    out |= {f"data.split_fingerprint.{k}": v for k, v in m.split_fingerprints.items()}
    out |= {f"package.{k}": str(v) for k, v in m.packages.items()}
    return [(_key(k), str(v)[:_PARAM_LIMIT]) for k, v in out.items()]


def _flatten(value: Any, prefix: str) -> Iterator[tuple[str, str]]:
    """Nested dicts as dotted keys; lists and scalars as their JSON text."""
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from _flatten(v, f"{prefix}.{k}")
    else:
        yield prefix, value if isinstance(value, str) else json.dumps(value, default=str)


def _metrics(results: RunResults) -> list[tuple[str, float]]:
    out = []
    for audit, result in results.audits.items():
        for name, m in result.metrics.items():
            for suffix, v in (("", m.value), (".ci_low", m.ci_low), (".ci_high", m.ci_high)):
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    out.append((_key(f"{audit}.{name}{suffix}"), float(v)))
    return out


def _artifacts(results: RunResults, run_dir: Path) -> list[tuple[Path, str | None]]:
    from auditkit.api.rundir import artifact_file

    out = [(run_dir / f, None) for f in (RESULTS_FILE, "report.html", GATE_FILE)]
    for result in results.audits.values():
        for file_name in result.artifacts.values():
            path = artifact_file(run_dir, file_name)
            if path is not None:
                out.append((path, "artifacts"))
    return [(p, folder) for p, folder in out if p.is_file()]


def _millis(results: RunResults) -> int:
    from datetime import datetime

    stamp = results.manifest.finished_at or results.manifest.started_at
    try:
        return int(datetime.fromisoformat(stamp).timestamp() * 1000)
    except (TypeError, ValueError):
        return 0


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]

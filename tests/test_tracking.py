"""MLflow tracking on a real local file store, read back through `MlflowClient`: one MLflow run
per auditkit run, with its params, metrics and CIs, artifacts and tags, FAILED when it failed."""

from __future__ import annotations

import os

import pytest

from auditkit.api.results import load_results
from tests.conftest import write_toy_suite

if not os.environ.get("CI"):  # mlflow is a dev dependency: in CI its absence is a failure
    pytest.importorskip("mlflow", reason="needs mlflow: pip install 'auditkit[mlflow]'")


def _client(store):
    from mlflow.tracking import MlflowClient

    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MlflowClient(f"file:{store}")


def test_a_run_is_logged_with_params_metrics_artifacts_and_tags(tmp_path, tiny_bert):
    from auditkit.runner import run_suite
    from auditkit.suite import load_suite

    store = tmp_path / "mlruns"
    suite_path = write_toy_suite(tmp_path, tiny_bert)
    suite_path.write_text(
        suite_path.read_text()
        + f"\ntracking:\n  mlflow: {{tracking_uri: 'file:{store}', experiment: audits}}\n"
    )
    results, _ = run_suite(load_suite(suite_path), out_dir=tmp_path / "r")
    client = _client(store)
    exp = client.get_experiment_by_name("audits")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED"
    tags = run.data.tags
    assert tags["auditkit.run_id"] == results.run_id and tags["auditkit.status"] == "ok"
    assert tags["auditkit.suite"] == "toy" and tags["auditkit.audit.performance"] == "ok"
    acc = results.audits["performance"].metrics["accuracy"]
    m = run.data.metrics
    assert m["performance.accuracy"] == pytest.approx(acc.value)
    assert m["performance.accuracy.ci_low"] == pytest.approx(acc.ci_low)
    assert m["performance.accuracy.ci_high"] == pytest.approx(acc.ci_high)
    p = run.data.params
    assert p["suite.training.epochs"] == "6.0" and p["suite.data.path"] == "toy.csv"
    assert p["model.fingerprint"] == results.manifest.model.fingerprint
    assert p["data.split_fingerprint.test"] == results.manifest.split_fingerprints["test"]
    assert p["package.torch"] == results.manifest.packages["torch"]
    top = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"results.json", "report.html", "artifacts"} <= top
    inner = {a.path for a in client.list_artifacts(run.info.run_id, "artifacts")}
    assert "artifacts/predictions.parquet" in inner
    local = client.download_artifacts(run.info.run_id, "results.json", str(tmp_path / "dl"))
    assert load_results(os.path.dirname(local)).run_id == results.run_id


def test_a_failed_audit_is_logged_and_the_mlflow_run_fails(tmp_path, tiny_bert, monkeypatch):
    from auditkit.audits.performance import audit as perf
    from auditkit.runner import run_suite
    from auditkit.suite import load_suite

    def boom(*args, **kwargs):
        raise RuntimeError("the metric broke")

    monkeypatch.setattr(perf, "evaluate_predictions", boom)
    store = tmp_path / "mlruns"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"file:{store}")
    results, _ = run_suite(
        load_suite(write_toy_suite(tmp_path, tiny_bert)), out_dir=tmp_path / "r", mlflow=True
    )
    assert results.status == "failed"
    client = _client(store)
    (run,) = client.search_runs([client.get_experiment_by_name("toy").experiment_id])
    assert run.info.status == "FAILED"
    assert run.data.tags["auditkit.audit.performance"] == "failed"
    assert "the metric broke" in run.data.tags["auditkit.audit.performance.error"]


def test_without_mlflow_the_flag_says_how_to_install_it(tmp_path, tiny_bert, monkeypatch):
    import builtins

    from auditkit.errors import AuditkitError
    from auditkit.runner import run_suite
    from auditkit.suite import load_suite

    real = builtins.__import__

    def no_mlflow(name, *args, **kwargs):
        if name == "mlflow" or name.startswith("mlflow."):
            raise ImportError("No module named 'mlflow'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlflow)
    with pytest.raises(AuditkitError, match="needs mlflow") as err:
        run_suite(load_suite(write_toy_suite(tmp_path, tiny_bert)), out_dir=tmp_path / "r",
                  mlflow=True)  # fmt: skip
    assert "auditkit[mlflow]" in err.value.hint
    assert not (tmp_path / "r").exists()  # refused before any work

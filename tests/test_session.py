"""The Python API (`auditkit.run`, `auditkit.Run`) on a tiny real BERT, and the notebook example
run as the plain script it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import auditkit
from auditkit.errors import AuditkitError
from tests.conftest import build_tiny_bert, write_toy_suite

ROOT = Path(__file__).resolve().parents[1]
GATE = """
gate:
  checks:
    performance.accuracy: {min: 0.5, max_drop: 0.05}
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("session")
    suite = write_toy_suite(folder, build_tiny_bert(folder / "tiny"))
    suite.write_text(suite.read_text() + GATE)
    return suite, folder


@pytest.fixture(scope="module")
def done(toy):
    suite, folder = toy
    return auditkit.run(suite, out_dir=folder / "reports", progress=False)


def test_run_returns_the_cli_run_directory_and_its_views(done, toy):
    run = done
    assert run.status == "ok" and (run.run_dir / "results.json").is_file()
    assert run.run_dir.parent.name == "toy" and (run.run_dir.parent / "latest").exists()
    on_disk = json.loads((run.run_dir / "results.json").read_text())
    acc = on_disk["audits"]["performance"]["metrics"]["accuracy"]
    frame = run.metrics
    row = frame[(frame["audit"] == "performance") & (frame["metric"] == "accuracy")].iloc[0]
    assert row["value"] == acc["value"] and row["ci_low"] == acc["ci_low"]
    assert row["direction"] == "higher" and run.metric("performance.accuracy") == acc["value"]
    assert len(frame) == sum(len(a["metrics"]) for a in on_disk["audits"].values())
    per_class = run.tables["performance.per_class"]
    assert list(per_class.columns[:2]) == ["label", "precision"] and len(per_class) == 3
    card = run._repr_html_()
    assert run.run_id in card and "accuracy" in card and "<table>" in card
    assert "Confusion matrix" in run.report_html()
    assert repr(run).startswith(f"Run('{run.run_id}', status='ok'")


def test_save_writes_the_cli_layout_that_the_gate_reads(done, tmp_path):
    saved = done.save(tmp_path / "elsewhere")
    assert saved == tmp_path / "elsewhere" / "toy" / done.run_id
    assert (saved.parent / "latest").resolve() == saved.resolve()
    again = auditkit.Run.load(tmp_path / "elsewhere" / "toy" / "latest")
    assert again.metric("performance.accuracy") == done.metric("performance.accuracy")
    with pytest.raises(AuditkitError, match="already exists"):
        done.save(tmp_path / "elsewhere")
    baseline = tmp_path / "b.json"
    done.baseline(baseline)
    report = again.gate(baseline)  # the copy against its original: the same predictions
    assert report.passed and report.paired and report.spec_source == "baseline"
    acc = report.checks[0]
    assert acc.metric == "performance.accuracy" and acc.delta == 0
    loose = again.gate(baseline, checks=["performance.accuracy:max_drop=0.5"])
    assert not loose.passed and [x.item for x in loose.loosened] == [
        "performance.accuracy: max_drop"
    ]


def test_run_options_are_checked():
    with pytest.raises(AuditkitError, match="unknown option"):
        auditkit.run("suites/finance_sentiment.yaml", outdir="x")


def test_the_notebook_example_runs_as_a_script(toy, tmp_path):
    suite, _ = toy
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUDITKIT_NO_PROGRESS": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "notebook.py"), str(suite), str(tmp_path)],
        capture_output=True, text=True, env=env, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "accuracy:" in done.stdout and "gate passed: True" in done.stdout
    assert "saved to:" in done.stdout and (tmp_path / "saved" / "toy" / "latest").exists()

"""The CLI end to end on a tiny model: results on disk, failures recorded, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from auditkit.api.audit import Audit
from auditkit.api.registry import AUDITS
from auditkit.api.results import load_results


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "auditkit", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def test_run_writes_results_predictions_and_latest(toy_suite, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDITKIT_CACHE_DIR", str(tmp_path / "cache"))  # its first run trains
    suite = toy_suite()
    done = cli("run", str(suite), "--out", str(tmp_path / "out"), "--no-progress")
    assert done.returncode == 0, done.stderr
    run_dir = tmp_path / "out" / "toy" / "latest"
    results = load_results(run_dir)
    assert results.status == "ok"
    acc = results.metric("performance.accuracy")
    assert acc.value >= 0.85 and acc.ci_low <= acc.value <= acc.ci_high
    assert results.training is not None and results.manifest.model.fine_tuned
    assert [s.name for s in results.stages] == ["data", "model", "train", "audit:performance"]
    assert results.manifest.dataset_fingerprint and results.manifest.packages["torch"]
    preds = pd.read_parquet(run_dir / results.audits["performance"].artifacts["predictions"])
    assert len(preds) == results.data.split_sizes["test"]
    assert preds["correct"].mean() == pytest.approx(acc.value)
    assert "results:" in done.stdout and "accuracy" in done.stdout
    assert "training: cache hit" not in done.stderr
    report = (run_dir / "report.html").read_text()
    assert "report:" in done.stdout and "Confusion matrix" in report and "Manifest" in report

    again = cli("run", str(suite), "--out", str(tmp_path / "out"), "--no-progress")
    assert again.returncode == 0 and "training: cache hit" in again.stderr


def test_bad_suite_exits_2_with_a_clear_message(tmp_path):
    (tmp_path / "bad.yaml").write_text("name: x\ndata:\n  source: csv\n  path: nope.csv\n")
    done = cli("run", str(tmp_path / "bad.yaml"))
    assert done.returncode == 2
    assert "data.path (line 4)" in done.stderr and "Traceback" not in done.stderr


def test_validate_reports_data_and_model(toy_suite):
    done = cli("validate", str(toy_suite()))
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout and "train" in done.stdout and "local" in done.stdout


def test_ls_lists_audits():
    done = cli("ls")
    names = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
    assert done.returncode == 0 and names == sorted(names) and "performance" in names


def test_only_unknown_audit_is_an_error(toy_suite):
    done = cli("run", str(toy_suite()), "--only", "robustnes")
    assert done.returncode == 2 and "unknown audit" in done.stderr


def test_only_takes_repeated_flags_or_a_comma_list(toy_suite):
    from auditkit.errors import SuiteError
    from auditkit.runner import select_audits
    from auditkit.suite import load_suite

    audits = "  performance: {bootstrap: 200}\n  efficiency: {batch_sizes: [1]}\n"
    audits += "  explanations: {per_class: 1}\n"
    suite = load_suite(toy_suite(audits=audits))
    both = ["performance", "efficiency"]
    assert list(select_audits(suite, ["performance", "efficiency"])) == both
    assert list(select_audits(suite, ["performance,efficiency"])) == both
    assert list(select_audits(suite, ["efficiency, performance"])) == both  # the suite's order
    with pytest.raises(SuiteError, match="robustnes"):
        select_audits(suite, ["performance,robustnes"])


class ExplodingAudit(Audit):
    """A real audit whose computation fails, to check that other results survive."""

    name = "exploding"
    description = "raises"

    def run(self, ctx):
        raise RuntimeError("boom: the audit broke")


def test_failed_audit_is_recorded_and_others_kept(toy_suite, tmp_path, monkeypatch):
    from auditkit.runner import run_suite
    from auditkit.suite import load_suite

    monkeypatch.setitem(AUDITS._entries, "exploding", ExplodingAudit)
    suite = load_suite(toy_suite(audits="  exploding: {}\n  performance:\n    bootstrap: 200\n"))
    results, run_dir = run_suite(suite, out_dir=tmp_path)
    assert results.status == "failed"
    assert results.audits["exploding"].status == "failed"
    assert "boom" in results.audits["exploding"].error.message
    assert results.audits["performance"].status == "ok"
    on_disk = json.loads((run_dir / "results.json").read_text())
    kept = on_disk["audits"]["performance"]
    assert kept["status"] == "ok" and kept["error"] is None
    # the kept numbers are the audit's own: they agree with its per-example artifact
    preds = pd.read_parquet(run_dir / kept["artifacts"]["predictions"])
    assert len(preds) == results.data.split_sizes["test"]
    assert kept["metrics"]["accuracy"]["value"] == pytest.approx(preds["correct"].mean())
    assert kept["metrics"] == results.audits["performance"].model_dump(mode="json")["metrics"]
    assert on_disk["audits"]["exploding"]["error"]["type"] == "RuntimeError"
    assert [s["name"] for s in on_disk["stages"]][-2:] == ["audit:exploding", "audit:performance"]
    report = (run_dir / "report.html").read_text()
    assert "failed: RuntimeError: boom: the audit broke" in report and "Confusion matrix" in report


def test_failure_before_audits_still_writes_results(toy_suite, tmp_path):
    from auditkit.errors import DataError
    from auditkit.runner import run_suite
    from auditkit.suite import load_suite

    suite = load_suite(toy_suite())
    (suite.base_dir / "toy.csv").write_text("text,label\nonly one,negative\n")
    with pytest.raises(DataError):
        run_suite(suite, out_dir=tmp_path)
    results = load_results(tmp_path / "toy" / "latest")
    assert results.status == "failed" and results.error.type == "DataError"
    assert [s.name for s in results.stages] == ["data"]
    assert "The run failed: DataError" in (tmp_path / "toy" / "latest" / "report.html").read_text()


def test_summary_shows_declared_headlines_in_full(toy_suite, tmp_path):
    """At most four declared headline metrics per audit, names whole, and how many are left."""
    import os

    audits = "  performance:\n    bootstrap: 200\n"
    audits += "  efficiency:\n    batch_sizes: [1, 4]\n    variants: [fp32]\n    warmup: 1\n"
    audits += "    iterations: 2\n    min_iterations: 1\n    budget_s: 0.2\n"
    audits += "    energy_min_seconds: 0.2\n"
    suite = toy_suite(audits=audits)
    done = subprocess.run(
        [sys.executable, "-m", "auditkit", "run", str(suite), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "…" not in out  # nothing cut
    for name in ("accuracy", "macro_f1", "weighted_f1", "ece"):
        assert f"│ {name} " in out or f"│ {name}\n" in out or f" {name} " in out
    assert " brier " not in out and " nll " not in out  # the fifth and sixth headline
    assert "fp32.bs1.latency_p50_ms" in out and "fp32.bs4.throughput_per_s" in out
    assert "fp32.accuracy_delta" not in out  # not a headline of efficiency
    results = load_results(tmp_path / "o" / "toy" / "latest")
    for audit in ("performance", "efficiency"):
        more = len(results.audits[audit].metrics) - 4
        assert f"+{more} more in the report" in out


def test_summary_prints_counts_without_decimals_and_measures_with_four():
    from auditkit.api.results import Metric
    from auditkit.cli import _fmt

    assert _fmt(Metric(value=23.0)) == "23" and _fmt(Metric(value=1200)) == "1,200"
    assert _fmt(Metric(value=0.5, ci_low=0.4, ci_high=0.6)) == "0.5000 [0.400, 0.600]"
    assert _fmt(Metric(value=1.0, ci_low=1.0, ci_high=1.0)) == "1.0000 [1.000, 1.000]"
    assert _fmt(Metric(value=12.86)) == "12.8600" and _fmt(Metric(value=None)) == "n/a"


def test_validate_warns_when_the_gate_cannot_see_its_own_bound():
    """The default suite's 132 test examples cannot see its 2-point accuracy bound: even with
    no other flips, exact McNemar needs 6 losses (2 * 0.5**6 < 0.05), reached with 80% power
    only once the drop is about 5.9 points."""
    from scipy.stats import binom

    from auditkit.gate.pairing import best_case_accuracy_drop
    from auditkit.gate.spec import power_warnings
    from auditkit.suite import GateSpec

    best = best_case_accuracy_drop(132, 0.05)
    assert binom.sf(5, 132, best) == pytest.approx(0.8) and 0.058 < best < 0.06
    root = Path(__file__).resolve().parents[1]
    done = cli("validate", "suites/finance_sentiment.yaml", cwd=root)
    assert done.returncode == 0, done.stderr
    assert "gate:   3 checks, regression, alpha 0.05" in done.stdout
    assert "performance.accuracy: the allowed drop 0.02 is below what 132 test examples" in (
        done.stdout
    )
    spec = GateSpec(checks={"performance.accuracy": {"max_drop": 0.07}})
    assert power_warnings(spec, 132) == []  # a bound it can see
    shown = spec.model_copy(update={"policy": "non_inferiority"})  # z^2 / (n + z^2)
    assert power_warnings(shown, 50) == [] and len(power_warnings(shown, 30)) == 1

"""The gate and the dashboard's Compare page agree about the same two runs.

Both go through auditkit.gate.pairing: the gate as `auditkit gate` runs it (`run_gate` on a
baseline file saved from one run directory, against another), the dashboard as its Compare page
loads a pair (`read_run`, the predictions artifact, `pair_predictions`, `compare_runs`). For
each metric they must report the same test, the same p-value and the same verdict:

- paired per example (same test set): McNemar for accuracy, a paired bootstrap for F1, ECE and
  Brier (Brier has no CI, so before the shared pairing the dashboard called it "not tested");
- the fallback (different test sets, so no per-example pairing): the gate's normal
  approximation from the two CIs. The runs are picked so that accuracy's and macro F1's 95% CIs
  overlap while p < 0.05; the dashboard's old CI-overlap rule called those "not significant".

With a bare check (`--check METRIC`: no bounds, any significant worsening fails) the gate's
verdict says the same as the dashboard's: regressed = worse, improved = better, and pass or
inconclusive (a bound crossed without significance) = not significant.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditkit.api.rundir import GATE_FILE
from auditkit.dashboard.compare import compare_runs, pair_predictions
from auditkit.dashboard.runs import artifact_path, load_artifact, read_run
from auditkit.gate import GateReport, load_gate, resolve_spec, run_gate, save_baseline
from tests.fixtures import comparable_root, write_run

SUITE = "finance_sentiment"
AS_CHANGE = {
    "regressed": "worse",
    "improved": "better",
    "inconclusive": "not significant",
    "pass": "not significant",
}
METRICS = [
    "performance.accuracy",
    "performance.macro_f1",
    "performance.weighted_f1",
    "performance.ece",
    "performance.brier",
]


def gate(base_dir: Path, cur_dir: Path, tmp_path: Path) -> GateReport:
    baseline = tmp_path / "baseline.json"
    save_baseline(base_dir, baseline)
    spec = resolve_spec(None, overrides=METRICS)
    return run_gate(cur_dir, baseline, spec, write=False)


def dashboard(base_dir: Path, cur_dir: Path, alpha: float):
    """What the Compare page computes for the pair (app/ui.py _compare, minus st)."""
    runs = [read_run(base_dir)[0], read_run(cur_dir)[0]]
    preds = []
    for results, folder in zip(runs, (base_dir, cur_dir), strict=True):
        path = artifact_path(folder, results, "performance", "predictions")
        preds.append(load_artifact(path))
    pairing = pair_predictions(runs[0], runs[1], *preds)
    changes = compare_runs(runs[0], runs[1], pairing, alpha=alpha)
    return pairing, {c.path: c for c in changes}


def assert_agree(report: GateReport, changes: dict) -> dict[str, tuple[str, str]]:
    """Same verdict, p-value and test per checked metric; returns {metric: (method, verdict)}.

    Every disagreement is collected first, so a failure lists all of them.
    """
    disagree, seen = [], {}
    for check in report.checks:
        change = changes[check.metric]
        # compared as is ("point"): no test, so nothing is called significant either way
        expected = "not tested" if check.method == "point" else AS_CHANGE[check.verdict]
        pairs = {
            "verdict": (expected, change.verdict),
            "p_value": (check.p_value, change.p_value),  # the same code on the same data
            "test": (check.method_detail, change.method),
            "delta CI": ((check.ci_low, check.ci_high), (change.ci_low, change.ci_high)),
        }
        disagree += [(check.metric, k, g, d) for k, (g, d) in pairs.items() if g != d]
        assert change.delta == pytest.approx(check.delta, abs=1e-12), check.metric
        seen[check.metric] = (check.method, change.verdict)
    assert not disagree, "\n".join(
        f"{m} {k}: gate {g!r}, dashboard {d!r}" for m, k, g, d in disagree
    )
    return seen


def test_paired_runs_get_the_same_tests_p_values_and_verdicts(tmp_path):
    root = comparable_root(tmp_path / "runs")
    base_dir = root / SUITE / "20261124-010000-base"
    cur_dir = root / SUITE / "20261124-020000-cand"
    report = gate(base_dir, cur_dir, tmp_path)
    pairing, changes = dashboard(base_dir, cur_dir, report.alpha)
    assert report.paired and pairing.paired and report.n_paired == len(pairing.frame) == 60
    seen = assert_agree(report, changes)
    assert seen["performance.accuracy"] == ("mcnemar", "better")
    assert changes["performance.accuracy"].p_value == pytest.approx(2 * 15 / 2**14)
    assert seen["performance.macro_f1"] == ("paired_bootstrap", "better")
    # Brier has no CI: paired, it is a clear improvement (the old page said "not tested")
    assert seen["performance.brier"] == ("paired_bootstrap", "better")
    assert changes["performance.brier"].p_value < 0.01
    # ECE rose, but not significantly: the gate's bare check is inconclusive, not a regression
    assert seen["performance.ece"] == ("paired_bootstrap", "not significant")
    ece = next(c for c in report.checks if c.metric == "performance.ece")
    assert ece.verdict == "inconclusive" and ece.delta > 0 and ece.p_value > 0.05


@pytest.fixture
def unpaired(tmp_path):
    """Two runs on different test sets whose accuracy CIs overlap although p < 0.05."""
    root = tmp_path / "runs"
    base_dir = write_run(root, "20261124-010000-base", wrong=set(range(0, 39, 3)), seed=1)
    cur_dir = write_run(
        root, "20261124-020000-cand", wrong=set(range(1, 15, 3)), seed=2, test_fp="0" * 64
    )
    return base_dir, cur_dir


def test_unpaired_runs_fall_back_alike(unpaired, tmp_path):
    base_dir, cur_dir = unpaired
    report = gate(base_dir, cur_dir, tmp_path)
    pairing, changes = dashboard(base_dir, cur_dir, report.alpha)
    assert not report.paired and not pairing.paired
    assert "different test sets" in pairing.reason
    assert any("no paired tests: the test sets differ" in w for w in report.warnings)
    seen = assert_agree(report, changes)
    for metric in ("performance.accuracy", "performance.macro_f1"):
        # overlapping CIs, yet significant under the gate's normal approximation
        change = changes[metric]
        m_base = read_run(base_dir)[0].audits["performance"].metrics[metric.split(".")[1]]
        m_cur = read_run(cur_dir)[0].audits["performance"].metrics[metric.split(".")[1]]
        assert m_cur.ci_low < m_base.ci_high, "the CIs must overlap for this test to bite"
        assert seen[metric] == ("ci_comparison", "better") and change.p_value < 0.05
        assert change.method.startswith("CI comparison, normal approx.")
    assert seen["performance.ece"] == ("ci_comparison", "not significant")
    # Brier carries a bootstrap CI, so unpaired runs compare it by CIs too (the as-is path,
    # for a metric with no CI, is tests/test_gate.py's test_metric_without_ci_is_compared_as_is)
    assert seen["performance.brier"][0] == "ci_comparison"


@pytest.fixture
def cli_logging():
    """The CLI points auditkit's logger at the stderr CliRunner swaps in and closes; put the
    logger back so later tests do not log into a closed stream."""
    logger = logging.getLogger("auditkit")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


def test_the_cli_gate_writes_what_the_dashboard_shows(unpaired, tmp_path, cli_logging):
    """The same, through `auditkit gate` itself and the gate.json it writes."""
    from auditkit.cli import app

    base_dir, cur_dir = unpaired
    baseline = tmp_path / "b.json"
    runner = CliRunner()
    saved = runner.invoke(app, ["baseline", "save", str(base_dir), "--to", str(baseline)])
    assert saved.exit_code == 0, saved.output
    checks = [arg for metric in METRICS for arg in ("--check", metric)]
    done = runner.invoke(app, ["gate", str(cur_dir), "--baseline", str(baseline), *checks])
    assert done.exit_code == 0, done.output  # improvements only: the gate passes
    report = load_gate(cur_dir / GATE_FILE)
    _, changes = dashboard(base_dir, cur_dir, report.alpha)
    seen = assert_agree(report, changes)
    assert seen["performance.accuracy"] == ("ci_comparison", "better")

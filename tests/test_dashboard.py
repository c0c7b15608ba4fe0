"""The dashboard's non-UI logic: finding runs, gate labels, escaping, and the run comparison."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from auditkit.api.results import load_results
from auditkit.dashboard.compare import (
    changes_frame,
    compare_runs,
    pair_predictions,
    prediction_changes,
)
from auditkit.dashboard.html import token_highlight, word_diff
from auditkit.dashboard.runs import (
    ArtifactError,
    artifact_path,
    discover_runs,
    format_metric,
    gate_label,
    load_artifact,
    read_run,
)
from auditkit.dashboard.scorecard import scorecard
from auditkit.gate.significance import mcnemar
from tests.fixtures import XSS, comparable_root, full_root, write_run


def test_discovery_lists_each_run_once_newest_first_with_problems(tmp_path):
    full_root(tmp_path)
    runs = discover_runs(tmp_path)
    assert [e.run_id for e in runs] == [
        "20261124-050000-full",
        "20261124-040000-part",
        "20251001-000000-old",
    ]  # `latest` is a link to the full run, not a second run
    full, part, old = runs
    assert full.problem is None and full.status == "ok" and full.gate_label == "passed"
    assert full.audits["robustness"] == "ok" and len(full.audits) == 7
    assert part.status == "failed" and part.gate_label == "failed (1)"
    assert "schema version '0.9'" in old.problem and "another auditkit version" in old.problem
    assert old.label().endswith("unreadable")
    assert "all-MiniLM-L6-v2" in full.label() and "gate passed" in full.label()
    # a suite folder or a run folder works as the root too
    assert len(discover_runs(tmp_path / "finance_sentiment")) == 3
    assert [e.run_id for e in discover_runs(full.path)] == [full.run_id]
    assert discover_runs(tmp_path / "missing") == []


def test_read_run_explains_broken_files(tmp_path):
    bad = tmp_path / "s" / "r1"
    bad.mkdir(parents=True)
    (bad / "results.json").write_text('{"schema_version": "1.0", "run_id": ')
    results, problem = read_run(bad)
    assert results is None and "not valid JSON" in problem
    (bad / "results.json").write_text(json.dumps({"schema_version": "1.0", "run_id": 3}))
    results, problem = read_run(bad)
    assert results is None and "does not match the results schema" in problem


def test_gate_label():
    assert gate_label(None) == "—"
    assert gate_label({"checks": []}) == "—"  # no verdict
    assert gate_label({"passed": True, "checks": []}) == "passed"
    checks = [
        {"metric": "a", "verdict": "regressed", "fails": True},
        {"metric": "b", "verdict": "inconclusive", "fails": True},  # the policy fails these
        {"metric": "c", "verdict": "pass", "fails": False},
    ]
    assert gate_label({"passed": False, "checks": checks}) == "failed (2)"
    # a `status` word instead of `passed`, and checks without `fails`
    legacy = {"status": "regressed", "checks": [{"metric": "a", "verdict": "regressed"}]}
    assert gate_label(legacy) == "failed (1)"
    assert gate_label({"status": "weird"}) == "—"


def test_format_metric():
    assert format_metric(0.95454, 0.917, 0.985) == "0.9545 [0.917, 0.985]"
    assert format_metric(None) == "—" and format_metric(float("nan")) == "—"
    assert format_metric(22714371) == "22,714,371"
    assert format_metric(17.9, 17.0, 18.8) == "17.90 [17.00, 18.80]"


def test_html_helpers_escape_data():
    markup = token_highlight(["ok", XSS, '"quoted"'], [0.5, -1.0, None])
    assert "<script" not in markup and "&lt;script&gt;" in markup
    assert "&quot;quoted&quot;" in markup
    assert "rgba(31, 119, 180, 0.85)" in markup  # the strongest (negative) word is fully blue
    with pytest.raises(ValueError, match="2 words but 1 scores"):
        token_highlight(["a", "b"], [1.0])
    diff = word_diff(f"profits fell {XSS}", f"profits fe1l {XSS}")
    assert "<script" not in diff
    assert "<del" in diff and ">fell</del>" in diff and ">fe1l</ins>" in diff
    assert diff.count("&lt;script&gt;") == 1  # unchanged words appear once


def test_scorecard_lists_failed_and_missing_audits(tmp_path):
    full_root(tmp_path)
    part = load_results(tmp_path / "finance_sentiment" / "20261124-040000-part")
    rows = {(r["audit"], r["metric"]): r for r in scorecard(part)}
    assert rows[("robustness", "")]["status"] == "failed"
    assert "textfooler" in rows[("robustness", "")]["value"]
    assert rows[("fairness", "")]["status"] == "not run"
    acc = part.audits["performance"].metrics["accuracy"]
    assert rows[("performance", "accuracy")]["value"] == format_metric(
        acc.value, acc.ci_low, acc.ci_high
    )


def test_artifact_paths_stay_inside_the_run(tmp_path):
    run_dir = write_run(tmp_path, "r1")
    results = load_results(run_dir)
    frame = load_artifact(artifact_path(run_dir, results, "performance", "predictions"))
    assert len(frame) == 60 and {"idx", "correct", "p_neutral"} <= set(frame.columns)
    assert artifact_path(run_dir, results, "robustness", "attacks") is None
    results.audits["performance"].artifacts["predictions"] = "../../elsewhere.parquet"
    with pytest.raises(ArtifactError, match="outside the run directory"):
        artifact_path(run_dir, results, "performance", "predictions")
    with pytest.raises(ArtifactError, match="missing"):
        load_artifact(run_dir / "nope.parquet")


def _load_pair(root):
    runs = {e.run_id: e for e in discover_runs(root)}
    base, cand = runs["20261124-010000-base"], runs["20261124-020000-cand"]
    a, b = load_results(base.path), load_results(cand.path)
    pa = pd.read_parquet(base.path / "predictions.parquet")
    pb = pd.read_parquet(cand.path / "predictions.parquet")
    return a, b, pa, pb


def test_paired_compare_uses_mcnemar_and_lists_changed_predictions(tmp_path):
    a, b, pa, pb = _load_pair(comparable_root(tmp_path))
    pairing = pair_predictions(a, b, pa, pb)
    assert pairing.paired, pairing.reason
    changes = {c.path: c for c in compare_runs(a, b, pairing)}
    acc = changes["performance.accuracy"]
    expected = mcnemar(pa["correct"].to_numpy(), pb["correct"].to_numpy())
    assert acc.p_value == pytest.approx(expected.p_value)
    assert acc.p_value == pytest.approx(2 * 15 / 2**14)  # 13 gained, 1 lost: 2·P(X≤1), n=14
    assert acc.delta == pytest.approx(12 / 60) and acc.verdict == "better"
    f1 = changes["performance.macro_f1"]
    assert f1.method.startswith("paired bootstrap") and f1.verdict == "better"
    assert f1.ci_low > 0
    # ECE is paired too, as the gate pairs it (it was judged by CI overlap before the shared
    # auditkit.gate.pairing)
    assert changes["performance.ece"].method.startswith("paired bootstrap")
    assert changes["performance.n_examples"].verdict == "not tested"  # no CI, no paired test
    pc = prediction_changes(pairing)
    assert len(pc) == 14 and (pc["change"] == "fixed").sum() == 13
    assert list(pc.loc[pc["change"] == "broken", "idx"]) == [5]
    frame = changes_frame(list(changes.values()))
    assert frame.loc[frame["metric"] == "performance.accuracy", "verdict"].item() == "better"


def test_unpaired_compare_falls_back_to_ci_comparison(tmp_path):
    a, b, pa, pb = _load_pair(comparable_root(tmp_path))
    b.manifest.split_fingerprints["test"] = "0" * 64
    pairing = pair_predictions(a, b, pa, pb)
    assert not pairing.paired and "different test sets" in pairing.reason
    assert prediction_changes(pairing).empty
    acc = {c.path: c for c in compare_runs(a, b, pairing)}["performance.accuracy"]
    ma, mb = (
        a.audits["performance"].metrics["accuracy"],
        b.audits["performance"].metrics["accuracy"],
    )
    disjoint = ma.ci_high < mb.ci_low or mb.ci_high < ma.ci_low
    # the gate's fallback: a normal approximation from the two CIs (disjoint CIs are always
    # significant under it; overlapping ones may be too)
    assert acc.method.startswith("CI comparison, normal approx.")
    assert acc.significant is (acc.p_value < 0.05) and (acc.significant or not disjoint)
    # one wrong gold label breaks the pairing even with equal fingerprints
    b.manifest.split_fingerprints["test"] = a.manifest.split_fingerprints["test"]
    pb.loc[0, "label"] = (pb.loc[0, "label"] + 1) % 3
    assert "gold labels differ" in pair_predictions(a, b, pa, pb).reason
    assert "no predictions" in pair_predictions(a, b, pa, None).reason


def test_ci_comparison_verdicts_follow_direction(tmp_path):
    a, b, _, _ = _load_pair(comparable_root(tmp_path))
    for results, (value, low, high) in ((a, (0.2, 0.15, 0.25)), (b, (0.1, 0.05, 0.12))):
        m = results.audits["performance"].metrics["ece"]
        m.value, m.ci_low, m.ci_high = value, low, high
    nope = pair_predictions(a, b, None, None)
    ece = {c.path: c for c in compare_runs(a, b, nope)}["performance.ece"]
    assert ece.significant and ece.verdict == "better"  # lower ECE with disjoint CIs
    b.audits["performance"].metrics["ece"].ci_high = 0.16
    ece = {c.path: c for c in compare_runs(a, b, nope)}["performance.ece"]
    # the CIs overlap (0.15 < 0.16), but the difference is still significant as the gate judges
    # it: p = 2·sf(0.1 / sqrt(0.0255² + 0.0281²)) ≈ 0.008 (CI overlap called it not significant)
    assert ece.verdict == "better" and ece.p_value == pytest.approx(0.0083, abs=5e-4)
    m = b.audits["performance"].metrics["ece"]
    m.ci_low, m.ci_high = 0.0, 0.35
    ece = {c.path: c for c in compare_runs(a, b, nope)}["performance.ece"]
    assert ece.verdict == "not significant" and ece.p_value > 0.2


def test_dashboard_logic_imports_no_streamlit():
    """auditkit/dashboard/ is logic only; the Streamlit helpers live in app/ui.py."""
    import subprocess
    import sys

    code = (
        "import sys, pkgutil, importlib, auditkit.dashboard as d; "
        "[importlib.import_module('auditkit.dashboard.' + m.name) "
        "for m in pkgutil.iter_modules(d.__path__)]; "
        "print('streamlit' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"

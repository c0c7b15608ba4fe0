"""bench/compare_results.py: the behaviour check a refactor is held to (issue 15) must see a
changed number and must not see a changed timing."""

from __future__ import annotations

import copy
import importlib.util
import json
import math
from pathlib import Path

import pytest

from tests.fixtures import write_run_dir as write_run

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "compare_results.py"


@pytest.fixture(scope="module")
def cmp():
    spec = importlib.util.spec_from_file_location("compare_results", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run(tmp_path) -> dict:
    return json.loads((write_run(tmp_path / "run") / "results.json").read_text())


def test_the_same_run_has_no_difference(cmp, run):
    assert cmp.compare(run, copy.deepcopy(run)) == []


def test_a_changed_metric_ci_or_table_cell_is_a_difference(cmp, run):
    after = copy.deepcopy(run)
    after["audits"]["performance"]["metrics"]["accuracy"]["value"] += 0.01
    after["audits"]["performance"]["metrics"]["ece"]["ci_high"] = 0.5
    table = after["audits"]["performance"]["tables"]["per_class"]
    table["rows"][0][table["columns"].index("f1")] = 0.123
    diffs = cmp.compare(run, after)
    assert any(d.startswith("audits.performance.accuracy.value") for d in diffs)
    assert any(d.startswith("audits.performance.ece.ci_high") for d in diffs)
    assert any(d.startswith("audits.performance.tables.per_class[0].f1") for d in diffs)
    assert len(diffs) == 3


def test_timings_ids_and_paths_are_not_differences(cmp, run):
    after = copy.deepcopy(run)
    after["run_id"] = "another"
    after["manifest"]["host"] = "elsewhere"
    eff = after["audits"]["efficiency"]["metrics"]
    latency = [k for k in eff if k.endswith("latency_p50_ms")]
    assert latency
    for k in latency:
        eff[k]["value"] *= 2
    after["audits"]["efficiency"]["wall_time_s"] = 999.0
    assert cmp.compare(run, after) == []


def test_the_script_exits_1_on_a_difference(cmp, run, tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(run))
    changed = copy.deepcopy(run)
    changed["audits"]["performance"]["status"] = "failed"
    b.write_text(json.dumps(changed))
    assert cmp.main([str(a), str(a)]) == 0
    assert cmp.main([str(a), str(b)]) == 1
    assert "audits.performance.status: differs" in capsys.readouterr().out


def test_exact_sees_a_last_bit_difference_the_default_forgives(cmp, run):
    after = copy.deepcopy(run)
    metric = after["audits"]["performance"]["metrics"]["accuracy"]
    metric["value"] = math.nextafter(metric["value"], 2.0)
    assert cmp.compare(run, after) == []
    before = run["audits"]["performance"]["metrics"]["accuracy"]["value"]
    assert cmp.compare(run, after, exact=True) == [
        f"audits.performance.accuracy.value: {before!r} -> {metric['value']!r}"
    ]

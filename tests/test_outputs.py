"""Declared outputs (auditkit/api/outputs.py): the patterns, the headline picks, the check that a
result matches its declaration, and the generated docs page."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from auditkit.api.outputs import (
    _PLACEHOLDER,
    Headline,
    MetricSpec,
    Outputs,
    TableSpec,
    check,
    pattern_regex,
)
from auditkit.api.outputs_doc import DOC, render
from auditkit.api.registry import AUDITS, audit_order, outputs
from auditkit.api.results import AuditResult, Metric, Table

ROOT = Path(__file__).resolve().parents[1]


def test_placeholders_stand_for_one_part_or_several():
    one = pattern_regex("{recipe}.accuracy_under_attack")
    assert one.fullmatch("deepwordbug.accuracy_under_attack")
    assert not one.fullmatch("adversarial_training.deepwordbug.accuracy_under_attack")
    inside = pattern_regex("{variant}.bs{batch_size}.latency_p50_ms")
    assert inside.fullmatch("fp32.bs8.latency_p50_ms").groups() == ("fp32", "8")
    assert not inside.fullmatch("fp32.b8.latency_p50_ms")
    many = pattern_regex("{attribute...}.demographic_parity_difference")
    assert many.fullmatch("column.region.demographic_parity_difference").group(1) == "column.region"
    assert pattern_regex("a.b").fullmatch("a.b") and not pattern_regex("a.b").fullmatch("aXb")


def test_headline_group_spans_its_placeholders_and_honours_exclusions():
    h = Headline("{variant}.bs{batch_size}.throughput_per_s", "best throughput")
    assert h.match("fp32.bs8.throughput_per_s") == "fp32.bs8"
    assert Headline("energy_j_per_1k", "energy").match("energy_j_per_1k") == ""
    parity = Headline("{a...}.demographic_parity_difference", exclude=("mitigation.",))
    assert parity.match("column.region.demographic_parity_difference") == "column.region"
    assert parity.match("mitigation.gender.demographic_parity_difference") is None


def test_headline_metrics_in_written_or_headline_order():
    out = Outputs(headlines=(Headline("b"), Headline("{x}.a")))
    metrics = {k: Metric(value=1.0) for k in ("q.a", "b", "c", "r.a")}
    assert [k for k, _ in out.headline_metrics(metrics)] == ["q.a", "b", "r.a"]
    assert [k for k, _ in out.headline_metrics(metrics, ranked=True)] == ["b", "q.a", "r.a"]
    # No headline declared: every metric with a direction.
    metrics["c"] = Metric(value=1.0, higher_is_better=True)
    assert [k for k, _ in Outputs().headline_metrics(metrics)] == ["c"]


def test_check_names_each_disagreement():
    out = Outputs(
        metrics=(
            MetricSpec("{m}.rate", "a rate", "lower"),
            MetricSpec("{m}.bare", "a rate", "lower"),
            MetricSpec("{m}.count", "a count", ci=False),
            MetricSpec("n", "count"),
        ),
        tables=(TableSpec("t", ("a", "b")),),
    )
    result = AuditResult(
        name="x",
        metrics={
            "ig.rate": Metric(value=0.1, higher_is_better=False, ci_low=0.05, ci_high=0.2),
            "ig.rate2": Metric(value=0.1),
            "ig.bare": Metric(value=0.1, higher_is_better=False),
            "ig.count": Metric(value=4, ci_low=3, ci_high=5),
            "n": Metric(value=3, higher_is_better=True),
        },
        tables={
            "t": Table(columns=["b", "a"], rows=[[1, 2], [1, 2, 3]]),
            "u": Table(columns=["a"], rows=[]),
        },
        artifacts={"file": "f.jsonl"},
    )
    problems = check(out, result)
    assert problems == [
        "metric 'ig.rate2' is not declared",
        "metric 'ig.bare': written without a CI, declared ci=True ({m}.bare)",
        "metric 'ig.count': written with a CI, declared ci=False ({m}.count)",
        "metric 'n': written with higher_is_better=True, declared direction None (n)",
        "table 't': declared columns ['a', 'b'] missing or out of order",
        "table 't': rows of [3] cells under 2 columns",
        "table 'u' is not declared",
        "artifact 'file' is not declared",
    ]
    assert check(Outputs(), result) == []  # an audit that declares nothing is not checked


@pytest.mark.parametrize("name", AUDITS.ordered())
def test_every_audit_declares_a_title_metrics_and_headlines(name):
    out = AUDITS.get(name).outputs
    assert out.title and out.metrics and out.headlines
    assert any(h.label for h in out.headlines)  # the report's tile has a number
    for h in out.headlines:  # each headline names a declared family
        example = _PLACEHOLDER.sub("x", h.metric)
        assert out.metric_spec(example) is not None, h.metric


def test_readers_list_audits_in_registry_order_then_unknown_ones():
    assert audit_order(["zeta", "performance"])[-1] == "zeta"
    assert audit_order()[:2] == ["performance", "robustness"]
    assert outputs("not-installed") == Outputs()
    assert outputs("not-installed").title_for("not_installed") == "Not Installed"


def test_docs_page_is_generated_from_the_declarations():
    """docs/audit-outputs.md is stale when a declaration changed and the page was not rewritten."""
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/audit-outputs.md is stale: run python -m auditkit.api.outputs_doc --write"
    )
    for name in AUDITS.ordered():
        for spec in AUDITS.get(name).outputs.metrics:
            assert f"`{spec.name}`" in render()


def test_docs_check_command_fails_on_a_stale_page(tmp_path, monkeypatch):
    from auditkit.api import outputs_doc

    stale = tmp_path / "audit-outputs.md"
    stale.write_text(render().replace("## robustness", "## robustnes"), encoding="utf-8")
    monkeypatch.setattr(outputs_doc, "DOC", stale)
    assert outputs_doc.main(["--check"]) == 1
    assert outputs_doc.main(["--write"]) == 0 and outputs_doc.main(["--check"]) == 0
    done = subprocess.run(
        [sys.executable, "-m", "auditkit.api.outputs_doc", "--check"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout


def test_runner_warns_when_a_result_departs_from_its_declaration(caplog):
    from auditkit.runner import _check_declared

    declared = Outputs(metrics=(MetricSpec("rate", "a rate", "lower"),))
    result = AuditResult(name="x", metrics={"rate": Metric(value=0.1), "extra": Metric(value=1)})
    with caplog.at_level("WARNING", logger="auditkit.runner"):
        _check_declared("x", declared, result)
    (record,) = caplog.records
    assert "audit x: its results differ" in record.message
    assert "metric 'extra' is not declared" in record.message
    assert "declared direction 'lower'" in record.message


def test_a_display_must_name_the_artifacts_own_fields():
    from auditkit.api.outputs import ArtifactSpec, Examples, RowSets

    with pytest.raises(ValueError, match=r"names \['title'\], not among its fields"):
        ArtifactSpec("x", "x.jsonl", "d", ("slice", "text"), shows=Examples("slice", "title"))
    spec = ArtifactSpec("m", "m.jsonl", "d", ("rows", "description"), shows=RowSets())
    assert spec.shows.names() == ("rows", "description")

"""The results schema round-trips, its exported JSON Schema is current, and it validates."""

from __future__ import annotations

import json

import jsonschema
import pytest

from auditkit.api.results import (
    AuditResult,
    Manifest,
    Metric,
    ModelInfo,
    RunResults,
    SchemaMismatchError,
    Table,
    json_schema,
    load_results,
    save_results,
    schema_path,
)


def sample_results() -> RunResults:
    return RunResults(
        run_id="r1",
        suite_name="s",
        suite={"name": "s"},
        suite_hash="0" * 64,
        manifest=Manifest(
            auditkit_version="0",
            packages={"torch": "2"},
            git_commit=None,
            host="h",
            platform="p",
            python="3",
            device="cpu",
            seed=0,
            dataset_fingerprint="f",
            split_fingerprints={"test": "t"},
            model=ModelInfo(id="m", source="local", location="/m", revision=None, fingerprint="x"),
            started_at="2026-01-01T00:00:00+00:00",
        ),
        audits={
            "performance": AuditResult(
                name="performance",
                metrics={
                    "accuracy": Metric(value=0.9, ci_low=0.8, ci_high=0.95, higher_is_better=True),
                    "undefined": Metric(value=float("nan")),
                },
                tables={"t": Table(columns=["a", "b"], rows=[["x", 1]])},
                artifacts={"predictions": "predictions.parquet"},
            ),
            "broken": AuditResult(name="broken", status="failed"),
        },
    )


def test_round_trip(tmp_path):
    original = sample_results()
    save_results(original, tmp_path)
    loaded = load_results(tmp_path)
    assert loaded == original
    assert loaded.metric("performance.accuracy").ci_high == 0.95
    assert loaded.metric("performance.undefined").value is None  # NaN is stored as null
    assert loaded.audits["performance"].tables["t"].records() == [{"a": "x", "b": 1}]


def test_metric_path_errors_name_what_exists():
    with pytest.raises(KeyError, match="have: \\['broken', 'performance'\\]"):
        sample_results().metric("fairness.flip_rate")
    with pytest.raises(KeyError, match="no metric 'f1'"):
        sample_results().metric("performance.f1")


def test_exported_schema_is_current():
    on_disk = json.loads(schema_path().read_text())
    assert on_disk == json_schema(), (
        "run `auditkit schema --out auditkit/schema/results.schema.json`"
    )


def test_saved_results_validate_against_schema(tmp_path):
    save_results(sample_results(), tmp_path)
    document = json.loads((tmp_path / "results.json").read_text())
    jsonschema.validate(document, json_schema())
    document["audits"]["performance"]["metrics"]["accuracy"]["value"] = "high"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, json_schema())


def test_other_schema_version_is_a_clear_error(tmp_path):
    save_results(sample_results(), tmp_path)
    path = tmp_path / "results.json"
    document = json.loads(path.read_text())
    document["schema_version"] = "0.1"
    path.write_text(json.dumps(document))
    with pytest.raises(SchemaMismatchError, match=r"schema version '0\.1'"):
        load_results(path)


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    save_results(sample_results(), tmp_path)
    save_results(sample_results(), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]

"""Strict suite loading: every error names file, key path, line, value and expectation."""

from __future__ import annotations

import pytest

from auditkit.errors import SuiteError
from auditkit.suite import load_suite
from tests.conftest import write_csv, write_suite

BASE = """name: s
data:
  source: csv
  path: d.csv
audits:
  performance: {}
"""


@pytest.fixture
def folder(tmp_path):
    write_csv(tmp_path / "d.csv", [("a b", "x"), ("c d", "y")] * 4)
    return tmp_path


def load_error(folder, text) -> str:
    with pytest.raises(SuiteError) as info:
        load_suite(write_suite(folder, text))
    return str(info.value)


def test_valid_suite_loads_with_defaults(folder):
    suite = load_suite(write_suite(folder, BASE))
    assert suite.name == "s"
    assert suite.model.id == "sentence-transformers/all-MiniLM-L6-v2"
    assert suite.resolve_path("d.csv") == folder / "d.csv"
    assert list(suite.audit_configs()) == ["performance"]
    assert suite.audit_configs()["performance"].bootstrap == 1000
    assert len(suite.suite_hash()) == 64


def test_unknown_key_names_path_line_and_suggestion(folder):
    msg = load_error(folder, BASE.replace("  path: d.csv", "  path: d.csv\n  text_colum: t"))
    assert "suite.yaml" in msg
    assert "data.text_colum (line 5)" in msg
    assert "Did you mean: 'text_column'" in msg
    assert "Expected one of:" in msg and "label_column" in msg


def test_unknown_top_level_key(folder):
    msg = load_error(folder, BASE + "trainnig:\n  epochs: 2\n")
    assert "trainnig" in msg and "'training'" in msg and "line 7" in msg


def test_duplicate_keys_are_an_error_with_both_lines(folder):
    msg = load_error(folder, BASE.replace("  path: d.csv", "  path: d.csv\n  path: e.csv"))
    assert "duplicate key 'path'" in msg
    assert "lines 4 and 5" in msg


def test_wrong_type_shows_value_and_expectation(folder):
    msg = load_error(folder, BASE + "training:\n  epochs: many\n")
    assert "training.epochs (line 8)" in msg
    assert "'many'" in msg
    assert "valid number" in msg


def test_out_of_range_value(folder):
    msg = load_error(folder, BASE.replace("  path: d.csv", "  path: d.csv\n  test_size: 1.5"))
    assert "data.test_size" in msg and "1.5" in msg and "less than 1" in msg


def test_missing_required_key(folder):
    msg = load_error(folder, "name: s\naudits:\n  performance: {}\n")
    assert "data" in msg and "required key is missing" in msg


def test_missing_data_file(folder):
    msg = load_error(folder, BASE.replace("d.csv", "nope.csv"))
    assert "data.path (line 4)" in msg and "nope.csv" in msg and "no such file" in msg


def test_unset_env_var_without_fallback_is_an_error(folder, monkeypatch):
    monkeypatch.delenv("AUDITKIT_TEST_UNSET", raising=False)
    msg = load_error(folder, BASE.replace("d.csv", "${AUDITKIT_TEST_UNSET}/d.csv"))
    assert "environment variable" in msg


def test_unset_env_var_uses_fallback(folder, monkeypatch):
    monkeypatch.delenv("AUDITKIT_TEST_UNSET", raising=False)
    text = BASE.replace("d.csv", "${AUDITKIT_TEST_UNSET}/d.csv").replace(
        "audits:", "  fallback:\n    source: csv\n    path: d.csv\naudits:"
    )
    suite = load_suite(write_suite(folder, text))
    assert suite.data.fallback is not None and suite.data.fallback.path == "d.csv"


def test_env_var_in_path_is_expanded(folder, monkeypatch):
    monkeypatch.setenv("AUDITKIT_TEST_DIR", str(folder))
    suite = load_suite(write_suite(folder, BASE.replace("d.csv", "${AUDITKIT_TEST_DIR}/d.csv")))
    assert suite.resolve_path(suite.data.path) == folder / "d.csv"


def test_unknown_audit_suggests_the_close_name(folder):
    msg = load_error(folder, BASE.replace("performance: {}", "performnce: {}"))
    assert "audits.performnce (line 6)" in msg
    assert "Unknown audit 'performnce'" in msg and "Did you mean: 'performance'" in msg


def test_audit_config_is_strict_too(folder):
    msg = load_error(folder, BASE.replace("performance: {}", "performance:\n    bootstap: 10"))
    assert "audits.performance.bootstap (line 7)" in msg
    assert "Did you mean: 'bootstrap'" in msg


def test_audit_config_type_error(folder):
    msg = load_error(folder, BASE.replace("performance: {}", "performance:\n    bootstrap: 5"))
    assert "audits.performance.bootstrap" in msg and "greater than or equal to 100" in msg


def test_source_specific_requirements(folder):
    msg = load_error(folder, BASE.replace("source: csv\n  path: d.csv", "source: hf"))
    assert "needs `id`" in msg


def test_invalid_yaml_reports_position(folder):
    msg = load_error(folder, "name: s\ndata: [unclosed\n")
    assert "not valid YAML" in msg and "line" in msg


def test_missing_suite_file(tmp_path):
    with pytest.raises(SuiteError, match="suite file not found"):
        load_suite(tmp_path / "absent.yaml")


def test_shipped_suites_are_valid(monkeypatch, tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "suites"
    assert load_suite(root / "finance_sentiment.yaml").data.path == "data/finance_news_sample.csv"
    monkeypatch.setenv("AUDITKIT_FPB_DIR", str(tmp_path))
    (tmp_path / "sentences_50agree.csv").write_text("sentence,label\n")
    fpb = load_suite(root / "financial_phrasebank.yaml")
    assert fpb.data.fallback is not None and fpb.data.fallback.source == "hf"


def test_relative_path_from_a_variable_is_relative_to_the_working_directory(monkeypatch, tmp_path):
    # A variable set in the shell holds a path relative to where the command ran,
    # while a path written in the suite stays relative to the suite's folder.
    suites = tmp_path / "suites"
    suites.mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "d.csv").write_text("text,label\n")
    (suites / "s.yaml").write_text(
        "name: s\nmodel: {id: m}\ndata: {source: csv, path: '${MY_DATA}/d.csv', "
        "text_column: text, label_column: label}\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MY_DATA", "data")
    suite = load_suite(suites / "s.yaml")
    assert suite.resolve_path(suite.data.path) == tmp_path / "data" / "d.csv"
    assert suite.resolve_path("local.csv") == suites / "local.csv"
    monkeypatch.delenv("MY_DATA")
    assert suite.resolve_path(suite.data.path) is None

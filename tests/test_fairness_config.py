"""Bad fairness config is a clear SuiteError naming the key, at load time where possible."""

from __future__ import annotations

import pytest

from auditkit.api.audit import AuditContext
from auditkit.audits.fairness import FairnessAudit
from auditkit.audits.fairness.config import resolve_attributes
from auditkit.data import load_data
from auditkit.errors import SuiteError
from auditkit.suite import load_suite
from tests.conftest import toy_rows, write_csv, write_suite

GOOD_GROUPS = """        groups:
          female: [she, Maria]
          male: [he, Mark]
"""


def suite_with(tmp_path, fairness: str, *, header=("text", "label"), rows=None):
    write_csv(tmp_path / "toy.csv", rows or toy_rows(60), header=header)
    return write_suite(
        tmp_path,
        f"""
name: toy
data:
  source: csv
  path: toy.csv
  labels: [negative, positive, neutral]
audits:
  fairness:
{fairness}""",
    )


def load_error(tmp_path, fairness: str) -> str:
    with pytest.raises(SuiteError) as info:
        load_suite(suite_with(tmp_path, fairness))
    return str(info.value)


def test_term_files_resolve_against_the_suite_folder(tmp_path):
    (tmp_path / "terms").mkdir()
    (tmp_path / "terms" / "f.txt").write_text("[pronoun]\nshe\nher\n[name]\nMaria\n")
    (tmp_path / "terms" / "m.txt").write_text("[pronoun]\nhe\nhim\n[name]\nMark\n")
    path = suite_with(
        tmp_path,
        """    attributes:
      gender:
        groups:
          female: terms/f.txt
          male: {file: terms/m.txt}
        templates:
          - {text: "{name} said sales rose.", label: positive}
""",
    )
    suite = load_suite(path)
    groups = resolve_attributes(suite.audit_configs()["fairness"], suite)["gender"]
    assert groups["female"] == {"pronoun": ["she", "her"], "name": ["Maria"]}
    assert groups["male"]["name"] == ["Mark"]


def test_missing_term_file(tmp_path):
    msg = load_error(
        tmp_path,
        """    attributes:
      gender:
        groups:
          female: terms/nope.txt
          male: [he]
""",
    )
    assert "audits.fairness.attributes.gender.groups.female.file" in msg
    assert "'terms/nope.txt': no such file" in msg and "suite's folder" in msg


def test_empty_group(tmp_path):
    (tmp_path / "empty.txt").write_text("# only a comment\n\n[name]\n")
    msg = load_error(
        tmp_path,
        """    attributes:
      gender:
        groups:
          female: empty.txt
          male: [he]
""",
    )
    assert "attributes.gender.groups.female: the group has no terms" in msg


def test_unknown_key_with_suggestion(tmp_path):
    msg = load_error(
        tmp_path, f"    attributes:\n      gender:\n{GOOD_GROUPS}    bootstrapp: 100\n"
    )
    assert "audits.fairness.bootstrapp" in msg and "unknown key" in msg
    assert "Did you mean: 'bootstrap'" in msg


def test_one_group_is_not_enough(tmp_path):
    msg = load_error(
        tmp_path, "    attributes:\n      gender:\n        groups:\n          female: [she]\n"
    )
    assert "audits.fairness.attributes.gender.groups" in msg and "at least 2" in msg


def test_group_needs_terms_or_file_not_both(tmp_path):
    msg = load_error(
        tmp_path,
        """    attributes:
      gender:
        groups:
          female: {terms: [she], file: f.txt}
          male: [he]
""",
    )
    assert "exactly one" in msg


def test_template_placeholder_and_label(tmp_path):
    bad_field = (
        GOOD_GROUPS + '        templates:\n          - {text: "{city} grew", label: positive}\n'
    )
    msg = load_error(tmp_path, f"    attributes:\n      gender:\n{bad_field}")
    assert "templates[0].text: placeholder {city}" in msg
    bad_label = GOOD_GROUPS + '        templates:\n          - {text: "{term} grew", label: up}\n'
    msg = load_error(tmp_path, f"    attributes:\n      gender:\n{bad_label}")
    assert "templates[0].label: 'up' is not one of the labels" in msg


def test_same_term_in_two_groups(tmp_path):
    msg = load_error(
        tmp_path,
        "    attributes:\n      gender:\n        groups:\n"
        "          a: [Alex, she]\n          b: [alex, he]\n",
    )
    assert "attributes.gender" in msg and "'alex' is listed in both group 'a' and group 'b'" in msg


def test_nothing_to_audit(tmp_path):
    msg = load_error(tmp_path, "    bootstrap: 200\n")
    assert "at least one of `attributes` or `metadata_columns`" in msg


def test_metadata_column_absent_from_the_data(tmp_path):
    path = suite_with(tmp_path, "    metadata_columns: [region]\n")
    suite = load_suite(path)
    bundle = load_data(suite)
    audit = FairnessAudit(suite.audit_configs()["fairness"])
    ctx = AuditContext(
        model=None, data=bundle, suite=suite, run_dir=tmp_path / "run", seed=0, device="cpu"
    )  # the check runs before the model is touched
    with pytest.raises(SuiteError, match=r"metadata_columns: column 'region' is not in") as info:
        audit.run(ctx)
    assert "data.metadata_columns" in info.value.hint

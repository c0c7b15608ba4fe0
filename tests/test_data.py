"""Every data source and every bad-input case, on small files written by the tests."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from auditkit.data import load_data
from auditkit.errors import DataError, SuiteError
from auditkit.suite import load_suite
from tests.conftest import toy_rows, write_csv, write_suite


def suite_for(folder, data_yaml: str, seed: int = 0):
    return load_suite(
        write_suite(folder, f"name: d\nseed: {seed}\ndata:\n{data_yaml}\naudits:\n  performance:\n")
    )


def test_csv_with_stratified_seeded_split(tmp_path):
    write_csv(tmp_path / "d.csv", toy_rows(300))
    spec = "  source: csv\n  path: d.csv\n  test_size: 0.2\n  validation_size: 0.1"
    a = load_data(suite_for(tmp_path, spec))
    b = load_data(suite_for(tmp_path, spec))
    c = load_data(suite_for(tmp_path, spec, seed=1))
    assert a.label_names == ["negative", "neutral", "positive"]  # inferred, sorted
    assert len(a.test) == 60 and len(a.validation) == 24 and len(a.train) == 216
    # stratified: each class holds exactly its share of the test split
    assert sorted(pd.Series(a.test["label"]).value_counts().tolist()) == [20, 20, 20]
    assert a.report.test_split_made and a.report.validation_split_made
    assert a.fingerprint == b.fingerprint and a.test["text"] == b.test["text"]
    assert a.fingerprint != c.fingerprint
    assert set(a.train["text"]).isdisjoint(a.test["text"])


def test_fingerprint_changes_with_one_label(tmp_path):
    rows = toy_rows(60)
    write_csv(tmp_path / "d.csv", rows)
    write_csv(tmp_path / "t.csv", rows[:10])
    spec = "  source: csv\n  path: d.csv\n  test_path: t.csv\n  validation_size: 0"
    before = load_data(suite_for(tmp_path, spec))
    flipped = [(rows[0][0], "positive" if rows[0][1] != "positive" else "negative"), *rows[1:10]]
    write_csv(tmp_path / "t.csv", flipped)
    after = load_data(suite_for(tmp_path, spec))
    assert before.split_fingerprints["test"] != after.split_fingerprints["test"]
    assert before.split_fingerprints["train"] == after.split_fingerprints["train"]


def test_given_test_split_and_overlap_is_dropped_and_counted(tmp_path):
    rows = toy_rows(60)
    write_csv(tmp_path / "train.csv", rows)
    write_csv(tmp_path / "test.csv", rows[:5] + toy_rows(12, seed=9))
    spec = "  source: csv\n  path: train.csv\n  test_path: test.csv\n  validation_size: 0"
    bundle = load_data(suite_for(tmp_path, spec))
    assert bundle.report.train_test_overlap == 5
    assert bundle.report.dropped["train_test_overlap"] == 5
    assert len(bundle.train) == 55 and not bundle.report.test_split_made
    assert bundle.validation is None


def test_jsonl_with_column_and_label_mapping(tmp_path):
    rows = [
        {"sentence": t, "y": {"negative": 0, "positive": 1, "neutral": 2}[lab]}
        for t, lab in toy_rows(60)
    ]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    spec = """  source: jsonl
  path: d.jsonl
  text_column: sentence
  label_column: y
  labels: [negative, neutral, positive]
  label_map: {0: negative, 1: positive, 2: neutral}"""
    bundle = load_data(suite_for(tmp_path, spec))
    texts = dict(toy_rows(60))
    for text, label in zip(bundle.test["text"], bundle.test["label"], strict=True):
        assert bundle.label_names[label] == texts[text]


def test_parquet_with_metadata_column(tmp_path):
    frame = pd.DataFrame(toy_rows(60), columns=["text", "label"])
    frame["region"] = ["north", "south", "east"] * 20
    frame.to_parquet(tmp_path / "d.parquet")
    spec = "  source: parquet\n  path: d.parquet\n  metadata_columns: [region]"
    bundle = load_data(suite_for(tmp_path, spec))
    assert bundle.metadata_columns == ["region"]
    assert set(bundle.train["region"]) == {"north", "south", "east"}
    lookup = dict(zip(frame["text"], frame["region"], strict=True))
    assert all(
        lookup[t] == r for t, r in zip(bundle.test["text"], bundle.test["region"], strict=True)
    )


def test_phrasebank_latin1_format(tmp_path):
    lines = [f"{t}@{lab}" for t, lab in toy_rows(30)] + ["Caf\u00e9 group's sales rose@positive"]
    (tmp_path / "pb.txt").write_bytes("\r\n".join(lines).encode("latin-1"))
    bundle = load_data(
        suite_for(tmp_path, "  source: phrasebank\n  path: pb.txt\n  validation_size: 0")
    )
    texts = list(bundle.train["text"]) + list(bundle.test["text"])
    assert "Caf\u00e9 group's sales rose" in texts
    assert len(texts) == 31


def test_phrasebank_malformed_line_is_an_error(tmp_path):
    lines = [f"{t}@{lab}" for t, lab in toy_rows(12)] + ["no label on this line"]
    (tmp_path / "pb.txt").write_text("\n".join(lines), encoding="latin-1")
    with pytest.raises(DataError, match=r"without '@label'.*line 13"):
        load_data(suite_for(tmp_path, "  source: phrasebank\n  path: pb.txt\n  on_bad_rows: error"))


def test_hf_source_from_local_folder(tmp_path):
    """The real `datasets.load_dataset` path, exercised on local files (no Hub here)."""
    folder = tmp_path / "hfdata"
    write_csv(folder / "train.csv", toy_rows(60))
    write_csv(folder / "test.csv", toy_rows(15, seed=3))
    spec = f"  source: hf\n  id: {folder}\n  split: train\n  test_split: test\n  validation_size: 0"
    bundle = load_data(suite_for(tmp_path, spec))
    assert len(bundle.test) == 15 and len(bundle.train) == 60
    assert bundle.report.source == "hf"


def test_hf_unreachable_dataset_is_a_clear_error(tmp_path):
    spec = "  source: hf\n  id: nobody/does-not-exist-anywhere"
    with pytest.raises(DataError, match="cannot load Hub dataset 'nobody/does-not-exist-anywhere'"):
        load_data(suite_for(tmp_path, spec))


def test_missing_column_lists_available(tmp_path):
    write_csv(tmp_path / "d.csv", toy_rows(20), header=("sentence", "label"))
    with pytest.raises(DataError) as info:
        load_data(suite_for(tmp_path, "  source: csv\n  path: d.csv"))
    assert "data.text_column names column 'text'" in str(info.value)
    assert "sentence, label" in str(info.value)


@pytest.mark.parametrize(
    ("bad_row", "reason"),
    [
        (("   ", "positive"), "empty_text"),
        (("fine text", "mixed"), "unknown_label"),
        (("x y", ""), "missing_label"),
    ],
)
def test_bad_rows_error_or_drop_and_count(tmp_path, bad_row, reason):
    write_csv(tmp_path / "d.csv", [*toy_rows(30), bad_row])
    labels = "  labels: [negative, positive, neutral]"
    with pytest.raises(DataError) as info:
        load_data(
            suite_for(tmp_path, f"  source: csv\n  path: d.csv\n{labels}\n  on_bad_rows: error")
        )
    assert reason.replace("_", " ") in str(info.value) and "line 32" in str(info.value)
    bundle = load_data(
        suite_for(tmp_path, f"  source: csv\n  path: d.csv\n{labels}\n  on_bad_rows: drop")
    )
    assert bundle.report.dropped == {reason: 1}
    assert bundle.report.rows_read["train"] == 31
    assert any(reason.replace("_", " ") in w for w in bundle.report.warnings)


def test_unknown_label_error_hints_at_label_map(tmp_path):
    write_csv(tmp_path / "d.csv", [*toy_rows(30), ("text here", "bullish")])
    spec = (
        "  source: csv\n  path: d.csv\n  labels: [negative, positive, neutral]\n"
        "  on_bad_rows: error"
    )
    with pytest.raises(DataError) as info:
        load_data(suite_for(tmp_path, spec))
    assert "'bullish'" in str(info.value) and "label_map" in str(info.value)


def test_suite_label_absent_from_data_is_an_error(tmp_path):
    write_csv(tmp_path / "d.csv", toy_rows(30))
    spec = "  source: csv\n  path: d.csv\n  labels: [negative, positive, neutral, mixed]"
    with pytest.raises(DataError, match=r"(?s)lists \['mixed'\].*disagree"):
        load_data(suite_for(tmp_path, spec))


def test_duplicates_dropped_and_counted_or_kept(tmp_path):
    rows = toy_rows(40)
    write_csv(
        tmp_path / "d.csv",
        rows + rows[:4] + [(rows[5][0], "neutral" if rows[5][1] != "neutral" else "positive")],
    )
    dropped = load_data(suite_for(tmp_path, "  source: csv\n  path: d.csv"))
    assert dropped.report.duplicates_found == 5
    assert dropped.report.conflicting_duplicates == 1
    assert dropped.report.dropped == {"duplicate": 5}
    kept = load_data(suite_for(tmp_path, "  source: csv\n  path: d.csv\n  duplicates: keep"))
    assert kept.report.dropped == {} and sum(kept.report.split_sizes.values()) == 45


def test_sample_takes_stratified_subsets(tmp_path):
    write_csv(tmp_path / "d.csv", toy_rows(600))
    spec = "  source: csv\n  path: d.csv\n  validation_size: 0\n  sample: {train: 90, test: 30}"
    bundle = load_data(suite_for(tmp_path, spec))
    assert len(bundle.train) == 90 and len(bundle.test) == 30
    assert sorted(pd.Series(bundle.test["label"]).value_counts().tolist()) == [10, 10, 10]


def test_split_left_empty_by_cleaning_is_an_error(tmp_path):
    write_csv(tmp_path / "d.csv", toy_rows(30))
    write_csv(tmp_path / "t.csv", [("", "positive"), ("text", "bullish")])
    spec = (
        "  source: csv\n  path: d.csv\n  test_path: t.csv\n"
        "  labels: [negative, positive, neutral]\n  on_bad_rows: drop"
    )
    with pytest.raises(DataError, match="test split has no usable rows") as info:
        load_data(suite_for(tmp_path, spec))
    assert "empty_text" in str(info.value) and "unknown_label" in str(info.value)


def test_sample_validation_takes_a_stratified_seeded_subset(tmp_path):
    write_csv(tmp_path / "d.csv", toy_rows(600))
    spec = (
        "  source: csv\n  path: d.csv\n  validation_size: 0.2\n"
        "  sample: {train: 90, validation: 30, test: 30}"
    )
    a = load_data(suite_for(tmp_path, spec))
    b = load_data(suite_for(tmp_path, spec))
    assert len(a.validation) == 30 and len(a.train) == 90 and len(a.test) == 30
    assert sorted(pd.Series(a.validation["label"]).value_counts().tolist()) == [10, 10, 10]
    assert a.validation["text"] == b.validation["text"]  # seeded
    assert a.report.split_sizes["validation"] == 30
    assert any("validation subsampled to 30 of 96 rows" in w for w in a.report.warnings)


def test_sample_validation_without_a_validation_split_is_said(tmp_path):
    write_csv(tmp_path / "d.csv", toy_rows(300))
    spec = "  source: csv\n  path: d.csv\n  validation_size: 0\n  sample: {validation: 30}"
    bundle = load_data(suite_for(tmp_path, spec))
    assert bundle.validation is None
    assert any(
        "data.sample.validation is set, but there is no" in w for w in bundle.report.warnings
    )


def latin1_csv(path, bad_row: int, n: int):
    """A CSV in Latin-1 with one non-ASCII text at data row `bad_row` (line bad_row + 2)."""
    rows = toy_rows(n)
    rows[bad_row] = ("caf\u00e9 sales rose", "positive")
    write_csv(path, rows)
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    return path


def test_latin1_csv_error_names_the_line_and_data_encoding(tmp_path):
    # ~300 KB, past pandas' read buffer, so the line must come from the file's own offset
    latin1_csv(tmp_path / "d.csv", bad_row=4000, n=5000)
    with pytest.raises(DataError) as info:
        load_data(suite_for(tmp_path, "  source: csv\n  path: d.csv"))
    message = str(info.value)
    assert f"{tmp_path / 'd.csv'}: line 4002: byte 0xe9 is not valid utf-8" in message
    assert "set `data.encoding` (e.g. latin-1 or cp1252)" in message
    bundle = load_data(suite_for(tmp_path, "  source: csv\n  path: d.csv\n  encoding: latin-1"))
    texts = [*bundle.train["text"], *bundle.test["text"], *bundle.validation["text"]]
    assert "caf\u00e9 sales rose" in texts


def test_latin1_jsonl_error_names_the_line(tmp_path):
    lines = [json.dumps({"text": t, "label": lab}) for t, lab in toy_rows(30)]
    lines[2] = '{"text": "caf\u00e9 sales rose", "label": "positive"}'
    (tmp_path / "d.jsonl").write_bytes("\n".join(lines).encode("latin-1"))
    with pytest.raises(DataError, match=r"d\.jsonl: line 3: byte 0xe9 is not valid utf-8"):
        load_data(suite_for(tmp_path, "  source: jsonl\n  path: d.jsonl"))


def test_utf8_bom_is_tolerated_in_csv_and_jsonl_by_default(tmp_path):
    rows = toy_rows(30)
    write_csv(tmp_path / "d.csv", rows)
    (tmp_path / "d.csv").write_bytes(b"\xef\xbb\xbf" + (tmp_path / "d.csv").read_bytes())
    lines = "\n".join(json.dumps({"text": t, "label": lab}) for t, lab in rows)
    (tmp_path / "d.jsonl").write_bytes(lines.encode("utf-8-sig"))
    for source in ("csv", "jsonl"):
        for encoding in ("", "\n  encoding: utf-8"):
            spec = f"  source: {source}\n  path: d.{source}\n  validation_size: 0{encoding}"
            bundle = load_data(suite_for(tmp_path, spec))
            assert sorted([*bundle.train["text"], *bundle.test["text"]]) == sorted(dict(rows))


@pytest.mark.parametrize(
    ("data_yaml", "expected"),
    [
        ("  source: csv\n  path: d.csv\n  encoding: latin-9x", "unknown encoding 'latin-9x'"),
        ("  source: parquet\n  path: d.csv\n  encoding: latin-1", "source 'parquet' ignores it"),
    ],
)
def test_encoding_that_cannot_apply_is_a_suite_error(tmp_path, data_yaml, expected):
    write_csv(tmp_path / "d.csv", toy_rows(30))
    with pytest.raises(SuiteError, match=expected):
        suite_for(tmp_path, data_yaml)

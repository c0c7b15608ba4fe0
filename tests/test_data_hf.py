"""Hub datasets whose label column is a ClassLabel: ids read as the feature's names, -1 as no label.

The files are written by `datasets` itself (`Dataset.to_parquet` keeps the ClassLabel in the
parquet metadata) and read back through the `hf` source's own `load_dataset` call on a folder.
"""

from __future__ import annotations

import pytest

from auditkit.data import load_data
from auditkit.errors import DataError
from auditkit.suite import load_suite
from tests.conftest import toy_rows, write_suite

# Not the sorted order, and not toy_rows' order: a test can tell ids, names and orders apart.
CLASSES = ["positive", "neutral", "negative"]


def write_classlabel_folder(folder, splits: dict[str, list[tuple[str, str | None]]]):
    """Parquet files with a ClassLabel `label` column; a label of None is written as -1."""
    import datasets

    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=CLASSES)}
    )
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        ids = [-1 if label is None else CLASSES.index(label) for _, label in rows]
        data = {"text": [t for t, _ in rows], "label": ids}
        datasets.Dataset.from_dict(data, features=features).to_parquet(folder / f"{split}.parquet")
    # the feature survives the round trip through the folder loader
    back = datasets.load_dataset(str(folder), split="train")
    assert back.features["label"] == datasets.ClassLabel(names=CLASSES)
    return folder


def hf_suite(tmp_path, folder, extra: str = ""):
    spec = (
        f"  source: hf\n  id: {folder}\n  split: train\n  test_split: test\n"
        f"  validation_size: 0\n{extra}"
    )
    return load_suite(
        write_suite(tmp_path, f"name: d\nseed: 0\ndata:\n{spec}\naudits:\n  performance:\n")
    )


def with_no_label(rows, at):
    """`rows` with the label of each index in `at` replaced by -1 (no label)."""
    return [(t, None if i in at else lab) for i, (t, lab) in enumerate(rows)]


def names_of(split, bundle):
    return dict(zip(split["text"], (bundle.label_names[i] for i in split["label"]), strict=True))


def test_classlabel_ids_read_as_names_in_classlabel_order(tmp_path):
    train, test = toy_rows(60), toy_rows(15, seed=3)
    folder = write_classlabel_folder(tmp_path / "hub", {"train": train, "test": test})
    bundle = load_data(hf_suite(tmp_path, folder))
    assert bundle.label_names == CLASSES  # class ids follow the ClassLabel, not sorted names
    assert bundle.report.dropped == {}
    assert names_of(bundle.train, bundle) == dict(train)
    assert names_of(bundle.test, bundle) == dict(test)


def test_classlabel_no_label_rows_are_an_error_naming_the_row(tmp_path):
    folder = write_classlabel_folder(
        tmp_path / "hub",
        {"train": with_no_label(toy_rows(60), {7}), "test": toy_rows(15, seed=3)},
    )
    with pytest.raises(DataError) as info:
        load_data(hf_suite(tmp_path, folder, "  on_bad_rows: error\n"))
    message = str(info.value)
    assert "train split" in message and "1 missing label (row 7 (label -1: no label))" in message
    assert "unknown label" not in message and "on_bad_rows: drop" in message


def test_classlabel_no_label_rows_are_dropped_and_counted(tmp_path):
    train = with_no_label(toy_rows(60), {0, 7, 8})
    test = with_no_label(toy_rows(15, seed=3), {14})
    folder = write_classlabel_folder(tmp_path / "hub", {"train": train, "test": test})
    bundle = load_data(hf_suite(tmp_path, folder, "  on_bad_rows: drop\n"))
    assert bundle.report.dropped == {"missing_label": 4}
    assert len(bundle.train) == 57 and len(bundle.test) == 14
    assert names_of(bundle.train, bundle) == {t: lab for t, lab in train if lab is not None}
    assert any("ClassLabel -1" in w for w in bundle.report.warnings)


def test_classlabel_label_map_by_id_or_name_renames_and_no_label_stays_missing(tmp_path):
    """The README's `label_map: {0: ...}` renames by id; -1 never becomes the last class."""
    train = with_no_label(toy_rows(60), {4})
    folder = write_classlabel_folder(
        tmp_path / "hub", {"train": train, "test": toy_rows(15, seed=3)}
    )
    short = {"positive": "pos", "neutral": "neu", "negative": "neg"}
    for label_map in ("{0: pos, 1: neu, 2: neg}", "{positive: pos, neutral: neu, 2: neg}"):
        extra = f"  label_map: {label_map}\n"
        with pytest.raises(DataError, match=r"missing label \(row 4 \(label -1"):
            load_data(hf_suite(tmp_path, folder, extra + "  on_bad_rows: error\n"))
        bundle = load_data(hf_suite(tmp_path, folder, extra + "  on_bad_rows: drop\n"))
        assert bundle.label_names == ["pos", "neu", "neg"]
        assert bundle.report.dropped == {"missing_label": 1}
        assert names_of(bundle.train, bundle) == {t: short[lab] for t, lab in train if lab}


def test_classlabel_with_labels_listing_names_sets_the_class_order(tmp_path):
    folder = write_classlabel_folder(
        tmp_path / "hub", {"train": toy_rows(60), "test": toy_rows(15, seed=3)}
    )
    bundle = load_data(hf_suite(tmp_path, folder, "  labels: [negative, neutral, positive]\n"))
    assert bundle.label_names == ["negative", "neutral", "positive"]
    assert names_of(bundle.test, bundle) == dict(toy_rows(15, seed=3))


def test_classlabel_labels_given_as_ids_is_an_error_naming_the_names(tmp_path):
    folder = write_classlabel_folder(
        tmp_path / "hub", {"train": toy_rows(30), "test": toy_rows(9, seed=3)}
    )
    with pytest.raises(DataError, match=r"ids of the ClassLabel column 'label'") as info:
        load_data(hf_suite(tmp_path, folder, "  labels: ['0', '1', '2']\n"))
    assert str(CLASSES) in str(info.value) and "label_map" in str(info.value)


@pytest.mark.parametrize("key", ["-1", "postive"])
def test_classlabel_label_map_key_that_is_no_class_is_an_error(tmp_path, key):
    folder = write_classlabel_folder(
        tmp_path / "hub", {"train": toy_rows(30), "test": toy_rows(9, seed=3)}
    )
    with pytest.raises(DataError, match=rf"label_map key '{key}' is neither a class id \(0..2\)"):
        load_data(hf_suite(tmp_path, folder, f"  label_map: {{'{key}': good}}\n"))


def test_classlabel_unlabelled_test_split_is_an_error_that_says_so(tmp_path):
    """A Hub test split of -1 labels only (GLUE's) leaves nothing to score: say why."""
    test = with_no_label(toy_rows(15, seed=3), set(range(15)))
    folder = write_classlabel_folder(tmp_path / "hub", {"train": toy_rows(60), "test": test})
    with pytest.raises(DataError, match="test split has no usable rows") as info:
        load_data(hf_suite(tmp_path, folder, "  on_bad_rows: drop\n"))
    assert "'missing_label': 15" in str(info.value) and "rows labelled -1" in str(info.value)

"""Dataset sources -> DatasetBundle (train, validation, test, label names, fingerprint).

Every row that is dropped is counted by reason and reported; with `on_bad_rows: error` the
first bad rows are shown instead. Nothing is dropped silently.

- `loading`: `load_data`, the entry point, and the fingerprints;
- `readers`: csv, jsonl, parquet, phrasebank files and Hub datasets -> frames;
- `labels`: raw values -> label names (`data.label_map`, ClassLabel ids);
- `cleaning`: column checks, bad rows, duplicates and train/test overlap;
- `splits`: the seeded, stratified test/validation splits and `data.sample`;
- `bundle`: `DatasetBundle` and `DataReport`.
"""

from auditkit.data.bundle import DataReport, DatasetBundle
from auditkit.data.labels import NO_LABEL, LabelReader
from auditkit.data.loading import load_data
from auditkit.data.splits import SPLITS

__all__ = ["NO_LABEL", "SPLITS", "DataReport", "DatasetBundle", "LabelReader", "load_data"]

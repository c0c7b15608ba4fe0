"""What loading returns: the DatasetBundle, and the DataReport of what it found and did."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasets import Dataset

log = logging.getLogger("auditkit.data")  # the name it logged under as one module


@dataclass
class DataReport:
    """What loading found and did; goes into results.json as plain data."""

    source: str
    origin: str
    rows_read: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    duplicates_found: int = 0
    conflicting_duplicates: int = 0
    train_test_overlap: int = 0
    test_split_made: bool = False
    validation_split_made: bool = False
    split_sizes: dict[str, int] = field(default_factory=dict)
    class_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def drop(self, reason: str, n: int) -> None:
        if n:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(n)

    def warn(self, message: str) -> None:
        log.warning(message)
        self.warnings.append(message)


@dataclass
class DatasetBundle:
    train: Dataset
    test: Dataset
    validation: Dataset | None
    label_names: list[str]
    metadata_columns: list[str]
    fingerprint: str
    split_fingerprints: dict[str, str]
    report: DataReport

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

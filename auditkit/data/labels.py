"""Raw label values -> label names: `data.label_map`, Hub ClassLabel ids, and `data.labels`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditkit.data.bundle import DataReport
from auditkit.errors import DataError
from auditkit.suite import DataSpec

NO_LABEL = "-1"  # a Hub ClassLabel's id for "no label" (e.g. GLUE test splits)


def raw_label(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


@dataclass
class LabelReader:
    """Raw label text -> label name, or None for a missing label.

    Plain labels go through `data.label_map` (raw value -> name). A Hub ClassLabel column holds
    ids: id i reads as the feature's i-th name, and `data.label_map` may rename classes keyed by
    id or by name (an id wins where a key is both). -1 (and null) is the Hub's "no label": a
    missing label, never a class.
    """

    label_map: dict[str, str]
    targets: list[str] | None = None  # per ClassLabel id: the name it reads as, after label_map

    @classmethod
    def build(
        cls, spec: DataSpec, class_names: list[str] | None, report: DataReport
    ) -> LabelReader:
        """Resolve `data.label_map` against a ClassLabel's ids and names; a key that is
        neither is an error, not a rule that never applies."""
        if class_names is None:
            return cls(dict(spec.label_map))
        by_name = {name: i for i, name in enumerate(class_names)}
        targets = list(class_names)
        keyed: dict[int, str] = {}
        for key, target in spec.label_map.items():
            if key.isdigit() and int(key) < len(class_names):
                i = int(key)
                if by_name.get(key, i) != i:
                    report.warn(
                        f"data.label_map key {key!r} is read as ClassLabel id {i} "
                        f"({class_names[i]!r}), not as the class named {key!r} (id {by_name[key]})"
                    )
            elif key in by_name:
                i = by_name[key]
            else:
                no_label = key == NO_LABEL
                raise DataError(
                    f"data.label_map key {key!r} is neither a class id (0..{len(class_names) - 1}) "
                    f"nor a class name of the ClassLabel column {spec.label_column!r} "
                    f"{class_names}",
                    hint="-1 is the Hub's 'no label': such rows are missing labels, handled as "
                    "`data.on_bad_rows` says; remove the key"
                    if no_label
                    else "key `data.label_map` by the ClassLabel's ids or names",
                )
            if i in keyed and keyed[i] != target:
                raise DataError(
                    f"data.label_map maps ClassLabel class {i} ({class_names[i]!r}) twice: "
                    f"to {keyed[i]!r} and to {target!r}",
                    hint="keep one key per class (its id or its name)",
                )
            keyed[i] = targets[i] = target
        return cls(dict(spec.label_map), targets)

    def __call__(self, raw: str | None) -> str | None:
        if raw is None:
            return None
        if self.targets is None:
            return self.label_map.get(raw, raw)
        if raw == NO_LABEL:
            return None
        if raw.isdigit() and int(raw) < len(self.targets):
            return self.targets[int(raw)]
        return raw  # not an id of the ClassLabel: an unknown label, reported as such


def find_label_names(
    spec: DataSpec, frames: dict[str, pd.DataFrame], reader: LabelReader
) -> list[str]:
    if spec.labels:
        if reader.targets is not None:
            n = len(reader.targets)
            ids = [x for x in spec.labels if x not in reader.targets and x.isdigit() and int(x) < n]
            if ids:
                raise DataError(
                    f"data.labels lists {ids}, which are ids of the ClassLabel column "
                    f"{spec.label_column!r}; its rows read as class names {reader.targets}",
                    hint="list class names in `data.labels`, or rename classes with "
                    "`data.label_map` (e.g. {0: negative})",
                )
        return list(spec.labels)
    if reader.targets is not None:
        return list(dict.fromkeys(reader.targets))  # the ClassLabel's order
    found = set()
    for frame in frames.values():
        for value in frame[spec.label_column]:
            name = reader(raw_label(value))
            if name is not None:
                found.add(name)
    if len(found) < 2:
        raise DataError(
            f"data: found {len(found)} distinct label(s) ({sorted(found)}); need at least 2",
            hint="check `data.label_column`",
        )
    return sorted(found)

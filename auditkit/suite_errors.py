"""Suite errors that name the file, the key path, the line, the value found and what was expected.

`line_map` maps each key path of a YAML file to its line (and rejects duplicate keys, which
PyYAML would silently collapse); `format_errors` writes pydantic's validation errors with them.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from auditkit.api.registry import did_you_mean
from auditkit.errors import SuiteError


def line_map(path: Path, text: str) -> dict[tuple, int]:
    """Key path -> 1-based line, and a loud error on duplicate keys (PyYAML keeps the last)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SuiteError(f"{path}{where}: not valid YAML: {problem}") from None
    lines: dict[tuple, int] = {}

    def walk(node: yaml.Node, loc: tuple) -> None:
        lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value
                if key in seen:
                    raise SuiteError(
                        f"{path}: {loc_str((*loc, key))}: duplicate key {key!r} "
                        f"(lines {seen[key]} and {key_node.start_mark.line + 1})",
                        hint="YAML would silently keep only the last one; remove one of them",
                    )
                seen[key] = key_node.start_mark.line + 1
                lines[(*loc, key)] = seen[key]  # errors point at the key, not its value
                walk(value_node, (*loc, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*loc, i))

    if root is not None:
        walk(root, ())
    return lines


def loc_str(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def line_suffix(lines: dict, loc: tuple) -> str:
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return f" (line {lines[loc[:end]]})"
    return ""


def value_kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def format_errors(
    path: Path | None,
    exc: ValidationError,
    lines: dict,
    root: type[BaseModel],
    prefix: tuple,
    union_tags: set[str],
) -> str:
    """One line per error: file, key path, line, and what was wrong (`union_tags`: the model
    names pydantic adds to the key path of a union's members)."""
    where = f"{path}: " if path else ""
    msgs = []
    for err in exc.errors():
        loc = prefix + tuple(p for p in err["loc"] if not _is_union_tag(p, union_tags))
        inner = tuple(p for p in err["loc"] if not _is_union_tag(p, union_tags))
        head = f"{where}{loc_str(loc)}{line_suffix(lines, loc)}"
        if err["type"] == "extra_forbidden":
            allowed = allowed_keys(root, inner[:-1])
            key = str(inner[-1])
            hint = did_you_mean(key, allowed)
            expected = f" Expected one of: {', '.join(allowed)}." if allowed else ""
            msgs.append(f"{head}: unknown key {key!r}.{hint}{expected}")
        elif err["type"] == "missing":
            msgs.append(f"{head}: required key is missing")
        else:
            value = err.get("input")
            shown = repr(value) if len(repr(value)) < 80 else repr(value)[:77] + "..."
            msgs.append(f"{head}: {err['msg']} (got {shown})")
    return "invalid suite:\n  " + "\n  ".join(msgs)


def _is_union_tag(part: Any, names: set[str]) -> bool:
    # pydantic adds e.g. 'DataSpec' or 'dict[str,any]' to the loc of union members.
    return isinstance(part, str) and ("[" in part or part in names)


def allowed_keys(root: type[BaseModel], loc: tuple) -> list[str]:
    cls: Any = root
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if isinstance(part, int):
            continue
        field = getattr(cls, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        if typing.get_origin(annotation) is dict and parts:  # e.g. gate.checks.<metric>
            annotation = typing.get_args(annotation)[1]
            parts.pop(0)
        cls = model_in(annotation)
        if cls is None:
            return []
    return sorted(getattr(cls, "model_fields", {}))


def model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        for arg in typing.get_args(annotation):
            found = model_in(arg)
            if found is not None:
                return found
    return None

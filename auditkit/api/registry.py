"""A small generic registry with lazy entries and "did you mean" errors.

Entries are registered as ``"module:Class"`` strings so that listing or validating audits never
imports torch, TextAttack or captum; the class is imported on first `get`.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator
from typing import Generic, TypeVar

from auditkit.errors import UnknownNameError

T = TypeVar("T")


def did_you_mean(name: str, choices: list[str]) -> str:
    """A suggestion suffix for an unknown name, or an empty string."""
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    return f" Did you mean: {', '.join(repr(c) for c in close)}?" if close else ""


class Registry(Generic[T]):
    """Maps names to classes that must subclass `base`."""

    def __init__(self, kind: str, base: type[T] | str) -> None:
        self.kind = kind
        self._base = base
        self._entries: dict[str, type[T] | str] = {}

    @property
    def base(self) -> type[T]:
        if isinstance(self._base, str):
            self._base = _import(self._base)
        return self._base  # type: ignore[return-value]

    def register(self, name: str, target: type[T] | str | None = None):
        """Register `target` under `name`; without a target, works as a class decorator."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if target is not None:
            self._entries[name] = target
            return target

        def decorator(cls: type[T]) -> type[T]:
            self._entries[name] = cls
            return cls

        return decorator

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> type[T]:
        if name not in self._entries:
            raise UnknownNameError(
                f"Unknown {self.kind} {name!r}.{did_you_mean(name, self.names())}",
                hint=f"registered {self.kind}s: {', '.join(self.names())}",
            )
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = _import(entry)
            self._entries[name] = entry
        if not (isinstance(entry, type) and issubclass(entry, self.base)):
            raise TypeError(f"{self.kind} {name!r} is {entry!r}, not a subclass of {self.base!r}")
        return entry


def _import(path: str):
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


AUDITS: Registry = Registry("audit", base="auditkit.api.audit:Audit")
AUDITS.register("performance", "auditkit.audits.performance:PerformanceAudit")
AUDITS.register("robustness", "auditkit.audits.robustness:RobustnessAudit")
AUDITS.register("efficiency", "auditkit.audits.efficiency:EfficiencyAudit")
AUDITS.register("fairness", "auditkit.audits.fairness:FairnessAudit")
AUDITS.register("explanations", "auditkit.audits.explanations:ExplanationsAudit")


def headline(audit: str) -> tuple[str, ...] | None:
    """The metric leaves an audit declares as its headline (`Audit.headline`), or None for an
    audit that is not registered or declares none (its readers then show every metric)."""
    if audit not in AUDITS:
        return None
    try:
        return AUDITS.get(audit).headline or None
    except Exception:  # a plugin that cannot be imported here: fall back to all its metrics
        return None

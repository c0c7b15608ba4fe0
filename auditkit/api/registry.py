"""A small generic registry with lazy entries and "did you mean" errors.

Entries are registered as ``"module:Class"`` strings so that listing or validating audits never
imports torch, TextAttack or captum; the class is imported on first `get`. A separate package
adds an audit through the ``auditkit.audits`` entry-point group, e.g. in its pyproject.toml::

    [project.entry-points."auditkit.audits"]
    toxicity = "my_package.audit:ToxicityAudit"

Entry points are read on first use, with the same lazy "module:Class" strings.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Generic, TypeVar

from auditkit.errors import UnknownNameError

if TYPE_CHECKING:
    from auditkit.api.outputs import Outputs

T = TypeVar("T")
log = logging.getLogger(__name__)


def did_you_mean(name: str, choices: list[str]) -> str:
    """A suggestion suffix for an unknown name, or an empty string."""
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    return f" Did you mean: {', '.join(repr(c) for c in close)}?" if close else ""


class Registry(Generic[T]):
    """Maps names to classes that must subclass `base`."""

    def __init__(self, kind: str, base: type[T] | str, entry_points: str | None = None) -> None:
        self.kind = kind
        self._base = base
        self._entries: dict[str, type[T] | str] = {}
        self._group = entry_points  # read once, on first use
        self.plugins: dict[str, str] = {}  # name -> the distribution that registered it

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

    def _load_entry_points(self) -> None:
        group, self._group = self._group, None
        if group is None:
            return
        from importlib.metadata import entry_points

        for ep in entry_points(group=group):
            dist = getattr(ep.dist, "name", None) or "an installed package"
            if ep.name in self._entries:
                log.warning(
                    "%s %r from %s is not registered: auditkit already has one of that name",
                    self.kind,
                    ep.name,
                    dist,
                )
                continue
            self._entries[ep.name] = ep.value
            self.plugins[ep.name] = dist

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._entries)

    def ordered(self) -> list[str]:
        """Names in the order they were registered: auditkit's own, then plugins'. Readers
        list audits in this order."""
        self._load_entry_points()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> type[T]:
        if name not in self:
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


AUDITS: Registry = Registry(
    "audit", base="auditkit.api.audit:Audit", entry_points="auditkit.audits"
)
# The order readers list audits in (report, dashboard, CLI `ls`): cheapest questions first.
AUDITS.register("performance", "auditkit.audits.performance:PerformanceAudit")
AUDITS.register("robustness", "auditkit.audits.robustness:RobustnessAudit")
AUDITS.register("fairness", "auditkit.audits.fairness:FairnessAudit")
AUDITS.register("explanations", "auditkit.audits.explanations:ExplanationsAudit")
AUDITS.register("efficiency", "auditkit.audits.efficiency:EfficiencyAudit")
AUDITS.register("slices", "auditkit.audits.slices:SlicesAudit")


def outputs(audit: str) -> Outputs:
    """What `audit` declares it writes (`Audit.outputs`). An audit that is not installed here,
    or cannot be imported, gets an empty declaration: readers then title it from its name and
    show all its metrics, so a results file always renders."""
    from auditkit.api.outputs import Outputs

    if audit not in AUDITS:
        return Outputs()
    try:
        return AUDITS.get(audit).outputs
    except Exception as exc:  # a plugin that cannot be imported by this reader
        log.debug("audit %r: declarations unavailable (%s: %s)", audit, type(exc).__name__, exc)
        return Outputs()


def audit_order(present: list[str] | None = None) -> list[str]:
    """Every registered audit in registration order, then any others in `present` (a results
    file from an audit not installed here) in their own order."""
    names = AUDITS.ordered()
    return names + [n for n in present or () if n not in names]

"""auditkit's own metrics as `evaluate` modules, loadable offline by path, so another project
computes them with the same definition: `evaluate.load(auditkit.evaluate_modules.path("ece"))`.
"""

from __future__ import annotations

from pathlib import Path

MODULES = ("ece",)


def path(name: str) -> str:
    """The folder of a shipped module (evaluate loads a folder holding `<name>.py`)."""
    if name not in MODULES:
        raise KeyError(f"no shipped evaluate module {name!r}; shipped: {list(MODULES)}")
    return str(Path(__file__).resolve().parent / name)

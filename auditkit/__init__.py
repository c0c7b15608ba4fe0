"""auditkit: fine-tune and audit transformer text classifiers before they ship.

Importing the package is cheap on purpose: torch, transformers, TextAttack and captum load
only when a stage or an audit that needs them runs.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Run", "__version__", "audit", "run"]


def __getattr__(name: str):
    """`auditkit.run`, `auditkit.audit` and `auditkit.Run` (auditkit.api.session), imported on
    first use."""
    if name in ("run", "audit", "Run"):
        from auditkit.api import session

        return getattr(session, name)
    raise AttributeError(f"module 'auditkit' has no attribute {name!r}")

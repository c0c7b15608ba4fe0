"""Errors a user can act on.

Every error auditkit raises on bad input says what was wrong, where, and how to fix it. The CLI
prints these without a traceback and exits with code 2.
"""

from __future__ import annotations


class AuditkitError(Exception):
    """Base class: `message` says what and where, `hint` says how to fix it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class SuiteError(AuditkitError):
    """The suite file is malformed or names something that does not exist."""


class DataError(AuditkitError):
    """The dataset cannot be read or fails validation."""


class ModelNotFoundError(AuditkitError):
    """No model could be found in any of the places auditkit looks."""


class UnknownNameError(AuditkitError, KeyError):
    """A registry lookup for a name that is not registered."""

    def __str__(self) -> str:  # KeyError would repr() the message otherwise
        return AuditkitError.__str__(self)

"""auditkit: fine-tune and audit transformer text classifiers before they ship.

Importing the package is cheap on purpose: torch, transformers, TextAttack and captum load
only when a stage or an audit that needs them runs.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

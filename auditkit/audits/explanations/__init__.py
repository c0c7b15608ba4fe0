"""Explanations audit: captum attributions per example, scored for faithfulness against random.

An attribution is only worth showing when removing the words it ranks highest really changes
the prediction, so every method gets ERASER comprehensiveness and sufficiency and is compared
with a random ranking of the same words. Names follow docs/audit-outputs.md (`explanations`).

Predictions and every perturbed text go through the ModelHandle; captum needs the module and
tokenizer themselves for gradients (DESIGN: the handle exposes them for this).

- `config`: `ExplanationsConfig`;
- `audit`: the registered `ExplanationsAudit`, and the global `top_tokens_table`;
- `attribution`: captum attributions in near-equal-length batches, adaptive integrated gradients;
- `methods`, `quadrature`, `words`, `faithfulness`, `select`: what the audit uses.
"""

from auditkit.audits.explanations.audit import ExplanationsAudit
from auditkit.audits.explanations.config import ExplanationsConfig

__all__ = ["ExplanationsAudit", "ExplanationsConfig"]

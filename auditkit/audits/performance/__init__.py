"""Performance audit: accuracy, F1, per-class scores, confusion matrix and calibration, with CIs.

- `config`: `PerformanceConfig`;
- `audit`: the registered `PerformanceAudit`, and `evaluate_predictions` / `write_predictions`,
  which score saved probabilities without a model.
"""

from auditkit.audits.performance.audit import (
    PerformanceAudit,
    evaluate_predictions,
    write_predictions,
)
from auditkit.audits.performance.config import PerformanceConfig

__all__ = ["PerformanceAudit", "PerformanceConfig", "evaluate_predictions", "write_predictions"]

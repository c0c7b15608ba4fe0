"""Performance audit: accuracy, F1, per-class scores, confusion matrix and calibration, with CIs.

- `config`: `PerformanceConfig`;
- `audit`: the registered `PerformanceAudit`; `evaluate_predictions`, `add_temperature_scaling`
  and `add_conformal_sets`, which score saved probabilities without a model; `write_predictions`;
- `calibration`: temperature scaling; `prediction_sets`: conformal sets' metrics and tables
  (the method itself is auditkit/conformal.py).
"""

from auditkit.audits.performance.audit import (
    PerformanceAudit,
    add_conformal_sets,
    add_temperature_scaling,
    evaluate_predictions,
    write_predictions,
)
from auditkit.audits.performance.config import PerformanceConfig

__all__ = [
    "PerformanceAudit",
    "PerformanceConfig",
    "add_conformal_sets",
    "add_temperature_scaling",
    "evaluate_predictions",
    "write_predictions",
]

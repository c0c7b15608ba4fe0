"""Fairness audit: counterfactual identity swaps, fairlearn group metrics, measured mitigation.

- `terms`: group term lists and grammar-preserving whole-word swaps;
- `probes`: the counterfactual probe set (test sentences + EEC-style templates);
- `metrics`: fairlearn MetricFrame wrapping, flip rates, |delta p|, bootstrap CIs;
- `mitigation`: counterfactual augmentation, measured on held-out probes;
- `audit`: the registered `FairnessAudit`.
"""

from auditkit.audits.fairness.audit import FairnessAudit
from auditkit.audits.fairness.config import FairnessConfig

__all__ = ["FairnessAudit", "FairnessConfig"]

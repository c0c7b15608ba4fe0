"""Fairness audit: counterfactual identity swaps, fairlearn group metrics, measured mitigation.

- `terms`: group term lists and grammar-preserving whole-word swaps;
- `probes`: the counterfactual probe set (test sentences + EEC-style templates);
- `metrics`: fairlearn MetricFrame wrapping, flip rates, |delta p|, bootstrap CIs;
- `mitigation`: counterfactual augmentation, measured on held-out probes;
- `postprocess`: fairlearn's ThresholdOptimizer on a binary view;
- `config`: `FairnessConfig`, and the attributes it names resolved to term lists;
- `tables`: the rows collected per attribute, built into the audit's tables;
- `audit`: the registered `FairnessAudit`.
"""

from auditkit.audits.fairness.audit import FairnessAudit
from auditkit.audits.fairness.config import FairnessConfig

__all__ = ["FairnessAudit", "FairnessConfig"]

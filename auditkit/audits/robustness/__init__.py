"""Robustness audit: TextAttack recipes, CheckList-style invariance, adversarial training.

Attacks run on a seeded, class-stratified sample of the *test* split, through auditkit's
batched attacker (`attacker.py`), and every successful attack is re-scored for meaning
preservation (`validity.py`). With adversarial training, adversarial examples are generated
from *training* rows only, the base model is fine-tuned on train + those rows, and the same
held-out test sample is attacked again.

The word lists and WordNet the recipes read come from auditkit's own cache, built offline unless
`download_resources` is set (`offline.py`); the run's manifest names each one with a sha256
(`provenance.py`), so two runs can be checked for the same inputs.

- `config`: `RobustnessConfig` and `AdversarialTrainingConfig`;
- `audit`: the registered `RobustnessAudit`, and `stratified_sample`;
- `attacker`: TextAttack recipes run on many examples at once, their model queries batched;
- `recipes`, `invariance`, `validity`, `summary`, `offline`, `provenance`: what the audit uses.
"""

from auditkit.audits.robustness.audit import RobustnessAudit, stratified_sample
from auditkit.audits.robustness.config import AdversarialTrainingConfig, RobustnessConfig

__all__ = [
    "AdversarialTrainingConfig",
    "RobustnessAudit",
    "RobustnessConfig",
    "stratified_sample",
]

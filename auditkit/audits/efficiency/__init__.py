"""Efficiency audit: latency, throughput, memory, energy and the speed/accuracy trade-offs.

For each variant of the fine-tuned model (fp32, bf16 autocast, dynamic int8, torch.compile) and
each batch size it times real `predict_proba` calls on test-set batches, then scores the variant
on the whole test set so each speed-up is shown next to what it costs in accuracy and macro-F1.
Energy is measured (NVML, RAPL) where the hardware allows it and estimated (CodeCarbon) where it
does not, and every figure says which. Names follow docs/audit-outputs.md.

- `config`: `EfficiencyConfig`;
- `audit`: the registered `EfficiencyAudit`: measures every variant and the energy;
- `summary`: the measurements -> metrics and tables;
- `timing`: the timed calls and their percentiles; `variants`: fp32, bf16, int8, compiled;
  `roofline`: FLOPs per example and the GPU's peak.
"""

from auditkit.audits.efficiency.audit import EfficiencyAudit
from auditkit.audits.efficiency.config import EfficiencyConfig

__all__ = ["EfficiencyAudit", "EfficiencyConfig"]

"""The fairness audit's tables: rows collected per attribute and column, built at the end."""

from __future__ import annotations

import numpy as np

from auditkit.api.results import Table
from auditkit.audits.fairness.metrics import FlipReport, GroupReport
from auditkit.audits.fairness.outputs import OUTPUTS
from auditkit.audits.fairness.probes import ProbeSet


class Tables:
    """Rows collected across attributes, built into the documented tables at the end."""

    def __init__(self, labels: list[str]) -> None:
        self.labels = labels
        self.groups: list[list] = []
        self.parity: list[list] = []
        self.flips: list[list] = []
        self.probes: list[list] = []
        self.mitigation: list[list] = []
        self.threshold: list[list] = []

    def add_groups(self, attribute: str, gr: GroupReport) -> None:
        for i, g in enumerate(gr.groups):
            acc_ci = gr.ci.get(f"accuracy.{g}", (None, None))
            f1_ci = gr.ci.get(f"macro_f1.{g}", (None, None))
            self.groups.append(
                [attribute, g, int(gr.n[i]), _f(gr.accuracy[i]), *map(_f, acc_ci),
                 _f(gr.macro_f1[i]), *map(_f, f1_ci), *map(_f, gr.selection_rate[i])]
            )  # fmt: skip
        for c, name in enumerate(self.labels):
            self.parity.append(
                [attribute, name, _f(gr.dp_difference[c]), _f(gr.dp_ratio[c]),
                 _f(gr.eo_difference[c])]
            )  # fmt: skip

    def add_attribute(self, a: str, ps: ProbeSet, fr: FlipReport, gr: GroupReport) -> None:
        self.add_groups(a, gr)
        for i, (ga, gb) in enumerate(fr.pairs):
            self.flips.append(
                [a, ga, gb, ps.n, _f(fr.pair_flip_rate[i]), *map(_f, fr.pair_ci[i]),
                 _f(fr.pair_delta[i]), *map(_f, fr.pair_delta_per_class[i])]
            )  # fmt: skip
        self.probes.extend(ps.counts())

    def build(self) -> dict[str, Table]:
        sel = [f"selection_rate_{name}" for name in self.labels]
        out = {
            "group_metrics": Table(
                columns=[*OUTPUTS.columns("group_metrics"), *sel],
                rows=self.groups,
                description="counterfactual attributes: n = probe variants of the group; "
                "column.<C>: test rows with that value",
            ),
            "parity": Table(
                columns=OUTPUTS.columns("parity"),
                rows=self.parity,
                description="one class against the rest",
            ),
            "flip_rates": Table(
                columns=[
                    *OUTPUTS.columns("flip_rates"),
                    *[f"mean_abs_delta_p_{name}" for name in self.labels],
                ],
                rows=self.flips,
            ),
            "probes": Table(
                columns=OUTPUTS.columns("probes"),
                rows=self.probes,
                description="every probe is written once per group, so each group gets "
                "from_test_data + from_templates examples",
            ),
        }
        if self.mitigation:
            out["mitigation"] = Table(
                columns=OUTPUTS.columns("mitigation"),
                rows=self.mitigation,
                description="held-out probes only: no probe text is in the augmented training set",
            )
        if self.threshold:
            out["threshold_optimizer"] = Table(
                columns=OUTPUTS.columns("threshold_optimizer"),
                rows=self.threshold,
                description="fairlearn ThresholdOptimizer on the binary view, fitted on half the "
                "probes and measured on the other half",
            )
        return out


def _f(x) -> float | None:
    x = None if x is None else float(x)
    return None if x is None or not np.isfinite(x) else x

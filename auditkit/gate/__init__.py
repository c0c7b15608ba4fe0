"""The CI gate: does a run regress against a stored baseline, beyond noise?

- `spec`: the suite's `gate:` section with the command line's overrides applied, and the bar a
  baseline holds: a proposal may tighten the stored spec, and each loosening is listed;
- `baseline`: a run reduced to what the gate compares (a Snapshot); saved, a baseline file;
- `significance`: the paired tests (exact McNemar, paired bootstrap, Tango), Holm's adjustment;
- `pairing`: pairing two runs per example and, for one metric, the test, p-value and verdict,
  shared with the dashboard's Compare page;
- `noninferiority`: the evidence the `non_inferiority` policy asks for, bound by bound;
- `checks`: a check's bounds and verdict, and `run_gate`, what `auditkit gate` runs;
- `output`: gate.json (`GateReport`) and its text, Markdown and JUnit views.
"""

from auditkit.api.rundir import GATE_FILE
from auditkit.gate.baseline import (
    Snapshot,
    load_baseline,
    load_run,
    save_baseline,
    snapshot_from_run,
)
from auditkit.gate.checks import evaluate_check, run_gate
from auditkit.gate.output import (
    CheckResult,
    GateReport,
    Verdict,
    exit_code,
    load_gate,
    write_json,
)
from auditkit.gate.pairing import Comparison, Pairing, compare_metric, pair_snapshots
from auditkit.gate.spec import (
    AgreedSpec,
    Loosening,
    agree,
    parse_check_override,
    resolve_spec,
    settle,
    spec_from_run,
)
from auditkit.suite import GateSpec

__all__ = [
    "GATE_FILE",
    "AgreedSpec",
    "CheckResult",
    "Comparison",
    "GateReport",
    "GateSpec",
    "Loosening",
    "Pairing",
    "Snapshot",
    "Verdict",
    "agree",
    "compare_metric",
    "evaluate_check",
    "exit_code",
    "load_baseline",
    "load_gate",
    "load_run",
    "pair_snapshots",
    "parse_check_override",
    "resolve_spec",
    "run_gate",
    "save_baseline",
    "settle",
    "snapshot_from_run",
    "spec_from_run",
    "write_json",
]

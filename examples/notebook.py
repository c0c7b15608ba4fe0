"""auditkit from Python, the way a notebook uses it; a test runs this script as it is.

    python examples/notebook.py                          # the default suite, performance only
    python examples/notebook.py SUITE OUT_DIR            # another suite and results root

In a notebook, the last line of a cell that holds a `Run` shows its scorecard (`_repr_html_`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import auditkit

suite = sys.argv[1] if len(sys.argv) > 1 else "suites/finance_sentiment.yaml"
out = Path(sys.argv[2] if len(sys.argv) > 2 else "reports")

# the same pipeline as `auditkit run SUITE --only performance --out OUT`
run = auditkit.run(suite, only=["performance"], out_dir=out, progress=False)
print(run)

# every metric as a DataFrame: audit, metric, value, CI, direction, unit
metrics = run.metrics
print(metrics[["audit", "metric", "value", "ci_low", "ci_high", "direction"]].head(8).to_string())
print("accuracy:", run.metric("performance.accuracy"))

# every table as a DataFrame, keyed audit.table
print(run.tables["performance.per_class"].to_string())

# the run as a baseline, then the gate against it, as `auditkit gate` would
baseline = out / "baselines" / "notebook.json"
run.baseline(baseline)
report = run.gate(baseline)
print("gate passed:", report.passed, "| checks from:", report.spec_source)

# a copy of the run directory elsewhere: the dashboard and the gate read it there too
copy = run.save(out / "saved")
print("saved to:", copy)
print("report:", len(run.report_html()), "characters of HTML")

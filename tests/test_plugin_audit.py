"""An audit from another package: installed with pip (entry point `auditkit.audits`), it is
listed, runs, has its report section and dashboard page, and is gated by its metric name, with
no file under auditkit/ or app/ naming it.

Every step runs in a subprocess with the package's install folder on PYTHONPATH, so the
registry reads the entry point the way it would after `pip install` on a user's machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auditkit.api.results import load_results
from auditkit.dashboard.runs import format_metric
from tests.fixtures.plugins import install_plugin

REPO = Path(__file__).resolve().parents[1]
NAME = "margin"  # the plugin's audit

PLUGIN = '''
"""A small audit from outside auditkit: the margin between the two likeliest classes."""

import numpy as np

from auditkit.api.audit import Audit, AuditConfig
from auditkit.api.outputs import Headline, MetricSpec, Outputs, TableSpec
from auditkit.api.results import AuditResult, Metric, Table
from auditkit.metrics import bootstrap


class MarginConfig(AuditConfig):
    low: float = 0.2


class MarginAudit(Audit):
    name = "margin"
    description = "margin between the two likeliest classes on the test split"
    Config = MarginConfig
    outputs = Outputs(
        title="Decision margin",
        summary="How far each test prediction is from the runner-up class.",
        metrics=(
            MetricSpec("mean_margin", "mean top-1 minus top-2 probability", "higher"),
            MetricSpec("low_margin_share", "share of examples under `low`", "lower", ci=False),
            MetricSpec("n_examples", "test examples", unit="examples", ci=False),
        ),
        tables=(TableSpec("per_class", ("label", "n", "mean_margin")),),
        headlines=(Headline("mean_margin", "mean margin", "min"),),
    )

    def run(self, ctx):
        texts = list(ctx.data.test["text"])
        probs = np.sort(ctx.model.predict_proba(texts), axis=1)
        margin = probs[:, -1] - probs[:, -2]
        pred = ctx.model.predict_proba(texts).argmax(1)
        result = AuditResult(name=self.name)
        low, high, _ = bootstrap(lambda idx: margin[idx].mean(axis=1), len(margin), seed=0)
        result.metrics["mean_margin"] = Metric(
            value=margin.mean(), ci_low=low, ci_high=high, higher_is_better=True
        )
        result.metrics["low_margin_share"] = Metric(
            value=(margin < self.config.low).mean(), higher_is_better=False
        )
        result.metrics["n_examples"] = Metric(value=len(texts), unit="examples")
        rows = []
        for i, label in enumerate(ctx.data.label_names):
            mine = margin[pred == i]
            rows.append([label, len(mine), float(mine.mean()) if len(mine) else None])
        result.tables["per_class"] = Table(columns=["label", "n", "mean_margin"], rows=rows)
        return result
'''

PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "auditkit-margin-demo"
version = "0.1.0"

[project.entry-points."auditkit.audits"]
margin = "auditkit_margin_demo:MarginAudit"

[tool.setuptools]
packages = ["auditkit_margin_demo"]
"""

DASHBOARD = """
import json, sys
from streamlit.testing.v1 import AppTest

at = AppTest.from_file(sys.argv[1], default_timeout=60).run()
assert not at.exception, at.exception
# Several audits share views/audit.py, each under its own url path; switch_page takes a file,
# so pick the plugin's page by its url path among the pages st.navigation registered.
at.switch_page("views/audit.py")
at._page_hash = next(
    h for h, info in at._registered_pages.items() if info.get("url_pathname") == sys.argv[2]
)
at.run()
assert not at.exception, at.exception
print(json.dumps({
    "titles": [t.value for t in at.title],
    "metrics": [(m.label, m.value) for m in at.metric],
    "markdown": [m.value for m in at.markdown],
}))
"""


def _env(site: Path) -> dict[str, str]:
    path = os.pathsep.join([str(site), str(REPO), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path.rstrip(os.pathsep), "COLUMNS": "150"}


def _auditkit(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "auditkit", *args],
        capture_output=True,
        text=True,
        env=_env(site),
        cwd=cwd,
        check=False,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The plugin package, built and installed by pip into a folder of its own."""
    return install_plugin(
        tmp_path_factory.mktemp("plugin"), "auditkit_margin_demo", PLUGIN, PYPROJECT
    )


def test_no_file_in_auditkit_or_app_names_the_plugin():
    """The point of the test: nothing was edited to make room for it."""
    hits = [
        p
        for folder in ("auditkit", "app")
        for p in (REPO / folder).rglob("*.py")
        if "margin_demo" in p.read_text(encoding="utf-8")
        or "MarginAudit" in p.read_text(encoding="utf-8")
    ]
    assert hits == []


def test_listed_by_ls(site):
    done = _auditkit(site, "ls")
    assert done.returncode == 0, done.stderr
    line = next((x for x in done.stdout.splitlines() if NAME in x), "")
    assert "margin between the two likeliest classes" in line
    without = subprocess.run(
        [sys.executable, "-m", "auditkit", "ls"], capture_output=True, text=True, check=False
    )
    assert NAME not in without.stdout  # it is the entry point that adds it


@pytest.mark.slow
def test_runs_reports_shows_and_gates(site, toy_suite, tmp_path):
    audits = f"  performance:\n    bootstrap: 200\n  {NAME}:\n    low: 0.3\n"
    suite = toy_suite(audits=audits)
    out = tmp_path / "out"
    done = _auditkit(site, "run", str(suite), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mean_margin" in done.stdout  # the CLI summary shows its declared headline

    run_dir = (out / "toy" / "latest").resolve()
    results = load_results(run_dir)
    audit = results.audits[NAME]
    assert audit.status == "ok" and audit.config == {"low": 0.3}
    # Its number is computed from the real model: the performance audit's probabilities agree.
    preds = pd.read_parquet(run_dir / "predictions.parquet")
    probs = np.sort(preds[[c for c in preds.columns if c.startswith("p_")]].to_numpy(), axis=1)
    assert audit.metrics["mean_margin"].value == pytest.approx(
        float((probs[:, -1] - probs[:, -2]).mean()), abs=1e-5
    )

    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "Decision margin" in html and "mean_margin" in html and "per_class" in html

    baseline = tmp_path / "baseline.json"
    saved = _auditkit(site, "baseline", "save", str(run_dir), "--to", str(baseline))
    assert saved.returncode == 0, saved.stderr
    gated = _auditkit(
        site, "gate", str(run_dir), "--baseline", str(baseline),
        "--check", f"{NAME}.mean_margin:max_drop=0.01",
    )  # fmt: skip
    assert gated.returncode == 0, gated.stdout + gated.stderr
    gate = json.loads((run_dir / "gate.json").read_text())
    (check,) = [c for c in gate["checks"] if c["metric"] == f"{NAME}.mean_margin"]
    assert check["verdict"] == "pass" and check["delta"] == 0

    script = tmp_path / "dash.py"
    script.write_text(DASHBOARD)
    env = {**_env(site), "AUDITKIT_REPORTS_DIR": str(out)}
    dash = subprocess.run(
        [sys.executable, str(script), str(REPO / "app" / "main.py"), NAME],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert dash.returncode == 0, dash.stdout + dash.stderr
    page = json.loads(dash.stdout.strip().splitlines()[-1])
    assert page["titles"] == ["Decision margin"]
    shown = dict(page["metrics"])
    assert shown["mean_margin"] == format_metric(audit.metrics["mean_margin"].value)
    assert "**per_class**" in page["markdown"]

"""The gate end to end on real tiny-BERT runs: a degraded model is caught, a reseeded one is not.

Three runs share one fixed test file (so their test-set fingerprints match and the gate pairs
them): a good fine-tune (seed 0), the same recipe with seed 1, and a degraded model fine-tuned
on shuffled labels. The test file holds 40 deliberately ambiguous sentences (a positive and a
negative keyword), so the two good models really disagree on some examples and the seed test
is not trivially quiet. The runs are made once per module.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from auditkit.gate import GATE_FILE, GateReport, load_gate
from tests.conftest import FILLER, NEGATIVE, POSITIVE, toy_rows, write_csv

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "examples" / "github-actions" / "auditkit-gate.yml"

SUITE = """
name: toy
seed: {seed}
model: {{id: {model}, max_length: 32}}
data:
  source: csv
  path: {train}
  test_path: test.csv
  labels: [negative, positive, neutral]
  validation_size: 0
training: {{epochs: {epochs}, batch_size: 16, learning_rate: 4.0e-3, warmup_ratio: 0.0}}
audits:
  performance: {{bootstrap: 200}}
gate:
  checks:
    performance.accuracy: {{min: 0.6, max_drop: 0.03}}
    performance.macro_f1: {{max_drop: 0.03}}
    performance.ece: {{max_drop: 0.05}}
"""


def ambiguous_rows(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = rng.sample(FILLER, rng.randint(4, 10))
        for key in (rng.choice(POSITIVE), rng.choice(NEGATIVE)):
            words.insert(rng.randint(0, len(words)), key)
        rows.append((" ".join(words), rng.choice(["positive", "negative"])))
    return rows


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_bert):
    """Run dirs of the good, reseeded and degraded models, plus the suite files."""
    from auditkit.runner import run_suite
    from auditkit.suite import load_suite

    folder = tmp_path_factory.mktemp("gate-runs")
    train = toy_rows(450, seed=0)
    labels = [label for _, label in train]
    random.Random(5).shuffle(labels)
    write_csv(folder / "train.csv", train)
    write_csv(folder / "shuffled.csv", [(t, y) for (t, _), y in zip(train, labels, strict=True)])
    write_csv(folder / "test.csv", toy_rows(120, seed=99) + ambiguous_rows(40, seed=7))
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDITKIT_NO_PROGRESS", "1")
        mp.setenv("AUDITKIT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        for name, train_file, seed, epochs in (
            ("good", "train.csv", 0, 4),
            ("reseeded", "train.csv", 1, 4),
            ("degraded", "shuffled.csv", 0, 1),
        ):
            suite = folder / f"{name}.yaml"
            suite.write_text(
                SUITE.format(seed=seed, model=tiny_bert, train=train_file, epochs=epochs)
            )
            results, run_dir = run_suite(load_suite(suite), out_dir=folder / name)
            assert results.status == "ok"
            out[name] = run_dir
            out[f"{name}_suite"] = suite
    out["folder"] = folder
    return out


@pytest.fixture(scope="module")
def baseline(runs):
    path = runs["folder"] / "baselines" / "main.json"
    code, out, err = call_cli("baseline", "save", str(runs["good"]), "--to", str(path))
    assert code == 0, err
    assert "160 test examples" in out
    return path


def call_cli(*args: str) -> tuple[int, str, str]:
    """The real entry point (auditkit.cli.main) in-process: exit code, stdout, stderr."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from auditkit.cli import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, redirect_stdout(out), redirect_stderr(err):
        mp.setattr(sys, "argv", ["auditkit", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return code, out.getvalue(), err.getvalue()


def check_of(report: GateReport, metric: str):
    return next(c for c in report.checks if c.metric == metric)


def test_degraded_model_is_caught_with_a_small_p(runs, baseline, tmp_path):
    md, junit, js = tmp_path / "g.md", tmp_path / "g.xml", tmp_path / "g.json"
    code, out, err = call_cli(
        "gate", str(runs["degraded"]), "--baseline", str(baseline),
        "--markdown", str(md), "--junit", str(junit), "--json", str(js),
    )  # fmt: skip
    assert code == 1, out + err
    report = load_gate(runs["degraded"] / GATE_FILE)  # written into the run dir
    assert not report.passed and report.paired and report.n_paired == 160
    acc = check_of(report, "performance.accuracy")
    assert acc.verdict == "regressed" and acc.method == "mcnemar" and acc.p_value < 1e-6
    assert acc.baseline > 0.8 and acc.current < 0.5
    f1 = check_of(report, "performance.macro_f1")
    assert f1.verdict == "regressed" and f1.method == "paired_bootstrap" and f1.p_value < 0.01

    # every output format parses back to the same verdicts
    assert GateReport.model_validate_json(js.read_text()).checks == report.checks
    assert re.search(r"performance\.accuracy\s.*REGRESSED", out) and "gate FAILED" in out
    rows = [line for line in md.read_text().splitlines() if line.startswith("| `")]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    assert [c[0].strip("`") for c in cells] == [c.metric for c in report.checks]
    header = md.read_text().splitlines()[4].strip("|").split("|")
    as_dict = dict(zip([h.strip() for h in header], cells[0], strict=True))
    assert as_dict["verdict"] == "❌ regressed" and as_dict["method"] == "McNemar"
    assert float(as_dict["baseline"]) == pytest.approx(acc.baseline, abs=1e-4)
    assert md.read_text().startswith("### ❌ auditkit gate failed")
    suite = ET.parse(junit).getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert int(suite.get("tests")) == len(cases) == len(report.checks)
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert failed == {c.metric for c in report.checks if c.fails}
    assert "performance.accuracy" in failed and int(suite.get("failures")) == len(failed)


def test_reseeded_model_on_the_same_test_set_is_not_flagged(runs, baseline):
    code, out, err = call_cli("gate", str(runs["reseeded"]), "--baseline", str(baseline))
    assert code == 0, out + err
    report = load_gate(runs["reseeded"] / GATE_FILE)
    assert report.passed and report.paired
    assert not any(c.verdict == "regressed" for c in report.checks)
    acc = check_of(report, "performance.accuracy")
    gained, lost = map(int, re.search(r"\+(\d+) / -(\d+)", acc.method_detail).groups())
    assert gained + lost >= 10  # the two models do disagree ...
    assert acc.p_value > 0.05  # ... but not more than chance allows
    assert "gate PASSED" in out


def test_inconclusive_fails_only_when_asked(runs, baseline):
    # reseeded vs good: a small accuracy change that a zero tolerance calls inconclusive
    good = load_gate_of(runs, baseline, "reseeded")
    acc = check_of(good, "performance.accuracy")
    worse_run, base_run = ("reseeded", "good") if acc.delta < 0 else ("good", "reseeded")
    other = runs["folder"] / "baselines" / "other.json"
    save = ["baseline", "save", str(runs[base_run]), "--to", str(other)]
    assert call_cli(*save, "--check", "performance.accuracy:max_drop=0,min=none")[0] == 0
    args = ["gate", str(runs[worse_run]), "--baseline", str(other)]
    code, out, _ = call_cli(*args)
    assert code == 0 and "inconclusive" in out and "checks from baseline;" in out
    code, out, _ = call_cli(*args, "--fail-on-inconclusive")  # a tightening: no loosening
    assert code == 1 and "INCONCLUSIVE" in out and "LOOSENED" not in out


def test_non_inferiority_fails_a_reseeded_model_it_cannot_show_within_bounds(
    runs, baseline, tmp_path
):
    """The reseeded model passes under `regression` (no evidence of harm), but 160 examples
    cannot show its accuracy within 3 points: under `non_inferiority` that fails, in every
    output, and asking for the stricter policy is a tightening, not a loosening."""
    junit, md = tmp_path / "ni.xml", tmp_path / "ni.md"
    code, out, err = call_cli(
        "gate", str(runs["reseeded"]), "--baseline", str(baseline), "--policy",
        "non_inferiority", "--junit", str(junit), "--markdown", str(md),
    )  # fmt: skip
    assert code == 1, out + err
    report = load_gate(runs["reseeded"] / GATE_FILE)
    assert report.policy == "non_inferiority" and not report.loosened
    acc = check_of(report, "performance.accuracy")
    assert acc.verdict == "inconclusive" and acc.fails and acc.worse_upper > 0.03
    assert "fails under non_inferiority" in acc.reason and "upper 95% bound" in acc.reason
    assert "non-inferiority: each check passes only when shown" in out
    assert "inconclusive fails" in md.read_text()
    case = next(c for c in ET.parse(junit).iter("testcase") if c.get("name") == acc.metric)
    assert case.find("failure") is not None


def load_gate_of(runs, baseline, name) -> GateReport:
    call_cli("gate", str(runs[name]), "--baseline", str(baseline))
    return load_gate(runs[name] / GATE_FILE)


def test_suite_option_and_overrides(runs, baseline):
    # no --suite: the gate section stored with the run; --suite: the file's; --check adds
    code, _, _ = call_cli("gate", str(runs["good"]), "--baseline", str(baseline))
    assert code == 0
    assert {c.metric for c in load_gate(runs["good"] / GATE_FILE).checks} == {
        "performance.accuracy", "performance.macro_f1", "performance.ece",
    }  # fmt: skip
    suite = runs["folder"] / "only_brier.yaml"  # next to the data it names
    suite.write_text(
        runs["good_suite"].read_text().split("gate:")[0]
        + "gate:\n  checks:\n    performance.brier: {max_drop: 0.5}\n"
    )
    args = ["gate", str(runs["degraded"]), "--baseline", str(baseline), "--suite", str(suite)]
    args += ["--check", "performance.nll:max_drop=100"]
    # the proposal drops the baseline's three checks: the gate fails, listing each, and runs
    # them at the baseline's bar anyway (the degraded model fails them too)
    code, out, err = call_cli(*args)
    assert code == 1 and "LOOSENED" in out, out + err
    report = load_gate(runs["degraded"] / GATE_FILE)
    assert [x.item for x in report.loosened] == [
        "performance.accuracy", "performance.macro_f1", "performance.ece",
    ]  # fmt: skip
    assert all(x.proposed == "removed" for x in report.loosened) and not report.accept_loosened
    assert {c.metric for c in report.checks} >= {"performance.accuracy", "performance.brier"}
    assert "performance.accuracy: min 0.6, max_drop 0.03 -> removed" in out
    # a reviewer accepts: the proposal runs as it is, and the outputs still list the loosening
    md = runs["folder"] / "loosened.md"
    code, out, err = call_cli(*args, "--accept-loosened", "--markdown", str(md))
    assert code == 0, out + err  # brier and nll rise, but within these (loose) bounds
    report = load_gate(runs["degraded"] / GATE_FILE)
    assert [c.metric for c in report.checks] == ["performance.brier", "performance.nll"]
    assert all(c.verdict == "pass" and c.delta > 0 for c in report.checks)
    assert report.accept_loosened and len(report.loosened) == 3
    assert "accepted with --accept-loosened" in md.read_text()
    # a proposal that only adds a check tightens the bar: no loosening
    code, out, err = call_cli(
        "gate", str(runs["good"]), "--baseline", str(baseline),
        "--check", "performance.brier:max_drop=0.5",
    )  # fmt: skip
    assert code == 0, out + err
    report = load_gate(runs["good"] / GATE_FILE)
    assert not report.loosened and report.spec_source == "baseline, tightened by the proposal"
    assert len(report.checks) == 4


def test_missing_metric_policy(runs, baseline):
    args = ["gate", str(runs["good"]), "--baseline", str(baseline)]
    args += ["--check", "performance.acuracy:min=0.5"]
    code, out, _ = call_cli(*args)
    assert code == 1 and "missing" in out and "Did you mean: 'accuracy'" in out
    # the report reads every verdict the gate writes, from the gate.json the gate just wrote
    from auditkit.report import render_report

    assert load_gate(runs["good"] / GATE_FILE).counts["missing"] == 1
    html = render_report(runs["good"]).read_text()
    assert "skipped" not in html.split('id="gate"')[1].split("</section>")[0]
    assert 'class="badge b-missing"' in html and "performance.acuracy" in html
    assert 'class="badge b-failed"' in html  # the gate's overall result: it failed
    code, out, _ = call_cli(*args, "--on-missing", "warn")  # loosens the baseline's `fail`
    assert code == 1 and "on_missing: fail -> warn" in out
    code, out, _ = call_cli(*args, "--on-missing", "warn", "--accept-loosened")
    assert code == 0


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda r, b, t: ["gate", str(r["good"]), "--baseline", str(t / "none.json")],
         "baseline file not found"),
        (lambda r, b, t: ["gate", str(t / "no_run"), "--baseline", str(b)],
         "not a run directory"),
        (lambda r, b, t: ["gate", str(r["good"]), "--baseline", str(b), "--check", "x"],
         "dotted metric path"),
        (lambda r, b, t: ["gate", str(r["good"]), "--baseline", str(b), "--alpha", "2"],
         "alpha"),
        (lambda r, b, t: ["gate", str(r["good"]), "--baseline", str(write(t / "b", "{"))],
         "invalid JSON"),
        (lambda r, b, t: ["gate", str(r["good"]), "--baseline", str(old_version(b, t))],
         "baseline format version '0'"),
        (lambda r, b, t: ["gate", str(schema_mismatch(r["good"], t)), "--baseline", str(b)],
         "results schema version '0.1'"),
        (lambda r, b, t: ["gate", str(r["good"])], "Missing option '--baseline'"),
        (lambda r, b, t: ["baseline", "save", str(t / "no_run"), "--to", str(t / "x.json")],
         "not a run directory"),
        (lambda r, b, t: ["baseline", "show", str(write(t / "b", "[]"))],
         "not an auditkit baseline"),
    ],
)  # fmt: skip
def test_input_errors_exit_2_with_a_clear_message(runs, baseline, tmp_path, make_args, message):
    code, out, err = call_cli(*make_args(runs, baseline, tmp_path))
    assert code == 2, out + err
    assert message in err and "Traceback" not in err


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def old_version(baseline: Path, folder: Path) -> Path:
    raw = json.loads(baseline.read_text())
    raw["version"] = "0"
    return write(folder / "old.json", json.dumps(raw))


def schema_mismatch(run_dir: Path, folder: Path) -> Path:
    copy = folder / "old_run"
    shutil.copytree(run_dir, copy)
    raw = json.loads((copy / "results.json").read_text())
    raw["schema_version"] = "0.1"
    (copy / "results.json").write_text(json.dumps(raw))
    return copy


# --------------------------------------------------------------------------- example workflow


def workflow_commands() -> list[tuple[str, str]]:
    """(event, command) for every `auditkit ...` line of the example workflow, in order."""
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["audit"]["steps"]
    found = []
    for step in steps:
        script = step.get("run", "").replace("\\\n", " ")
        for line in script.splitlines():
            if line.strip().startswith("auditkit "):
                cond = step.get("if", "")
                events = [e for e in ("push", "pull_request") if f"== '{e}'" in cond]
                found.append((events[0] if events else "any", line.strip()))
    return found


def test_example_workflow_commands_all_run(runs, tmp_path):
    """Every auditkit command of the example workflow, as a push to main then a PR would run
    them, through the real console entry point, on the small suite."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    commands = workflow_commands()
    verbs = [cmd.split()[1] for _, cmd in commands]
    assert verbs == ["run", "baseline", "baseline", "gate"]
    env = {
        **os.environ,
        "SUITE": str(runs["good_suite"]),
        "REPORTS": str(tmp_path / "reports"),
        "RUN_DIR": str(tmp_path / "reports" / "toy" / "latest"),
        "BASELINE": str(tmp_path / "baselines" / "main.json"),
        "PYTHONPATH": str(ROOT),  # this checkout's auditkit, whatever the cwd
        "ACCEPT_LOOSENED": "",  # no reviewer's label
    }
    used = set(re.findall(r"\$\{?([A-Z_]+)", " ".join(cmd for _, cmd in commands)))
    assert used <= set(workflow["env"]) and used <= set(env), used  # every variable is set here
    # `auditkit` here is this checkout's package, run the way the console script runs it
    shim = f'auditkit() {{ "{sys.executable}" -c "from auditkit.cli import main; main()" "$@"; }}'
    for event in ("push", "pull_request"):
        for when, cmd in commands:
            if when not in ("any", event):
                continue
            done = subprocess.run(
                ["bash", "-c", f"{shim}\n{cmd}"],
                cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert done.returncode == 0, f"{cmd}\n{done.stdout}\n{done.stderr}"
    md = (tmp_path / "gate.md").read_text()
    assert md.startswith("### ✅ auditkit gate passed") and "checks from baseline" in md
    stored = json.loads((tmp_path / "baselines" / "main.json").read_text())["gate"]
    assert set(stored["checks"]) == {
        "performance.accuracy", "performance.macro_f1", "performance.ece",
    }  # fmt: skip  # main's bar, held by the baseline
    assert ET.parse(tmp_path / "gate-junit.xml").getroot().find("testsuite").get("failures") == "0"
    assert json.loads((tmp_path / "gate.json").read_text())["passed"] is True


def _with_failed_audit(run_dir: Path, target: Path) -> Path:
    """A copy of a run in which a robustness audit crashed (the run's status is failed)."""
    shutil.copytree(run_dir, target)
    raw = json.loads((target / "results.json").read_text())
    raw["status"] = "failed"
    raw["audits"]["robustness"] = {
        "name": "robustness",
        "status": "failed",
        "error": {"type": "RuntimeError", "message": "attack recipe crashed", "traceback": None},
    }
    (target / "results.json").write_text(json.dumps(raw))
    return target


def test_a_failed_audit_fails_the_gate_and_is_named(runs, baseline, tmp_path):
    run_dir = _with_failed_audit(runs["reseeded"], tmp_path / "crashed")
    md, junit = tmp_path / "g.md", tmp_path / "g.xml"
    code, out, err = call_cli(
        "gate", str(run_dir), "--baseline", str(baseline), "--markdown", str(md),
        "--junit", str(junit),
    )  # fmt: skip
    assert code == 1, out + err
    report = load_gate(run_dir / GATE_FILE)
    assert not report.passed and not any(c.fails for c in report.checks)  # checks all pass
    assert [(f.audit, f.error) for f in report.failed_audits] == [
        ("robustness", "attack recipe crashed")
    ]
    assert "audit robustness failed: attack recipe crashed" in out and "gate FAILED" in out
    assert "❌ audit robustness failed: attack recipe crashed" in md.read_text()
    suite = ET.parse(junit).getroot().find("testsuite")
    case = next(c for c in suite.findall("testcase") if c.get("name") == "audit robustness")
    assert case.find("failure") is not None and int(suite.get("failures")) == 1
    from auditkit.report import render_report

    html = render_report(run_dir).read_text(encoding="utf-8")
    assert "audit robustness failed: attack recipe crashed; the gate fails on it" in html

    code, out, err = call_cli(
        "gate", str(run_dir), "--baseline", str(baseline), "--allow-failed-audits",
        "--junit", str(junit),
    )  # fmt: skip
    assert code == 0, out + err
    assert "(allowed by --allow-failed-audits)" in out
    case = next(
        c for c in ET.parse(junit).getroot().iter("testcase") if c.get("name") == "audit robustness"
    )
    assert case.find("skipped") is not None and case.find("failure") is None


def test_a_check_on_a_failed_or_absent_audit_fails_whatever_on_missing_says(
    runs, baseline, tmp_path
):
    run_dir = _with_failed_audit(runs["reseeded"], tmp_path / "crashed")
    code, out, err = call_cli(
        "gate", str(run_dir), "--baseline", str(baseline), "--allow-failed-audits",
        "--on-missing", "warn", "--accept-loosened",  # warn loosens the baseline's `fail`
        "--check", "robustness.deepwordbug.attack_success_rate:max=0.5",
        "--check", "fairness.gender.counterfactual_flip_rate:max=0.1",
        "--check", "performance.no_such_metric:min=0.1",
    )  # fmt: skip
    assert code == 1, out + err
    report = load_gate(run_dir / GATE_FILE)
    rob = check_of(report, "robustness.deepwordbug.attack_success_rate")
    fair = check_of(report, "fairness.gender.counterfactual_flip_rate")
    assert rob.verdict == fair.verdict == "missing" and rob.fails and fair.fails
    assert "attack recipe crashed" in rob.reason and "not in run" in fair.reason
    absent = check_of(report, "performance.no_such_metric")  # the audit ran: on_missing rules
    assert absent.verdict == "missing" and not absent.fails

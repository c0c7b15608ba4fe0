"""The Python API (`auditkit.run`, `auditkit.Run`) on a tiny real BERT, and the notebook example
run as the plain script it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import auditkit
from auditkit.errors import AuditkitError
from tests.conftest import build_tiny_bert, write_toy_suite

ROOT = Path(__file__).resolve().parents[1]
GATE = """
gate:
  checks:
    performance.accuracy: {min: 0.5, max_drop: 0.05}
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("session")
    suite = write_toy_suite(folder, build_tiny_bert(folder / "tiny"))
    suite.write_text(suite.read_text() + GATE)
    return suite, folder


@pytest.fixture(scope="module")
def done(toy):
    suite, folder = toy
    return auditkit.run(suite, out_dir=folder / "reports", progress=False)


def test_run_returns_the_cli_run_directory_and_its_views(done, toy):
    run = done
    assert run.status == "ok" and (run.run_dir / "results.json").is_file()
    assert run.run_dir.parent.name == "toy" and (run.run_dir.parent / "latest").exists()
    on_disk = json.loads((run.run_dir / "results.json").read_text())
    acc = on_disk["audits"]["performance"]["metrics"]["accuracy"]
    frame = run.metrics
    row = frame[(frame["audit"] == "performance") & (frame["metric"] == "accuracy")].iloc[0]
    assert row["value"] == acc["value"] and row["ci_low"] == acc["ci_low"]
    assert row["direction"] == "higher" and run.metric("performance.accuracy") == acc["value"]
    assert len(frame) == sum(len(a["metrics"]) for a in on_disk["audits"].values())
    per_class = run.tables["performance.per_class"]
    assert list(per_class.columns[:2]) == ["label", "precision"] and len(per_class) == 3
    card = run._repr_html_()
    assert run.run_id in card and "accuracy" in card and "<table>" in card
    assert "Confusion matrix" in run.report_html()
    assert repr(run).startswith(f"Run('{run.run_id}', status='ok'")


def test_save_writes_the_cli_layout_that_the_gate_reads(done, tmp_path):
    saved = done.save(tmp_path / "elsewhere")
    assert saved == tmp_path / "elsewhere" / "toy" / done.run_id
    assert (saved.parent / "latest").resolve() == saved.resolve()
    again = auditkit.Run.load(tmp_path / "elsewhere" / "toy" / "latest")
    assert again.metric("performance.accuracy") == done.metric("performance.accuracy")
    with pytest.raises(AuditkitError, match="already exists"):
        done.save(tmp_path / "elsewhere")
    baseline = tmp_path / "b.json"
    done.baseline(baseline)
    report = again.gate(baseline)  # the copy against its original: the same predictions
    assert report.passed and report.paired and report.spec_source == "baseline"
    acc = report.checks[0]
    assert acc.metric == "performance.accuracy" and acc.delta == 0
    loose = again.gate(baseline, checks=["performance.accuracy:max_drop=0.5"])
    assert not loose.passed and [x.item for x in loose.loosened] == [
        "performance.accuracy: max_drop"
    ]


def test_run_options_are_checked():
    with pytest.raises(AuditkitError, match="unknown option"):
        auditkit.run("suites/finance_sentiment.yaml", outdir="x")


def test_the_notebook_example_runs_as_a_script(toy, tmp_path):
    suite, _ = toy
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUDITKIT_NO_PROGRESS": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "notebook.py"), str(suite), str(tmp_path)],
        capture_output=True, text=True, env=env, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "accuracy:" in done.stdout and "gate passed: True" in done.stdout
    assert "saved to:" in done.stdout and (tmp_path / "saved" / "toy" / "latest").exists()


def test_audit_an_in_memory_model_without_yaml_or_training(trained_toy_handle, tmp_path):
    """The fine-tuned tiny BERT, audited from memory on the toy test split given three ways:
    its accuracy is the model's own on those rows, computed here without auditkit's run."""
    import numpy as np
    import pandas as pd

    handle, bundle = trained_toy_handle
    texts = list(bundle.test["text"])
    y = np.asarray(bundle.test["label"])
    expected = float((handle.predict(texts) == y).mean())
    names = bundle.label_names
    pairs = [(t, names[int(label)]) for t, label in zip(texts, y, strict=True)]
    run = auditkit.audit(
        handle.model, handle.tokenizer, pairs, labels=names, out_dir=tmp_path, progress=False
    )
    assert run.status == "ok" and run.results.training is None
    assert run.metric("performance.accuracy") == pytest.approx(expected)
    assert run.results.data.split_sizes["test"] == len(texts)
    assert run.results.manifest.model.fingerprint  # the saved weights, hashed like any model
    # a DataFrame with label ids, and a datasets.Dataset: the same test set, the same numbers
    frame = pd.DataFrame({"text": texts, "label": y})
    again = auditkit.audit(
        handle.model, handle.tokenizer, frame, labels=names, out_dir=tmp_path, progress=False
    )
    assert again.results.manifest.split_fingerprints == run.results.manifest.split_fingerprints
    assert again.results.manifest.model.fingerprint == run.results.manifest.model.fingerprint
    from datasets import Dataset

    third = auditkit.audit(
        handle.model, handle.tokenizer, Dataset.from_pandas(frame), labels=names,
        out_dir=tmp_path, progress=False,
    )  # fmt: skip
    assert third.metric("performance.accuracy") == run.metric("performance.accuracy")


def test_audit_says_what_is_wrong_with_its_inputs(trained_toy_handle):
    handle, bundle = trained_toy_handle
    names = bundle.label_names
    with pytest.raises(AuditkitError, match="3 outputs but 2 labels"):
        auditkit.audit(handle.model, handle.tokenizer, [("a", "x")], labels=names[:2])
    with pytest.raises(AuditkitError, match=r"labels \['happy'\] that are not in"):
        auditkit.audit(handle.model, handle.tokenizer, [("a", "happy")], labels=names)
    with pytest.raises(AuditkitError, match=r"no column\(s\) \['label'\]"):
        import pandas as pd

        auditkit.audit(handle.model, handle.tokenizer, pd.DataFrame({"text": ["a"]}), labels=names)
    with pytest.raises(AuditkitError, match="not a transformers model"):
        auditkit.audit(object(), handle.tokenizer, [("a", names[0])], labels=names)


def test_audit_fine_tunes_on_train_when_given(tmp_path):
    """A base tiny BERT (no head) with `train`: fine-tuned, then audited."""
    from transformers import AutoModel, AutoTokenizer

    from tests.conftest import toy_rows

    folder = build_tiny_bert(tmp_path / "base")
    model, tokenizer = AutoModel.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    rows = toy_rows(300, seed=5)
    run = auditkit.audit(
        model, tokenizer, rows[:60], train=rows[60:], labels=["negative", "positive", "neutral"],
        training={"epochs": 6, "batch_size": 16, "learning_rate": 2e-3, "warmup_ratio": 0.0},
        out_dir=tmp_path / "out", progress=False,
    )  # fmt: skip
    assert run.status == "ok" and run.results.training is not None
    assert run.metric("performance.accuracy") > 0.8


def test_a_suite_with_test_data_alone_needs_training_off(tmp_path):
    from auditkit.errors import SuiteError
    from auditkit.suite import load_suite
    from tests.conftest import toy_rows, write_csv

    write_csv(tmp_path / "test.csv", toy_rows(30))
    body = "name: t\ndata: {source: csv, test_path: test.csv}\n"
    (tmp_path / "s.yaml").write_text(body)
    with pytest.raises(SuiteError, match="nothing to fine-tune on"):
        load_suite(tmp_path / "s.yaml")
    (tmp_path / "s.yaml").write_text(body + "training: {enabled: false}\n")
    from auditkit.data import load_data

    bundle = load_data(load_suite(tmp_path / "s.yaml"))
    assert len(bundle.train) == 0 and len(bundle.test) == 30
    assert any("train split is empty" in w for w in bundle.report.warnings)


def test_the_public_names_import_without_torch():
    code = (
        "import sys, auditkit\n"
        "assert {'run', 'audit', 'Run'} <= set(auditkit.__all__)\n"
        "auditkit.run, auditkit.audit, auditkit.Run\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr

"""`auditkit card`: a Hugging Face model card whose metadata the Hub's own parser reads back and
whose numbers and findings are the run's, on the report's fixture run."""

from __future__ import annotations

import json

import pytest
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results

from auditkit.api.results import load_results
from tests.fixtures.runs import write_run_dir

GATE = {
    "passed": True,
    "checks": [
        {"metric": "performance.accuracy", "verdict": "pass", "fails": False,
         "underpowered": True, "mde": 0.0592},
        {"metric": "performance.ece", "verdict": "pass", "fails": False, "underpowered": False,
         "mde": 0.01},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def card(tmp_path_factory):
    from auditkit.cli import app

    run_dir = write_run_dir(tmp_path_factory.mktemp("card") / "run", gate=GATE)
    from typer.testing import CliRunner

    done = CliRunner().invoke(app, ["card", str(run_dir)])
    assert done.exit_code == 0, done.output
    path = run_dir / "README.md"
    assert f"model card: {path}" in done.output
    return run_dir, ModelCard.load(path), path.read_text(encoding="utf-8")


def test_metadata_parses_and_its_numbers_are_the_runs(card):
    run_dir, parsed, _ = card
    results = load_results(run_dir)
    perf = results.audits["performance"].metrics
    name, evals = model_index_to_eval_results(parsed.data.to_dict()["model-index"])
    assert name.startswith("sentence-transformers/all-MiniLM-L6-v2")
    by_name = {e.metric_name: e for e in evals}
    assert by_name["Accuracy"].metric_value == pytest.approx(perf["accuracy"].value, abs=1e-6)
    assert by_name["Macro F1"].metric_value == pytest.approx(perf["macro_f1"].value, abs=1e-6)
    assert by_name["Accuracy"].metric_args["ci_low"] == pytest.approx(perf["accuracy"].ci_low)
    acc = by_name["Accuracy"]
    assert acc.task_type == "text-classification" and acc.dataset_split == "test"
    assert acc.dataset_revision == results.manifest.split_fingerprints["test"]
    meta = parsed.data.to_dict()
    assert meta["pipeline_tag"] == "text-classification" and "auditkit" in meta["tags"]
    assert meta["auditkit"]["run_id"] == results.run_id
    assert meta["auditkit"]["model_fingerprint"] == results.manifest.model.fingerprint


def test_sections_hold_the_runs_numbers_and_name_their_evidence(card):
    run_dir, _, text = card
    results = load_results(run_dir)
    for section in ("## Intended use", "## Evaluation", "## Robustness", "## Fairness",
                    "## Explanations", "## Efficiency", "## Limitations"):  # fmt: skip
        assert section in text, section
    acc = results.audits["performance"].metrics["accuracy"]
    assert (
        f"| `performance.accuracy` | {acc.value:.4g} | [{acc.ci_low:.4g}, {acc.ci_high:.4g}] |"
        in (text)
    )
    assert "Evidence: the `robustness` audit in `results.json`." in text
    assert "The suite states no intended use" in text  # the fixture's suite has no description


def test_limitations_are_the_audits_findings(card):
    run_dir, _, text = card
    limits = text.split("## Limitations", 1)[1]
    results = load_results(run_dir)
    worst = results.audits["slices"].tables["slices"].records()[0]
    assert f"Error slice `{worst['slice']}`" in limits
    assert "Gate check `performance.accuracy` is underpowered" in limits
    assert "performance.ece` is underpowered" not in limits
    inv = max(results.audits["robustness"].tables["invariance"].records(),
              key=lambda r: r["flip_rate"] or 0)  # fmt: skip
    assert f"Perturbation `{inv['perturbation']}`" in limits
    assert "Behavioural test `m_negation` (MFT" in limits and "75% of 40 probes" in limits
    assert "rose_to_fell" not in limits  # 10% failing is not listed as a limitation


def test_a_failed_audit_is_said_to_give_no_evidence(tmp_path):
    from auditkit.card import write_card

    run_dir = write_run_dir(tmp_path / "run", failed={"robustness": "attack crashed"})
    text = write_card(run_dir, tmp_path / "card.md").read_text(encoding="utf-8")
    assert "The `robustness` audit failed (attack crashed); it gives no evidence here." in text
    assert "- The `robustness` audit failed, so its questions are open." in text
    meta = ModelCard.load(tmp_path / "card.md").data.to_dict()
    assert json.dumps(meta)  # still valid metadata

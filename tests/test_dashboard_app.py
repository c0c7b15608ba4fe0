"""The Streamlit app itself, driven headless by AppTest on fixture runs: every page, real content.

The fixture runs follow docs/audit-outputs.md (tests/fixtures/); assertions are on
what a user would read: metric values, table rows, messages, and the escaped HTML.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from auditkit.api.results import load_results
from auditkit.dashboard.runs import ENV_VAR, format_metric
from tests.fixtures import comparable_root, full_root, write_run

APP = str(Path(__file__).resolve().parents[1] / "app" / "main.py")
FULL = "20261124-050000-full"
PART = "20261124-040000-part"
OLD = "20251001-000000-old"


def _app(root: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv(ENV_VAR, str(root))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def _page(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return at


def _pick_run(at: AppTest, root: Path, run_id: str) -> AppTest:
    at.sidebar.selectbox(key="ak_run").set_value(str(root / "finance_sentiment" / run_id)).run()
    assert not at.exception, at.exception
    return at


def _texts(elements) -> list[str]:
    return [e.value for e in elements]


def _no_raw_script(at: AppTest) -> list[str]:
    """Every HTML and markdown body the app wrote is free of a raw <script>; returns them."""
    bodies = _texts(at.html) + _texts(at.markdown)
    assert not [b for b in bodies if "<script" in b.lower()]
    return bodies


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> Path:
    return full_root(tmp_path_factory.mktemp("reports"))


def test_overview_and_performance_on_the_full_run(full, monkeypatch):
    at = _app(full, monkeypatch)
    results = load_results(full / "finance_sentiment" / FULL)
    acc = results.audits["performance"].metrics["accuracy"]
    picker = at.sidebar.selectbox(key="ak_run")
    labels = picker.options  # as shown: suite · run id · model · date · gate
    assert len(labels) == 3 and labels[0].endswith("gate passed")
    assert "gate failed (1)" in labels[1] and labels[2].endswith("unreadable")

    # Overview: cards, scorecard, gate, manifest, and the unknown audit shown generically
    cards = {m.label: m.value for m in at.metric}
    assert cards["accuracy"] == format_metric(acc.value) and cards["n_examples"] == "60"
    scorecard = at.dataframe[0].value
    rob = scorecard[scorecard["metric"] == "deepwordbug.attack_success_rate"]
    assert rob["value"].item() == "0.6111 [0.450, 0.750]"
    assert set(scorecard["audit"]) >= {"performance", "robustness", "fairness", "toxicity"}
    assert "Gate: passed (against baseline 20261124-040000-part)" in _texts(at.success)
    manifest = at.dataframe[2].value
    assert manifest.loc[manifest["field"] == "test split fingerprint", "value"].item() == "f" * 64
    assert [h.value for h in at.subheader if h.value == "Audit: toxicity"]
    shown = [df.value for df in at.dataframe if "shown" in df.value.columns]
    assert shown and shown[-1]["shown"].tolist() == ["0.0150 [0.000, 0.040]"]

    # Performance: the confusion matrix and the misclassified-examples filter
    _page(at, "performance")
    cm = at.dataframe[0].value
    table = results.audits["performance"].tables["confusion_matrix"]
    assert cm.values.tolist() == table.rows
    wrong = next(df.value for df in at.dataframe if "predicted" in df.value.columns)
    assert sorted(wrong["idx"]) == [3, 7, 11, 20]
    at.multiselect(key="perf_gold").set_value(["positive"]).run()
    wrong = next(df.value for df in at.dataframe if "predicted" in df.value.columns)
    assert sorted(wrong["idx"]) == [11, 20] and set(wrong["gold"]) == {"positive"}
    at.multiselect(key="perf_pred").set_value(["neutral"]).run()
    wrong = next(df.value for df in at.dataframe if "predicted" in df.value.columns)
    assert wrong.empty


def test_audit_pages_on_the_full_run_escape_what_they_render(full, monkeypatch):
    at = _app(full, monkeypatch)

    _page(at, "robustness")
    per_recipe = at.dataframe[0].value
    assert per_recipe["recipe"].tolist() == ["deepwordbug"]
    assert per_recipe["attack_success_rate"].item() == "0.6111 [0.450, 0.750]"
    behaviour = next(df.value for df in at.dataframe if "expectation" in df.value.columns)
    assert behaviour["test"].tolist() == ["m_negation", "rose_to_fell"]
    ladder = next(df.value for df in at.dataframe if "threshold" in df.value.columns)
    assert len(ladder) == 4 and "accuracy_under_valid_attack" in ladder.columns
    bodies = _no_raw_script(at)
    diff = next(b for b in bodies if "ak-diff" in b)
    assert "&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;" in diff
    assert ">fell</del>" in diff and ">fe1l</ins>" in diff
    assert any("negative → positive" in b for b in bodies)
    assert "1 of 2 attacked examples match" in _texts(at.caption)  # default: succeeded only
    flip = next(b for b in bodies if "ordres" in b)  # the invariance-flip browser
    assert "&lt;b&gt;unchanged&lt;/b&gt;" in flip and ">orders</del>" in flip
    at.multiselect(key="rob_outcome").set_value(["failed"]).run()
    assert "1 of 2 attacked examples match" in _texts(at.caption)
    assert any("outcome **failed**" in b for b in _no_raw_script(at))

    _page(at, "fairness")
    attrs = at.dataframe[0].value
    assert attrs["counterfactual_flip_rate"].item() == "0.0833 [0.030, 0.150]"
    groups = next(df.value for df in at.dataframe if "group" in df.value.columns)
    assert groups["group"].tolist() == ["female", "male"]
    bodies = _no_raw_script(at)
    assert any("&lt;script&gt;" in b and ">She</del>" in b for b in bodies)
    assert any("**neutral** → **positive**" in b for b in bodies)

    _page(at, "explanations")
    methods = at.dataframe[0].value
    assert methods["method"].tolist() == ["integrated_gradients", "occlusion", "random"]
    tokens = next(b for b in _no_raw_script(at) if "ak-tokens" in b)
    assert "&lt;script&gt;" in tokens and 'title="+0.9000"' in tokens
    at.radio(key="exp_method").set_value("occlusion").run()
    tokens = next(b for b in _no_raw_script(at) if "ak-tokens" in b)
    assert 'title="+0.7000"' in tokens and 'title="+0.9000"' not in tokens
    # an adversarial original shows its perturbed partner's attributions under it
    at.multiselect(key="exp_kind").set_value(["adversarial_original"]).run()
    tokens = [b for b in _no_raw_script(at) if "ak-tokens" in b]
    assert len(tokens) == 2 and ">rose<" in tokens[0] and ">r0se<" in tokens[1]
    assert "predicted &#x27;negative&#x27;" in tokens[1]

    _page(at, "efficiency")
    latency = at.dataframe[0].value
    assert latency["variant"].tolist() == ["fp32", "fp32", "int8_dynamic", "int8_dynamic"]
    trade = next(df.value for df in at.dataframe if "note" in df.value.columns)
    assert trade.loc[trade["variant"] == "bf16", "note"].item() == "no bf16 kernels on this CPU"
    assert {m.label: m.value for m in at.metric}["peak_memory_mb"] == "812.5"


def test_partial_failed_and_old_runs_give_messages_not_tracebacks(full, monkeypatch):
    at = _pick_run(_app(full, monkeypatch), full, PART)
    assert any("Failed audits: robustness" in w for w in _texts(at.warning))
    assert any("This run failed" in e for e in _texts(at.error))
    assert "Gate: failed (1)" in _texts(at.error)
    assert (
        "Gate spec loosened: performance.accuracy: max_drop: 0.02 → 0.05 (a larger allowed "
        "worsening)" in _texts(at.error)
    )
    gate = next(df.value for df in at.dataframe if "verdict" in df.value.columns)
    assert gate["verdict"].tolist() == ["regressed", "inconclusive"]
    _page(at, "robustness")
    assert any("robustness** audit failed" in e and "textfooler" in e for e in _texts(at.error))
    for page in ("fairness", "explanations", "efficiency"):
        _page(at, page)
        assert any(f"**{page}** audit was not run" in i for i in _texts(at.info)), page
    _page(at, "performance")
    assert at.dataframe[0].value.shape == (3, 4)

    _pick_run(at, full, OLD)
    errors = _texts(at.error)
    assert any("schema version '0.9'" in e and "another auditkit version" in e for e in errors)
    _page(at, "overview")
    assert any("schema version '0.9'" in e for e in _texts(at.error))


def test_empty_and_missing_roots(tmp_path, monkeypatch):
    at = _app(tmp_path, monkeypatch)
    assert any("No runs found under" in i for i in _texts(at.info))
    _page(at, "compare")
    assert any("No runs found under" in i for i in _texts(at.info))
    at.sidebar.text_input(key="ak_root").set_value(str(tmp_path / "nope")).run()
    assert not at.exception and any("No runs found" in i for i in _texts(at.info))


def test_sidebar_root_and_mtime_keyed_cache(tmp_path, monkeypatch):
    run_dir = write_run(tmp_path / "a", "r1")
    other = write_run(tmp_path / "b", "r2", wrong=set(range(12)))
    at = _app(tmp_path / "a", monkeypatch)
    assert {m.label: m.value for m in at.metric}["accuracy"] == "0.9333"
    at.sidebar.text_input(key="ak_root").set_value(str(other.parents[1])).run()
    assert {m.label: m.value for m in at.metric}["accuracy"] == "0.8000"
    at.sidebar.text_input(key="ak_root").set_value(str(run_dir.parents[1])).run()

    # results.json rewritten in place: a new mtime is a new cache key, so the app rereads it
    path = run_dir / "results.json"
    raw = json.loads(path.read_text())
    raw["audits"]["performance"]["metrics"]["accuracy"]["value"] = 0.5
    stat = path.stat()
    path.write_text(json.dumps(raw))
    os.utime(path, (stat.st_atime, stat.st_mtime))  # same mtime: the cached copy is served
    at.run()
    assert {m.label: m.value for m in at.metric}["accuracy"] == "0.9333"
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))
    at.run()
    assert {m.label: m.value for m in at.metric}["accuracy"] == "0.5000"


def test_compare_page_pairs_runs_on_the_same_test_set(tmp_path, monkeypatch):
    root = comparable_root(tmp_path)
    at = _page(_app(root, monkeypatch), "compare")
    assert any(s.startswith("Paired comparison") for s in _texts(at.success))
    table = at.dataframe[0].value
    acc = table[table["metric"] == "performance.accuracy"].iloc[0]
    assert acc["verdict"] == "better" and acc["delta"] == pytest.approx(0.2)
    assert acc["p_value"] == pytest.approx(2 * 15 / 2**14)
    # the same power note as the gate: exact McNemar on 14 discordant pairs rejects from 12
    # losses (2 * 106 / 2**14 < 0.05; 11 gives 0.057), so the detectable drop is (2q - 1) 14 / 60
    # at the q where P(Binomial(14, q) >= 12) = 0.8
    from scipy.stats import binom

    q = (acc["detectable"] * 60 / 14 + 1) / 2
    assert binom.sf(11, 14, q) == pytest.approx(0.8) and 0.18 < acc["detectable"] < 0.182
    assert any("`detectable` is the smallest change" in c for c in _texts(at.caption))
    assert table.loc[table["metric"] == "performance.macro_f1", "verdict"].item() == "better"
    # accuracy, macro/weighted F1, Brier and NLL are paired now, as in the gate; five
    # conformal coverages (the candidate errs less, so its sets cover more) and the Brier and
    # NLL after temperature scaling by their CIs
    better = table[table["verdict"] == "better"]["metric"].tolist()
    assert sum(m.startswith("performance.conformal.") for m in better) == 5
    assert {"performance.calibration.brier", "performance.calibration.nll"} <= set(better)
    assert {m.label: m.value for m in at.metric}["better"] == "12" == str(len(better))
    changes = at.dataframe[1].value
    assert len(changes) == 14 and (changes["change"] == "fixed").sum() == 13
    at.multiselect(key="cmp_change").set_value(["broken"]).run()
    assert at.dataframe[1].value["idx"].tolist() == [5]

    # a third run on another test set: judged by CI overlap, no per-example table
    write_run(root, "20261124-030000-else", test_fp="0" * 64, started="2026-11-24T03:00:00+00:00")
    at = _page(_app(root, monkeypatch), "compare")
    assert any("different test sets" in i for i in _texts(at.info))
    table = at.dataframe[0].value
    assert all(
        t.startswith(("CI comparison, normal approx.", "no CI on either side"))
        for t in table["test"]
    )
    assert any(
        "Shown only when both runs scored the same test set" in c for c in _texts(at.caption)
    )


def _generic_page(at: AppTest, audit: str) -> AppTest:
    """The generic page serves several audits, each under its own url path; switch_page
    takes a file, so the audit's page is picked by url path among the registered pages."""
    at.switch_page("views/audit.py")
    at._page_hash = next(
        h for h, info in at._registered_pages.items() if info.get("url_pathname") == audit
    )
    at.run()
    assert not at.exception, at.exception
    return at


def test_declared_displays_filter_predictions_and_show_examples(full, monkeypatch):
    """The slices audit has no page of its own: its artifacts' declarations (RowSets,
    Examples) make the generic page filter the test predictions by a slice."""
    at = _generic_page(_app(full, monkeypatch), "slices")
    results = load_results(full / "finance_sentiment" / FULL)
    assert [t.value for t in at.title] == ["Error slices"]
    members = [
        json.loads(line)
        for line in (full / "finance_sentiment" / FULL / "slice_members.jsonl").open()
    ]
    first = members[0]
    assert at.selectbox(key="slices_members_pick").value == first["description"]
    shown = next(df.value for df in at.dataframe if "pred_name" in df.value.columns)
    assert sorted(shown["idx"]) == sorted(first["rows"])
    assert f"{len(first['rows'])} test example(s)" in " ".join(_texts(at.caption))
    examples = next(df.value for df in at.dataframe if "confidence" in df.value.columns
                    and "pred" in df.value.columns)  # fmt: skip
    assert len(examples) == results.audits["slices"].tables["slices"].records()[0]["errors"]
    _no_raw_script(at)

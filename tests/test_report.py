"""The HTML report rendered from contract-shaped run directories: sections, plots, escaping,
no external references, failed and missing audits, gate badges, and the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from auditkit.api.results import load_results
from auditkit.report import render_report
from tests.fixtures import XSS
from tests.fixtures import write_run_dir as write_run
from tests.resources import chromium_binary

GATE = {
    "baseline": "reports/finance_sentiment/20261101-000000-base",
    "status": "regressed",
    "checks": [
        {"metric": "performance.accuracy", "verdict": "pass", "baseline": 0.94, "current": 0.95},
        {"metric": "robustness.deepwordbug.attack_success_rate", "verdict": "regressed",
         "delta": 0.12, "message": f"worse {XSS}"},
        {"metric": "fairness.gender.counterfactual_flip_rate", "verdict": "improved"},
        {"metric": "efficiency.fp32.bs1.latency_p50_ms", "verdict": "inconclusive"},
    ],
}  # fmt: skip


class Page(HTMLParser):
    """What the tests look at: elements by tag, ids, text per section, attributes."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self.section: str | None = None
        self.section_text: dict[str, list[str]] = {}
        self.section_tags: dict[str, list[str]] = {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if attributes.get("id"):
            self.ids.add(attributes["id"])
        if tag == "section":
            self.section = attributes.get("id")
            self.section_text[self.section] = []
            self.section_tags[self.section] = []
        if self.section:
            self.section_tags[self.section].append(tag)

    def handle_endtag(self, tag):
        if tag == "section":
            self.section = None

    def handle_data(self, data):
        self.text.append(data)
        if self.section:
            self.section_text[self.section].append(data)

    def count(self, tag: str, section: str | None = None) -> int:
        if section:
            return self.section_tags[section].count(tag)
        return sum(1 for t, _ in self.tags if t == tag)

    def in_section(self, section: str) -> str:
        return " ".join(" ".join(self.section_text[section]).split())

    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def render(run_dir: Path) -> tuple[str, Page]:
    path = render_report(run_dir)
    assert path == run_dir / "report.html"
    html = path.read_text(encoding="utf-8")
    return html, Page(html)


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> tuple[Path, str, Page]:
    run_dir = write_run(tmp_path_factory.mktemp("full") / "run", gate=GATE)
    html, page = render(run_dir)
    return run_dir, html, page


def test_full_report_has_every_section_with_its_plots(full):
    run_dir, html, page = full
    audits = ["performance", "robustness", "fairness", "explanations", "efficiency"]
    assert {*audits, "manifest", "gate"} <= page.ids
    minimum = {"performance": 5, "robustness": 4, "fairness": 6, "explanations": 4,
               "efficiency": 3, "manifest": 2}  # fmt: skip
    for section, n in minimum.items():
        assert page.count("figure", section) >= n, section
        assert page.count("svg", section) == page.count("figure", section), section
    perf = page.in_section("performance")
    for title in (
        "Confusion matrix",
        "Reliability before and after temperature scaling",
        "Per-class precision, recall and F1",
        "Reliability per class",
        "Conformal prediction sets: coverage and set size",
    ):
        assert title in perf
    assert "95% bootstrap CIs" in perf  # per-class CIs from predictions.parquet
    rob = page.in_section("robustness")
    assert "Attacks per recipe" in rob and "flip rate per perturbation" in rob
    assert "Adversarial training: before and after" in rob
    assert "Attack validity: accuracy at stricter similarity thresholds" in rob
    assert "4 successful attack(s) of 6 attacked" in rob
    # behavioural failures, from the artifact's declaration: a DIR edit with its words marked
    assert "Behavioural test failures" in rob and "rose_to_fell (DIR): becomes negative" in rob
    assert "Orders rose sharply → Orders fell sharply" in rob
    assert "Orders <mark>rose</mark> sharply → Orders <mark>fell</mark> sharply" in html
    assert "Sales did not improve" in rob  # an MFT probe, shown as it is
    assert re.search(r"<mark>r0se</mark>", html) and re.search(r"<mark>prfoit</mark>", html)
    fair = page.in_section("fairness")
    assert "gender: accuracy and macro-F1 per group" in fair and "Parity differences" in fair
    assert "2 of 8 probe pairs changed prediction" in fair
    expl = page.in_section("explanations")
    assert "Attributions: integrated_gradients" in expl and "Top tokens: positive" in expl
    assert "Faithfulness (AOPC)" in expl
    assert html.count('class="tok') == 2 * 3 * 5  # two methods, three sentences, five words
    assert re.search(r'style="background-color: rgba\(214, 39, 40, 0\.\d+\)"', html)  # red
    assert re.search(r'style="background-color: rgba\(31, 119, 180, 0\.\d+\)"', html)  # blue
    eff = page.in_section("efficiency")
    assert "Latency against batch size" in eff and "tradeoffs" in eff
    assert "520 J per 1k examples" in eff and "estimated" in eff
    man = page.in_section("manifest")
    for fact in ("2.13.0", "seed", "Stage times", "audit:efficiency", "7421d6a"):
        assert fact in man
    # Every metric of every audit is listed, so a name added later still shows.
    results = load_results(run_dir)
    for name, audit in results.audits.items():
        for key in audit.metrics:
            assert key in page.in_section(name), (name, key)


def test_declared_example_artifacts_are_shown_for_any_audit(full):
    """The slices audit has no section module: its examples block comes from its artifact's
    declaration (`shows=Examples`), the error tree from its table."""
    run_dir, html, page = full
    sl = page.in_section("slices")
    results = load_results(run_dir)
    top = results.audits["slices"].tables["slices"].records()[0]
    assert top["slice"] == "pattern.flagged"
    examples = [
        json.loads(line) for line in (run_dir / "slice_examples.jsonl").read_text().splitlines()
    ]
    n = sum(e["slice"] == "pattern.flagged" for e in examples)
    assert n >= 3 and examples[0]["text"] in sl
    assert (
        "Misclassified examples in the significant slices" in sl
        and f"matches `flagged` {XSS} (3 of {n})" in sl
    )
    assert "error_tree" in sl and "└ " in sl  # the tree, drawn in its branch column
    assert "<h4>matches `flagged` &lt;script&gt;" in html


def test_scorecard_tiles_and_gate_badges(full):
    _, html, page = full
    tiles = re.findall(r'<div class="tile t-(\w[\w-]*)">(.*?)</a></div>', html, flags=re.S)
    assert [t[0] for t in tiles] == ["ok"] * 6
    verdicts = [re.search(r"b-(pass|regressed|improved|inconclusive)", body) for _, body in tiles]
    assert [v.group(1) if v else None for v in verdicts] == [
        "pass", "regressed", "improved", None, "inconclusive", None,
    ]  # fmt: skip
    assert "significant slices" in tiles[5][1]  # the slices audit's declared headline
    assert "0.95" in tiles[0][1] and "accuracy" in tiles[0][1]
    assert "accuracy under attack (deepwordbug)" in tiles[1][1] and "0.41" in tiles[1][1]
    assert "27 ms" in tiles[4][1]
    gate = page.in_section("gate")
    assert "20261101-000000-base" in gate and "worse " + XSS in gate


def test_no_external_references(full):
    _, html, page = full
    for needle in ("http://", "https://", "@import", "url(http", "url(//", "<link", "<img"):
        assert needle not in html, needle
    for tag, attrs in page.tags:
        for name in ("src", "href", "xlink:href"):
            value = attrs.get(name)
            if value is None:
                continue
            assert not re.match(r"^\s*(//|[a-z][a-z0-9+.-]*:)", value, re.I), (tag, value)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html


def test_script_payload_from_the_data_is_escaped(full):
    _, html, page = full
    assert page.count("script") == 0
    assert "<script>" not in html
    # The payload went in through a warning, a group name (also plotted), tokens, texts and the
    # gate message, and comes out as text.
    assert page.all_text().count(XSS) >= 8
    assert html.count("&lt;script&gt;alert(") >= 8
    assert "&lt;script&gt;alert(" in "".join(re.findall(r"<svg.*?</svg>", html, flags=re.S))


def test_failed_audit_is_shown_with_its_reason_and_the_rest_renders(tmp_path):
    run_dir = write_run(tmp_path / "run", failed=("robustness",))
    html, page = render(run_dir)
    rob = page.in_section("robustness")
    assert f"failed: RuntimeError: boom {XSS}" in rob
    assert page.count("figure", "robustness") == 0
    assert page.count("figure", "fairness") >= 6 and page.count("script") == 0
    assert '<div class="tile t-failed">' in html
    assert "gate" not in page.ids  # no gate.json


def test_performance_only_shows_not_run_for_the_others(tmp_path):
    run_dir = write_run(tmp_path / "run", audits=("performance",))
    html, page = render(run_dir)
    assert page.count("figure", "performance") == 5
    for name in ("robustness", "fairness", "explanations", "efficiency", "slices"):
        assert "not run" in page.in_section(name)
        assert page.count("figure", name) == 0
    assert html.count('<div class="tile t-not-run">') == 5


def test_results_without_calibration_tables_keep_the_single_reliability_diagram(tmp_path):
    """A run from before temperature scaling and conformal sets (or with both off)."""
    run_dir = write_run(tmp_path / "run", audits=("performance",))
    raw = json.loads((run_dir / "results.json").read_text())
    tables = raw["audits"]["performance"]["tables"]
    for name in ("calibration_reliability", "classwise_reliability", "conformal"):
        del tables[name]
    (run_dir / "results.json").write_text(json.dumps(raw))
    _, page = render(run_dir)
    perf = page.in_section("performance")
    assert "Reliability diagram" in perf and "Reliability before and after" not in perf
    assert page.count("figure", "performance") == 3


def test_failed_run_shows_a_banner(tmp_path):
    run_dir = write_run(tmp_path / "run", audits=(), run_error="test.csv vanished")
    html, page = render(run_dir)
    assert "The run failed: DataError: test.csv vanished" in page.all_text()
    assert html.count('<div class="tile t-not-run">') == 6
    assert page.count("figure", "manifest") == 2


def test_missing_or_malformed_tables_skip_their_plot_with_a_note(tmp_path):
    run_dir = write_run(tmp_path / "run")
    raw = json.loads((run_dir / "results.json").read_text())
    del raw["audits"]["efficiency"]["tables"]["latency"]
    raw["audits"]["robustness"]["tables"]["invariance"] = {
        "columns": ["name", "flip_rate"], "rows": [["typos", 0.1]],
    }  # fmt: skip
    (run_dir / "results.json").write_text(json.dumps(raw))
    (run_dir / "robustness_attacks.jsonl").unlink()
    _, page = render(run_dir)
    eff, rob = page.in_section("efficiency"), page.in_section("robustness")
    assert "no `latency` table in the results, so no latency plot" in eff
    assert "Latency against batch size" not in eff and "Energy" in eff
    assert "no `attacks` artifact in the results, so no adversarial examples" in rob
    assert "robustness_attacks.jsonl (missing)" in rob
    assert "could not be drawn: KeyError: 'perturbation'" in rob  # a renamed column
    assert "Attacks per recipe" in rob  # the others still render


def test_bad_gate_json_is_reported_not_fatal(tmp_path):
    run_dir = write_run(
        tmp_path / "run",
        audits=("performance",),
        gate={"checks": [{"metric": "performance.accuracy", "verdict": "fine"},
                         {"metric": "performance.macro_f1", "verdict": "regressed"}]},
    )  # fmt: skip
    html, page = render(run_dir)
    gate = page.in_section("gate")
    assert "checks[0] needs a string `metric` and a `verdict`" in gate
    assert '<div class="tile t-ok">' in html and "b-regressed" in html
    (run_dir / "gate.json").write_text("{not json")
    _, page = render(run_dir)
    assert "gate.json could not be read" in page.in_section("gate")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "auditkit", *args], capture_output=True, text=True, check=False
    )


def test_cli_report_writes_the_file_and_rejects_a_non_run(tmp_path):
    run_dir = write_run(tmp_path / "suite" / "20261124-060000-abcd", audits=("performance",))
    (tmp_path / "suite" / "latest").write_text(run_dir.name + "\n")  # the no-symlink pointer
    done = cli("report", str(tmp_path / "suite" / "latest"), "--out", str(tmp_path / "r.html"))
    assert done.returncode == 0, done.stderr
    written = (tmp_path / "r.html").read_text()
    assert "Confusion matrix" in written
    assert 'href="suite/20261124-060000-abcd/predictions.parquet"' in written
    done = cli("report", str(tmp_path))
    assert done.returncode == 2 and "no results.json found" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_report_error_is_logged_not_raised(tmp_path, caplog, monkeypatch):
    import auditkit.report as report

    run_dir = write_run(tmp_path / "run", audits=())

    def broken(*args, **kwargs):
        raise RuntimeError("template exploded")

    monkeypatch.setattr(report, "render_html", broken)
    assert report.try_render_report(run_dir) is None
    assert "template exploded" in caplog.text and "auditkit report" in caplog.text
    assert not (run_dir / "report.html").exists()
    assert load_results(run_dir).status == "ok"  # results.json untouched


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Debian's chromium, headless, with a fresh profile and console messages on stderr."""
    exe = chromium_binary()  # skips locally, fails in CI, when it is not installed
    profile = tempfile.mkdtemp(dir=tmp_path, prefix="chromium-profile-")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
             "--enable-logging=stderr", "--v=0"]  # fmt: skip
    return subprocess.run(
        [exe, *flags, *args], capture_output=True, text=True, timeout=180, check=False
    )


def console_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.slow
def test_report_in_headless_chromium(full, tmp_path):
    from PIL import Image

    run_dir, html, _ = full
    shot = tmp_path / "report.png"
    done = chromium(
        tmp_path,
        f"--screenshot={shot}",
        "--window-size=1280,4000",
        (run_dir / "report.html").as_uri(),
    )
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    assert console_lines(done) == []
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 4000)
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 200  # plots, badges and highlights, not a blank page
    white = max((n for n, c in colours if c == (255, 255, 255)), default=0)
    assert white < 0.95 * image.size[0] * image.size[1]

    # The console check can fail: an external image is refused by the page's CSP and logged.
    (tmp_path / "tampered.html").write_text(
        html.replace("<main>", '<main><img src="http://example.invalid/x.png">', 1)
    )
    done = chromium(
        tmp_path, f"--screenshot={tmp_path / 't.png'}", (tmp_path / "tampered.html").as_uri()
    )
    assert any("Content Security Policy" in line for line in console_lines(done)), done.stderr

    pdf = tmp_path / "report.pdf"
    done = chromium(
        tmp_path,
        f"--print-to-pdf={pdf}",
        "--no-pdf-header-footer",
        (run_dir / "report.html").as_uri(),
    )
    assert done.returncode == 0 and pdf.read_bytes().startswith(b"%PDF"), done.stderr[-2000:]
    assert console_lines(done) == []
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf.read_bytes()))
    assert pages >= 6  # one page per audit section at least (break-before: page)

"""What a user reads: TextAttack's per-worker log lines show only with `-v`.

TextAttack logs "Goal function ... compatible with model ..." through its own stderr handler
once per Attack built, i.e. once per concurrent worker: 146 lines on the default run.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from auditkit.audits.robustness import offline
from auditkit.audits.robustness.recipes import RECIPES

ROOT = Path(__file__).resolve().parents[1]

# Runs the CLI with every internet connection (and DNS lookup) refused and written down.
GUARDED_CLI = """
import json, os, socket, sys
log = os.environ["TEST_NET_LOG"]
def note(what):
    with open(log, "a") as fh:
        fh.write(json.dumps(repr(what)) + "\\n")
    raise OSError("network blocked by the test")
real = socket.socket.connect
def connect(self, address, *args):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        note(address)
    return real(self, address, *args)
socket.socket.connect = connect
socket.socket.connect_ex = lambda self, address: note(address)
socket.getaddrinfo = lambda *args, **kwargs: note(args[:2])
sys.argv = ["auditkit", *sys.argv[1:]]
from auditkit.cli import main
main()
"""

AUDITS = """  robustness:
    recipes: [deepwordbug]
    sample_size: 6
    concurrency: 3
    bootstrap: 0
    invariance: {enabled: false}
"""


class _Wrapper:  # enough of a TextAttack model wrapper to build a recipe
    def __init__(self):
        from transformers import BertConfig, BertForSequenceClassification

        config = BertConfig(vocab_size=8, hidden_size=4, num_hidden_layers=1,
                            num_attention_heads=1, intermediate_size=4)  # fmt: skip
        self.model = BertForSequenceClassification(config)


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def test_textattack_lines_are_auditkit_debug_records(capfd):
    """In-process: TextAttack's records reach auditkit's logger at DEBUG, and no console."""
    auditkit_log = logging.getLogger("auditkit")
    saved = auditkit_log.level
    seen = _Records()
    auditkit_log.addHandler(seen)
    try:
        offline.prepare_textattack()
        for level in (logging.INFO, logging.DEBUG):  # what the CLI sets: DEBUG with -v
            auditkit_log.setLevel(level)
            capfd.readouterr()
            RECIPES["deepwordbug"].build(_Wrapper())  # TextAttack logs its goal function check
            assert "Goal function" not in capfd.readouterr().err
            lines = [r for r in seen.records if "Goal function" in r.getMessage()]
            assert len(lines) == (0 if level == logging.INFO else 1), level
    finally:
        auditkit_log.removeHandler(seen)
        auditkit_log.setLevel(saved)
    (line,) = lines
    assert line.levelno == logging.DEBUG and line.name == "auditkit.textattack"
    assert line.getMessage().startswith("textattack: Goal function")
    # capfd cannot see a handler that kept an older sys.stderr: TextAttack keeps none
    handlers = logging.getLogger(offline.TEXTATTACK_LOGGER).handlers
    assert not [h for h in handlers if isinstance(h, logging.StreamHandler)]


def _cli(tmp_path: Path, suite: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TA_CACHE_DIR")}
    env.update(
        HOME=str(tmp_path / "home"),  # a user's home: nothing may be written there
        AUDITKIT_CACHE_DIR=str(tmp_path / "cache"),
        TEST_NET_LOG=str(tmp_path / "net.log"),
    )
    (tmp_path / "home").mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-c", GUARDED_CLI, "run", str(suite), "--out", str(tmp_path / "out"),
         "--no-progress", *extra],
        capture_output=True, text=True, cwd=ROOT, env=env, check=False, timeout=600,
    )  # fmt: skip


def test_default_run_shows_no_textattack_line_and_opens_no_connection(toy_suite, tmp_path):
    suite = toy_suite(audits=AUDITS)
    quiet = _cli(tmp_path, suite)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    console = quiet.stdout + quiet.stderr
    assert "Goal function" not in console, console[-3000:]
    assert not [x for x in console.splitlines() if x.startswith("textattack")]
    assert not (tmp_path / "net.log").exists(), (tmp_path / "net.log").read_text()
    # everything auditkit and TextAttack wrote is under auditkit's cache, nothing in $HOME
    home = tmp_path / "home"
    assert not (home / ".cache" / "textattack").exists() and not (home / "nltk_data").exists()
    assert (tmp_path / "cache" / "textattack" / "post_install_check_3").is_file()
    results = json.loads((tmp_path / "out" / "toy" / "latest" / "results.json").read_text())
    (stop,) = results["manifest"]["resources"]
    assert stop["used_by"] == ["deepwordbug"] and len(stop["sha256"]) == 64

    verbose = _cli(tmp_path, suite, "-v")
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    goal = [x for x in verbose.stderr.splitlines() if "Goal function" in x]
    assert len(goal) == 3  # one per worker (concurrency 3), each a DEBUG line
    assert all(" DEBUG " in x and "textattack: Goal function" in x for x in goal)
    again = json.loads((tmp_path / "out" / "toy" / "latest" / "results.json").read_text())
    assert again["manifest"]["resources"] == results["manifest"]["resources"]

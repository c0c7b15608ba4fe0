"""Faults under torchrun, end to end: an installed audit whose per-example work raises on rank
1, and one whose work hangs on rank 1 past `--timeout-s`. Each fails with a message that names
the rank; the audits before and after them keep their results, and the run's files are written.

The two audits come from a package installed with pip into a folder of its own (entry point
`auditkit.audits`), as a team's own audit would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditkit.api.results import load_results
from tests.conftest import write_toy_suite
from tests.fixtures.plugins import install_plugin

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
TIMEOUT_S = 20

PLUGIN = '''
"""Two audits that go wrong on rank 1 of a launch, and only there."""

import time

from auditkit.api.audit import Audit, AuditConfig
from auditkit.api.outputs import MetricSpec, Outputs
from auditkit.api.results import AuditResult, Metric


class Nothing(AuditConfig):
    pass


class _OnRank1(Audit):
    Config = Nothing
    outputs = Outputs(title="demo", metrics=(MetricSpec("n", "texts scored", ci=False),))

    def go_wrong(self):
        raise NotImplementedError

    def run(self, ctx):
        def score(texts):
            if ctx.shards.rank == 1:
                self.go_wrong()
            return list(ctx.model.predict_proba(texts).max(axis=1))

        scores = ctx.map(list(ctx.data.test["text"]), score, cost=len, block=8, desc=self.name)
        result = AuditResult(name=self.name)
        result.metrics["n"] = Metric(value=len(scores))
        return result


class ExplodeAudit(_OnRank1):
    name = "explode"
    description = "raises in the blocks rank 1 computes"

    def go_wrong(self):
        raise ValueError("the probe file on this node is corrupt")


class StallAudit(_OnRank1):
    name = "stall"
    description = "hangs in the blocks rank 1 computes"

    def go_wrong(self):
        time.sleep(600)
'''

PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "auditkit-faulty-demo"
version = "0.1.0"

[project.entry-points."auditkit.audits"]
explode = "auditkit_faulty_demo:ExplodeAudit"
stall = "auditkit_faulty_demo:StallAudit"

[tool.setuptools]
packages = ["auditkit_faulty_demo"]
"""

AUDITS = """  performance:
    bootstrap: 200
  explode: {}
  stall: {}
  slices:
    min_size: 10
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return install_plugin(
        tmp_path_factory.mktemp("faulty"), "auditkit_faulty_demo", PLUGIN, PYPROJECT
    )


def test_a_raising_and_a_hanging_rank_fail_their_audits_and_the_others_keep_theirs(
    site, tiny_bert, tmp_path
):
    suite = write_toy_suite(tmp_path, tiny_bert, audits=AUDITS)
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
        "OMP_NUM_THREADS": "1",
        "AUDITKIT_NO_PROGRESS": "1",
    }
    start = time.monotonic()
    done = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "auditkit", "run", str(suite),
         "--out", str(tmp_path / "out"), "--timeout-s", str(TIMEOUT_S)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - start
    out = done.stdout + done.stderr
    assert done.returncode != 0, out[-3000:]  # an audit failed: the job says so
    assert elapsed < 300, f"the hang held the job for {elapsed:.0f} s"

    results = load_results((tmp_path / "out" / "toy" / "latest").resolve())
    audits = results.audits
    assert list(audits) == ["performance", "explode", "stall", "slices"]
    assert {n: a.status for n, a in audits.items()} == {
        "performance": "ok", "explode": "failed", "stall": "failed", "slices": "ok",
    }  # fmt: skip

    # The raise: rank 1's own error, named on rank 0, and the ranks went on together.
    explode = audits["explode"].error
    assert explode.type == "RankFailed"
    assert "explode: explode: rank 1 (" in explode.message
    assert "cpu) failed: ValueError: the probe file on this node is corrupt" in explode.message

    # The hang: the timeout from the CLI, in words, with what to do about it.
    stall = audits["stall"].error
    assert stall.type == "RankTimeout"
    assert f"not every one of the 2 ranks answered within {TIMEOUT_S} s" in stall.message
    assert "hint: raise distributed.timeout_s (or --timeout-s)" in stall.message

    # Before and after the faults, the audits' numbers are there; slices ran on rank 0 alone.
    assert audits["performance"].metrics["accuracy"].value is not None
    assert audits["slices"].metrics
    assert results.manifest.world_size == 2
    assert "the ranks left finish the run alone" in stall.message

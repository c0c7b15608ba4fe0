"""The README's multi-process launch, run for real: two CPU ranks (gloo) under torchrun.

Rank 0 audits while rank 1 leaves after the data-parallel fine-tune; every rank must exit 0,
every audit must finish, and rank 0's audits must give the numbers one process gives for the
same weights.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from auditkit.api.results import load_results

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "suites" / "finance_sentiment.yaml"
AUDITS = ("performance", "explanations", "efficiency")
pytestmark = pytest.mark.slow


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200, check=False
    )


def test_two_rank_torchrun_exits_0_with_every_audit_as_one_process(tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "AUDITKIT_CACHE_DIR": str(tmp_path / "cache"),  # a fresh, two-rank fine-tune
        "AUDITKIT_NO_PROGRESS": "1",
    }
    only = [arg for name in AUDITS for arg in ("--only", name)]
    # The README's line, word for word, with the suite given by its absolute path.
    launch = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "auditkit", "run"]
    done = run([*launch, str(SUITE), *only], tmp_path, env)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "rank 1 of 2" in out
    two = load_results(tmp_path / "reports" / "finance_sentiment" / "latest")
    assert two.status == "ok"
    assert two.manifest.world_size == 2 and [r.rank for r in two.manifest.ranks] == [0, 1]
    assert {n: a.status for n, a in two.audits.items()} == dict.fromkeys(AUDITS, "ok")

    # The training summary says how it was trained; the steps are those of two ranks.
    t = two.training
    assert t is not None and not t.cache_hit
    assert t.world_size == 2 and t.effective_batch_size == 2 * t.config["batch_size"]
    per_rank = math.ceil(two.data.split_sizes["train"] / 2)
    assert t.steps == math.ceil(per_rank / t.config["batch_size"]) * int(t.epochs)

    # One process auditing the same weights gives the same numbers.
    model_dir = tmp_path / "cache" / "models" / t.cache_key
    raw = yaml.safe_load(SUITE.read_text())
    raw["model"]["id"] = str(model_dir)
    raw["data"]["path"] = str((SUITE.parent / raw["data"]["path"]).resolve())
    raw["training"] = {"enabled": False}
    raw["audits"] = {name: raw["audits"][name] for name in AUDITS}
    single_suite = tmp_path / "single.yaml"
    single_suite.write_text(yaml.safe_dump(raw, sort_keys=False))
    done = run([sys.executable, "-m", "auditkit", "run", str(single_suite), *only], tmp_path, env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    one = load_results(tmp_path / "reports" / "finance_sentiment" / "latest")
    assert one.run_id != two.run_id and one.manifest.model.fingerprint
    for audit in ("performance", "explanations"):
        a, b = one.audits[audit].metrics, two.audits[audit].metrics
        assert set(a) == set(b)
        for name in a:
            for field in ("value", "ci_low", "ci_high"):
                x, y = getattr(a[name], field), getattr(b[name], field)
                assert (x is None) == (y is None), f"{audit}.{name}.{field}"
                if x is not None:
                    assert x == pytest.approx(y, rel=1e-4, abs=1e-6), f"{audit}.{name}.{field}"
    deltas = [k for k in one.audits["efficiency"].metrics if k.endswith("accuracy_delta")]
    assert deltas
    for name in deltas:
        x = one.audits["efficiency"].metrics[name].value
        assert x == pytest.approx(two.audits["efficiency"].metrics[name].value, abs=1e-9)

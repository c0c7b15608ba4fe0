"""The README's multi-process launch, run for real: two CPU ranks (gloo, one thread each) under
torchrun, against one process auditing the same weights.

A two-rank run fine-tunes data-parallel. Then the default suite's audits run on those weights
twice: sharded over two ranks, and in one process. Every metric, CI, table and artifact row of
robustness (attacks, adversarial training, invariance, behaviour), fairness (probes,
mitigation), explanations and performance must be equal bit for bit. Efficiency runs on rank 0
alone and says so.
"""

from __future__ import annotations

import copy
import importlib.util
import json
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
SHARDED = ("performance", "robustness", "fairness", "explanations")
AUDITS = (*SHARDED, "efficiency")
pytestmark = pytest.mark.slow


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800, check=False
    )


def compare_results():
    spec = importlib.util.spec_from_file_location(
        "compare_results", ROOT / "bench" / "compare_results.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def latest(tmp_path: Path) -> Path:
    return (tmp_path / "reports" / "finance_sentiment" / "latest").resolve()


def test_two_ranks_give_one_process_results_bit_for_bit(tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "AUDITKIT_CACHE_DIR": str(tmp_path / "cache"),  # a fresh, two-rank fine-tune
        "AUDITKIT_NO_PROGRESS": "1",
    }
    launch = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "auditkit", "run"]

    # 1. The README's line, word for word (the suite by its absolute path): a data-parallel
    #    fine-tune on two ranks, then the performance audit sharded over them.
    done = run([*launch, str(SUITE), "--only", "performance"], tmp_path, env)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "rank 1 of 2" in out
    trained = load_results(latest(tmp_path))
    assert trained.status == "ok" and trained.audits["performance"].status == "ok"
    t = trained.training
    assert t is not None and not t.cache_hit
    assert t.world_size == 2 and t.effective_batch_size == 2 * t.config["batch_size"]
    per_rank = math.ceil(trained.data.split_sizes["train"] / 2)
    assert t.steps == math.ceil(per_rank / t.config["batch_size"]) * int(t.epochs)

    # 2. The default suite's audits on those weights (training off, so that the inner
    #    fine-tunes start from the same model in both runs), on two ranks and in one process.
    raw = yaml.safe_load(SUITE.read_text())
    raw["model"]["id"] = str(tmp_path / "cache" / "models" / t.cache_key)
    raw["training"] = {"enabled": False}
    raw["audits"] = {name: raw["audits"][name] for name in AUDITS}
    shutil.copytree(SUITE.parent, tmp_path / "suites")  # its data and term files, by relative path
    single_suite = tmp_path / "suites" / "single.yaml"
    single_suite.write_text(yaml.safe_dump(raw, sort_keys=False))
    only = [arg for name in AUDITS for arg in ("--only", name)]
    done = run([*launch, str(single_suite), *only], tmp_path, env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    two_dir = latest(tmp_path)
    two = load_results(two_dir)
    assert two.status == "ok"
    assert two.manifest.world_size == 2 and [r.rank for r in two.manifest.ranks] == [0, 1]
    assert all(r.device == "cpu" and r.torch_threads == 1 for r in two.manifest.ranks)
    assert {n: a.status for n, a in two.audits.items()} == dict.fromkeys(AUDITS, "ok")
    assert any("ran in one process (rank 0" in w for w in two.audits["efficiency"].warnings)

    done = run([sys.executable, "-m", "auditkit", "run", str(single_suite), *only], tmp_path, env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    one_dir = latest(tmp_path)
    one = load_results(one_dir)
    assert one.run_id != two.run_id and one.manifest.world_size == 1 and not one.manifest.ranks
    assert one.audits["efficiency"].status == "ok"

    # Every metric, CI and table of the sharded audits, bit for bit.
    docs = [json.loads((d / "results.json").read_text()) for d in (one_dir, two_dir)]
    for doc in docs:
        doc["audits"] = {name: doc["audits"][name] for name in SHARDED}
    assert sum(len(a["metrics"]) for a in docs[0]["audits"].values()) > 200
    assert compare_results().compare(*docs, exact=True) == []
    # A last-bit change is seen (the comparison can fail).
    changed = copy.deepcopy(docs[1])
    ece = changed["audits"]["performance"]["metrics"]["ece"]
    ece["value"] = math.nextafter(ece["value"], 1.0)
    assert compare_results().compare(docs[0], changed, exact=True)
    # The two-rank fine-tune's own run audited the weights every rank took from rank 0.
    first = trained.audits["performance"].metrics
    for name, metric in one.audits["performance"].metrics.items():
        assert (metric.value, metric.ci_low, metric.ci_high) == (
            first[name].value, first[name].ci_low, first[name].ci_high,
        ), name  # fmt: skip

    # Every artifact row of the sharded audits: the files are equal byte for byte.
    compared = 0
    for name in SHARDED:
        assert one.audits[name].artifacts == two.audits[name].artifacts
        for file_name in one.audits[name].artifacts.values():
            a, b = (one_dir / file_name).read_bytes(), (two_dir / file_name).read_bytes()
            assert a == b, f"{name}: {file_name} differs between one process and two ranks"
            compared += 1
    assert compared >= 6
    attacks = (two_dir / "robustness_attacks.jsonl").read_text().splitlines()
    assert len(attacks) > 100 and {json.loads(x)["phase"] for x in attacks} == {"before", "after"}

    # Efficiency ran on rank 0 alone both times: its accuracy deltas are the same numbers.
    deltas = [k for k in one.audits["efficiency"].metrics if k.endswith("accuracy_delta")]
    assert deltas
    for name in deltas:
        x = one.audits["efficiency"].metrics[name].value
        assert x == two.audits["efficiency"].metrics[name].value, name

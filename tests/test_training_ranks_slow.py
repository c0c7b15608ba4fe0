"""Under a launch every rank follows rank 0's fine-tune cache, so nodes whose caches differ
neither hang (one node training data-parallel while the others loaded) nor audit different
models. Real gloo ranks, each with its own cache folder, as on nodes that share no disk."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.fixtures.ranks import rank_env, run_ranks


def _rank(rank: int, port: int, suite_path: str, cache: str, out: str) -> None:
    os.environ.update(rank_env(rank, port))
    from auditkit.training import SUMMARY_FILE, fine_tune
    from tests.test_training import setup

    suite, bundle, handle = setup(Path(suite_path))
    outcome = fine_tune(
        handle, bundle, suite.training, seed=0, cache_dir=Path(cache), progress=False,
        timeout_s=60,
    )  # fmt: skip
    probs = outcome.handle.predict_proba(bundle.test["text"][:24])
    report = {
        "hit": outcome.summary.cache_hit,
        "key": outcome.summary.cache_key,
        "steps": outcome.summary.steps,
        "probs": probs.tolist(),
        "cached_here": any(Path(cache).glob(f"models/*/{SUMMARY_FILE}")),
    }
    Path(out).write_text(json.dumps(report))


def _launch(tmp_path: Path, name: str, suite: Path, caches: list[Path]) -> list[dict]:
    folder = tmp_path / name
    folder.mkdir()
    return run_ranks(
        folder,
        lambda r, port, out: (
            "from tests.test_training_ranks_slow import _rank; "
            f"_rank({r}, {port}, {str(suite)!r}, {str(caches[r])!r}, {out!r})"
        ),
        wait_s=240,
    )


@pytest.mark.slow
def test_ranks_with_different_caches_follow_rank_0(toy_suite, tmp_path):
    suite = toy_suite()
    a, b = tmp_path / "cache-a", tmp_path / "cache-b"

    # both caches empty: one data-parallel fine-tune, cached by rank 0 alone
    first = _launch(tmp_path, "first", suite, [a, b])
    assert [r["hit"] for r in first] == [False, False] and first[0]["steps"] > 0
    assert [r["cached_here"] for r in first] == [True, False]

    # rank 0 has it, rank 1 does not: no rank trains, and rank 1 gets rank 0's weights
    second = _launch(tmp_path, "second", suite, [a, b])
    assert [r["hit"] for r in second] == [True, True]
    assert second[1]["key"] == second[0]["key"] == first[0]["key"]
    assert second[1]["steps"] == first[0]["steps"]  # rank 0's summary, not a fresh one
    assert second[1]["probs"] == second[0]["probs"]  # bit for bit: one model on both ranks
    assert not second[1]["cached_here"]

    # rank 1 has it, rank 0 does not: every rank trains, together
    third = _launch(tmp_path, "third", suite, [b, a])
    assert [r["hit"] for r in third] == [False, False]
    assert third[0]["steps"] == third[1]["steps"] == first[0]["steps"]
    assert third[0]["cached_here"]  # rank 0 cached it in its own folder now

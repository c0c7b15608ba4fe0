"""ctx.map's blocks: what makes a sharded run equal a single-process run, and how ranks fail.

The plan (blocks, their assignment) is checked as plain data; the exchange runs for real on two
gloo processes on this machine, against the one-process loop.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import traceback
from pathlib import Path

import pytest

from auditkit.api.sharding import InOrder, LocalShards, assign, checked, make_blocks, scatter
from auditkit.progress import Progress
from tests.fixtures.ranks import rank_env, run_ranks

TEXTS = [("word " * (1 + (i * 7) % 23)).strip() + f" #{i}" for i in range(61)]


def block_fn(chosen: list[str]) -> list[list]:
    """A result that shows which block computed it (its first member and size)."""
    return [[text, len(text), chosen[0], len(chosen)] for text in chosen]


def test_blocks_depend_on_the_items_alone_and_group_similar_costs():
    costs = [len(t) for t in TEXTS]
    blocks = make_blocks(costs, 8)
    assert [b.index for b in blocks] == list(range(8))
    assert sorted(i for b in blocks for i in b.members) == list(range(61))
    assert [len(b.members) for b in blocks] == [8] * 7 + [5]
    # cut from the items in order of cost: every block's costs lie above the last block's
    for a, b in itertools.pairwise(blocks):
        assert max(costs[i] for i in a.members) <= min(costs[i] for i in b.members)
    assert make_blocks(costs, 8) == blocks  # no randomness, no world size
    with pytest.raises(ValueError, match="at least 1"):
        make_blocks(costs, 0)


def test_assignment_is_longest_first_balanced_and_the_same_on_every_rank():
    blocks = make_blocks([len(t) for t in TEXTS], 4)
    plan = assign(blocks, 3)
    assert sorted(b for p in plan for b in p) == list(range(len(blocks)))
    loads = [sum(blocks[b].cost for b in p) for p in plan]
    assert max(loads) - min(loads) <= max(b.cost for b in blocks)  # LPT's bound
    assert assign(blocks, 3) == plan
    assert assign(blocks, 1) == [list(range(len(blocks)))]
    # more processes than blocks: the extra ones get nothing, and nothing is lost
    assert sorted(map(len, assign(blocks[:2], 4))) == [0, 0, 1, 1]


def test_local_map_returns_results_in_item_order_and_streams_blocks_in_block_order():
    blocks = make_blocks([len(t) for t in TEXTS], 8)
    seen: list[tuple[str, int]] = []
    per_block = LocalShards().run(
        TEXTS,
        block_fn,
        blocks,
        desc="t",
        progress=Progress(False),
        on_block=lambda chosen, results: seen.append((chosen[0], len(results))),
        keep=lambda r: r[1],
    )
    assert seen == [(TEXTS[b.members[0]], len(b.members)) for b in blocks]
    assert scatter(blocks, per_block, len(TEXTS)) == [len(t) for t in TEXTS]


def test_blocks_arriving_out_of_order_are_emitted_in_order():
    blocks = make_blocks([1.0] * 6, 2)
    items = list("abcdef")
    seen: list[list[str]] = []
    arrived = InOrder(items, blocks, lambda chosen, _: seen.append(chosen), None)
    arrived.add(2, ["E", "F"])
    assert seen == [] and arrived.waiting.keys() == {2}
    arrived.add(0, ["A", "B"])
    assert seen == [["a", "b"]]
    arrived.add(1, ["C", "D"])
    assert seen == [["a", "b"], ["c", "d"], ["e", "f"]] and not arrived.waiting
    assert arrived.done() == [["A", "B"], ["C", "D"], ["E", "F"]]


def test_a_function_that_returns_the_wrong_number_of_results_is_named():
    with pytest.raises(RuntimeError, match="returned 1 results for a block of 2 items"):
        checked([1], 2, "probe scoring")


# --------------------------------------------------------------------- two real gloo ranks
def _rank(rank: int, port: int, scenario: str, timeout_s: float, out: str) -> None:
    """One rank: join a two-process gloo group through auditkit's Cluster, run the scenario."""
    os.environ.update(rank_env(rank, port))
    from auditkit import distributed

    distributed.ROUND_ITEMS = 8  # many rounds for 61 items in blocks of 4
    report: dict = {"rank": rank}
    cluster = distributed.Cluster(timeout_s, "cpu")
    blocks = make_blocks([len(t) for t in TEXTS], 4)
    seen: list[str] = []
    mine: list[int] = []

    def fn(chosen: list[str]) -> list[list]:
        mine.append(len(chosen))
        if scenario == "raise" and cluster.rank == 1:
            raise ValueError("boom on the block rank 1 got")
        if scenario == "hang" and cluster.rank == 1:
            time.sleep(3 * timeout_s)
        return block_fn(chosen)

    try:
        cluster.start_audit("demo")
        per_block = cluster.run(
            TEXTS, fn, blocks, desc="probes", progress=Progress(False),
            on_block=lambda chosen, _: seen.append(chosen[0]), keep=None,
        )  # fmt: skip
        report["results"] = scatter(blocks, per_block, len(TEXTS))
    except Exception as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
        report["traceback"] = traceback.format_exc()
    report.update(seen=seen, computed=sum(mine), broken=cluster.broken)
    if scenario == "hang" and rank == 0:  # the group is gone: rank 0 goes on alone
        per_block = cluster.run(
            TEXTS, block_fn, blocks, desc="after", progress=Progress(False), on_block=None,
            keep=None,
        )  # fmt: skip
        report["alone"] = scatter(blocks, per_block, len(TEXTS))
    Path(out).write_text(json.dumps(report))
    cluster.close()


def _two_ranks(tmp_path: Path, scenario: str, timeout_s: float = 60.0) -> list[dict]:
    return run_ranks(
        tmp_path,
        lambda r, port, out: (
            "from tests.test_sharding import _rank; "
            f"_rank({r}, {port}, {scenario!r}, {timeout_s}, {out!r})"
        ),
    )


def test_two_ranks_share_the_blocks_and_give_one_process_results(tmp_path):
    blocks = make_blocks([len(t) for t in TEXTS], 4)
    seen: list[str] = []
    one = LocalShards().run(
        TEXTS, block_fn, blocks, desc="t", progress=Progress(False),
        on_block=lambda chosen, _: seen.append(chosen[0]), keep=None,
    )  # fmt: skip
    expected = json.loads(json.dumps(scatter(blocks, one, len(TEXTS))))
    ranks = _two_ranks(tmp_path, "equal")
    for r in ranks:
        assert "error" not in r, r.get("traceback")
        assert r["results"] == expected  # every rank gets every result, as one process would
        assert r["seen"] == seen  # and streams the blocks in the same order
    assert ranks[0]["computed"] + ranks[1]["computed"] == len(TEXTS)  # each block once
    assert min(r["computed"] for r in ranks) > 20  # shared, not all on one rank


def test_a_rank_that_raises_fails_the_call_on_every_rank_with_its_error(tmp_path):
    for r in _two_ranks(tmp_path, "raise"):
        assert r["error"].startswith("RankFailed: demo: probes: rank 1 (")
        assert "cpu) failed: ValueError: boom on the block rank 1 got" in r["error"]
        assert r["broken"] is None  # the group still works: the next audit can go on


def test_a_rank_that_hangs_is_named_by_the_timeout_and_rank_0_finishes_alone(tmp_path):
    blocks = make_blocks([len(t) for t in TEXTS], 4)
    expected = json.loads(
        json.dumps(
            scatter(blocks, LocalShards().run(
                TEXTS, block_fn, blocks, desc="t", progress=Progress(False), on_block=None,
                keep=None,
            ), len(TEXTS))
        )
    )  # fmt: skip
    start = time.monotonic()
    rank0, _ = _two_ranks(tmp_path, "hang", timeout_s=4.0)
    assert time.monotonic() - start < 60
    assert rank0["error"].startswith("RankTimeout: demo: probes: not every one of the 2 ranks")
    assert "within 4 s" in rank0["error"] and "within 4 s (distributed.timeout_s" in rank0["broken"]
    assert rank0["alone"] == expected  # what rank 0 computes alone is what one process does

"""Per-example work in blocks: what `AuditContext.map` shards across processes.

Items are cut into blocks that depend on the items alone, never on how many processes run, and
each block is one call of the audit's function. A block is therefore computed the same way in
one process or on any rank of many. That is what makes a sharded run equal to a single-process
run bit for bit: PyTorch's CPU kernels give a text's probabilities last-bit differences that
depend on the other rows of its batch (on the packaged MiniLM, 2-3% of rows differ by up to
3e-8 between two batchings), and near-ties in an attack's search turn such differences into
different attacks. Equal seeds are not enough; equal batches are.

Blocks hold items of similar cost (they are cut from the items sorted by cost), which keeps
padding low, and they go to processes by longest-processing-time-first on their summed cost.
This module imports no torch: the single-process path is a plain loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from auditkit.progress import Progress


@dataclass(frozen=True)
class Block:
    """Items `members` (positions in the caller's list), computed by one call of the function."""

    index: int
    members: tuple[int, ...]
    cost: float


def make_blocks(costs: Sequence[float], size: int) -> list[Block]:
    """Consecutive runs of `size` items in order of cost (ties by position)."""
    if size < 1:
        raise ValueError(f"block size must be at least 1, got {size}")
    order = sorted(range(len(costs)), key=lambda i: (costs[i], i))
    blocks = []
    for start in range(0, len(order), size):
        members = tuple(order[start : start + size])
        blocks.append(Block(len(blocks), members, float(sum(costs[i] for i in members))))
    return blocks


def assign(blocks: Sequence[Block], processes: int) -> list[list[int]]:
    """Block indices per process: the costliest block first, each to the least loaded process.

    Deterministic (ties go to the lower block index and the lower rank), so every rank works out
    the same plan without talking to the others.
    """
    load = [0.0] * processes
    plan: list[list[int]] = [[] for _ in range(processes)]
    for block in sorted(blocks, key=lambda b: (-b.cost, b.index)):
        rank = min(range(processes), key=lambda r: (load[r], r))
        plan[rank].append(block.index)
        load[rank] += block.cost
    return [sorted(p) for p in plan]


BlockFn = Callable[[list[Any]], Sequence[Any]]
OnBlock = Callable[[list[Any], list[Any]], None]
Keep = Callable[[Any], Any]


class Shards(Protocol):
    """Runs the blocks of one `map` call; one process or many."""

    world_size: int
    rank: int

    def run(
        self,
        items: list[Any],
        fn: BlockFn,
        blocks: list[Block],
        *,
        desc: str,
        progress: Progress,
        on_block: OnBlock | None,
        keep: Keep | None,
    ) -> list[list[Any]]: ...


class LocalShards:
    """One process: every block, in order. The plain loop."""

    world_size = 1
    rank = 0

    def run(
        self,
        items: list[Any],
        fn: BlockFn,
        blocks: list[Block],
        *,
        desc: str,
        progress: Progress,
        on_block: OnBlock | None,
        keep: Keep | None,
    ) -> list[list[Any]]:
        out = []
        with progress.bar(len(items), desc=desc) as bar:
            for block in blocks:
                chosen = [items[i] for i in block.members]
                results = checked(fn(chosen), len(chosen), desc)
                out.append(emit(chosen, results, on_block, keep))
                release_memory()
                bar.update(len(chosen))
        return out


_libc: Any = None


def release_memory() -> None:
    """Hand the heap's free pages back to the system after a block (glibc's malloc_trim).

    A block of attacks allocates and frees many small objects on many worker threads; glibc
    keeps the freed pages in its arenas, so a long map's RSS grows by about 1 MB per attacked
    example although nothing stays alive (measured here on DeepWordBug: flat at ~765 MB with
    the trim, and growing without it). A no-op where the C library is not glibc.
    """
    global _libc
    if _libc is None:
        try:
            import ctypes

            _libc = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _libc = False
    if _libc:
        _libc(0)


def emit(chosen: list[Any], results: list[Any], on_block: OnBlock | None, keep: Keep | None):
    """A finished block: shown to `on_block`, then cut down to what `keep` keeps."""
    if on_block is not None:
        on_block(chosen, results)
    return results if keep is None else [keep(r) for r in results]


class InOrder:
    """Blocks that arrive in any order, emitted in block order as soon as the ones before
    them are in: `on_block` then sees the same sequence in one process and on every rank, and
    only the blocks that came early wait in memory."""

    def __init__(
        self, items: list[Any], blocks: list[Block], on_block: OnBlock | None, keep: Keep | None
    ) -> None:
        self.items, self.blocks, self.on_block, self.keep = items, blocks, on_block, keep
        self.out: list[list[Any] | None] = [None] * len(blocks)
        self.waiting: dict[int, list[Any]] = {}
        self.next = 0

    def add(self, index: int, results: list[Any]) -> None:
        self.waiting[index] = results
        while self.next in self.waiting:
            chosen = [self.items[i] for i in self.blocks[self.next].members]
            results = self.waiting.pop(self.next)
            self.out[self.next] = emit(chosen, results, self.on_block, self.keep)
            self.next += 1

    def done(self) -> list[list[Any]]:
        if self.next != len(self.blocks):  # pragma: no cover - a bug in the plan, not the input
            raise RuntimeError(f"{len(self.blocks) - self.next} block(s) never arrived")
        return self.out  # type: ignore[return-value]


def checked(results: Sequence[Any], n: int, desc: str) -> list[Any]:
    """The function's results for a block, which must be one per item."""
    results = list(results)
    if len(results) != n:
        raise RuntimeError(
            f"{desc}: the function given to ctx.map returned {len(results)} results for a block "
            f"of {n} items; it must return one result per item, in order"
        )
    return results


def scatter(blocks: Sequence[Block], per_block: Sequence[list[Any]], n: int) -> list[Any]:
    """Results back in the caller's item order."""
    out: list[Any] = [None] * n
    for block, results in zip(blocks, per_block, strict=True):
        for i, r in zip(block.members, results, strict=True):
            out[i] = r
    return out

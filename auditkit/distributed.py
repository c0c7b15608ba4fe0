"""The audits on every rank of a torchrun / accelerate launch, over torch.distributed.

Every rank runs every audit in lockstep; `AuditContext.map` gives each rank its share of the
blocks (auditkit.api.sharding) and gathers all results to all ranks, so each rank goes on with
the same numbers and rank 0 alone writes them. The objects travel over a gloo group made for
them, also on GPUs (where the default group is NCCL, for the data-parallel fine-tune), because
a gloo collective that times out raises an error this code can report, where NCCL's watchdog
would abort the process.

Faults: an exception in a rank's blocks travels with the gather and fails the audit on every
rank, naming the rank. A rank that does not answer within `timeout_s` fails the audit with
that message; the process group is then unusable, so the ranks that are left finish alone
(rank 0 writes what it has) and the others stop. The ranks also meet at the end of each audit,
so a rank that left an audit early (say a write that failed on one machine) cannot pair its
next collective with another rank's collective from a different audit.
"""

from __future__ import annotations

import logging
import os
import socket
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from auditkit.api.sharding import (
    Block,
    BlockFn,
    InOrder,
    Keep,
    LocalShards,
    OnBlock,
    assign,
    checked,
    release_memory,
)
from auditkit.errors import AuditkitError
from auditkit.progress import Progress

if TYPE_CHECKING:
    from auditkit.api.results import AuditResult

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 1800.0
# Items each rank computes between two exchanges of results: what bounds a rank's memory in a
# long map (the full results of one round of every rank), at the cost of waiting, once per
# round, for the slowest rank's share of it.
ROUND_ITEMS = 512


class RankFailed(AuditkitError):
    """Another rank's blocks raised; the audit fails on every rank with that rank's error."""


class RankTimeout(AuditkitError):
    """A rank did not answer a collective in time."""


class Cluster:
    """This process's view of the launch: its rank, the gloo group, and the run's lockstep."""

    def __init__(self, timeout_s: float, device: Any) -> None:
        import torch
        import torch.distributed as dist

        self.timeout_s = float(timeout_s)
        ensure_group(device, self.timeout_s)  # up already after a data-parallel fine-tune
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.group = dist.new_group(backend="gloo", timeout=timedelta(seconds=self.timeout_s))
        self.broken: str | None = None  # why the group can no longer be used
        self.audit = ""  # the audit in progress, for the lockstep check
        self._calls = 0
        self.local = LocalShards()
        me = {
            "rank": self.rank,
            "local_rank": int(os.environ.get("LOCAL_RANK", "0")),
            "host": socket.gethostname(),
            "device": str(device),
            "device_name": torch.cuda.get_device_name(device)
            if getattr(device, "type", "") == "cuda"
            else None,
            "torch_threads": torch.get_num_threads(),
        }
        self.ranks: list[dict[str, Any]] = self._gather(me, "join")
        log.info(
            "distributed: rank %d of %d on %s (%s); audits shard their per-example work",
            self.rank, self.world_size, me["host"], me["device"],
        )  # fmt: skip

    # -- the collective every message goes through
    def _gather(self, obj: Any, what: str) -> list[Any]:
        import torch.distributed as dist

        out: list[Any] = [None] * self.world_size
        try:
            dist.all_gather_object(out, obj, group=self.group)
        except Exception as exc:  # a timeout, or a peer that died: the group is done for
            self.broken = (
                f"{what}: not every rank answered within {self.timeout_s:g} s "
                f"(distributed.timeout_s / --timeout-s): {type(exc).__name__}: {exc}"
            )
            log.error("distributed: rank %d: %s", self.rank, self.broken)
            raise RankTimeout(
                f"{what}: not every one of the {self.world_size} ranks answered within "
                f"{self.timeout_s:g} s; a rank is stuck or died",
                hint="raise distributed.timeout_s (or --timeout-s) if the work is just slow; "
                "the ranks left finish the run alone",
            ) from None
        return out

    # -- Shards: one `ctx.map` call
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
        if self.broken:  # the others are gone: this rank does all the work, identically
            return self.local.run(
                items, fn, blocks, desc=desc, progress=progress, on_block=on_block, keep=keep
            )
        self._calls += 1
        plan = assign(blocks, self.world_size)
        mine = plan[self.rank]
        # rounds of the same number of blocks on every rank (the plan is the same everywhere)
        step = max(1, ROUND_ITEMS // max(len(b.members) for b in blocks))
        rounds = -(-max(len(p) for p in plan) // step)
        where = f"{self.audit}: {desc}" if self.audit else desc
        arrived = InOrder(items, blocks, on_block, keep)
        with progress.bar(sum(len(blocks[b].members) for b in mine), desc=desc) as bar:
            for r in range(rounds):
                tag = (self.audit, self._calls, len(items), len(blocks), r)
                message = self._compute(
                    items, fn, mine[r * step : (r + 1) * step], blocks, tag, desc, bar
                )
                gathered = self._gather(message, where)
                self._raise_for(gathered, tag, where)
                for msg in gathered:
                    for b, results in msg[2]:
                        arrived.add(b, results)
        return arrived.done()

    def _compute(self, items, fn, chosen_blocks, blocks, tag, desc, bar) -> tuple:
        """This rank's blocks of one round, or the error they raised, as a message."""
        done: list[tuple[int, list[Any]]] = []
        try:
            for b in chosen_blocks:
                chosen = [items[i] for i in blocks[b].members]
                done.append((b, checked(fn(chosen), len(chosen), desc)))
                release_memory()
                bar.update(len(chosen))
        except Exception as exc:
            log.error("distributed: rank %d: %s failed: %s", self.rank, desc, exc)
            return ("error", tag, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        return ("map", tag, done)

    def _raise_for(self, gathered: list[Any], tag: tuple, where: str) -> None:
        """Raise on every rank alike: a rank's error, or ranks that are not in the same call."""
        for rank, msg in enumerate(gathered):
            if msg[0] == "error":
                raise RankFailed(
                    f"{where}: rank {rank} ({self._device(rank)}) failed: {msg[2]}",
                    hint=f"rank {rank}'s traceback is in its log:\n{msg[3]}",
                )
        for rank, msg in enumerate(gathered):
            if msg[0] == "end":
                raise RankFailed(f"{where}: rank {rank} left audit {msg[1]!r} early: {msg[2]}")
            if msg[1] != tag:
                raise RankFailed(
                    f"{where}: rank {rank} is in another call ({msg[1]}, this rank {tag}); the "
                    "audit took different paths on different ranks",
                    hint="an audit's ctx.map calls must not depend on the rank",
                )

    def _device(self, rank: int) -> str:
        info = self.ranks[rank]
        return f"{info['host']} {info['device']}"

    # -- the lockstep between audits
    def start_audit(self, name: str) -> None:
        self.audit = name
        self._calls = 0

    def end_audit(self, name: str, error: str | None, result: Any = None) -> tuple[list[str], Any]:
        """Meet the other ranks after an audit. Returns every rank's error ("rank N: ..."), and
        rank 0's `result` (what an audit run on rank 0 alone hands the other ranks)."""
        self.audit = ""
        if self.broken:
            return ([f"rank {self.rank}: {error}"] if error else []), result
        message = ("end", name, error, result if self.rank == 0 else None)
        while True:
            gathered = self._gather(message, f"end of audit {name}")
            # a rank still inside the audit meets this message at its next call, raises, and
            # comes here: meet again until every rank has left the audit
            if all(m[0] == "end" and m[1] == name for m in gathered):
                break
        errors = [f"rank {r}: {m[2]}" for r, m in enumerate(gathered) if m[2]]
        return errors, gathered[0][3]

    def run_audit(
        self,
        name: str,
        run: Callable[[], AuditResult],
        *,
        config: dict[str, Any],
        single_process: bool,
    ) -> AuditResult:
        """One audit on this rank (`run` never raises: it returns a failed result), then the
        meeting with the others: the result fails on every rank if it failed on any, and an
        audit that runs on rank 0 alone (`single_process`) hands its result to the others."""
        from auditkit.api.results import AuditResult, ErrorInfo

        self.start_audit(name)
        if single_process and self.rank != 0:
            log.info("rank %d: %s runs on rank 0 alone; waiting", self.rank, name)
            result = AuditResult(name=name, config=config)
        else:
            result = run()
        own = result.error.message if result.status == "failed" and result.error else None
        try:
            errors, first = self.end_audit(name, own, result if single_process else None)
        except RankTimeout as exc:
            result.warnings.append(f"the ranks did not meet after this audit: {exc}")
            return result
        if single_process and self.rank != 0 and first is not None:
            return first
        if errors and result.status == "ok":
            log.error("audit %s failed on another rank: %s", name, "; ".join(errors))
            result = AuditResult(
                name=name,
                status="failed",
                config=result.config,
                wall_time_s=result.wall_time_s,
                error=ErrorInfo(type="RankFailed", message="; ".join(errors)),
            )
        return result

    def everywhere(self, fine_tune: Callable[..., Any]) -> Callable[..., Any]:
        """A fine-tune inside an audit: every rank trains as one process would (so the weights
        equal a single-process run's), then takes rank 0's weights, so that no GPU's
        nondeterminism can leave the ranks auditing different models."""
        from auditkit.launch import alone

        def run(texts, labels, *, spec=None):
            with alone():
                outcome = fine_tune(texts, labels, spec=spec)
            self.broadcast_module(outcome.handle.model)
            return outcome

        return run

    def broadcast_module(self, module: Any) -> None:
        """Give every rank rank 0's weights (after a fine-tune each rank ran on its own)."""
        if self.broken:
            return
        try:
            broadcast_weights(module)
        except RankTimeout as exc:
            self.broken = f"broadcast of fine-tuned weights: {exc}"
            raise

    def close(self) -> None:
        import torch.distributed as dist

        if self.broken or not dist.is_initialized():
            return
        try:
            dist.destroy_process_group()
        except Exception:  # pragma: no cover - the group is going away either way
            log.debug("process group not destroyed cleanly", exc_info=True)


def ensure_group(device: Any, timeout_s: float) -> None:
    """The launch's default process group: NCCL on a GPU, gloo on CPU (what the Trainer would
    start; it uses a group that is already up)."""
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    cuda = getattr(device, "type", str(device)) == "cuda"
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend="nccl" if cuda else "gloo", timeout=timedelta(seconds=float(timeout_s))
    )


def broadcast_weights(module: Any) -> None:
    """Overwrite every rank's weights of `module` with rank 0's, in place (the default group,
    so the tensors stay on their device)."""
    import torch.distributed as dist

    try:
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)
    except Exception as exc:
        raise RankTimeout(
            f"could not share rank 0's fine-tuned weights: {type(exc).__name__}: {exc}"
        ) from None


def rank_0_decides(mine: Any, device: Any, timeout_s: float, what: str) -> list[Any]:
    """Every rank's `mine`, on every rank, so that all of them can follow rank 0's view.

    Used before the data-parallel fine-tune: each rank looks at its own fine-tune cache, and on
    nodes whose caches differ a rank that trains alone would wait for the others forever.
    """
    import torch.distributed as dist

    ensure_group(device, timeout_s)
    world = dist.get_world_size()
    default_is_gloo = dist.get_backend() == "gloo"
    group = None if default_is_gloo else dist.new_group(backend="gloo")  # objects on CPU
    out: list[Any] = [None] * world
    try:
        dist.all_gather_object(out, mine, group=group)
    except Exception as exc:
        raise RankTimeout(
            f"{what}: not every one of the {world} ranks answered within {timeout_s:g} s: "
            f"{type(exc).__name__}: {exc}",
            hint="a rank is stuck or died; raise distributed.timeout_s (or --timeout-s) if it "
            "is just slow",
        ) from None
    finally:
        if group is not None:
            dist.destroy_process_group(group)
    return out


def join(timeout_s: float | None, device: Any) -> Cluster | None:
    """The launch's Cluster, or None in a plain single process."""
    from auditkit.launch import launched

    if not launched():
        return None
    return Cluster(timeout_s or DEFAULT_TIMEOUT_S, device)

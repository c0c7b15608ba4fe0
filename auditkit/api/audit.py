"""The audit contract: a registered class with a pydantic config and `run(ctx) -> AuditResult`.

This module imports no implementation (training and models appear only as type names): an
audit, inside auditkit or in a package of its own, needs nothing else to be written."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from auditkit.api.outputs import Outputs
from auditkit.api.results import AuditResult, RunResults
from auditkit.api.sharding import LocalShards, OnBlock, Shards, make_blocks, scatter
from auditkit.progress import Progress

if TYPE_CHECKING:
    import numpy as np

    from auditkit.data import DatasetBundle
    from auditkit.models import ModelHandle
    from auditkit.suite import Suite, TrainingSpec
    from auditkit.training import TrainingOutcome


T = TypeVar("T")
R = TypeVar("R")

# Texts per block of `AuditContext.predict_proba`: big enough that the handle's length-sorted
# batching inside a block is as good as over the whole list, small enough to spread 1,000
# texts over several ranks.
PREDICT_BLOCK = 128


class AuditConfig(BaseModel):
    """Base for audit configs: unknown keys are errors, like everywhere in a suite."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class AuditContext:
    """Everything an audit may use. It queries the model only through `model`."""

    model: ModelHandle
    data: DatasetBundle
    suite: Suite
    run_dir: Path
    seed: int
    device: str
    progress: Progress = field(default_factory=Progress)
    results: RunResults | None = None  # earlier audits' results, read-only
    # fine_tune(texts, labels, spec=None) -> TrainingOutcome; None where no audit may train
    fine_tune: Callable[..., TrainingOutcome] | None = None
    # Where `map` runs its blocks: this process (the default), or every rank of a launch.
    shards: Shards = field(default_factory=LocalShards)

    def map(
        self,
        items: Sequence[T],
        fn: Callable[[list[T]], Sequence[R]],
        *,
        cost: Callable[[T], float] | None = None,
        block: int = 32,
        desc: str = "",
        on_block: OnBlock | None = None,
        keep: Callable[[R], Any] | None = None,
    ) -> list[Any]:
        """`fn` over `items` in blocks, sharded across ranks under torchrun; results in order.

        `fn` gets a list of items and returns one result per item. It must depend on that list
        alone (seed any randomness from an item's identity, not its position), because a block
        is computed whole on whichever rank it lands: then a sharded run equals a single-process
        run bit for bit. `cost` (e.g. text length) groups similar items into blocks of `block`
        items and balances the blocks over the ranks. Every rank gets every result.

        For work too big to hold (10,000 attacks), `on_block(items, results)` sees each block's
        full results as they arrive, in block order, to stream them to disk (`JsonlStream`);
        `keep(result)` is then what map holds and returns for each item (a few numbers, say).
        Under torchrun the ranks exchange results in rounds, so no rank holds more than a
        round's full results either.
        """
        items = list(items)
        if not items:
            return []
        costs = [float(cost(x)) for x in items] if cost is not None else [1.0] * len(items)
        blocks = make_blocks(costs, block)
        per_block = self.shards.run(
            items,
            fn,
            blocks,
            desc=desc or "map",
            progress=self.progress,
            on_block=on_block,
            keep=keep,
        )
        return scatter(blocks, per_block, len(items))

    def predict_proba(
        self, texts: Sequence[str], *, desc: str = "predict", model: ModelHandle | None = None
    ) -> np.ndarray:
        """Class probabilities for texts through `map`: the per-example loop most audits need.

        `model` (default: the run's) is another handle every rank holds, e.g. a hardened one."""
        import numpy as np

        handle = model if model is not None else self.model
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        if not texts:
            return np.zeros((0, handle.num_labels), dtype=np.float32)
        rows = self.map(
            texts,
            lambda chunk: list(handle.predict_proba(chunk)),
            cost=len,
            block=PREDICT_BLOCK,
            desc=desc,
        )
        return np.stack(rows)

    @property
    def world_size(self) -> int:
        """How many processes share this audit's `map` calls (1 unless under a launcher)."""
        return self.shards.world_size

    def artifact_path(self, file_name: str) -> Path:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        return self.run_dir / file_name

    def fine_tune_with(
        self, texts: list[str], labels: list[int], *, spec: TrainingSpec | None = None
    ) -> TrainingOutcome:
        """Fine-tune the suite's base model on train + these rows (for hardening audits).

        The runner hands in `fine_tune` (see `training.suite_fine_tuner`): same base weights,
        recipe and seed as the run's own fine-tune, so a before/after comparison differs only in
        the extra data, and the result is cached like any fine-tune. The contract holds only the
        callable, so this module imports no training code.
        """
        if self.fine_tune is None:
            raise RuntimeError(
                "this AuditContext was built without a fine_tune callable; pass "
                "fine_tune=auditkit.training.suite_fine_tuner(suite, data, seed=..., device=...)"
            )
        return self.fine_tune(texts, labels, spec=spec)


class Audit(ABC):
    name: ClassVar[str]
    description: ClassVar[str] = ""
    tags: ClassVar[tuple[str, ...]] = ()
    Config: ClassVar[type[AuditConfig]] = AuditConfig
    # Audits whose results this one reads (through ctx.results) when they are in the run: the
    # runner runs those first, whatever order the suite lists them in.
    reads: ClassVar[tuple[str, ...]] = ()
    # What it writes: titles, metric families, tables, artifacts and headline numbers. The
    # report, dashboard, CLI summary and docs read this, so no reader keeps its own list.
    outputs: ClassVar[Outputs] = Outputs()
    # Under torchrun every rank runs an audit and `ctx.map` shares its per-example work. An
    # audit whose numbers mean nothing with other processes busy (timings) sets this: it runs
    # on rank 0 alone while the others wait.
    single_process: ClassVar[bool] = False

    def __init__(self, config: AuditConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()

    @abstractmethod
    def run(self, ctx: AuditContext) -> AuditResult:
        """Compute the audit; raise on failure (the runner records it and goes on)."""

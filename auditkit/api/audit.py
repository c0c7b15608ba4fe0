"""The audit contract: a registered class with a pydantic config and `run(ctx) -> AuditResult`.

This module imports no implementation (training and models appear only as type names): an
audit, inside auditkit or in a package of its own, needs nothing else to be written."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

from auditkit.api.outputs import Outputs
from auditkit.api.results import AuditResult, RunResults
from auditkit.progress import Progress

if TYPE_CHECKING:
    from auditkit.data import DatasetBundle
    from auditkit.models import ModelHandle
    from auditkit.suite import Suite, TrainingSpec
    from auditkit.training import TrainingOutcome


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

    def __init__(self, config: AuditConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()

    @abstractmethod
    def run(self, ctx: AuditContext) -> AuditResult:
        """Compute the audit; raise on failure (the runner records it and goes on)."""

"""The audit contract: a registered class with a pydantic config and `run(ctx) -> AuditResult`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

from auditkit.progress import Progress
from auditkit.results import AuditResult, RunResults

if TYPE_CHECKING:
    from auditkit.data import DatasetBundle
    from auditkit.models import ModelHandle
    from auditkit.suite import Suite


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

    def artifact_path(self, file_name: str) -> Path:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        return self.run_dir / file_name


class Audit(ABC):
    name: ClassVar[str]
    description: ClassVar[str] = ""
    tags: ClassVar[tuple[str, ...]] = ()
    Config: ClassVar[type[AuditConfig]] = AuditConfig

    def __init__(self, config: AuditConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()

    @abstractmethod
    def run(self, ctx: AuditContext) -> AuditResult:
        """Compute the audit; raise on failure (the runner records it and goes on)."""

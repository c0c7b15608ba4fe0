"""Multi-process launches (torchrun, accelerate launch): which rank this is, and training alone.

The main fine-tune runs data-parallel; the audits then run on every rank, sharing their
per-example work (auditkit.distributed). A fine-tune inside an audit (adversarial training, a
mitigation) must instead give the weights one process gives, so it runs inside `alone()`,
which hides the launcher's variables from the Trainer while the process group stays up. These
helpers import torch only when they must, so the CLI can ask "am I rank 0?" cheaply.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

log = logging.getLogger(__name__)

_hidden: dict[str, str] = {}  # the launch variables `alone()` took out of the environment


def _launch_var(name: str) -> str | None:
    return os.environ.get(name, _hidden.get(name))


def is_main_process() -> bool:
    """False on the non-zero ranks of a torchrun / accelerate launch (also inside `alone`)."""
    return int(_launch_var("RANK") or "0") == 0


def launched() -> bool:
    """True under torchrun / accelerate launch with more than one process."""
    return int(_launch_var("WORLD_SIZE") or "1") > 1


def world_size() -> int:
    """How many processes train data-parallel: torchrun's WORLD_SIZE, else 1."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1")))


# torchrun's variables (and those accelerate reads) that make a Trainer join a process group.
_LAUNCH_VARS = (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "GROUP_WORLD_SIZE",
    "ROLE_RANK",
    "ROLE_WORLD_SIZE",
    "ROLE_NAME",
)


def _reset_accelerate() -> None:
    """Forget accelerate's cached launch state, so the next Trainer reads the environment."""
    try:
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)
    except (ImportError, AttributeError):  # pragma: no cover - accelerate's internals moved
        log.debug("accelerate state not reset", exc_info=True)


@contextlib.contextmanager
def alone() -> Iterator[None]:
    """Run a fine-tune in this process as if it were the only one.

    The process group stays up for the audits' collectives, but the Trainer sees no launch and
    neither wraps the model in DDP nor shards the data; `is_main_process` still tells rank 0,
    so one rank writes the fine-tune cache.
    """
    if not launched() or _hidden:
        yield
        return
    for name in _LAUNCH_VARS:
        if name in os.environ:
            _hidden[name] = os.environ.pop(name)
    _reset_accelerate()
    # The Trainer warns that a process group is up but it will not use DDP: here that is the
    # point, so the notice (one per rank and fine-tune) is dropped.
    args_log = logging.getLogger("transformers.training_args")
    args_log.addFilter(_not_ddp_notice)
    try:
        yield
    finally:
        args_log.removeFilter(_not_ddp_notice)
        os.environ.update(_hidden)
        _hidden.clear()
        _reset_accelerate()


def _not_ddp_notice(record: logging.LogRecord) -> bool:
    return "process group is initialized, but parallel_mode" not in record.getMessage()

"""Multi-process launches (torchrun, accelerate launch): which rank this is, and leaving one.

Only the main fine-tune runs data-parallel; everything after it runs in rank 0 alone. These
helpers read and drop the launcher's environment variables and import torch only when a
process group has to be torn down, so the CLI can ask "am I rank 0?" cheaply.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def is_main_process() -> bool:
    """False on the non-zero ranks of a torchrun / accelerate launch."""
    return int(os.environ.get("RANK", "0")) == 0


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


def leave_distributed() -> int:
    """After the data-parallel fine-tune, continue as a single process; returns the old size.

    Under torchrun only the main fine-tune is data-parallel. Rank 0 then audits alone while
    the other ranks exit, so a later Trainer (adversarial training, a fairness mitigation)
    must not try to join the group again and wait for ranks that are gone: the group is
    destroyed, accelerate's cached state is reset and the launch variables are dropped.
    """
    size = world_size()
    if size == 1 and "LOCAL_RANK" not in os.environ:
        return 1
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    try:
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)
    except (ImportError, AttributeError):  # pragma: no cover - accelerate's internals moved
        log.debug("accelerate state not reset", exc_info=True)
    for name in _LAUNCH_VARS:
        os.environ.pop(name, None)
    return size

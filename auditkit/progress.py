"""Progress bars for long stages: tqdm on stderr when it is a terminal.

Off with `--no-progress`, with AUDITKIT_NO_PROGRESS=1, or when stderr is not a terminal (CI
logs and pipes would otherwise get one line per refresh); the log lines still say what ran.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def enabled_by_env() -> bool:
    if os.environ.get("AUDITKIT_NO_PROGRESS", "") not in ("", "0"):
        return False
    return sys.stderr is not None and sys.stderr.isatty()


class Progress:
    """What an audit reports progress through, so the CLI decides how it is shown."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = enabled_by_env() if enabled is None else enabled

    def track(self, items: Iterable[T], *, total: int | None = None, desc: str = "") -> Iterator[T]:
        if not self.enabled:
            yield from items
            return
        from tqdm.auto import tqdm

        yield from tqdm(items, total=total, desc=desc, leave=False, dynamic_ncols=True)

    def bar(self, total: int, desc: str = ""):
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, leave=False, disable=not self.enabled)

"""Optional system resources the tests use: skip with a reason locally, fail in CI.

CI (`CI` set) installs every resource, so a test that would skip there is a broken set-up, not
a pass. On a developer's machine the skip reason names the package that brings the resource.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

DEBIAN_WORDNET = Path("/usr/share/wordnet")


def require(available: bool, what: str, how: str) -> None:
    """Skip (locally) or fail (in CI) unless `available`; the message says how to get it."""
    if available:
        return
    message = f"needs {what}: {how}"
    if os.environ.get("CI"):
        pytest.fail(f"CI must provide it: {message}")
    pytest.skip(message)


def chromium_binary() -> str:
    """The headless browser the report and dashboard screenshots use."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    require(exe is not None, "a chromium binary", "apt-get install chromium (Debian's package)")
    assert exe is not None
    return exe


def debian_wordnet() -> Path:
    """Debian's WordNet 3.0 files, which PWWS's synonym swaps read offline."""
    require(
        (DEBIAN_WORDNET / "data.noun").is_file() and (DEBIAN_WORDNET / "index.sense").is_file(),
        f"Debian's WordNet files in {DEBIAN_WORDNET}",
        "apt-get install wordnet-base wordnet-sense-index",
    )
    return DEBIAN_WORDNET

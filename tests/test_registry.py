"""Every registered audit resolves to an Audit subclass with a strict config."""

from __future__ import annotations

import subprocess
import sys

import pytest

from auditkit.api.audit import Audit, AuditConfig
from auditkit.api.registry import AUDITS, Registry
from auditkit.errors import UnknownNameError


@pytest.mark.parametrize("name", AUDITS.names())
def test_registered_audits_are_complete(name):
    cls = AUDITS.get(name)
    assert issubclass(cls, Audit) and cls.name == name
    assert issubclass(cls.Config, AuditConfig)
    assert cls.description


def test_unknown_name_suggests():
    with pytest.raises(UnknownNameError, match="Did you mean: 'performance'"):
        AUDITS.get("perfomance")


def test_registry_rejects_wrong_base_and_duplicates():
    reg: Registry = Registry("thing", base=Audit)
    reg.register("x", "auditkit.errors:AuditkitError")
    with pytest.raises(TypeError, match="not a subclass"):
        reg.get("x")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("x", "auditkit.errors:AuditkitError")


def test_importing_auditkit_and_listing_audits_stays_light():
    code = (
        "import sys, auditkit.cli, auditkit.suite, auditkit.api.registry as r; "
        "[r.AUDITS.get(n) for n in r.AUDITS]; "
        "heavy = [m for m in ('torch', 'transformers', 'textattack', 'captum') "
        "if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

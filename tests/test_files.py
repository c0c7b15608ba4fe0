"""Every file auditkit writes goes through one atomic, durable write with ordinary permissions;
a result that cannot be written fails its own audit and the run goes on."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from auditkit.api.registry import AUDITS
from auditkit.api.results import AuditResult, Table, load_results
from auditkit.audits.performance import PerformanceAudit
from auditkit.files import JsonlStream, write_atomic, write_jsonl


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_written_files_get_ordinary_permissions(tmp_path, umask_022):
    path = write_atomic(tmp_path / "sub" / "b.json", "{}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600
    assert path.read_text() == "{}" and list(path.parent.iterdir()) == [path]


def test_write_is_fsynced_before_the_rename(tmp_path, monkeypatch):
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(
        os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1]
    )
    write_atomic(tmp_path / "x.json", b"[1]")
    assert calls[:2] == ["fsync", "replace"]  # the data is on disk before the name points at it
    assert calls[2:] == ["fsync"]  # and the folder, so the rename itself survives a crash


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = write_atomic(tmp_path / "r.json", "old")

    def broken(a, b):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, "new")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


def test_a_stream_is_on_disk_as_it_grows_and_appears_whole_at_close(tmp_path, umask_022):
    target = tmp_path / "rows.jsonl"
    with JsonlStream(target) as stream:
        stream.write([{"i": 1, "t": "é"}])
        (tmp,) = tmp_path.iterdir()  # rows are in the temp file already, not in memory
        assert tmp.name.startswith(".rows.jsonl.") and tmp.read_text() == '{"i": 1, "t": "é"}\n'
        assert not target.exists()  # readers see no half file
        stream.write({"i": k} for k in (2, 3))
    assert list(tmp_path.iterdir()) == [target] and stream.rows == 3
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    same = write_jsonl(tmp_path / "same.jsonl", [{"i": 1, "t": "é"}, {"i": 2}, {"i": 3}])
    assert target.read_bytes() == same.read_bytes()


def test_a_stream_left_by_an_error_leaves_no_file(tmp_path):
    target = write_atomic(tmp_path / "rows.jsonl", "old\n")
    with pytest.raises(RuntimeError, match="attack failed"), JsonlStream(target) as stream:
        stream.write([{"i": 1}])
        raise RuntimeError("attack failed")
    assert list(tmp_path.iterdir()) == [target] and target.read_text() == "old\n"


def test_results_json_is_readable_by_others(toy_suite, tmp_path, umask_022):
    from auditkit.runner import run_suite
    from auditkit.suite import load_suite

    _, run_dir = run_suite(load_suite(toy_suite()), out_dir=tmp_path)
    for name in ("results.json", "report.html"):
        assert stat.S_IMODE((run_dir / name).stat().st_mode) == 0o644, name


def test_numpy_scalars_in_rows_and_config_are_saved_as_plain_values():
    table = Table(columns=["n", "ok", "x"], rows=[[np.int64(3), np.bool_(True), np.float32(0.5)]])
    table.rows.append([np.int32(4), np.bool_(False), np.array([1.0, 2.0])])  # after construction
    result = AuditResult(name="a", tables={"t": table}, config={"k": np.int64(2)})
    dumped = json.loads(result.model_dump_json())
    assert dumped["tables"]["t"]["rows"] == [[3, True, 0.5], [4, False, [1.0, 2.0]]]
    assert dumped["config"] == {"k": 2}


class NumpyRowsAudit(PerformanceAudit):
    """The real performance audit, plus a table whose cells are numpy scalars, as pandas gives."""

    def run(self, ctx):
        result = super().run(ctx)
        result.tables["counts"] = Table(
            columns=["label", "n", "any"], rows=[["x", np.int64(7), np.bool_(True)]]
        )
        return result


class UnsavableAudit(PerformanceAudit):
    """The real performance audit, plus a value JSON cannot hold (a torch tensor)."""

    def run(self, ctx):
        import torch

        result = super().run(ctx)
        result.tables["bad"] = Table(columns=["v"], rows=[[torch.tensor(0.5)]])
        return result


def test_an_unsavable_result_fails_its_audit_and_later_audits_still_run(
    toy_suite, tmp_path, monkeypatch
):
    from auditkit.runner import run_suite
    from auditkit.suite import load_suite

    monkeypatch.setitem(AUDITS._entries, "numpy_rows", NumpyRowsAudit)
    monkeypatch.setitem(AUDITS._entries, "unsavable", UnsavableAudit)
    audits = "  numpy_rows: {bootstrap: 200}\n  unsavable: {bootstrap: 200}\n"
    audits += "  performance:\n    bootstrap: 200\n"
    results, run_dir = run_suite(load_suite(toy_suite(audits=audits)), out_dir=tmp_path)
    on_disk = load_results(run_dir)
    assert on_disk.status == results.status == "failed"
    assert on_disk.audits["numpy_rows"].status == "ok"
    assert on_disk.audits["numpy_rows"].tables["counts"].rows == [["x", 7, True]]
    bad = on_disk.audits["unsavable"]
    assert bad.status == "failed" and "could not be saved" in bad.error.message
    assert on_disk.audits["performance"].status == "ok"  # the audit after it ran
    assert [s.name for s in on_disk.stages][-1] == "audit:performance"
    assert (run_dir / "report.html").is_file()

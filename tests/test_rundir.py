"""The run directory's one owner: how a run is found, `latest`, and files kept inside a run."""

from __future__ import annotations

import pytest

from auditkit.api import rundir
from auditkit.api.rundir import artifact_file, point_latest, resolve_run_dir
from auditkit.errors import AuditkitError


def make_run(root, name="20260101-000000-abcd"):
    run = root / "toy" / name
    run.mkdir(parents=True)
    (run / "results.json").write_text("{}")
    return run


def test_run_dir_from_latest_link_pointer_file_or_results_json(tmp_path):
    run = make_run(tmp_path)
    (tmp_path / "toy" / "latest").symlink_to(run.name, target_is_directory=True)
    assert resolve_run_dir(tmp_path / "toy" / "latest") == run.resolve()
    assert resolve_run_dir(run / "results.json") == run
    pointer = tmp_path / "toy" / "latest.txt"  # where symlinks are unavailable
    pointer.write_text(run.name + "\n")
    assert resolve_run_dir(pointer) == run
    with pytest.raises(AuditkitError, match="not a run directory"):
        resolve_run_dir(tmp_path)


def test_point_latest_moves_to_the_newest_run_and_falls_back_to_a_file(tmp_path, monkeypatch):
    old, new = make_run(tmp_path, "20260101-000000-aaaa"), make_run(tmp_path, "20260102-0-bbbb")
    point_latest(old)
    point_latest(new)
    latest = tmp_path / "toy" / "latest"
    assert latest.is_symlink() and resolve_run_dir(latest) == new.resolve()

    def no_symlinks(self, *args, **kwargs):
        raise OSError("symlinks are not supported here")

    monkeypatch.setattr(type(latest), "symlink_to", no_symlinks)
    point_latest(old)
    assert not latest.is_symlink() and latest.read_text() == old.name + "\n"
    assert resolve_run_dir(latest) == old


def test_report_and_gate_find_the_same_run_through_latest(tmp_path):
    """They used to resolve `latest` differently (one followed the link, one did not)."""
    from auditkit import gate, report
    from auditkit.gate import baseline

    run = make_run(tmp_path)
    point_latest(run)
    latest = tmp_path / "toy" / "latest"
    assert baseline.resolve_run_dir is report.resolve_run_dir is rundir.resolve_run_dir
    assert gate.GATE_FILE == rundir.GATE_FILE == "gate.json"
    assert rundir.resolve_run_dir(latest) == run.resolve()


def test_artifact_files_stay_inside_the_run(tmp_path):
    run = make_run(tmp_path)
    assert artifact_file(run, "predictions.parquet") == (run / "predictions.parquet").resolve()
    assert artifact_file(run, "sub/x.jsonl") == (run / "sub" / "x.jsonl").resolve()
    assert artifact_file(run, "../../etc/passwd") is None
    assert artifact_file(run, str(tmp_path / "outside.json")) is None
    assert artifact_file(run, None) is None and artifact_file(run, "") is None

"""Promises of issue 12 about mirror_cli.localfs: which temp files the sweep removes, and which it leaves."""

from __future__ import annotations

import os
import time

import pytest

from mirror_cli import localfs


def _old(path) -> None:
    t = time.time() - 3600
    os.utime(path, (t, t))


def _dead_pid() -> int:
    """A process id that no process has now."""
    pid = 4_000_000
    while localfs.pid_alive(pid):
        pid -= 1
    return pid


def test_a_temp_being_written_is_never_swept(tmp_path):
    dest = tmp_path / "out.json"
    with localfs.atomic_write(dest, "w") as fh:
        fh.write("partial")
        (tmp,) = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        _old(tmp)
        assert localfs.remove_stale_temps(tmp_path) == []  # its writer (this process) holds it
        assert tmp.exists()
    assert dest.read_text() == "partial"


def test_only_old_temps_of_mirrors_pattern_whose_writer_is_gone_are_swept(tmp_path):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    pid = _dead_pid()
    stale = tmp_path / f".a.json.mirror-{pid}-abc123.tmp"
    young = tmp_path / f".b.json.mirror-{pid}-abc123.tmp"
    alive = tmp_path / f".c.json.mirror-{os.getppid()}-abc123.tmp"
    foreign = [tmp_path / ".d.json.abc123.tmp", tmp_path / f"e.mirror-{pid}-abc.tmp", tmp_path / "notes.txt"]
    for p in (stale, young, alive, *foreign):
        p.write_text("x")
    for p in (stale, alive, *foreign):
        _old(p)
    assert localfs.remove_stale_temps(tmp_path) == [stale.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (young, alive, *foreign))


@pytest.mark.parametrize("shape", ["folder", "symlink"])
def test_a_folder_or_symlink_with_a_temps_name_is_left_alone(tmp_path, shape):
    pid = _dead_pid()
    node = tmp_path / f".a.json.mirror-{pid}-abc123.tmp"
    if shape == "folder":
        node.mkdir()
    else:
        (tmp_path / "target").write_text("keep")
        node.symlink_to(tmp_path / "target")
    assert localfs.remove_stale_temps(tmp_path, older_than=-10) == []
    assert os.path.lexists(node)

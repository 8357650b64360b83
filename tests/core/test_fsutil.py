"""mirror_cli.fsutil: the -o guard for the live database, and writing to whatever node -o names."""

from __future__ import annotations

import os
import stat

import pytest

from mirror_cli.errors import UsageError
from mirror_cli.fsutil import atomic_write, refuse_database_target


# --------------------------------------------------------------------------- refuse_database_target


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "data" / "mirror.db"
    path.parent.mkdir()
    path.write_bytes(b"SQLite format 3\x00")
    return path


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm", "-journal"])
def test_the_database_and_its_sidecars_are_refused(db, suffix):
    with pytest.raises(UsageError) as info:
        refuse_database_target(f"{db}{suffix}", db)  # refused whether the sidecar exists or not
    assert info.value.exit_code == 2 and "database" in str(info.value)


def test_a_symlink_a_hard_link_a_relative_path_and_a_proc_fd_are_seen_through(db, tmp_path, monkeypatch):
    link = tmp_path / "innocent.json"
    link.symlink_to(db)
    hard = tmp_path / "hard.json"
    os.link(db, hard)
    wal_link = tmp_path / "wal.json"
    wal_link.symlink_to(f"{db}-wal")  # dangling: the -wal file need not exist yet
    monkeypatch.chdir(db.parent)
    with open(db, "rb") as fh:
        for target in (link, hard, wal_link, "mirror.db", "./../data/mirror.db", f"/proc/self/fd/{fh.fileno()}"):
            with pytest.raises(UsageError):
                refuse_database_target(target, db)


def test_other_paths_pass(db, tmp_path):
    for target in (tmp_path / "export.json", db.parent / "mirror.db.json", db.parent / "mirror.db-wal.bak",
                   tmp_path / "missing" / "mirror.db"):
        refuse_database_target(target, db)
    refuse_database_target(tmp_path / "x.json", tmp_path / "no-such.db")  # no database yet


def test_atomic_write_is_unchanged_for_a_regular_file(tmp_path):
    target = tmp_path / "sub" / "f.bin"
    with atomic_write(target) as fh:
        fh.write(b"abc")
    assert target.read_bytes() == b"abc" and stat.S_IMODE(target.stat().st_mode) == 0o600

"""mirror_cli.localfs: the -o guard for the live database, and writing to whatever node -o names."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from mirror_cli.errors import OperationError, UsageError
from mirror_cli.localfs import atomic_write, open_output, refuse_database_target


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


# --------------------------------------------------------------------------- open_output


@pytest.fixture
def work(tmp_path):
    """An empty folder (tmp_path also holds the test's HOME)."""
    path = tmp_path / "work"
    path.mkdir()
    return path


def test_a_regular_file_is_still_replaced_atomically(work):
    target = work / "out.json"
    target.write_text("old")
    before = target.stat().st_ino
    with open_output(target, "w") as fh:
        fh.write("new")
        assert target.read_text() == "old"  # nothing under the final name until the end
    assert target.read_text() == "new" and target.stat().st_ino != before
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in work.iterdir()) == ["out.json"]


def test_a_failure_leaves_a_regular_file_as_it_was(work):
    target = work / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), open_output(target, "w") as fh:
        fh.write("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old" and sorted(p.name for p in work.iterdir()) == ["out.json"]


def test_a_symlink_is_followed_and_stays_a_symlink(tmp_path):
    real = tmp_path / "real" / "export.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    with open_output(link, "wb") as fh:
        fh.write(b"new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new"
    assert sorted(p.name for p in real.parent.iterdir()) == ["export.json"]  # temp was beside the target


def test_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "latest.json"
    link.symlink_to("made.json")
    with open_output(link, "w") as fh:
        fh.write("x")
    assert link.is_symlink() and (tmp_path / "made.json").read_text() == "x"


def test_a_fifo_is_written_in_place(work):
    fifo = work / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    with open_output(fifo, "wb") as fh:
        fh.write(b"through the pipe")
    reader.join(10)
    assert got == [b"through the pipe"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in work.iterdir()) == ["pipe"]


def test_a_fifo_without_reader_left_is_an_operation_error(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    opened = threading.Event()

    def read_one_byte_and_leave() -> None:
        with open(fifo, "rb") as fh:
            opened.set()
            fh.read(1)

    reader = threading.Thread(target=read_one_byte_and_leave, daemon=True)
    reader.start()
    with pytest.raises(OperationError) as info, open_output(fifo, "wb") as fh:
        opened.wait(10)
        for _ in range(1000):  # far more than a pipe buffer: the reader is gone long before
            fh.write(b"x" * 65536)
            fh.flush()
    assert info.value.exit_code == 1 and str(fifo) in str(info.value)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_pipe_named_through_proc_is_written_in_place():
    rfd, wfd = os.pipe()
    try:
        with open_output(f"/proc/self/fd/{wfd}", "w") as fh:
            fh.write("hello")
        os.close(wfd)
        wfd = -1
        assert os.read(rfd, 100) == b"hello"
    finally:
        os.close(rfd)
        if wfd >= 0:
            os.close(wfd)


def test_atomic_write_is_unchanged_for_a_regular_file(tmp_path):
    target = tmp_path / "sub" / "f.bin"
    with atomic_write(target) as fh:
        fh.write(b"abc")
    assert target.read_bytes() == b"abc" and stat.S_IMODE(target.stat().st_mode) == 0o600


# --------------------------------------------------------------------------- atomic_write never replaces a node


def test_atomic_write_refuses_a_fifo_or_a_folder_and_leaves_it(tmp_path):
    """Every writer goes through atomic_write: renaming over /dev/null or /dev/stdout (as root)
    replaced a device for the whole machine. A node that is not a regular file is refused."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    for target in (fifo, folder):
        with pytest.raises(UsageError) as info:
            with atomic_write(target) as fh:
                fh.write(b"never")
        assert info.value.exit_code == 2
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and folder.is_dir() and list(folder.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_atomic_write_writes_through_a_symlink(tmp_path):
    real = tmp_path / "dotfiles" / "config.yaml"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "config.yaml"
    link.symlink_to(real)
    with atomic_write(link, "w") as fh:
        fh.write("new")
    assert link.is_symlink() and real.read_text() == "new"


def test_every_folder_made_is_private(tmp_path):
    """CONTRACT: folders are created 0700 -- the parents made on the way too, not only the last."""
    from mirror_cli.localfs import ensure_private_dir

    ensure_private_dir(tmp_path / "a" / "b" / "c")
    for folder in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder

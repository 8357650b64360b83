"""mirror_cli.remotes.folder: what only a folder does (its root, files and modes, temp files, links, no hard
links). The Remote protocol itself, on a folder as on S3 and PostgreSQL, is test_conformance.py."""

from __future__ import annotations

import errno
import os
import stat
import time

import pytest

from remote_kinds import FolderKind, files_under, race_put_new
from mirror_cli.errors import ExitCode, UsageError
from mirror_cli.remotes.base import Exists, NotFound, Remote, RemoteError
from mirror_cli.remotes.folder import FolderRemote


@pytest.fixture
def root(tmp_path):
    return tmp_path / "remote"


@pytest.fixture
def remote(root):
    with FolderRemote(root, mkdir=True) as r:
        yield r


# --------------------------------------------------------------------------- the basic calls


def test_it_is_a_remote_that_may_lag(remote, root):
    assert isinstance(remote, Remote) and remote.may_lag is True
    assert remote.url == root.as_uri() and str(root) in remote.describe()


def test_an_object_is_the_file_of_its_name(remote, root):
    remote.put_new("s/abc", b"hello")
    assert (root / "s" / "abc").read_bytes() == b"hello"


def test_a_fifo_under_an_object_name_does_not_hang_a_read(remote, root):
    os.mkfifo(root / "fifo")
    with pytest.raises(NotFound):
        remote.get("fifo")
    assert list(remote.list()) == []


# --------------------------------------------------------------------------- the root


def test_a_missing_root_is_exit_1_and_nothing_is_created(tmp_path):
    root = tmp_path / "usb" / "mirror"
    with pytest.raises(RemoteError) as info:
        FolderRemote(root)
    assert info.value.exit_code == ExitCode.FAILED and str(root) in str(info.value) and "--mkdir" in str(info.value)
    assert not (tmp_path / "usb").exists()


def test_mkdir_creates_the_root_and_its_parents_0700(tmp_path):
    root = tmp_path / "usb" / "mirror"
    with FolderRemote(root, mkdir=True) as r:
        r.put_new("x", b"1")
    assert stat.S_IMODE(root.stat().st_mode) == 0o700 and stat.S_IMODE(root.parent.stat().st_mode) == 0o700


def test_a_root_that_is_a_file_is_a_usage_error(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(UsageError) as info:
        FolderRemote(tmp_path / "file")
    assert info.value.exit_code == ExitCode.USAGE
    assert str(info.value).startswith(f"the remote {tmp_path / 'file'} is a file")


@pytest.mark.parametrize(("mkdir", "code"), [(False, ExitCode.USAGE), (True, ExitCode.FAILED)])
def test_a_root_below_a_file_names_that_file(tmp_path, mkdir, code):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises((UsageError, RemoteError)) as info:
        FolderRemote(tmp_path / "file" / "sub" / "deeper", mkdir=mkdir)
    assert info.value.exit_code == code  # the codes of before: a given root is exit 2, one to create exit 1
    assert f"{tmp_path / 'file'} is a file" in str(info.value) and "sub/deeper is a file" not in str(info.value)
    assert (tmp_path / "file").read_bytes() == b""


# --------------------------------------------------------------------------- streams


def test_open_never_follows_a_link_nor_hangs_on_a_fifo(remote, root, tmp_path):
    (tmp_path / "secret").write_bytes(b"not an object")
    (root / "link").symlink_to(tmp_path / "secret")
    os.mkfifo(root / "fifo")
    for name in ("link", "fifo"):
        with pytest.raises(RemoteError):
            remote.open(name)


# --------------------------------------------------------------------------- names


# --------------------------------------------------------------------------- files, temps, modes


def test_files_are_0600_and_folders_0700_whatever_the_umask(remote, root):
    old = os.umask(0)
    try:
        remote.put_new("c/deep/er/obj", b"x")
        remote.put("h/head", b"y")
    finally:
        os.umask(old)
    for folder in ("c", "c/deep", "c/deep/er", "h"):
        assert stat.S_IMODE((root / folder).stat().st_mode) == 0o700, folder
    for name in ("c/deep/er/obj", "h/head"):
        assert stat.S_IMODE((root / name).stat().st_mode) == 0o600, name


def test_temp_files_are_not_listed_and_stale_ones_are_swept(remote, root):
    remote.put_new("s/seg", b"x")
    old = time.time() - 2 * 3600
    stale = [root / ".~mirror-0001.tmp", root / "s" / ".~mirror-0002.tmp"]
    fresh = root / "s" / ".~mirror-0003.tmp"
    for path in (*stale, fresh):
        path.write_bytes(b"partial")
    for path in stale:
        os.utime(path, (old, old))
    (root / ".stfolder").mkdir()  # Syncthing's marker and other dot-files are not mirror's
    (root / ".DS_Store").write_bytes(b"")
    assert [o.name for o in remote.list()] == ["s/seg"]
    assert remote.sweep_temps(("", "s"), older_than_s=3600) == 2
    assert fresh.exists() and not any(p.exists() for p in stale)
    assert (root / ".stfolder").is_dir() and (root / ".DS_Store").exists()
    assert remote.sweep_temps(("s",), older_than_s=0) == 1 and not fresh.exists()


def test_a_sweep_looks_only_in_the_folders_it_is_given(remote, root):
    """A remote at ~ is not walked: only the folders mirror writes its objects in are swept."""
    old = time.time() - 2 * 3600
    top, nested, deep = root / ".~mirror-1.tmp", root / "s" / ".~mirror-2.tmp", root / "s" / "x" / ".~mirror-3.tmp"
    deep.parent.mkdir(parents=True)
    for path in (top, nested, deep):
        path.write_bytes(b"partial")
        os.utime(path, (old, old))
    assert remote.sweep_temps(older_than_s=3600) == 1  # the root alone
    assert not top.exists() and nested.exists() and deep.exists()
    assert remote.sweep_temps(("s", "missing"), older_than_s=3600) == 1
    assert not nested.exists() and deep.exists()


def test_a_failed_write_leaves_neither_the_object_nor_a_temp(remote, root, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(RemoteError) as info:
        remote.put_new("s/seg", b"x" * 1000)
    assert "disk is full" in str(info.value) and info.value.exit_code == ExitCode.FAILED
    assert files_under(root) == []


# --------------------------------------------------------------------------- symbolic links


def test_a_symlinked_folder_is_never_written_through(remote, root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x").write_bytes(b"theirs")
    (root / "h").symlink_to(outside, target_is_directory=True)
    src = tmp_path / "src"
    src.write_bytes(b"mine")
    for call in (lambda: remote.put("h/x", b"mine"), lambda: remote.put_new("h/y", b"mine"),
                 lambda: remote.put_file("h/z", src)):
        with pytest.raises(RemoteError) as info:
            call()
        assert "link" in str(info.value)
    remote.delete(["h/x"])
    assert files_under(outside) == ["x"] and (outside / "x").read_bytes() == b"theirs"
    with pytest.raises(NotFound):
        remote.get("h/x")
    assert list(remote.list()) == []


def test_a_symlink_at_an_object_name_is_replaced_or_refused_never_followed(remote, root, tmp_path):
    target = tmp_path / "precious"
    target.write_bytes(b"keep me")
    (root / "head").symlink_to(target)
    (root / "seg").symlink_to(tmp_path / "not-yet")
    with pytest.raises(NotFound):
        remote.get("head")  # links are not objects: not read either
    assert list(remote.list()) == []
    with pytest.raises(Exists):
        remote.put_new("seg", b"mine")
    assert not (tmp_path / "not-yet").exists()
    remote.put("head", b"mine")
    assert target.read_bytes() == b"keep me"
    assert not (root / "head").is_symlink() and remote.get("head") == b"mine"


# --------------------------------------------------------------------------- concurrency


def test_without_hard_links_put_new_still_lets_exactly_one_win(remote, root, monkeypatch):
    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")  # what vfat and exfat answer

    monkeypatch.setattr(os, "link", no_links)
    tag = remote.put_new("x", b"first")
    with pytest.raises(Exists):
        remote.put_new("x", b"second")
    assert remote.get("x") == b"first" and [o.tag for o in remote.list()] == [tag]
    kind = FolderKind(root)
    try:
        race_put_new(kind, rounds=20)
    finally:
        kind.close()

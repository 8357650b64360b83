"""mirror_cli.remotes.folder: the Remote protocol over a folder (SYNC.md section 12)."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirror_cli.errors import ExitCode, UsageError
from mirror_cli.remotes.base import Exists, InvalidName, NotFound, ObjectInfo, Remote, RemoteError
from mirror_cli.remotes.folder import FolderRemote


@pytest.fixture
def root(tmp_path):
    return tmp_path / "remote"


@pytest.fixture
def remote(root):
    with FolderRemote(root, mkdir=True) as r:
        yield r


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file() or p.is_symlink())


# --------------------------------------------------------------------------- the basic calls


def test_it_is_a_remote(remote, root):
    assert isinstance(remote, Remote)
    assert remote.url == root.as_uri() and str(root) in remote.describe()


def test_round_trip(remote, root):
    tag = remote.put_new("s/abc", b"hello")
    assert remote.get("s/abc") == b"hello"
    assert list(remote.list("")) == [ObjectInfo("s/abc", tag, 5)]
    assert (root / "s" / "abc").read_bytes() == b"hello"
    assert remote.put_new("empty", b"") and remote.get("empty") == b""


def test_put_new_twice_raises_exists_and_keeps_the_first(remote, root):
    tag = remote.put_new("h/dev", b"first")
    with pytest.raises(Exists) as info:
        remote.put_new("h/dev", b"second")
    assert info.value.exit_code == ExitCode.FAILED and "h/dev" in str(info.value)
    assert remote.get("h/dev") == b"first"
    assert [o.tag for o in remote.list("h/")] == [tag]
    assert files_under(root) == ["h/dev"]  # no temp left behind


def test_put_overwrites(remote):
    first = remote.put("h/dev", b"one")
    second = remote.put("h/dev", b"three")
    assert remote.get("h/dev") == b"three" and first != second
    assert [(o.name, o.tag, o.size) for o in remote.list()] == [("h/dev", second, 5)]


def test_list_is_sorted_by_name_and_filtered_by_a_string_prefix(remote):
    names = ["b", "a/2", "a/10", "a-b", "a/b/c", "ab", "h/x", "é"]
    for name in reversed(names):
        remote.put_new(name, name.encode())
    assert [o.name for o in remote.list()] == sorted(names)  # '-' < '/' < 'b': string order, not walk order
    assert [o.name for o in remote.list("a/")] == ["a/10", "a/2", "a/b/c"]
    assert [o.name for o in remote.list("a")] == ["a-b", "a/10", "a/2", "a/b/c", "ab"]
    assert [o.name for o in remote.list("a/b/")] == ["a/b/c"]
    assert [o.name for o in remote.list("h/x")] == ["h/x"]
    assert list(remote.list("zz/")) == [] and list(remote.list("b/")) == []


def test_delete_removes_and_ignores_what_is_absent(remote, root):
    for name in ("s/1", "s/2", "k/1"):
        remote.put_new(name, b"x")
    remote.delete(["s/1", "k/1", "s/never", "nowhere/x"])
    remote.delete(["s/1"])  # twice: still fine
    assert [o.name for o in remote.list()] == ["s/2"]
    with pytest.raises(NotFound):
        remote.get("s/1")
    remote.delete(iter(["s/2"]))
    assert files_under(root) == []


def test_get_of_a_missing_object_is_not_found(remote, tmp_path):
    remote.put_new("a/b", b"x")
    for name in ("missing", "a/missing", "a", "a/b/c", "x/y/z"):  # "a" is a folder, "a/b/c" is under a file
        with pytest.raises(NotFound) as info:
            remote.get(name)
        assert info.value.exit_code == ExitCode.FAILED
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"keep")
    with pytest.raises(NotFound):
        remote.get_file("missing", dest)
    assert dest.read_bytes() == b"keep" and not [n for n in os.listdir(tmp_path) if n.startswith(".")]


def test_a_fifo_under_an_object_name_does_not_hang_a_read(remote, root):
    os.mkfifo(root / "fifo")
    with pytest.raises(NotFound):
        remote.get("fifo")
    assert list(remote.list()) == []


def test_a_closed_remote_refuses_and_closing_twice_is_harmless(root):
    r = FolderRemote(root, mkdir=True)
    r.close()
    r.close()
    with pytest.raises(RemoteError):
        r.put("x", b"y")


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


def test_open_reads_and_seeks_the_object(remote):
    remote.put("s/obj", bytes(range(256)) * 10)
    with remote.open("s/obj") as fh:
        assert fh.read(3) == b"\x00\x01\x02"
        fh.seek(-2, os.SEEK_END)
        assert fh.read() == b"\xfe\xff"
        fh.seek(256)
        assert fh.read(1) == b"\x00"
    with pytest.raises(NotFound):
        remote.open("s/missing")


def test_open_never_follows_a_link_nor_hangs_on_a_fifo(remote, root, tmp_path):
    (tmp_path / "secret").write_bytes(b"not an object")
    (root / "link").symlink_to(tmp_path / "secret")
    os.mkfifo(root / "fifo")
    for name in ("link", "fifo"):
        with pytest.raises(RemoteError):
            remote.open(name)


def test_put_file_exclusive_creates_only_if_absent(remote, tmp_path):
    src = tmp_path / "src"
    src.write_bytes(b"first")
    remote.put_file("a/x", src, exclusive=True)
    src.write_bytes(b"second")
    with pytest.raises(Exists):
        remote.put_file("a/x", src, exclusive=True)
    assert remote.get("a/x") == b"first"
    remote.put_file("a/x", src)
    assert remote.get("a/x") == b"second"


def test_put_stream_is_seen_only_once_committed(remote, root):
    with remote.put_stream("s/big") as out:
        for _ in range(5):
            out.write(b"x" * 1000)
        assert list(remote.list()) == []  # only a temp so far
        tag = out.commit()
    assert remote.get("s/big") == b"x" * 5000 and [o.tag for o in remote.list()] == [tag]
    assert files_under(root) == ["s/big"]


def test_a_put_stream_left_without_commit_leaves_nothing(remote, root):
    with pytest.raises(ValueError), remote.put_stream("s/half") as out:
        out.write(b"half")
        raise ValueError("stopped")
    with remote.put_stream("s/none") as out:
        out.write(b"checked, then refused")
    assert files_under(root) == []


def test_an_exclusive_put_stream_loses_to_an_object_made_meanwhile(remote, root):
    with remote.put_stream("s/x", exclusive=True) as out:
        out.write(b"mine")
        remote.put_new("s/x", b"theirs")
        with pytest.raises(Exists):
            out.commit()
    assert remote.get("s/x") == b"theirs" and files_under(root) == ["s/x"]


# --------------------------------------------------------------------------- names


BAD_NAMES = ["", "/abs", "a//b", "a/", "../x", "a/../b", "a/./b", ".", "..", "a\\b", "a\x00b", "a\nb",
             ".hidden", "a/.hidden", ".~mirror-123.tmp", "x" * 256, "/".join(["abc"] * 300), "bad\udcff"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_names_are_refused_by_every_call(remote, root, tmp_path, name):
    src = tmp_path / "src"
    src.write_bytes(b"data")
    calls = [lambda: remote.put(name, b"x"), lambda: remote.put_new(name, b"x"), lambda: remote.get(name),
             lambda: remote.delete([name]), lambda: remote.put_file(name, src),
             lambda: remote.get_file(name, tmp_path / "dest"), lambda: remote.open(name),
             lambda: remote.put_stream(name)]
    for call in calls:
        with pytest.raises(InvalidName) as info:
            call()
        assert info.value.exit_code == ExitCode.USAGE
    assert files_under(root) == [] and not (tmp_path / "dest").exists()


@pytest.mark.parametrize("prefix", ["/a", "../", "a//", "a/../", ".x", "a\\", "a\x00", "a/.b/"])
def test_invalid_prefixes_are_refused(remote, prefix):
    with pytest.raises(InvalidName):
        remote.list(prefix)


@pytest.mark.parametrize("name", ["a..b", "x.", "~x", "with space", "ünïcødé/名前", "a-b_c=d+e,f", "x" * 255])
def test_plain_names_are_accepted(remote, name):
    remote.put_new(name, b"ok")
    assert remote.get(name) == b"ok" and [o.name for o in remote.list()] == [name]


# --------------------------------------------------------------------------- files, temps, modes


def test_put_file_and_get_file_stream_20_mb(remote, tmp_path):
    src = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    with open(src, "wb") as fh:
        for i in range(20):
            fh.write(bytes([i]) + block[1:])
    want = hashlib.sha256(src.read_bytes()).hexdigest()
    dest = tmp_path / "restored" / "big.bin"
    tracemalloc.start()
    try:
        tag = remote.put_file("backups/big.bin", src)
        remote.get_file("backups/big.bin", dest)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak} bytes held at once: not streamed"
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == want
    assert list(remote.list("backups/")) == [ObjectInfo("backups/big.bin", tag, 20 << 20)]
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert os.listdir(dest.parent) == ["big.bin"]


def test_put_file_of_a_missing_local_file_is_exit_1_and_writes_nothing(remote, root, tmp_path):
    with pytest.raises(Exception) as info:
        remote.put_file("x", tmp_path / "nope")
    assert getattr(info.value, "exit_code", None) == ExitCode.FAILED and files_under(root) == []


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


def race_put_new(root: Path, rounds: int = 40) -> None:
    for i in range(rounds):
        barrier = threading.Barrier(2)
        outcome: dict[str, object] = {}

        def writer(who: str) -> None:
            with FolderRemote(root) as r:
                barrier.wait()
                try:
                    outcome[who] = r.put_new(f"h/n{i}", who.encode() * 1000)
                except Exists as exc:
                    outcome[who] = exc

        threads = [threading.Thread(target=writer, args=(who,)) for who in "ab"]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [who for who, result in outcome.items() if isinstance(result, str)]
        assert len(winners) == 1 and len(outcome) == 2, outcome
        assert (root / "h" / f"n{i}").read_bytes() == winners[0].encode() * 1000
    assert not [p for p in (root / "h").iterdir() if p.name.startswith(".")]


def test_two_threads_put_new_one_name_exactly_one_wins(remote, root):
    race_put_new(root)


def test_without_hard_links_put_new_still_lets_exactly_one_win(remote, root, monkeypatch):
    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")  # what vfat and exfat answer

    monkeypatch.setattr(os, "link", no_links)
    tag = remote.put_new("x", b"first")
    with pytest.raises(Exists):
        remote.put_new("x", b"second")
    assert remote.get("x") == b"first" and [o.tag for o in remote.list()] == [tag]
    race_put_new(root, rounds=20)


# --------------------------------------------------------------------------- the model


LEAF = st.text(alphabet="abcxyz0189-_~é", min_size=1, max_size=6)  # no h, s or e: never a folder's name
NAME = st.one_of(LEAF, st.tuples(st.sampled_from(["h", "s", "deep/er"]), LEAF).map("/".join))
OP = st.one_of(
    st.tuples(st.just("put"), NAME, st.binary(max_size=64)),
    st.tuples(st.just("put_new"), NAME, st.binary(max_size=64)),
    st.tuples(st.just("delete"), st.lists(NAME, max_size=3), st.none()),
)


@given(st.lists(OP, max_size=30))
def test_any_sequence_of_writes_matches_a_dict(ops):
    model: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp, FolderRemote(Path(tmp)) as remote:
        for op, arg, data in ops:
            if op == "put":
                remote.put(arg, data)
                model[arg] = data
            elif op == "put_new":
                if arg in model:
                    with pytest.raises(Exists):
                        remote.put_new(arg, data)
                else:
                    remote.put_new(arg, data)
                    model[arg] = data
            else:
                remote.delete(arg)
                for name in arg:
                    model.pop(name, None)
        listed = list(remote.list())
        assert [o.name for o in listed] == sorted(model)
        assert all(o.size == len(model[o.name]) for o in listed)
        assert {name: remote.get(name) for name in model} == model
        for prefix in ("h/", "s/", "deep/", "deep/er/", "a", "é"):
            assert [o.name for o in remote.list(prefix)] == sorted(n for n in model if n.startswith(prefix))

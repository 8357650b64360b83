"""The Remote protocol (mirror_cli.remotes.base), one suite for every backend: each test runs on a folder,
an S3 bucket (moto) and a PostgreSQL table (the ``kind`` fixture, tests/remote_kinds.py). What only one
backend does (S3 multipart and URLs, the PostgreSQL table option, folder links, modes and temp files)
is tested in test_folder.py, test_s3.py and test_postgres.py."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import tracemalloc
from pathlib import Path
from contextlib import closing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remote_kinds import race_put_new
from mirror_cli.errors import ExitCode, OperationError
from mirror_cli.remotes.base import Exists, InvalidName, NotFound, ObjectInfo, Remote, RemoteError

# --------------------------------------------------------------------------- the basic calls


def test_it_is_a_remote_and_its_url_names_it(kind):
    remote = kind.remote
    assert isinstance(remote, Remote) and isinstance(remote.may_lag, bool)
    assert remote.url and "://" in remote.url and remote.describe()


def test_round_trip(kind):
    remote = kind.remote
    tag = remote.put_new("s/abc", b"hello")
    assert remote.get("s/abc") == b"hello"
    assert list(remote.list("")) == [ObjectInfo("s/abc", tag, 5)]
    assert remote.put_new("empty", b"") and remote.get("empty") == b""
    assert kind.stored() == ["empty", "s/abc"]


def test_put_new_twice_raises_exists_and_keeps_the_first(kind):
    remote = kind.remote
    tag = remote.put_new("h/dev", b"first")
    with pytest.raises(Exists) as info:
        remote.put_new("h/dev", b"second")
    assert info.value.exit_code == ExitCode.FAILED and "h/dev" in str(info.value)
    assert remote.get("h/dev") == b"first"
    assert [o.tag for o in remote.list("h/")] == [tag]
    remote.put_new("h/other", b"the remote is usable after the refusal")
    assert kind.stored() == ["h/dev", "h/other"]  # no temp left behind


def test_put_overwrites(kind):
    remote = kind.remote
    first = remote.put("h/dev", b"one")
    second = remote.put("h/dev", b"three")
    assert remote.get("h/dev") == b"three" and first != second
    assert [(o.name, o.tag, o.size) for o in remote.list()] == [("h/dev", second, 5)]


def test_the_tag_changes_when_the_content_changes_even_at_the_same_size(kind):
    remote = kind.remote
    tags = [remote.put("h/dev", b"aaaa")]
    for body in (b"bbbb", b"aaaa", b"cccc"):
        tags.append(remote.put("h/dev", body))
        assert [o.tag for o in remote.list("h/")] == [tags[-1]]  # list says what the put said
    with remote.put_stream("h/dev") as out:
        out.write(b"dddd")
        tags.append(out.commit())
    assert all(a != b for a, b in zip(tags, tags[1:])), tags


def test_list_is_sorted_by_name_and_filtered_by_a_string_prefix(kind):
    remote = kind.remote
    names = ["b", "a/2", "a/10", "a-b", "a/b/c", "ab", "h/x", "é", "a/é", "a/z"]
    for name in reversed(names):
        remote.put_new(name, name.encode())
    assert [o.name for o in remote.list()] == sorted(names)  # '-' < '/' < 'b': code point order, not walk order
    assert [o.name for o in remote.list("a/")] == ["a/10", "a/2", "a/b/c", "a/z", "a/é"]
    assert [o.name for o in remote.list("a")] == ["a-b", "a/10", "a/2", "a/b/c", "a/z", "a/é", "ab"]
    assert [o.name for o in remote.list("a/b/")] == ["a/b/c"]
    assert [o.name for o in remote.list("h/x")] == ["h/x"]
    assert [o.name for o in remote.list("é")] == ["é"]
    assert list(remote.list("zz/")) == [] and list(remote.list("b/")) == []
    assert all(o.size == len(o.name.encode()) for o in remote.list())


def test_delete_removes_and_ignores_what_is_absent(kind):
    remote = kind.remote
    for name in ("s/1", "s/2", "k/1"):
        remote.put_new(name, b"x")
    remote.delete(["s/1", "k/1", "s/never", "nowhere/x"])
    remote.delete(["s/1"])  # twice: still fine
    remote.delete([])
    assert [o.name for o in remote.list()] == ["s/2"]
    with pytest.raises(NotFound):
        remote.get("s/1")
    remote.delete(iter(["s/2"]))
    assert kind.stored() == []


def test_get_of_a_missing_object_is_not_found(kind, tmp_path):
    remote = kind.remote
    remote.put_new("a/b", b"x")
    for name in ("missing", "a/missing", "a", "a/b/c", "x/y/z"):  # "a" holds objects, "a/b/c" is below one
        with pytest.raises(NotFound) as info:
            remote.get(name)
        assert info.value.exit_code == ExitCode.FAILED
        with pytest.raises(NotFound):
            remote.open(name)
    dest = tmp_path / "out" / "out.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"keep")
    with pytest.raises(NotFound):
        remote.get_file("missing", dest)
    assert dest.read_bytes() == b"keep" and os.listdir(dest.parent) == ["out.bin"]


def test_a_closed_remote_refuses_and_closing_twice_is_harmless(kind, tmp_path):
    r = kind.reopen()
    r.close()
    r.close()
    src = tmp_path / "src"
    src.write_bytes(b"x")
    calls = [lambda: r.get("x"), lambda: list(r.list()), lambda: r.put("x", b"y"), lambda: r.put_new("x", b"y"),
             lambda: r.open("x"), lambda: r.put_file("x", src), lambda: r.put_stream("x"),
             lambda: r.get_file("x", tmp_path / "dest")]
    for call in calls:
        with pytest.raises(RemoteError) as info:
            call()
        assert "closed" in str(info.value) and not isinstance(info.value, NotFound)
    assert kind.stored() == [] and not (tmp_path / "dest").exists()


# --------------------------------------------------------------------------- streams and files


def test_open_reads_and_seeks_the_object(kind):
    remote = kind.remote
    remote.put("s/obj", bytes(range(256)) * 10)
    with remote.open("s/obj") as fh:
        assert fh.read(3) == b"\x00\x01\x02"
        fh.seek(-2, os.SEEK_END)
        assert fh.read() == b"\xfe\xff"
        fh.seek(256)
        assert fh.read(1) == b"\x00"
    with pytest.raises(NotFound):
        remote.open("s/missing")


def test_put_file_exclusive_creates_only_if_absent(kind, tmp_path):
    remote = kind.remote
    src = tmp_path / "src"
    src.write_bytes(b"first")
    tag = remote.put_file("a/x", src, exclusive=True)
    assert [o.tag for o in remote.list("a/")] == [tag]
    src.write_bytes(b"second")
    with pytest.raises(Exists):
        remote.put_file("a/x", src, exclusive=True)
    assert remote.get("a/x") == b"first"
    remote.put_file("a/x", src)
    assert remote.get("a/x") == b"second"
    src.write_bytes(b"")
    remote.put_file("a/empty", src)
    assert remote.get("a/empty") == b""
    assert kind.stored() == ["a/empty", "a/x"]


def test_put_stream_is_seen_only_once_committed(kind):
    remote = kind.remote
    with remote.put_stream("s/big") as out:
        for _ in range(5):
            out.write(b"x" * 1000)
        assert list(remote.list()) == []
        tag = out.commit()
    assert remote.get("s/big") == b"x" * 5000 and [o.tag for o in remote.list()] == [tag]
    assert kind.stored() == ["s/big"]


def test_a_put_stream_left_without_commit_leaves_nothing(kind):
    remote = kind.remote
    with pytest.raises(ValueError), remote.put_stream("s/half") as out:
        out.write(b"half")
        raise ValueError("stopped")
    with remote.put_stream("s/none") as out:
        out.write(b"checked, then refused")
    with pytest.raises(RemoteError):
        out.commit()  # discarded is final
    assert list(remote.list()) == [] and kind.stored() == []


def test_an_exclusive_put_stream_loses_to_an_object_made_meanwhile(kind):
    remote = kind.remote
    with remote.put_stream("s/x", exclusive=True) as out:
        out.write(b"mine")
        remote.put_new("s/x", b"theirs")
        with pytest.raises(Exists):
            out.commit()
    assert remote.get("s/x") == b"theirs" and kind.stored() == ["s/x"]


def test_put_file_and_get_file_stream_20_mb(kind, tmp_path):
    remote = kind.remote
    src = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    with open(src, "wb") as fh:
        for i in range(20):
            fh.write(bytes([i]) + block[1:])
    want = hashlib.sha256(src.read_bytes()).hexdigest()
    dest = tmp_path / "restored" / "big.bin"
    if kind.peak_limit:
        tracemalloc.start()
    try:
        tag = remote.put_file("backups/big.bin", src)
        remote.get_file("backups/big.bin", dest)
        peak = tracemalloc.get_traced_memory()[1] if kind.peak_limit else 0
    finally:
        tracemalloc.stop()
    assert peak < (kind.peak_limit or 1), f"{peak} bytes held at once: not streamed"
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == want
    assert list(remote.list("backups/")) == [ObjectInfo("backups/big.bin", tag, 20 << 20)]
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert os.listdir(dest.parent) == ["big.bin"]
    with remote.open("backups/big.bin") as fh:
        fh.seek((5 << 20) + 7)
        assert fh.read(4) == block[7:11]


def test_put_file_of_a_missing_local_file_is_exit_1_and_writes_nothing(kind, tmp_path):
    with pytest.raises(Exception) as info:
        kind.remote.put_file("x", tmp_path / "nope")
    assert getattr(info.value, "exit_code", None) == ExitCode.FAILED and kind.stored() == []


# --------------------------------------------------------------------------- names


BAD_NAMES = ["", "/abs", "a//b", "a/", "../x", "a/../b", "a/./b", ".", "..", "a\\b", "a\x00b", "a\nb",
             ".hidden", "a/.hidden", ".~mirror-123.tmp", "x" * 256, "/".join(["abc"] * 300), "bad\udcff"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_names_are_refused_by_every_call(kind, tmp_path, name):
    remote = kind.remote
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
    assert kind.stored() == [] and not (tmp_path / "dest").exists()


@pytest.mark.parametrize("prefix", ["/a", "../", "a//", "a/../", ".x", "a\\", "a\x00", "a/.b/"])
def test_invalid_prefixes_are_refused(kind, prefix):
    with pytest.raises(InvalidName):
        kind.remote.list(prefix)


@pytest.mark.parametrize("name", ["a..b", "x.", "~x", "with space", "ünïcødé/名前", "a-b_c=d+e,f", "x" * 255,
                                  "it's", "%s", "{t}"])
def test_plain_names_are_accepted(kind, name):
    remote = kind.remote
    remote.put_new(name, b"ok")
    assert remote.get(name) == b"ok" and [o.name for o in remote.list()] == [name]
    assert kind.stored() == [name]


# --------------------------------------------------------------------------- concurrency and atomicity


def test_two_writers_put_new_one_name_exactly_one_wins(kind):
    race_put_new(kind, kind.race_rounds)


def test_a_reader_sees_the_old_object_or_the_new_never_half(kind):
    """Every put is atomic: while one writer replaces an object (put, put_stream) over and over, a reader
    with its own remote gets one whole version or the other, by get and by open."""
    versions = [b"A" * (256 << 10), b"B" * (512 << 10)]
    kind.remote.put("h/head", versions[0])
    stop = threading.Event()
    failures: list[BaseException] = []

    def write() -> None:
        try:
            with closing(kind.reopen()) as r:
                for i in range(12):
                    body = versions[(i + 1) % 2]
                    if i % 2:
                        r.put("h/head", body)
                    else:
                        with r.put_stream("h/head") as out:
                            out.write(body[:1000])
                            out.write(body[1000:])
                            out.commit()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            failures.append(exc)
        finally:
            stop.set()

    writer = threading.Thread(target=write)
    reads = 0
    with closing(kind.reopen()) as reader:
        writer.start()
        while reads == 0 or not stop.is_set():
            got = reader.get("h/head")
            with reader.open("h/head") as fh:
                opened = fh.read()
            for body in (got, opened):
                assert body in versions, f"{len(body)} bytes of {sorted(set(body))[:4]}: half an object"
            reads += 1
        writer.join()
    assert not failures, failures
    assert kind.remote.get("h/head") == versions[0] and kind.stored() == ["h/head"]


# --------------------------------------------------------------------------- the model


LEAF = st.text(alphabet="abcxyz0189-_~é", min_size=1, max_size=6)  # no h, s or e: never a folder's name
NAME = st.one_of(LEAF, st.tuples(st.sampled_from(["h", "s", "deep/er"]), LEAF).map("/".join))
OP = st.one_of(
    st.tuples(st.just("put"), NAME, st.binary(max_size=64)),
    st.tuples(st.just("put_new"), NAME, st.binary(max_size=64)),
    st.tuples(st.just("delete"), st.lists(NAME, max_size=3), st.none()),
)


def test_any_sequence_of_writes_matches_a_dict(kind):
    remote = kind.remote

    @settings(max_examples=kind.examples, deadline=None)
    @given(ops=st.lists(OP, max_size=30))
    def check(ops):
        kind.wipe()
        model: dict[str, bytes] = {}
        tags: dict[str, str] = {}
        for op, arg, data in ops:
            if op == "put":
                tags[arg] = remote.put(arg, data)
                model[arg] = data
            elif op == "put_new":
                if arg in model:
                    with pytest.raises(Exists):
                        remote.put_new(arg, data)
                else:
                    tags[arg] = remote.put_new(arg, data)
                    model[arg] = data
            else:
                remote.delete(arg)
                for name in arg:
                    model.pop(name, None)
        listed = list(remote.list())
        assert [o.name for o in listed] == sorted(model)
        assert all(o.size == len(model[o.name]) and o.tag == tags[o.name] for o in listed)
        assert {name: remote.get(name) for name in model} == model
        for prefix in ("h/", "s/", "deep/", "deep/er/", "a", "é"):
            assert [o.name for o in remote.list(prefix)] == sorted(n for n in model if n.startswith(prefix))

    check()


def test_a_source_that_fails_to_read_is_named_and_leaves_nothing(kind):
    """Every backend's upload reads its local file through remotes.base.chunks: a read error (here EIO,
    which /proc/self/mem gives at address 0) names the local file, not the remote, and stores nothing."""
    remote = kind.remote
    with pytest.raises(OperationError) as failed:
        remote.put_file("from-a-bad-disk", Path("/proc/self/mem"))
    assert "/proc/self/mem" in str(failed.value) and not isinstance(failed.value, RemoteError)
    assert kind.stored() == []

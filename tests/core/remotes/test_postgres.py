"""mirror_cli.remotes.postgres: the Remote protocol over a PostgreSQL table (SYNC.md section 12),
the folder remote's behaviours against a throwaway cluster (tests/pg_helpers.py)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import sys
import threading
import tracemalloc
from contextlib import closing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pg_helpers import fresh_table, pg_url, server_url, sql, with_table  # noqa: F401 (fixtures)
from mirror_cli.errors import ExitCode, UsageError
from mirror_cli.remotes.base import Exists, InvalidName, NotFound, ObjectInfo, Remote, RemoteError
from mirror_cli.remotes.postgres import PostgresRemote, prefix_end
from mirror_cli.remotes.url import CloudExtraMissing, open_remote


@pytest.fixture
def location(pg_url, fresh_table):
    return with_table(pg_url, fresh_table)


@pytest.fixture
def remote(location):
    with closing(open_remote(location)) as r:
        yield r


def rows(remote: PostgresRemote) -> list[str]:
    return [name for (name,) in sql(server_url(), f"SELECT name FROM {remote.table} ORDER BY name")]


# --------------------------------------------------------------------------- the basic calls


def test_it_is_a_remote_that_never_lags(remote, location, fresh_table):
    assert isinstance(remote, PostgresRemote) and isinstance(remote, Remote)
    assert remote.url == location and remote.may_lag is False
    assert fresh_table in remote.describe() and "127.0.0.1" in remote.describe()
    with closing(open_remote(remote.url)) as again:  # url is something open_remote takes back
        assert again.table == fresh_table


def test_round_trip_with_a_sha256_tag(remote):
    tag = remote.put_new("s/abc", b"hello")
    assert tag == hashlib.sha256(b"hello").hexdigest()
    assert remote.get("s/abc") == b"hello"
    assert list(remote.list("")) == [ObjectInfo("s/abc", tag, 5)]
    assert remote.put_new("empty", b"") and remote.get("empty") == b""


def test_the_table_is_created_with_the_columns_and_collation_mirror_needs(remote):
    cols = sql(server_url(), "SELECT column_name, data_type, collation_name, is_nullable FROM "
               "information_schema.columns WHERE table_name = %s ORDER BY ordinal_position", (remote.table,))
    assert cols == [("name", "text", "C", "NO"), ("body", "bytea", None, "NO"), ("tag", "text", None, "NO")]


def test_put_new_twice_raises_exists_and_keeps_the_first(remote):
    tag = remote.put_new("h/dev", b"first")
    with pytest.raises(Exists) as info:
        remote.put_new("h/dev", b"second")
    assert info.value.exit_code == ExitCode.FAILED and "h/dev" in str(info.value)
    assert remote.get("h/dev") == b"first"
    assert [o.tag for o in remote.list("h/")] == [tag]
    remote.put_new("h/other", b"the connection is usable after the refusal")


def test_put_overwrites(remote):
    first = remote.put("h/dev", b"one")
    second = remote.put("h/dev", b"three")
    assert remote.get("h/dev") == b"three" and first != second
    assert [(o.name, o.tag, o.size) for o in remote.list()] == [("h/dev", second, 5)]


def test_list_is_sorted_by_name_and_filtered_by_a_string_prefix(remote):
    names = ["b", "a/2", "a/10", "a-b", "a/b/c", "ab", "h/x", "é", "a/é", "a/z"]
    for name in reversed(names):
        remote.put_new(name, name.encode())
    assert [o.name for o in remote.list()] == sorted(names)  # code point order, whatever the database's locale
    assert [o.name for o in remote.list("a/")] == ["a/10", "a/2", "a/b/c", "a/z", "a/é"]
    assert [o.name for o in remote.list("a")] == ["a-b", "a/10", "a/2", "a/b/c", "a/z", "a/é", "ab"]
    assert [o.name for o in remote.list("a/b/")] == ["a/b/c"]
    assert [o.name for o in remote.list("h/x")] == ["h/x"]
    assert [o.name for o in remote.list("é")] == ["é"]
    assert list(remote.list("zz/")) == [] and list(remote.list("b/")) == []


def test_prefix_end_is_the_smallest_string_above_the_prefix():
    assert prefix_end("") is None and prefix_end("h/") == "h0" and prefix_end("a") == "b"
    assert prefix_end("\ud7ff") == "\ue000" and prefix_end("x\U0010ffff") == "y" and prefix_end("\U0010ffff") is None


def test_delete_removes_and_ignores_what_is_absent(remote):
    for name in ("s/1", "s/2", "k/1"):
        remote.put_new(name, b"x")
    remote.delete(["s/1", "k/1", "s/never", "nowhere/x"])
    remote.delete(["s/1"])  # twice: still fine
    remote.delete([])
    assert [o.name for o in remote.list()] == ["s/2"]
    with pytest.raises(NotFound):
        remote.get("s/1")
    remote.delete(iter(["s/2"]))
    assert rows(remote) == []


def test_get_of_a_missing_object_is_not_found(remote, tmp_path):
    remote.put_new("a/b", b"x")
    for name in ("missing", "a/missing", "a", "a/b/c"):
        with pytest.raises(NotFound) as info:
            remote.get(name)
        assert info.value.exit_code == ExitCode.FAILED
        with pytest.raises(NotFound):
            remote.open(name)
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"keep")
    with pytest.raises(NotFound):
        remote.get_file("missing", dest)
    assert dest.read_bytes() == b"keep" and not [n for n in os.listdir(tmp_path) if n.startswith(".")]


def test_a_closed_remote_refuses_and_closing_twice_is_harmless(location):
    r = open_remote(location)
    r.close()
    r.close()
    with pytest.raises(RemoteError) as info:
        r.put("x", b"y")
    assert "closed" in str(info.value)


# --------------------------------------------------------------------------- the URL and the server


def test_the_default_table_is_mirror_objects(pg_url):
    with closing(open_remote(pg_url)) as r:
        assert r.table == "mirror_objects"
        r.put("x", b"1")
    sql(pg_url, "DROP TABLE mirror_objects")


def test_a_schema_qualified_table_and_postgres_scheme(pg_url, fresh_table):
    sql(pg_url, f"CREATE SCHEMA s_{fresh_table}")
    try:
        with closing(open_remote(with_table(pg_url.replace("postgresql://", "postgres://", 1),
                                            f"s_{fresh_table}.objs"))) as r:
            r.put_new("x", b"1")
        assert sql(pg_url, f"SELECT name FROM s_{fresh_table}.objs") == [("x",)]
    finally:
        sql(pg_url, f"DROP SCHEMA s_{fresh_table} CASCADE")


@pytest.mark.parametrize("table", ["a-b", "x;drop table y", "a.b.c", "1abc", "", "a" * 64])
def test_a_table_name_mirror_does_not_use_is_a_usage_error(pg_url, table):
    with pytest.raises(UsageError) as info:
        open_remote(with_table(pg_url, table))
    assert info.value.exit_code == ExitCode.USAGE


def test_two_tables_in_the_url_are_a_usage_error(pg_url):
    with pytest.raises(UsageError):
        open_remote(f"{with_table(pg_url, 'a')}&table=b")


def test_an_unreachable_server_is_exit_1_with_a_clear_message(monkeypatch):
    with socket_port() as port:  # nothing listens there
        monkeypatch.setenv("PGPASSWORD", "pgpass-s3cr3t")
        with pytest.raises(RemoteError) as info:
            open_remote(f"postgresql://someone@127.0.0.1:{port}/mirror")
    message = str(info.value)
    assert info.value.exit_code == ExitCode.FAILED and "cannot connect to PostgreSQL" in message
    assert f"127.0.0.1:{port}" in message and "PGPASSWORD" in message and "pgpass-s3cr3t" not in message
    assert "\n" not in info.value.message


def test_without_psycopg_the_message_names_the_cloud_extra(monkeypatch, pg_url):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg -> ImportError
    with pytest.raises(CloudExtraMissing) as info:
        open_remote(pg_url)
    assert info.value.exit_code == ExitCode.FAILED and "mirror-cli[cloud]" in str(info.value)


def test_a_dropped_table_is_exit_1_naming_the_table(remote):
    sql(server_url(), f"DROP TABLE {remote.table}")
    with pytest.raises(RemoteError) as info:
        list(remote.list())
    assert info.value.exit_code == ExitCode.FAILED and remote.table in str(info.value)


@contextlib.contextmanager
def socket_port():
    """A port on 127.0.0.1 that is bound (so nothing else takes it) and never listened on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


# --------------------------------------------------------------------------- streams


def test_open_reads_and_seeks_the_object(remote):
    remote.put("s/obj", bytes(range(256)) * 10)
    with remote.open("s/obj") as fh:
        assert fh.read(3) == b"\x00\x01\x02"
        fh.seek(-2, os.SEEK_END)
        assert fh.read() == b"\xfe\xff"
        fh.seek(256)
        assert fh.read(1) == b"\x00"


def test_put_file_exclusive_creates_only_if_absent(remote, tmp_path):
    src = tmp_path / "src"
    src.write_bytes(b"first")
    assert remote.put_file("a/x", src, exclusive=True) == hashlib.sha256(b"first").hexdigest()
    src.write_bytes(b"second")
    with pytest.raises(Exists):
        remote.put_file("a/x", src, exclusive=True)
    assert remote.get("a/x") == b"first"
    remote.put_file("a/x", src)
    assert remote.get("a/x") == b"second"
    src.write_bytes(b"")
    remote.put_file("a/empty", src)
    assert remote.get("a/empty") == b""


def test_put_stream_is_seen_only_once_committed(remote):
    with remote.put_stream("s/big") as out:
        for _ in range(5):
            out.write(b"x" * 1000)
        assert list(remote.list()) == []
        tag = out.commit()
    assert remote.get("s/big") == b"x" * 5000 and [o.tag for o in remote.list()] == [tag]


def test_a_put_stream_left_without_commit_leaves_nothing(remote):
    with pytest.raises(ValueError), remote.put_stream("s/half") as out:
        out.write(b"half")
        raise ValueError("stopped")
    with remote.put_stream("s/none") as out:
        out.write(b"checked, then refused")
    assert rows(remote) == []


def test_an_exclusive_put_stream_loses_to_an_object_made_meanwhile(remote):
    with remote.put_stream("s/x", exclusive=True) as out:
        out.write(b"mine")
        remote.put_new("s/x", b"theirs")
        with pytest.raises(Exists):
            out.commit()
    assert remote.get("s/x") == b"theirs" and rows(remote) == ["s/x"]


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
    assert tag == want and hashlib.sha256(dest.read_bytes()).hexdigest() == want
    assert list(remote.list("backups/")) == [ObjectInfo("backups/big.bin", tag, 20 << 20)]
    assert os.listdir(dest.parent) == ["big.bin"]
    with remote.open("backups/big.bin") as fh:
        fh.seek((5 << 20) + 7)
        assert fh.read(4) == block[7:11]


def test_put_file_of_a_missing_local_file_is_exit_1_and_writes_nothing(remote, tmp_path):
    with pytest.raises(Exception) as info:
        remote.put_file("x", tmp_path / "nope")
    assert getattr(info.value, "exit_code", None) == ExitCode.FAILED and rows(remote) == []


# --------------------------------------------------------------------------- names


BAD_NAMES = ["", "/abs", "a//b", "a/", "../x", "a/../b", "a/./b", ".", "..", "a\\b", "a\x00b", "a\nb",
             ".hidden", "a/.hidden", ".~mirror-123.tmp", "x" * 256, "/".join(["abc"] * 300), "bad\udcff"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_names_are_refused_by_every_call(remote, tmp_path, name):
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
    assert rows(remote) == [] and not (tmp_path / "dest").exists()


@pytest.mark.parametrize("prefix", ["/a", "../", "a//", "a/../", ".x", "a\\", "a\x00", "a/.b/"])
def test_invalid_prefixes_are_refused(remote, prefix):
    with pytest.raises(InvalidName):
        remote.list(prefix)


@pytest.mark.parametrize("name", ["a..b", "x.", "~x", "with space", "ünïcødé/名前", "a-b_c=d+e,f", "x" * 255,
                                  "it's", "%s", "{t}"])
def test_plain_names_are_accepted(remote, name):
    remote.put_new(name, b"ok")
    assert remote.get(name) == b"ok" and [o.name for o in remote.list()] == [name]


# --------------------------------------------------------------------------- concurrency


def test_two_connections_put_new_one_name_exactly_one_wins(location):
    for i in range(20):
        barrier = threading.Barrier(2)
        outcome: dict[str, object] = {}

        def writer(who: str) -> None:
            with closing(open_remote(location)) as r:
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
        with closing(open_remote(location)) as r:
            assert r.get(f"h/n{i}") == winners[0].encode() * 1000


# --------------------------------------------------------------------------- the model


LEAF = st.text(alphabet="abcxyz0189-_~é", min_size=1, max_size=6)
NAME = st.one_of(LEAF, st.tuples(st.sampled_from(["h", "s", "deep/er"]), LEAF).map("/".join))
OP = st.one_of(
    st.tuples(st.just("put"), NAME, st.binary(max_size=64)),
    st.tuples(st.just("put_new"), NAME, st.binary(max_size=64)),
    st.tuples(st.just("delete"), st.lists(NAME, max_size=3), st.none()),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(OP, max_size=30))
def test_any_sequence_of_writes_matches_a_dict(remote, ops):
    sql(server_url(), f"TRUNCATE {remote.table}")
    model: dict[str, bytes] = {}
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
    assert all(o.size == len(model[o.name]) and o.tag == hashlib.sha256(model[o.name]).hexdigest() for o in listed)
    assert {name: remote.get(name) for name in model} == model
    for prefix in ("h/", "s/", "deep/", "deep/er/", "a", "é"):
        assert [o.name for o in remote.list(prefix)] == sorted(n for n in model if n.startswith(prefix))


def test_a_batch_commits_its_writes_together_or_not_at_all(remote, location):
    with closing(open_remote(location)) as other:
        with remote.batch():
            remote.put_new("s/one", b"segment")
            remote.put("h/head", b"head")
            assert remote.get("s/one") == b"segment"  # this connection sees its own writes
            assert list(other.list("")) == []          # nobody else does before the commit
            with pytest.raises(Exists):
                remote.put_new("s/one", b"other bytes")  # taken: the batch goes on
        assert sorted(o.name for o in other.list("")) == ["h/head", "s/one"]
        with pytest.raises(RuntimeError), remote.batch():
            remote.put_new("s/two", b"segment")
            raise RuntimeError("killed between the segment and the head")
        assert sorted(o.name for o in other.list("")) == ["h/head", "s/one"]
        with remote.batch(), remote.open("s/one") as f:  # a streamed read joins the batch's transaction
            assert f.read() == b"segment"


def test_many_new_objects_go_in_one_copy_and_taken_names_are_returned(remote):
    remote.put_new("s/b", b"already here")
    taken = remote.put_new_many([("s/a", b"1" * 5000), ("s/b", b"2"), ("s/c", b"3")])
    assert taken == ["s/b"]
    assert remote.get("s/a") == b"1" * 5000 and remote.get("s/b") == b"already here" and remote.get("s/c") == b"3"
    assert {o.name: o.tag for o in remote.list("s/")}["s/a"] == hashlib.sha256(b"1" * 5000).hexdigest()
    with remote.batch():
        assert remote.put_new_many([("s/d", b"4"), ("s/a", b"x")]) == ["s/a"]
    assert remote.get("s/d") == b"4"

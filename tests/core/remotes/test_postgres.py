"""mirror_cli.remotes.postgres: what only a PostgreSQL table does (SYNC.md section 12), against a throwaway
cluster (tests/pg_helpers.py): SHA-256 tags, the table and its options, the server. The Remote protocol
itself, in a table as on a folder and on S3, is test_conformance.py."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import sys
from contextlib import closing

import pytest

from pg_helpers import fresh_table, pg_url, server_url, sql, with_table  # noqa: F401 (fixtures)
from mirror_cli.errors import ExitCode, UsageError
from mirror_cli.remotes.base import Exists, ObjectInfo, Remote, RemoteError
from mirror_cli.remotes.postgres import PostgresRemote, prefix_end
from mirror_cli.remotes.url import CloudExtraMissing, open_remote


@pytest.fixture
def location(pg_url, fresh_table):
    return with_table(pg_url, fresh_table)


@pytest.fixture
def remote(location):
    with closing(open_remote(location)) as r:
        yield r


# --------------------------------------------------------------------------- the basic calls


def test_it_is_a_remote_that_never_lags(remote, location, fresh_table):
    assert isinstance(remote, PostgresRemote) and isinstance(remote, Remote)
    assert remote.url == location and remote.may_lag is False
    assert fresh_table in remote.describe() and "127.0.0.1" in remote.describe()
    with closing(open_remote(remote.url)) as again:  # url is something open_remote takes back
        assert again.table == fresh_table


def test_every_tag_is_the_sha256_of_the_body(remote, tmp_path):
    def sha(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    assert remote.put_new("s/abc", b"hello") == sha(b"hello")
    assert list(remote.list("")) == [ObjectInfo("s/abc", sha(b"hello"), 5)]
    assert remote.put_new("empty", b"") == sha(b"")
    assert remote.put("s/abc", b"other") == sha(b"other")
    src = tmp_path / "src"
    src.write_bytes(b"first")
    assert remote.put_file("a/x", src, exclusive=True) == sha(b"first")
    src.write_bytes(b"")
    assert remote.put_file("a/empty", src) == sha(b"")
    with remote.put_stream("s/big") as out:
        out.write(b"x" * 5000)
        assert out.commit() == sha(b"x" * 5000)
    assert all(o.tag == sha(remote.get(o.name)) for o in remote.list())


def test_the_table_is_created_with_the_columns_and_collation_mirror_needs(remote):
    cols = sql(server_url(), "SELECT column_name, data_type, collation_name, is_nullable FROM "
               "information_schema.columns WHERE table_name = %s ORDER BY ordinal_position", (remote.table,))
    assert cols == [("name", "text", "C", "NO"), ("body", "bytea", None, "NO"), ("tag", "text", None, "NO")]


def test_prefix_end_is_the_smallest_string_above_the_prefix():
    assert prefix_end("") is None and prefix_end("h/") == "h0" and prefix_end("a") == "b"
    assert prefix_end("\ud7ff") == "\ue000" and prefix_end("x\U0010ffff") == "y" and prefix_end("\U0010ffff") is None


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

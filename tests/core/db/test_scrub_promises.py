"""Issue 12, item 19: while another process holds a read, `delete --all` and `key enable` must not report a
wipe that did not happen: the checkpoint's result is checked, and old bytes left are an error (exit 1)."""

from __future__ import annotations

import sqlite3

import pytest

from mirror_cli.db import scrub

SECRET = "pineapple-zeppelin-marmalade"


@pytest.fixture
def reader(journal_db, cli, monkeypatch):
    """Another process's connection holding a read on the journal (as a long `mirror export` would)."""
    monkeypatch.setattr(scrub, "CHECKPOINT_WAIT", 0.3, raising=False)
    assert cli("reflect", f"{SECRET} in a secret entry").exit_code == 0
    conn = sqlite3.connect(journal_db, isolation_level=None)
    conn.execute("BEGIN")
    conn.execute("SELECT count(*) FROM reflections").fetchone()
    yield conn
    conn.close()


def test_delete_all_says_old_bytes_remain_while_another_process_reads(cli, journal_db, reader):
    r = cli("delete", "--all", "--yes")
    assert r.exit_code == 1, (r.stdout, r.stderr)
    assert "another process is reading" in r.stderr and "everything was deleted" in r.stderr
    assert r.stdout == ""
    assert SECRET.encode() in journal_db.read_bytes()  # what the message says: the old bytes are still there
    reader.close()
    assert cli("list", "--json").stdout.strip() == "[]"  # the next command finishes the wiping
    assert SECRET.encode() not in journal_db.read_bytes()


def test_key_enable_says_old_bytes_remain_while_another_process_reads(cli, journal_db, reader):
    r = cli("key", "enable", env={"MIRROR_NEW_PASSPHRASE": "correct horse battery staple 42"})
    assert r.exit_code == 1, (r.stdout, r.stderr)
    assert "another process is reading" in r.stderr and "the journal is encrypted" in r.stderr
    reader.close()
    assert cli("key", "status", env={"MIRROR_PASSPHRASE": "correct horse battery staple 42"}).exit_code == 0
    assert SECRET.encode() not in journal_db.read_bytes()


def test_delete_all_without_readers_wipes_and_succeeds(cli, journal_db, monkeypatch):
    monkeypatch.setattr(scrub, "CHECKPOINT_WAIT", 0.3, raising=False)
    assert cli("reflect", f"{SECRET} in a secret entry").exit_code == 0
    assert cli("delete", "--all", "--yes").exit_code == 0
    assert SECRET.encode() not in journal_db.read_bytes()

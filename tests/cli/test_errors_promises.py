"""Honest errors (issue 12): a locked database is "try again" (exit 1), a full disk says so, and a
file that is not a database is never met with advice to replace it."""

from __future__ import annotations

import sqlite3

import pytest


@pytest.fixture
def short_busy_timeout(monkeypatch):
    """Wait 0.2 s for a lock instead of 30 s."""
    from mirror_cli.db import store

    monkeypatch.setattr(store, "BUSY_TIMEOUT_MS", 200)


def test_migrate_check_on_a_locked_database_is_exit_1_without_restore_advice(cli, journal_db, short_busy_timeout):
    holder = sqlite3.connect(journal_db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        result = cli("--db", journal_db, "migrate", "check")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 1, result.stderr
    assert "locked" in result.stderr
    assert "try again" in result.stderr.lower()
    assert "restore" not in result.stderr.lower()
    assert result.stdout == ""


def test_migrate_check_json_on_a_locked_database_is_exit_1_not_a_failed_check(cli, journal_db, short_busy_timeout):
    holder = sqlite3.connect(journal_db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        result = cli("--db", journal_db, "migrate", "check", "--json")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 1, result.stderr
    assert "locked" in result.stderr
    assert "restore" not in result.stderr.lower()


def test_migrate_check_still_passes_once_the_lock_is_gone(cli, journal_db, short_busy_timeout):
    result = cli("--db", journal_db, "migrate", "check")
    assert result.exit_code == 0, result.stderr


# -- a full disk ------------------------------------------------------------------

@pytest.mark.parametrize("message", ["disk I/O error", "Disk I/O error"])
def test_disk_io_error_names_the_likely_causes_full_disk_first(tmp_path, message):
    from mirror_cli.db.store import _db_error
    from mirror_cli.errors import ExitCode

    error = _db_error(sqlite3.OperationalError(message), tmp_path / "mirror.db")
    assert error.exit_code == ExitCode.FAILED
    assert error.hint and "full" in error.hint
    assert "restore" not in str(error).lower()


def test_database_or_disk_is_full_says_the_disk_is_full(tmp_path):
    from mirror_cli.db.store import _db_error
    from mirror_cli.errors import ExitCode

    error = _db_error(sqlite3.OperationalError("database or disk is full"), tmp_path / "mirror.db")
    assert error.exit_code == ExitCode.FAILED
    assert "the disk is full" in error.message
    assert "Free some space" in error.hint


def test_a_read_failing_with_disk_io_error_shows_the_hint_on_the_command_line(cli, journal_db, monkeypatch):
    """The CLI's mapping of a database error outside a write (a read, `list`) carries the hint too."""
    from mirror_cli.journal import reflections

    def failing(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(reflections, "iter_reflections", failing)  # what `list` reads with
    result = cli("--db", journal_db, "list")
    assert result.exit_code == 1, result.stderr
    assert "disk I/O error" in result.stderr
    assert "full" in result.stderr
    assert "unexpected internal error" not in result.stderr


# -- a file that is not a database ------------------------------------------------

README = b"# My project\n\nNot a journal: a text file someone passed as --db by mistake.\n" * 3


@pytest.mark.parametrize("command", [("list",), ("reflect", "hello"), ("migrate", "check"), ("audit", "verify"),
                                     ("export",)])
def test_a_file_that_is_not_a_database_is_a_usage_error_and_stays_byte_identical(cli, tmp_path, command):
    readme = tmp_path / "README.md"
    readme.write_bytes(README)
    result = cli("--db", readme, *command)
    assert result.exit_code == 2, result.stderr
    assert "not a mirror database" in result.stderr
    assert "--db" in result.stderr and "MIRROR_DB" in result.stderr
    assert "restore" not in result.stderr.lower()
    assert result.stdout == ""
    assert readme.read_bytes() == README
    assert not (tmp_path / "README.md-wal").exists() and not (tmp_path / "README.md-shm").exists()


def test_a_file_that_is_not_a_database_given_by_mirror_db_is_a_usage_error(cli, tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_bytes(README)
    monkeypatch.setenv("MIRROR_DB", str(readme))
    result = cli("list")
    assert result.exit_code == 2, result.stderr
    assert "not a mirror database" in result.stderr
    assert readme.read_bytes() == README


def test_a_damaged_mirror_database_still_gets_the_restore_advice(cli, journal_db):
    """A real SQLite file whose pages are damaged is exit 3 with the restore advice, as before."""
    data = bytearray(journal_db.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the first page past the header: sqlite_master
    journal_db.write_bytes(bytes(data))
    result = cli("--db", journal_db, "list")
    assert result.exit_code == 3, result.stderr
    assert "restore" in result.stderr.lower()


def test_a_reading_command_on_an_empty_file_creates_no_journal_in_it(cli, tmp_path):
    """An empty file (`touch`, a truncated copy) is no journal: `list` must not migrate one into it."""
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    result = cli("--db", empty, "list")
    assert result.exit_code == 2, result.stderr
    assert str(empty) in result.stderr
    assert empty.read_bytes() == b""
    assert not (tmp_path / "empty.db-wal").exists()

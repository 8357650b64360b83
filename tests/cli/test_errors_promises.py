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

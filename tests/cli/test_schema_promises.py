"""Planted triggers and tables do not survive (issue 12, item 12).

A trigger that copies each new entry into a side table, planted with plain sqlite3, outlived
`key enable` and `delete --all`, and `audit verify` and `migrate check` passed. The schema is now
checked against what the migrations make: exit 3 naming the object.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from helpers import assert_error, raw

PW = "lighthouse keeper 42"
SIDE = "CREATE TABLE side_copy (content)"
COPIER = ("CREATE TRIGGER copy_out AFTER INSERT ON reflections BEGIN "
          "INSERT INTO side_copy (content) VALUES (new.content); END")


@pytest.fixture
def db(cli, mirror_home):
    assert cli("reflect", "first words").exit_code == 0
    return mirror_home / "mirror.db"


def _side_rows(db) -> list:
    conn = sqlite3.connect(db)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'side_copy'").fetchone():
            return []
        return [r[0] for r in conn.execute("SELECT content FROM side_copy")]
    finally:
        conn.close()


def test_reflect_refuses_a_planted_trigger_and_copies_nothing(cli, db):
    raw(db, SIDE, COPIER)
    r = cli("reflect", "never copied")
    assert_error(r, 3)
    assert "copy_out" in r.stderr and "outside mirror" in r.stderr
    assert _side_rows(db) == []


def test_key_enable_refuses_a_planted_trigger(cli, db):
    raw(db, SIDE, COPIER)
    r = cli("key", "enable", env={"MIRROR_NEW_PASSPHRASE": PW})
    assert_error(r, 3)
    assert "copy_out" in r.stderr
    assert json.loads(cli("key", "status", "--json").stdout)["encrypted"] is False


def test_delete_all_refuses_a_planted_trigger(cli, db):
    raw(db, SIDE, "CREATE TRIGGER keep_out BEFORE DELETE ON reflections BEGIN "
                  "INSERT INTO side_copy (content) VALUES (old.content); END")
    r = cli("delete", "--all", "--yes")
    assert_error(r, 3)
    assert "keep_out" in r.stderr
    assert _side_rows(db) == []


def test_an_altered_trigger_of_mirrors_own_is_caught(cli, db):
    """Same name, other SQL: the full-text trigger rewritten to copy the text out as well."""
    conn = sqlite3.connect(db)
    name, sql = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                             "AND name = 'reflections_fts_insert'").fetchone()
    conn.close()
    evil = sql.replace("END", "INSERT INTO side_copy (content) VALUES (new.content);\nEND")
    raw(db, SIDE, f"DROP TRIGGER {name}", evil)
    assert_error(cli("reflect", "x"), 3)
    r = cli("migrate", "check", "--json")
    assert r.exit_code == 3
    found = {(o["type"], o["name"]): o["problem"] for o in json.loads(r.stdout)["objects"]}
    assert found[("trigger", name)] == "it differs from what its migration made"
    assert found[("table", "side_copy")] == "no migration made it"


def test_audit_verify_and_migrate_check_name_the_planted_object(cli, db):
    raw(db, SIDE, COPIER)
    r = cli("audit", "verify")
    assert_error(r, 3)
    assert "copy_out" in r.stderr or "side_copy" in r.stderr
    r = cli("audit", "verify", "--json")
    assert r.exit_code == 3 and json.loads(r.stdout)["ok"] is False
    r = cli("migrate", "check")
    assert_error(r, 3)
    assert "copy_out" in r.stderr and "side_copy" in r.stderr


def test_a_checksum_edited_in_schema_migrations_does_not_hide_a_planted_trigger(cli, db):
    raw(db, SIDE, COPIER, "UPDATE schema_migrations SET checksum = 'deadbeef'")
    assert_error(cli("reflect", "x"), 3)
    assert "copy_out" in cli("migrate", "check").stderr


def test_an_untouched_journal_passes_every_check(cli, db):
    raw(db, "ANALYZE")  # sqlite_stat1 is SQLite's own
    assert cli("reflect", "second").exit_code == 0
    assert cli("audit", "verify").exit_code == 0
    assert cli("migrate", "check").exit_code == 0
    assert cli("migrate", "down", "--steps", "2").exit_code == 0
    assert cli("migrate", "check").exit_code == 0
    assert cli("migrate", "up").exit_code == 0
    assert cli("reflect", "third").exit_code == 0


def test_reading_commands_still_read_a_planted_journal(cli, db):
    """A planted object acts only on writes: reading is not refused (migrate check and audit verify say it)."""
    raw(db, SIDE, COPIER)
    r = cli("list", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["content"] == "first words"

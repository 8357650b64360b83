"""Promises of issue 12 about the journal commands, run in-process."""

from __future__ import annotations

import json

import pytest

# -- item 6: a reading command on a journal that does not exist creates nothing ------------------

READING = [
    ["list"], ["list", "--json"], ["show", "ABCDEF"], ["search", "word"], ["export"],
    ["export", "--format", "jsonl"], ["audit", "verify"], ["audit", "verify", "--json"], ["audit", "log"],
    ["patterns"], ["patterns", "list"], ["patterns", "show", "x"], ["patterns", "evolution"],
    ["tensions"], ["tensions", "list"], ["tensions", "map"], ["tensions", "show", "x"],
    ["migrate", "status"], ["migrate", "check"], ["migrate", "history"],
    ["backup", "create"], ["key", "status"],
    # commands that change an existing journal have nothing to change either
    ["edit", "ABCDEF", "text"], ["delete", "--all", "--yes"], ["delete", "ABCDEF", "--yes"],
    ["key", "enable"], ["key", "lock"], ["migrate", "up"], ["patterns", "analyze"], ["tensions", "analyze"],
]


@pytest.mark.parametrize("args", READING, ids=lambda a: " ".join(a))
def test_a_command_on_a_mistyped_db_creates_nothing(cli, tmp_path, args):
    missing = tmp_path / "typo" / "jornal.db"
    r = cli("--db", missing, *args)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert str(missing) in r.stderr
    assert r.stdout == ""
    assert not missing.parent.exists()


def test_a_reading_command_on_the_default_journal_creates_nothing(cli, mirror_home):
    r = cli("list")
    assert r.exit_code == 2
    assert str(mirror_home / "mirror.db") in r.stderr
    assert not (mirror_home / "mirror.db").exists()


def test_config_path_needs_no_journal(cli, tmp_path):
    missing = tmp_path / "nope.db"
    r = cli("--db", missing, "config", "path", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["database"] == str(missing)
    assert not missing.exists()


def test_writing_commands_still_create_the_journal(cli, tmp_path):
    db = tmp_path / "new" / "journal.db"
    assert cli("--db", db, "reflect", "first").exit_code == 0
    assert db.is_file()
    exported = cli("--db", db, "export").stdout
    other = tmp_path / "other.db"
    r = cli("--db", other, "import", "-", input=exported)
    assert r.exit_code == 0, r.stderr
    assert other.is_file()


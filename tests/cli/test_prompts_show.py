"""Prompts show what they act on (issue 15, item 11): `delete ID` and `backup restore`."""

from __future__ import annotations

import json

import pytest

from mirror_cli.cli import output


def _ok(r):
    assert r.exit_code == 0, r.stdout + r.stderr
    return r


@pytest.fixture
def terminal(monkeypatch):
    """stdin a terminal; confirm() answers no and records each question."""
    asked: list[str] = []
    monkeypatch.setattr(output, "stdin_is_tty", lambda: True)
    monkeypatch.setattr(output, "confirm", lambda q: asked.append(q) or False)
    return asked


def test_delete_shows_the_date_and_first_line_of_each(cli, terminal, new_york):
    _ok(cli("reflect", "Walked to the river.\nIt was cold.", "--at", "2024-06-03 21:05"))
    _ok(cli("reflect", "\n  " + "x" * 80))
    rows = json.loads(_ok(cli("list", "--json")).stdout)
    r = cli("delete", *(row["id"] for row in rows))
    assert r.exit_code == 0 and "Nothing deleted" in r.stderr
    [question] = terminal
    lines = question.splitlines()
    assert lines[-1] == "Delete 2 reflections?"
    walk = next(line for line in lines if rows[1]["id"] in line)
    assert "2024-06-03 21:05" in walk and walk.endswith("Walked to the river.") and "cold" not in walk
    long = next(line for line in lines if rows[0]["id"] in line)
    assert long.endswith("x" * 59 + "\u2026")
    assert len(json.loads(_ok(cli("list", "--json")).stdout)) == 2


def test_delete_of_many_shows_twenty_and_the_rest_counted(cli, terminal):
    for i in range(23):
        _ok(cli("reflect", f"entry {i}"))
    ids = [row["id"] for row in json.loads(_ok(cli("list", "--json", "-n", "100")).stdout)]
    cli("delete", *ids)
    lines = terminal[0].splitlines()
    assert len(lines) == 22 and lines[-2] == "  ... and 3 more" and lines[-1] == "Delete 23 reflections?"


def test_restore_compares_the_backup_with_the_journal_before_asking(cli, terminal, tmp_path, new_york):
    _ok(cli("reflect", "one", "--at", "2024-06-03 09:00"))
    made = json.loads(_ok(cli("backup", "create", "-o", tmp_path / "b.mirrorbak", "--no-encrypt", "--json")).stdout)
    _ok(cli("reflect", "two"))
    _ok(cli("reflect", "three"))
    r = cli("backup", "restore", made["path"])
    assert r.exit_code == 2 and "cancelled" in r.stderr
    [question] = terminal
    backup, journal, what = question.splitlines()
    assert backup.startswith("  backup:  made ") and "1 reflection," in backup
    assert journal.startswith("  journal: last written ") and "3 reflections," in journal
    assert what.startswith("Replace ") and len(json.loads(_ok(cli("list", "--json")).stdout)) == 3

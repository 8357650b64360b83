"""Issue 12, item 18: `delete --all` and `key enable` name the copies mirror made of the journal
(its backups in the backups folder, `.before-restore-*` and `.before-replace-*` files), and
`delete --all --backups delete|keep` deletes or keeps them; another journal's backups are never touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

PW = "correct horse battery staple 42"


def _backup(cli, *args) -> str:
    r = cli(*args, "backup", "create", "--json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)["path"]


@pytest.fixture
def copies(cli, journal_db, tmp_path):
    """journal_db with one backup of its own, a before-restore copy (with its -wal), a before-replace copy,
    and a backup of another journal in the same backups folder."""
    mine = _backup(cli)
    other_db = tmp_path / "other.db"
    assert cli("--db", other_db, "reflect", "the other journal's words").exit_code == 0
    theirs = _backup(cli, "--db", other_db)
    assert Path(mine).parent == Path(theirs).parent
    restore = journal_db.with_name("mirror.db.before-restore-20260101T000000Z")
    restore.write_bytes(journal_db.read_bytes())
    Path(f"{restore}-wal").write_bytes(b"old frames")
    replace = journal_db.with_name("mirror.db.before-replace-20260102T000000Z-2")
    replace.write_bytes(journal_db.read_bytes())
    return {"mine": mine, "theirs": theirs, "restore": restore, "replace": replace}


def test_delete_all_in_a_script_names_the_copies_and_asks_for_backups(cli, journal_db, copies):
    r = cli("delete", "--all", "--yes")
    assert r.exit_code == 2
    assert "--backups" in r.stderr and "1 backup in" in r.stderr and str(copies["restore"]) in r.stderr
    assert r.stdout == ""
    assert len(json.loads(cli("list", "--json").stdout)) == 4  # nothing deleted
    assert Path(copies["mine"]).exists() and copies["restore"].exists()


def test_delete_all_backups_delete_removes_this_journals_copies_only(cli, journal_db, copies):
    r = cli("delete", "--all", "--yes", "--backups", "delete")
    assert r.exit_code == 0, r.stderr
    assert "Deleted everything" in r.stdout and "1 backup in" in r.stdout and str(copies["replace"]) in r.stdout
    assert not Path(copies["mine"]).exists()
    assert not copies["restore"].exists() and not Path(f"{copies['restore']}-wal").exists()
    assert not copies["replace"].exists()
    assert Path(copies["theirs"]).exists()  # another journal's backup is never touched
    assert json.loads(cli("list", "--json").stdout) == []


def test_delete_all_backups_keep_keeps_and_says_so(cli, journal_db, copies):
    r = cli("delete", "--all", "--yes", "--backups", "keep", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["copies"]["action"] == "keep" and out["copies"]["removed"] == []
    assert out["copies"]["backups"] == [copies["mine"]]
    assert sorted(out["copies"]["asides"]) == sorted([str(copies["restore"]), str(copies["replace"])])
    assert Path(copies["mine"]).exists() and copies["restore"].exists() and copies["replace"].exists()
    assert cli("reflect", "again").exit_code == 0
    assert cli("delete", "--all", "--yes", "--backups", "keep").stdout.count("still hold") == 1


def test_delete_all_on_a_terminal_asks_with_counts_and_copies(cli, journal_db, copies, monkeypatch):
    monkeypatch.setattr("mirror_cli.cli.output.stdin_is_tty", lambda: True)
    r = cli("delete", "--all", input="y\ny\n")
    assert r.exit_code == 0, r.stderr
    assert "4 reflections" in r.stderr and "1 backup in" in r.stderr and str(copies["restore"]) in r.stderr
    assert not Path(copies["mine"]).exists() and Path(copies["theirs"]).exists()


def test_delete_all_on_a_terminal_can_keep_the_copies(cli, journal_db, copies, monkeypatch):
    monkeypatch.setattr("mirror_cli.cli.output.stdin_is_tty", lambda: True)
    r = cli("delete", "--all", input="y\nn\n")
    assert r.exit_code == 0, r.stderr
    assert "Kept" in r.stdout and Path(copies["mine"]).exists() and copies["restore"].exists()


def test_delete_all_without_copies_needs_no_backups_option(cli, journal_db):
    assert cli("delete", "--all", "--yes").exit_code == 0


def test_backups_option_is_checked(cli, journal_db):
    assert cli("delete", "--all", "--yes", "--backups", "maybe").exit_code == 2
    assert cli("delete", "ABCDEF", "--yes", "--backups", "keep").exit_code == 2


def test_key_enable_names_the_plaintext_copies_left_behind(cli, journal_db, copies):
    r = cli("key", "enable", env={"MIRROR_NEW_PASSPHRASE": PW})
    assert r.exit_code == 0, r.stderr
    assert "unencrypted" in r.stderr and copies["mine"] in r.stderr and str(copies["restore"]) in r.stderr
    assert copies["theirs"] not in r.stderr
    r = cli("key", "enable", "--json", env={"MIRROR_NEW_PASSPHRASE": PW})
    assert r.exit_code == 2  # already encrypted: nothing more to say


def test_key_enable_json_lists_the_plaintext_copies(cli, journal_db, copies):
    r = cli("key", "enable", "--json", env={"MIRROR_NEW_PASSPHRASE": PW})
    assert r.exit_code == 0, r.stderr
    assert sorted(json.loads(r.stdout)["plaintext_copies"]) == sorted([copies["mine"], str(copies["restore"]),
                                                                      str(copies["replace"])])

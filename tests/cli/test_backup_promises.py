"""Promises of `mirror backup` from issue 12: no folder made without --mkdir, backups know their journal,
plain backups are only checksummed (and never replace an encrypted journal without --allow-plain)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mirror_cli.crypto import manage as keyops
from mirror_cli.db.store import Store
from mirror_cli.journal import reflections as journal
from helpers import cheap

PW = "correct horse battery staple"


def _journal(path: Path, n: int = 2) -> Path:
    with Store.open(path) as s:
        for i in range(n):
            journal.add(s, f"entry {i} of {path.stem}")
    return path


def _made(cli, *args, env=None) -> dict:
    r = cli("backup", "create", "--json", *args, env=env)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


# -- item 7: a missing destination folder is created only with --mkdir ---------------------------

def test_create_refuses_a_missing_output_folder_without_mkdir(cli, mirror_home, tmp_path):
    _journal(mirror_home / "mirror.db")
    usb = tmp_path / "media" / "usb" / "mirror"  # the disk is not mounted: the folder is not there
    r = cli("backup", "create", "-o", usb)
    assert r.exit_code == 1
    assert str(usb) in r.stderr and "--mkdir" in r.stderr
    assert not usb.exists() and not (tmp_path / "media").exists()
    r = cli("backup", "create", "-o", usb / "named.backup")  # a file path in a missing folder: the same
    assert r.exit_code == 1 and str(usb) in r.stderr and not usb.exists()
    made = _made(cli, "-o", usb, "--mkdir")
    assert Path(made["path"]).parent == usb


def test_create_refuses_a_missing_configured_backups_folder(cli, mirror_home, tmp_path):
    _journal(mirror_home / "mirror.db")
    usb = tmp_path / "usb" / "backups"
    (mirror_home / "config.yaml").write_text(f"backup:\n  dir: {usb}\n")
    r = cli("backup", "create")
    assert r.exit_code == 1 and str(usb) in r.stderr and "--mkdir" in r.stderr
    assert not usb.exists()
    assert Path(_made(cli, "--mkdir")["path"]).parent == usb


def test_the_default_backups_folder_beside_the_journal_is_made_on_first_use(cli, mirror_home):
    _journal(mirror_home / "mirror.db")
    assert not (mirror_home / "backups").exists()
    made = _made(cli)
    assert Path(made["path"]).parent == mirror_home / "backups"


# -- item 1: backups know their journal --------------------------------------------------------

def _two_journals_one_folder(cli, tmp_path):
    shared = tmp_path / "shared-backups"
    shared.mkdir()
    personal, work = _journal(tmp_path / "personal.db"), _journal(tmp_path / "work.db", 3)
    r = cli("--db", personal, "backup", "create", "--json", "-o", shared)
    assert r.exit_code == 0, r.stderr
    p = json.loads(r.stdout)
    r = cli("--db", work, "backup", "create", "--json", "-o", shared)
    assert r.exit_code == 0, r.stderr
    w = json.loads(r.stdout)
    return shared, personal, work, p, w


def test_prune_never_removes_another_journals_backups(cli, tmp_path):
    shared, personal, _work, p, w = _two_journals_one_folder(cli, tmp_path)
    (tmp_path / "mirror-home").mkdir(exist_ok=True)
    (tmp_path / "mirror-home" / "config.yaml").write_text(f"backup:\n  dir: {shared}\n")
    r = cli("--db", personal, "backup", "prune", "--keep-last", "1", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["kept"] == [p["path"]] and out["removed"] == []
    assert Path(p["path"]).exists() and Path(w["path"]).exists()


def test_list_shows_only_the_current_journals_backups(cli, tmp_path):
    shared, personal, work, p, w = _two_journals_one_folder(cli, tmp_path)
    (tmp_path / "mirror-home").mkdir(exist_ok=True)
    (tmp_path / "mirror-home" / "config.yaml").write_text(f"backup:\n  dir: {shared}\n")
    r = cli("--db", personal, "backup", "list", "--json")
    assert r.exit_code == 0
    assert [b["path"] for b in json.loads(r.stdout)] == [p["path"]]
    assert "1 backup of another journal" in r.stderr
    r = cli("--db", work, "backup", "list")
    assert w["path"] in r.stdout.replace("\n", "") or Path(w["path"]).name in r.stdout
    assert Path(p["path"]).name not in r.stdout


def test_restore_of_another_journals_backup_names_both_and_needs_yes(cli, tmp_path, monkeypatch):
    _shared, personal, work, _p, w = _two_journals_one_folder(cli, tmp_path)
    with Store.open(personal, migrate=False, create=False) as s:
        personal_id = s.db_id
    with Store.open(work, migrate=False, create=False) as s:
        work_id = s.db_id
    asked = []
    monkeypatch.setattr("mirror_cli.cli.output.stdin_is_tty", lambda: True)
    monkeypatch.setattr("mirror_cli.cli.output.confirm", lambda q: asked.append(q) or False)
    r = cli("--db", personal, "backup", "restore", w["path"])
    assert r.exit_code == 2 and len(asked) == 1
    assert personal_id in asked[0] and work_id in asked[0] and "another journal" in asked[0]
    with Store.open(personal, migrate=False, create=False) as s:
        assert s.db_id == personal_id
    r = cli("--db", personal, "backup", "restore", "--yes", w["path"])  # on purpose: done, and said so
    assert r.exit_code == 0, r.stderr
    assert personal_id in r.stderr and work_id in r.stderr


# -- item 11: a plain backup is checksummed, not authenticated ---------------------------------

def _encrypt(path: Path) -> Path:
    with Store.open(path) as s:
        keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
    return path


def _snapshot(path: Path) -> bytes:
    return path.read_bytes()  # (a reader may leave an empty -wal and a -shm beside it: no change to the journal)


def test_a_plain_backup_is_never_restored_over_an_encrypted_journal_without_allow_plain(cli, mirror_home, tmp_path):
    victim = _encrypt(_journal(mirror_home / "mirror.db", 3))
    env = {"MIRROR_PASSPHRASE": PW}
    forged = tmp_path / "forged"
    forged.mkdir()
    attacker = _journal(tmp_path / "attacker.db", 1)
    r = cli("--db", attacker, "backup", "create", "--json", "-o", forged)
    assert r.exit_code == 0, r.stderr
    planted = json.loads(r.stdout)["path"]
    r = cli("backup", "create", "--json", "--no-encrypt", env=env)  # the journal's own plain backup
    assert r.exit_code == 0, r.stderr
    own_plain = json.loads(r.stdout)["path"]
    before = _snapshot(victim)
    for backup in (planted, own_plain):
        r = cli("backup", "restore", "--yes", backup, env=env)
        assert r.exit_code == 3, (backup, r.stderr)
        assert "--allow-plain" in r.stderr and "not authenticated" in r.stderr, r.stderr
        assert _snapshot(victim) == before
        assert not list(victim.parent.glob("mirror.db.before-restore-*"))
    r = cli("backup", "restore", "--yes", "--allow-plain", own_plain, env=env)  # asked for on purpose
    assert r.exit_code == 0, r.stderr


def test_verify_and_list_say_a_plain_backup_is_checksummed_not_authenticated(cli, mirror_home):
    _journal(mirror_home / "mirror.db")
    made = _made(cli)
    r = cli("backup", "verify", made["path"])
    assert r.exit_code == 0 and "not authenticated" in r.stdout + r.stderr
    assert json.loads(cli("backup", "verify", "--json", made["path"]).stdout)["authenticated"] is False
    r = cli("backup", "list")
    assert "not authenticated" in r.stdout + r.stderr
    assert [b["authenticated"] for b in json.loads(cli("backup", "list", "--json").stdout)] == [False]


def test_an_encrypted_backup_verified_with_its_key_is_authenticated(cli, mirror_home):
    _encrypt(_journal(mirror_home / "mirror.db"))
    env = {"MIRROR_PASSPHRASE": PW}
    made = _made(cli, env=env)
    assert json.loads(cli("backup", "verify", "--json", made["path"], env=env).stdout)["authenticated"] is True
    r = cli("backup", "verify", made["path"], env=env)
    assert "not authenticated" not in r.stdout + r.stderr
    assert [b["authenticated"] for b in json.loads(cli("backup", "list", "--json", env=env).stdout)] == [True]

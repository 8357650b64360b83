"""`mirror key rotate` and what `mirror key change` says it does not do (issue 12, item 16)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from mirror_cli import crypto
from mirror_cli.crypto import manage as keyops
from mirror_cli.crypto.unlocked import UnlockedKey
from mirror_cli.errors import VerificationError

PW = "correct horse battery staple"
NEW_PW = "another long passphrase"


@pytest.fixture
def encrypted(cli, mirror_home):
    assert cli("reflect", "before the rotation #walks").exit_code == 0
    assert cli("key", "enable", env={"MIRROR_NEW_PASSPHRASE": PW}).exit_code == 0
    return mirror_home / "mirror.db"


def old_key_file_opens(path, db, pw, rid) -> bool:
    db_id, meta = keyops.read_key_file(path)
    key = UnlockedKey.from_dek(crypto.unwrap_data_key(crypto.derive_kek(pw, meta.kdf), meta.wrapped_key, db_id))
    with sqlite3.connect(db) as conn:
        blob = conn.execute("SELECT content FROM reflections WHERE id = ?", (rid,)).fetchone()[0]
    try:
        key.fields.open("reflections", rid, "content", blob)
    except VerificationError:
        return False
    return True


def test_key_rotate_leaves_old_key_files_unable_to_open_later_entries(cli, encrypted, tmp_path):
    env = {"MIRROR_PASSPHRASE": PW}
    assert cli("key", "export", tmp_path / "old-key.json", env=env).exit_code == 0
    r = cli("key", "rotate", "--json", env=env)
    assert r.exit_code == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["rotated"] is True and result["key_id"] != result["previous_key_id"]
    assert result["converted"]["reflections"] == 1
    later = json.loads(cli("reflect", "written after the rotation", "--json", env=env).stdout)
    assert not old_key_file_opens(tmp_path / "old-key.json", encrypted, PW, later["id"])
    # the journal reads and verifies as before, with the same passphrase
    shown = json.loads(cli("list", "--json", env=env).stdout)
    assert sorted(x["content"] for x in shown) == ["before the rotation #walks", "written after the rotation"]
    assert cli("audit", "verify", env=env).exit_code == 0
    assert json.loads(cli("key", "status", "--json", env=env).stdout)["unlocked"] is True


def test_key_rotate_says_what_it_did(cli, encrypted):
    r = cli("key", "rotate", env={"MIRROR_PASSPHRASE": PW})
    assert r.exit_code == 0, r.stderr
    assert "Rotated the data key" in r.stdout and "same passphrase" in r.stdout
    assert "open nothing written from now on" in r.stderr


def test_key_rotate_with_a_new_passphrase(cli, encrypted):
    r = cli("key", "rotate", "--new-passphrase", env={"MIRROR_PASSPHRASE": PW, "MIRROR_NEW_PASSPHRASE": NEW_PW})
    assert r.exit_code == 0, r.stderr
    assert cli("list", env={"MIRROR_PASSPHRASE": PW}).exit_code == 4
    assert cli("list", env={"MIRROR_PASSPHRASE": NEW_PW}).exit_code == 0


def test_key_rotate_with_a_wrong_passphrase_is_exit_4_and_changes_nothing(cli, encrypted):
    before = json.loads(cli("key", "status", "--json", env={"MIRROR_PASSPHRASE": PW}).stdout)["key_id"]
    assert cli("key", "rotate", env={"MIRROR_PASSPHRASE": "not the passphrase"}).exit_code == 4
    assert json.loads(cli("key", "status", "--json", env={"MIRROR_PASSPHRASE": PW}).stdout)["key_id"] == before


def test_key_rotate_on_a_plain_journal_is_a_usage_error(cli):
    assert cli("reflect", "plain").exit_code == 0
    r = cli("key", "rotate")
    assert r.exit_code == 2 and "not encrypted" in r.stderr


def test_key_change_says_plainly_that_it_keeps_the_data_key(cli, encrypted, tmp_path):
    env = {"MIRROR_PASSPHRASE": PW}
    assert cli("key", "export", tmp_path / "old-key.json", env=env).exit_code == 0
    r = cli("key", "change", env={**env, "MIRROR_NEW_PASSPHRASE": NEW_PW})
    assert r.exit_code == 0, r.stderr
    assert "did not replace the key" in r.stdout and "mirror key rotate" in r.stdout
    # ... and that is the truth: the old key file and old passphrase open what is written afterwards
    later = json.loads(cli("reflect", "after the change", "--json", env={"MIRROR_PASSPHRASE": NEW_PW}).stdout)
    assert old_key_file_opens(tmp_path / "old-key.json", encrypted, PW, later["id"])
    r = cli("key", "change", "--json", env={"MIRROR_PASSPHRASE": NEW_PW, "MIRROR_NEW_PASSPHRASE": PW})
    assert json.loads(r.stdout)["data_key_replaced"] is False


def test_backups_before_and_after_rotate_each_restore_with_the_passphrase(cli, encrypted, tmp_path):
    env = {"MIRROR_PASSPHRASE": PW}
    old = json.loads(cli("backup", "create", "-o", tmp_path / "old.mbk", "--json", env=env).stdout)
    assert cli("key", "rotate", env=env).exit_code == 0
    assert cli("reflect", "after the rotation", env=env).exit_code == 0
    new = json.loads(cli("backup", "create", "-o", tmp_path / "new.mbk", "--json", env=env).stdout)
    r = cli("backup", "restore", old["path"], "--yes", env=env)
    assert r.exit_code == 0, r.stderr
    assert [x["content"] for x in json.loads(cli("list", "--json", env=env).stdout)] == ["before the rotation #walks"]
    r = cli("backup", "restore", new["path"], "--yes", env=env)
    assert r.exit_code == 0, r.stderr
    assert len(json.loads(cli("list", "--json", env=env).stdout)) == 2
    assert cli("audit", "verify", env=env).exit_code == 0

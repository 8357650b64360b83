"""`mirror key ...` through the CLI: sources, exit codes, keyring behaviour, JSON shapes."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat

import pytest
from keyring_backends import FailingKeyring, MemoryKeyring, keyring_backend

from mirror_cli import crypto
from mirror_cli.crypto import manage as keyops
from mirror_cli.db.store import Store
from helpers import cheap

PW = "river stones and tea"
NEW_PW = "a different passphrase"



@pytest.fixture
def db(mirror_home):
    return mirror_home / "mirror.db"


@pytest.fixture
def encrypted(cli, db):
    """Two reflections, encrypted in-process with cheap KDF parameters (stored with the key)."""
    cli("reflect", "first secret about the harbour")
    cli("reflect", "second secret about lanterns")
    with Store.open(db) as s:
        keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
    return db


@pytest.fixture
def memory_keyring():
    with keyring_backend(MemoryKeyring()) as backend:
        yield backend


def test_status_json_on_a_plain_database(cli):
    cli("reflect", "a plain journal")
    r = cli("key", "status", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert {"encrypted": False, "unlocked": False, "keyring_available": False}.items() <= out.items()
    assert os.path.isabs(out["database"])


def test_enable_with_real_kdf_caches_the_key_then_commands_need_no_passphrase(cli, memory_keyring):
    cli("reflect", "before encryption")
    r = cli("key", "enable", "--json", env={"MIRROR_NEW_PASSPHRASE": PW})
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["encrypted"] and out["key_cached"] and out["converted"]["reflections"] == 1
    assert out["kdf"] == {"algorithm": "argon2id", "memory_cost": 131072, "iterations": 4, "lanes": 4}
    # Later commands take the cached derived key from the keyring: no passphrase, no KDF.
    r = cli("list", "--json")
    assert r.exit_code == 0, r.stderr
    assert [x["content"] for x in json.loads(r.stdout)] == ["before encryption"]
    status = json.loads(cli("key", "status", "--json").stdout)
    assert status["encrypted"] and status["unlocked"] and status["keyring_available"]
    assert status["source"] == "keyring" and status["key_cached"]
    # lock -> locked (exit 4, message names the options)
    assert cli("key", "lock").exit_code == 0
    r = cli("list")
    assert r.exit_code == 4 and "MIRROR_PASSPHRASE_FILE" in r.stderr and r.stdout == ""
    # unlock -> cached again
    r = cli("key", "unlock", "--json", env={"MIRROR_PASSPHRASE": PW})
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["cached"]
    assert cli("list").exit_code == 0
    assert cli("audit", "verify").exit_code == 0


def test_enable_twice_is_a_usage_error(cli, encrypted):
    r = cli("key", "enable", env={"MIRROR_NEW_PASSPHRASE": PW})
    assert r.exit_code == 2 and "already encrypted" in r.stderr


def test_enable_without_a_new_passphrase_is_locked(cli):
    cli("reflect", "x")
    r = cli("key", "enable")
    assert r.exit_code == 4 and "MIRROR_NEW_PASSPHRASE" in r.stderr
    assert json.loads(cli("key", "status", "--json").stdout)["encrypted"] is False


@pytest.mark.parametrize("var", ["MIRROR_PASSPHRASE_FILE", "MIRROR_PASSPHRASE"])
def test_passphrase_sources_for_commands(cli, encrypted, tmp_path, var):
    if var.endswith("_FILE"):
        f = tmp_path / "pass"
        f.write_text(PW + "\n")
        os.chmod(f, 0o600)
        env = {var: str(f)}
    else:
        env = {var: PW}
    r = cli("list", "--json", env=env)
    assert r.exit_code == 0, r.stderr
    assert len(json.loads(r.stdout)) == 2


def test_passphrase_file_readable_by_others_warns(cli, encrypted, tmp_path):
    f = tmp_path / "pass"
    f.write_text(PW + "\n")
    os.chmod(f, 0o644)
    r = cli("key", "status", "--json", env={"MIRROR_PASSPHRASE_FILE": str(f)})
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert out["unlocked"] and "chmod 600" in " ".join(out["warnings"])


def test_wrong_passphrase_exit_4_and_nothing_changed(cli, encrypted, db):
    def dump() -> list[str]:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            return list(conn.iterdump())

    before = dump()
    for args in (("list",), ("reflect", "new text"), ("key", "disable"), ("key", "change")):
        r = cli(*args, env={"MIRROR_PASSPHRASE": "wrong guess", "MIRROR_NEW_PASSPHRASE": NEW_PW})
        assert r.exit_code == 4, (args, r.stderr)
        assert "wrong passphrase" in r.stderr and "wrong guess" not in r.stderr + r.stdout
        assert "Traceback" not in r.stderr and r.stdout == ""
    assert dump() == before  # every row of every table, the key record included
    with Store.open(db) as s:
        assert s.count("reflections") == 2 and s.encrypted
    assert cli("audit", "verify", env={"MIRROR_PASSPHRASE": PW}).exit_code == 0


def test_change_refuses_the_old_passphrase_after(cli, encrypted):
    r = cli("key", "change", "--json", env={"MIRROR_PASSPHRASE": PW, "MIRROR_NEW_PASSPHRASE": NEW_PW})
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["changed"] is True
    r = cli("list", env={"MIRROR_PASSPHRASE": PW})
    assert r.exit_code == 4 and "wrong passphrase" in r.stderr
    r = cli("list", "--json", env={"MIRROR_PASSPHRASE": NEW_PW})
    assert r.exit_code == 0 and len(json.loads(r.stdout)) == 2
    assert cli("audit", "verify", env={"MIRROR_PASSPHRASE": NEW_PW}).exit_code == 0


def test_change_replaces_the_cached_key(cli, encrypted, memory_keyring):
    assert cli("key", "unlock", env={"MIRROR_PASSPHRASE": PW}).exit_code == 0
    (entry_key, old), = memory_keyring.entries.items()
    r = cli("key", "change", env={"MIRROR_PASSPHRASE": PW, "MIRROR_NEW_PASSPHRASE": NEW_PW})
    assert r.exit_code == 0, r.stderr
    assert "cached key was replaced" in r.stdout
    assert memory_keyring.entries[entry_key] != old
    assert cli("list").exit_code == 0  # from the new cached key


def test_disable_via_cli_then_plain_commands_and_verify(cli, encrypted, db):
    r = cli("key", "disable", "--json", env={"MIRROR_PASSPHRASE": PW})
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["encrypted"] is False and out["converted"]["reflections"] == 2
    r = cli("search", "lanterns", "--json")
    assert r.exit_code == 0 and [x["content"] for x in json.loads(r.stdout)] == ["second secret about lanterns"]
    assert cli("reflect", "plain again").exit_code == 0
    r = cli("audit", "verify", "--json")
    assert r.exit_code == 0, r.stdout
    assert json.loads(r.stdout)["ok"]


def test_disable_without_passphrase_is_locked(cli, encrypted):
    r = cli("key", "disable")
    assert r.exit_code == 4 and "current passphrase" in r.stderr


def test_unlock_without_keyring_exit_4_says_why(cli, encrypted):
    r = cli("key", "unlock", env={"MIRROR_PASSPHRASE": PW})
    assert r.exit_code == 4
    assert "no OS keyring" in r.stderr and "MIRROR_PASSPHRASE_FILE" in r.stderr
    assert "Traceback" not in r.stderr


def test_unlock_on_a_plain_database_is_a_usage_error(cli):
    cli("reflect", "a plain journal")
    r = cli("key", "unlock", env={"MIRROR_PASSPHRASE": PW})
    assert r.exit_code == 2 and "not encrypted" in r.stderr


def test_lock_without_keyring_is_quiet_success(cli, encrypted):
    r = cli("key", "lock", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {"locked": True, "db_id": json.loads(r.stdout)["db_id"],
                                    "keyring_available": False, "forgotten": False}


def test_failing_keyring_is_reported(cli, encrypted):
    with keyring_backend(FailingKeyring()):
        # With a passphrase source the keyring is never needed.
        assert cli("list", env={"MIRROR_PASSPHRASE": PW}).exit_code == 0
        # Without one, the failure is named in the locked message.
        r = cli("list")
        assert r.exit_code == 4 and "keyring failed" in r.stderr
        r = cli("key", "unlock", env={"MIRROR_PASSPHRASE": PW})
        assert r.exit_code == 1 and "keyring failed" in r.stderr
        assert "Traceback" not in r.stderr


def test_export_to_stdout_with_a_dash(cli, encrypted, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("key", "export", "-", env={"MIRROR_PASSPHRASE": PW})
    assert r.exit_code == 0, r.stderr
    assert not (tmp_path / "-").exists()
    key_file = tmp_path / "piped.json"
    key_file.write_text(r.stdout)
    assert json.loads(r.stdout)["format"] and cli("--db", tmp_path / "fresh.db", "key", "import", key_file,
                                                  env={"MIRROR_PASSPHRASE": PW}).exit_code == 0
    r = cli("key", "export", "-", "--json", env={"MIRROR_PASSPHRASE": PW})
    assert r.exit_code == 2 and r.stdout == ""


def test_export_and_import_via_cli(cli, encrypted, tmp_path):
    out = tmp_path / "recovery.json"
    r = cli("key", "export", out, "--json", env={"MIRROR_PASSPHRASE": PW})
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["path"] == str(out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert cli("key", "export", out, env={"MIRROR_PASSPHRASE": PW}).exit_code == 2  # exists
    fresh = tmp_path / "fresh.db"
    r = cli("--db", fresh, "key", "import", out, env={"MIRROR_PASSPHRASE": "bad"})
    assert r.exit_code == 4
    r = cli("--db", fresh, "key", "import", out, "--json", env={"MIRROR_PASSPHRASE": PW})
    assert r.exit_code == 0, r.stderr
    status = json.loads(cli("--db", fresh, "key", "status", "--json", env={"MIRROR_PASSPHRASE": PW}).stdout)
    assert status["encrypted"] and status["unlocked"]
    assert cli("--db", fresh, "reflect", "on the new machine", env={"MIRROR_PASSPHRASE": PW}).exit_code == 0
    # Into a non-empty database: refused.
    assert cli("key", "import", out, env={"MIRROR_PASSPHRASE": PW}).exit_code == 2
    # Not a key file: exit 5.
    junk = tmp_path / "junk.json"
    junk.write_text("[1, 2]")
    assert cli("--db", tmp_path / "f2.db", "key", "import", junk, env={"MIRROR_PASSPHRASE": PW}).exit_code == 5


def test_key_help_lists_every_subcommand(cli):
    r = cli("key", "--help")
    assert r.exit_code == 0
    for name in ("status", "enable", "disable", "change", "lock", "unlock", "export", "import"):
        assert name in r.stdout


def test_disable_needs_the_passphrase_even_with_a_cached_key(cli, encrypted, memory_keyring):
    assert cli("key", "unlock", env={"MIRROR_PASSPHRASE": PW}).exit_code == 0
    assert cli("list").exit_code == 0  # the cached key opens the journal...
    r = cli("key", "disable")
    assert r.exit_code == 4 and "current passphrase" in r.stderr  # ...but does not confirm a disable
    r = cli("key", "disable", env={"MIRROR_PASSPHRASE": "a wrong guess"})
    assert r.exit_code == 4
    assert json.loads(cli("key", "status", "--json").stdout)["encrypted"] is True
    assert cli("key", "disable", env={"MIRROR_PASSPHRASE": PW}).exit_code == 0


def test_passphrases_appear_in_no_file_output_or_audit_event(cli, encrypted, db, memory_keyring, tmp_path):
    runs = [cli("reflect", "after enable", env={"MIRROR_PASSPHRASE": PW}),
            cli("key", "change", "--json", env={"MIRROR_PASSPHRASE": PW, "MIRROR_NEW_PASSPHRASE": NEW_PW})]
    cached = list(memory_keyring.entries.values())
    assert len(cached) == 1  # the derived key of the new passphrase
    runs += [cli("key", "export", tmp_path / "k.json", env={"MIRROR_PASSPHRASE": NEW_PW}),
            cli("key", "status", "--json"),
            cli("list", "--json", env={"MIRROR_PASSPHRASE": "a wrong guess"}),
            cli("audit", "log", "--json", "--limit", "50"),
            cli("key", "disable", "--json", env={"MIRROR_PASSPHRASE": NEW_PW})]
    assert [r.exit_code for r in runs] == [0, 0, 0, 0, 4, 0, 0]
    texts = [r.stdout + r.stderr for r in runs]
    texts.append((tmp_path / "k.json").read_text())
    texts += cached
    con_bytes = b"".join(open(str(db) + s, "rb").read() for s in ("", "-wal") if os.path.exists(str(db) + s))
    for secret in (PW, NEW_PW, "a wrong guess"):
        assert all(secret not in t for t in texts), secret
        assert secret.encode() not in con_bytes, secret

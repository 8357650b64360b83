"""mirror backup create|list|verify|restore|prune: JSON keys, exit codes, cron use (real processes, SIGKILL and
concurrent writers: tests/process/)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mirror_cli.crypto import manage as keyops
from mirror_cli.db.store import Store
from helpers import cheap

PW = "correct horse battery staple"


@pytest.fixture
def encrypted_db(journal_db):
    with Store.open(journal_db) as s:
        keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
    return journal_db


def create_json(cli, *args, env=None) -> dict:
    r = cli("backup", "create", "--json", *args, env=env)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def test_create_list_verify_json_keys(cli, journal_db, mirror_home):
    made = create_json(cli)
    assert {"path", "bytes", "sha256", "encrypted"} <= set(made)
    assert os.path.isabs(made["path"]) and Path(made["path"]).parent == mirror_home / "backups"
    assert made["encrypted"] is False
    listed = json.loads(cli("backup", "list", "--json").stdout)
    assert [b["path"] for b in listed] == [made["path"]]
    assert set(listed[0]) == {"path", "bytes", "sha256", "encrypted", "created_at"}
    assert listed[0]["sha256"] == made["sha256"]
    r = cli("backup", "verify", "--json", made["path"])
    assert r.exit_code == 0 and json.loads(r.stdout)["ok"] is True and json.loads(r.stdout)["problem"] is None


def test_quiet_create_prints_nothing(cli, journal_db):
    r = cli("-q", "backup", "create")
    assert r.exit_code == 0 and r.stdout == "" and r.stderr == ""
    path = json.loads(cli("backup", "list", "--json").stdout)[0]["path"]
    for args in (("backup", "verify", path), ("backup", "restore", "--yes", path),
                 ("backup", "prune", "--keep-last", "1")):  # the nightly cron line prints nothing either
        r = cli("-q", *args)
        assert r.exit_code == 0 and r.stdout == "" and r.stderr == "", args


def test_output_folder_or_file(cli, journal_db, tmp_path):
    a = create_json(cli, "-o", tmp_path / "elsewhere")
    assert Path(a["path"]).parent == tmp_path / "elsewhere"
    b = create_json(cli, "-o", tmp_path / "one" / "named.backup")
    assert b["path"] == str(tmp_path / "one" / "named.backup")


def test_create_refuses_to_write_over_the_database(cli, journal_db, tmp_path):
    def state():
        return {p.name: p.read_bytes() for p in journal_db.parent.iterdir() if p.name.startswith("mirror.db")}

    before = state()
    link = tmp_path / "link.backup"
    link.symlink_to(journal_db)
    hard = tmp_path / "hard.backup"
    os.link(journal_db, hard)
    for target in (journal_db, f"{journal_db}-wal", f"{journal_db}-shm", f"{journal_db}-journal", link, hard,
                   journal_db.parent / "." / "mirror.db"):
        r = cli("backup", "create", "--json", "-o", target)
        assert r.exit_code == 2, (target, r.stderr)
        assert r.stdout == "" and len(r.stderr.strip().splitlines()) <= 2 and "database" in r.stderr, target
        assert state() == before, target
    assert not (journal_db.parent / "backups").exists()
    assert cli("audit", "verify").exit_code == 0 and cli("backup", "create", "-o", tmp_path / "ok.backup").exit_code == 0


def test_create_without_a_database_is_a_usage_error(cli):
    r = cli("backup", "create")
    assert r.exit_code == 2


def test_a_row_that_export_refuses_stops_create_with_the_same_error(cli, journal_db, tmp_path):
    """One plaintext row changed outside mirror (its content a blob, as in the export test of the same
    case): `backup create` exits 3 naming the record, as `mirror export` does, and writes no backup."""
    import sqlite3

    conn = sqlite3.connect(journal_db)
    last = conn.execute("SELECT id FROM reflections ORDER BY created_at DESC LIMIT 1").fetchone()[0]
    conn.execute("UPDATE reflections SET content = ? WHERE id = ?", (b"\x01" + b"\x00" * 40, last))
    conn.commit()
    conn.close()
    exported = cli("export", "-o", tmp_path / "out.json")
    assert exported.exit_code == 3 and last in exported.stderr
    r = cli("backup", "create", "-o", tmp_path / "b")
    assert r.exit_code == 3 and last in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert r.stderr == exported.stderr
    assert [p.name for p in (tmp_path / "b").iterdir()] == [".mirror-backup.lock"]


def test_verify_damaged_prints_json_and_exits_3(cli, journal_db, tmp_path):
    made = create_json(cli)
    data = bytearray(Path(made["path"]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.backup"
    bad.write_bytes(bytes(data))
    r = cli("backup", "verify", "--json", bad)
    assert r.exit_code == 3
    out = json.loads(r.stdout)
    assert out["ok"] is False and "checksum" in out["problem"]
    r = cli("backup", "verify", bad)
    assert r.exit_code == 3 and r.stdout == "" and "damaged" in r.stderr
    assert cli("backup", "verify", tmp_path / "missing.backup").exit_code == 2


def test_restore_exit_codes_and_before_copy(cli, journal_db, tmp_path):
    made = create_json(cli)
    r = cli("backup", "restore", made["path"])  # not a terminal, no --yes
    assert r.exit_code == 2 and "--yes" in r.stderr

    bad = tmp_path / "bad.backup"
    raw = bytearray(Path(made["path"]).read_bytes())
    raw[-5] ^= 1
    bad.write_bytes(bytes(raw))
    live = journal_db.read_bytes()
    assert cli("backup", "restore", "--yes", bad).exit_code == 3
    other = tmp_path / "notes.txt"
    other.write_text("just some notes\n")
    assert cli("backup", "restore", "--yes", other).exit_code == 5
    assert journal_db.read_bytes() == live

    cli("reflect", "after the backup")
    r = cli("backup", "restore", "--yes", made["path"])
    assert r.exit_code == 0, r.stderr
    assert "before-restore-" in r.stderr
    before = r.stderr.split("kept as ", 1)[1].split()[0]
    assert Path(before).exists()
    listed = json.loads(cli("list", "--json").stdout)
    assert len(listed) == 4
    assert cli("audit", "verify").exit_code == 0
    log = json.loads(cli("audit", "log", "--json").stdout)
    assert "backup.restored" in json.dumps(log)


def test_encrypted_backup_restores_on_a_fresh_machine(cli, encrypted_db, tmp_path, monkeypatch):
    env = {"MIRROR_PASSPHRASE": PW}
    made = create_json(cli, env=env)
    assert made["encrypted"] is True
    # verify without any key: exit 0, says what was not checked, never exit 4
    r = cli("backup", "verify", made["path"])
    assert r.exit_code == 0 and "not checked" in r.stderr
    r = cli("backup", "verify", "--json", made["path"])
    assert r.exit_code == 0 and json.loads(r.stdout)["complete"] is False
    r = cli("backup", "verify", "--json", made["path"], env=env)
    assert json.loads(r.stdout)["complete"] is True

    fresh = tmp_path / "new-machine"
    monkeypatch.setenv("MIRROR_HOME", str(fresh))
    assert cli("backup", "restore", "--yes", made["path"]).exit_code == 4
    assert cli("backup", "restore", "--yes", made["path"], env={"MIRROR_PASSPHRASE": "nope"}).exit_code == 4
    assert not (fresh / "mirror.db").exists()
    pwfile = tmp_path / "pw"
    pwfile.write_text(PW + "\n")
    pwfile.chmod(0o600)
    r = cli("backup", "restore", "--yes", made["path"], env={"MIRROR_PASSPHRASE_FILE": str(pwfile)})
    assert r.exit_code == 0, r.stderr
    listed = json.loads(cli("list", "--json", env={"MIRROR_PASSPHRASE_FILE": str(pwfile)}).stdout)
    assert sorted(x["content"] for x in listed)[0].startswith("entry 0")


NEW_PW = "a new passphrase, after the backup"


@pytest.mark.parametrize("given", ["current", "the backup's"])
def test_restore_after_a_passphrase_change(cli, encrypted_db, given):
    """An older backup restored over the same journal, whose passphrase changed since: given the
    current passphrase, the journal keeps opening with it (its key record wraps the same data key);
    given the backup's, it opens with that one, and restore says so."""
    made = create_json(cli, env={"MIRROR_PASSPHRASE": PW})
    with Store.open(encrypted_db) as s:
        keyops.change(s, {"MIRROR_PASSPHRASE": PW, "MIRROR_NEW_PASSPHRASE": NEW_PW}, interactive=False,
                      kdf_params=cheap())
    pw = NEW_PW if given == "current" else PW
    r = cli("backup", "restore", "--yes", made["path"], "--json", env={"MIRROR_PASSPHRASE": pw})
    assert r.exit_code == 0, r.stderr
    opens_with = [p for p in (PW, NEW_PW) if cli("list", env={"MIRROR_PASSPHRASE": p}).exit_code == 0]
    assert opens_with == [pw]
    assert ("passphrase that was current when the backup was made" in r.stderr) is (given != "current")
    assert cli("audit", "verify", env={"MIRROR_PASSPHRASE": pw}).exit_code == 0


def test_restore_through_a_symlinked_database_keeps_the_link(cli, journal_db, tmp_path, monkeypatch):
    """The database kept elsewhere (a synced folder) behind a symlink: restore writes the real file."""
    real = tmp_path / "synced" / "journal.db"
    real.parent.mkdir()
    os.replace(journal_db, real)
    link = tmp_path / "link.db"
    link.symlink_to(real)
    monkeypatch.setenv("MIRROR_DB", str(link))
    made = create_json(cli)
    assert cli("reflect", "after the backup").exit_code == 0
    r = cli("backup", "restore", "--yes", made["path"])
    assert r.exit_code == 0, r.stderr
    assert link.is_symlink() and os.path.realpath(link) == str(real)
    assert all("after the backup" not in x["content"] for x in json.loads(cli("list", "--json").stdout))
    kept = [p.name for p in real.parent.iterdir() if ".before-restore-" in p.name]
    assert len(kept) == 1 and not [p for p in tmp_path.iterdir() if ".before-restore-" in p.name]


def test_prune_cli(cli, journal_db):
    assert cli("backup", "prune").exit_code == 2
    paths = [create_json(cli)["path"] for _ in range(3)]
    r = cli("backup", "prune", "--keep-last", "1", "--dry-run", "--json")
    out = json.loads(r.stdout)
    assert out["kept"] == paths[2:] and out["removed"] == paths[:2]
    assert all(Path(p).exists() for p in paths)
    out = json.loads(cli("backup", "prune", "--keep-last", "1", "--json").stdout)
    assert out["removed"] == paths[:2] and not any(Path(p).exists() for p in paths[:2])


def test_list_and_prune_skip_files_that_only_look_like_backups(cli, journal_db, mirror_home):
    paths = [create_json(cli)["path"] for _ in range(3)]
    folder = mirror_home / "backups"
    junk = folder / "mirror-20990101T000000.000Z-abcdef.backup"
    junk.write_text("junk\n")
    cut = folder / "mirror-20991201T160000.000Z-abc123.backup"
    cut.write_bytes(Path(paths[-1]).read_bytes()[:100])
    broken = sorted([str(junk), str(cut)])

    r = cli("backup", "list")
    assert r.exit_code == 0
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    assert [row[3] for row in rows] == paths + broken
    assert [row[0] for row in rows[3:]] == ["UNREADABLE"] * 2 and all(row[0] != "UNREADABLE" for row in rows[:3])
    assert str(junk) in r.stderr and str(cut) in r.stderr and "truncated" in r.stderr
    r = cli("backup", "list", "--json")
    listed = json.loads(r.stdout)
    assert [b["path"] for b in listed] == paths
    assert all(set(b) == {"path", "bytes", "sha256", "encrypted", "created_at"} for b in listed)

    r = cli("backup", "prune", "--keep-last", "1", "--dry-run", "--json")
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert out["kept"] == paths[2:] and out["removed"] == paths[:2] and out["unreadable"] == broken
    assert str(junk) in r.stderr and str(cut) in r.stderr
    out = json.loads(cli("backup", "prune", "--keep-last", "3", "--dry-run", "--json").stdout)
    assert out["kept"] == paths and out["removed"] == []
    r = cli("-q", "backup", "prune", "--keep-last", "1")
    assert r.exit_code == 0 and r.stdout == "" and str(junk) in r.stderr  # even under cron: someone should look
    assert junk.exists() and cut.exists() and Path(paths[2]).exists()
    assert not any(Path(p).exists() for p in paths[:2])


def test_prune_keeps_the_intact_backup_when_the_newer_one_has_a_flipped_byte(cli, journal_db):
    # The review's repro: create twice, flip a byte in the middle of the newer, --keep-last 1.
    assert cli("-q", "backup", "create").exit_code == 0
    assert cli("-q", "backup", "create").exit_code == 0
    older, newer = [b["path"] for b in json.loads(cli("backup", "list", "--json").stdout)]
    data = bytearray(Path(newer).read_bytes())
    data[len(data) // 2] ^= 0x01
    Path(newer).write_bytes(bytes(data))

    r = cli("backup", "prune", "--keep-last", "1", "--dry-run", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {"kept": [older], "removed": [], "dry_run": True, "unreadable": [newer]}
    assert newer in r.stderr and "checksum" in r.stderr
    r = cli("backup", "prune", "--keep-last", "1")
    assert r.exit_code == 0 and newer in r.stderr
    assert Path(older).exists() and Path(newer).exists()
    assert cli("backup", "verify", older).exit_code == 0
    assert cli("backup", "verify", newer).exit_code == 3
    r = cli("backup", "list")  # list checks the checksum in the read it makes for its sha256
    assert [line.split("\t")[0] for line in r.stdout.splitlines()][-1] == "UNREADABLE" and newer in r.stderr


def test_shard_create_without_file_uses_a_fresh_backup(cli, journal_db, tmp_path):
    from mirror_cli.cli.backup import fresh_backup
    from mirror_cli.cli.app import State

    st = State(None, None, True)
    path = fresh_backup(st)
    assert path.is_absolute() and path.exists()
    r = cli("shard", "create", "-k", "2", "-n", "3", "--to", tmp_path / "s1", "--to", tmp_path / "s2", "--mkdir",
            "--json")
    assert r.exit_code == 0, r.stderr


def test_cron_with_the_key_in_the_keyring_needs_no_passphrase_and_prints_nothing(cli, encrypted_db, mirror_home):
    from keyring_backends import MemoryKeyring, keyring_backend

    with keyring_backend(MemoryKeyring()):
        r = cli("key", "unlock", env={"MIRROR_PASSPHRASE": PW})  # caches the derived key, as a user would once
        assert r.exit_code == 0, r.stderr
        r = cli("-q", "backup", "create")  # no MIRROR_PASSPHRASE[_FILE], stdin not a terminal: the keyring's key
        assert r.exit_code == 0 and r.stdout == "" and r.stderr == "", r.stderr
        path = json.loads(cli("backup", "list", "--json").stdout)[0]["path"]
        out = json.loads(cli("backup", "verify", "--json", path).stdout)
        assert out["ok"] and out["complete"] and out["encrypted"]  # opened with the keyring's key too
        assert cli("-q", "backup", "prune", "--keep-daily", "7").exit_code == 0
    r = cli("backup", "create")  # no keyring, no passphrase: exit 4, with a message naming the sources
    assert r.exit_code == 4 and "MIRROR_PASSPHRASE_FILE" in r.stderr

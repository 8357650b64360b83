"""Backups on a remote, the same cases for S3 (tests/cli/test_backup_s3.py) and PostgreSQL
(tests/cli/test_backup_postgres.py): create, list, verify, restore into a fresh MIRROR_HOME, prune,
a tampered, truncated or foreign object, plain and encrypted journals, and the --json shapes of
CONTRACT.md. Each case takes the `cli` fixture, a location URL and a :class:`Raw` view of it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from helpers import cheap, dump

from mirror_cli.backup import create as creating
from mirror_cli.backup import location, retention
from mirror_cli.crypto import manage as keyops
from mirror_cli.db.store import Store
from mirror_cli.journal import reflections as journal
from mirror_cli.remotes.url import open_remote

PW = "correct horse battery staple"


class Raw:
    """The location's objects behind mirror's back (the test's own view): names, bytes, writes."""

    def __init__(self, url: str, options: dict | None = None) -> None:
        self.url, self.options = url, options or {}

    def _remote(self):
        return contextlib.closing(open_remote(self.url, options=self.options))

    def names(self) -> list[str]:
        with self._remote() as r:
            return [o.name for o in r.list("")]

    def get(self, name: str) -> bytes:
        with self._remote() as r:
            return r.get(name)

    def put(self, name: str, data: bytes) -> None:
        with self._remote() as r:
            r.put(name, data)


def make_journal(home: Path, texts=("a walk by the river #walks", "a quiet morning"), *, encrypted=False) -> Path:
    db = home / "mirror.db"
    with Store.open(db) as s:
        for text in texts:
            journal.add(s, text)
        if encrypted:
            keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
    return db


def contents(db: Path) -> list[tuple]:
    """The reflections' plain text, as `mirror list --json` shows it (so sealed fields are opened)."""
    conn = sqlite3.connect(db)
    try:
        return sorted(conn.execute("SELECT id, created_at FROM reflections").fetchall())
    finally:
        conn.close()


def _json(r) -> object:
    assert r.exit_code in (0, 3), (r.exit_code, r.stderr)
    return json.loads(r.stdout)


def round_trip(cli, url: str, raw: Raw, home: Path, tmp_path: Path, *, encrypted: bool, env: dict | None = None):
    """create -> list -> verify -> restore into a fresh MIRROR_HOME: the same journal back."""
    db = make_journal(home, encrypted=encrypted)
    env = dict(env or {})
    if encrypted:
        env["MIRROR_PASSPHRASE"] = PW
    r = cli("backup", "create", "-o", url, "--json", env=env)
    assert r.exit_code == 0, r.stderr
    made = json.loads(r.stdout)
    assert set(made) >= {"path", "bytes", "sha256", "encrypted"} and made["encrypted"] is encrypted
    assert made["path"].startswith(url.split("?")[0]) and "/backups/mirror-" in made["path"]
    (name,) = [n for n in raw.names() if n.startswith("backups/")]
    body = raw.get(name)
    assert made["bytes"] == len(body) and made["sha256"] == hashlib.sha256(body).hexdigest()
    assert ("not encrypted" in r.stderr) is (not encrypted)  # a plain backup on a remote is said to be readable
    if encrypted:
        assert b"river" not in body  # the remote holds ciphertext only
    listed = _json(cli("backup", "list", url, "--json", env=env))
    assert [b["path"] for b in listed] == [made["path"]]
    assert set(listed[0]) >= {"path", "bytes", "sha256", "encrypted", "created_at"}
    assert listed[0]["sha256"] == made["sha256"]
    report = _json(cli("backup", "verify", made["path"], "--json", env=env))
    assert report["ok"] is True and report["problem"] is None and report["path"] == made["path"]
    assert report["complete"] is True

    fresh = tmp_path / "fresh-home"
    fresh_env = {**env, "MIRROR_HOME": str(fresh)}
    r = cli("backup", "restore", made["path"], "--yes", "--json", env=fresh_env)
    assert r.exit_code == 0, r.stderr
    restored = json.loads(r.stdout)
    assert restored["backup"] == made["path"] and restored["database"] == str(fresh / "mirror.db")
    assert contents(fresh / "mirror.db") == contents(db)
    shown = json.loads(cli("list", "--json", env=fresh_env).stdout)
    assert sorted(x["content"] for x in shown) == ["a quiet morning", "a walk by the river #walks"]
    assert cli("audit", "verify", env=fresh_env).exit_code == 0
    return made


def encrypted_needs_its_passphrase(cli, url: str, home: Path, tmp_path: Path, env: dict | None = None):
    """An encrypted backup on a remote: verify without a key checks what it can (exit 0); restore on a new
    machine with a wrong passphrase is exit 4 and creates nothing."""
    make_journal(home, encrypted=True)
    env = dict(env or {})
    made = json.loads(cli("backup", "create", "-o", url, "--json", env={**env, "MIRROR_PASSPHRASE": PW}).stdout)
    fresh = tmp_path / "new-machine"
    report = _json(cli("backup", "verify", made["path"], "--json", env={**env, "MIRROR_HOME": str(fresh)}))
    assert report["ok"] is True and report["complete"] is False
    r = cli("backup", "restore", made["path"], "--yes", env={**env, "MIRROR_HOME": str(fresh),
                                                               "MIRROR_PASSPHRASE": "wrong wrong wrong"})
    assert r.exit_code == 4, r.stderr
    assert not (fresh / "mirror.db").exists()


def damaged_objects_change_nothing(cli, url: str, raw: Raw, home: Path, env: dict | None = None):
    """A byte changed, a cut-short object and one that is no backup at all: verify exit 3, restore 3 / 3 / 5,
    and the journal is exactly as it was; nothing is parsed before the whole object is here."""
    db = make_journal(home)
    env = dict(env or {})
    made = json.loads(cli("backup", "create", "-o", url, "--json", env=env).stdout)
    good_name = next(n for n in raw.names() if n.startswith("backups/"))
    body = raw.get(good_name)
    with Store.open(db) as s:
        journal.add(s, "written after the backup")
    before = dump(db)
    stem = good_name.rsplit("/", 1)[1][: -len("000000.backup")]
    cases = {
        "tampered": (stem + "aaaaa1.backup", body[:200] + bytes([body[200] ^ 1]) + body[201:], 3, 3),
        "truncated": (stem + "aaaaa2.backup", body[: len(body) // 2], 3, 3),
        "foreign": (stem + "aaaaa3.backup", b"not a backup at all\n" * 50, 3, 5),
    }
    good_last = good_name.rsplit("/", 1)[1]
    for what, (name, data, verify_code, restore_code) in cases.items():
        raw.put(f"backups/{name}", data)
        target = made["path"].replace(good_last, name)
        r = cli("backup", "verify", target, "--json", env=env)
        assert r.exit_code == verify_code, (what, r.stderr)
        assert json.loads(r.stdout)["ok"] is False and json.loads(r.stdout)["problem"], what
        r = cli("backup", "restore", target, "--yes", env=env)
        assert r.exit_code == restore_code, (what, r.exit_code, r.stderr)
        assert r.stdout == "" and "Traceback" not in r.stderr
        assert dump(db) == before, what
        assert not list(home.glob("mirror.db.before-restore-*")), what
    # list shows the good backup and names the others as unreadable (on stderr); prune never removes them
    r = cli("backup", "list", url, "--json", env=env)
    assert [b["path"] for b in json.loads(r.stdout)] == [made["path"]]
    assert r.stderr.count("aaaaa") == 3
    r = cli("backup", "prune", "--in", url, "--keep-last", "1", "--json", env=env)
    assert r.exit_code == 0, r.stderr
    pruned = json.loads(r.stdout)
    # the intact one is kept. The tampered copy (same time, its header reads) is checked in full only when a
    # rule would keep it (it sorts before or after the intact one by name): then it fails and counts for no
    # rule, else it is removed. The cut-short and foreign objects do not read: counted for no rule, left alone.
    tampered, truncated, foreign = (made["path"].replace(good_last, cases[w][0]) for w in cases)
    assert pruned["kept"] == [made["path"]], pruned
    assert pruned["removed"] in ([], [tampered]) and (tampered in pruned["unreadable"]) is (not pruned["removed"])
    assert {truncated, foreign} <= set(pruned["unreadable"])
    left = {n.rsplit("/", 1)[1] for n in raw.names() if n.startswith("backups/")}
    assert {good_last, cases["truncated"][0], cases["foreign"][0]} <= left


def _backup_at(db: Path, url: str, at: datetime, options: dict | None = None) -> str:
    with Store.open(db) as s:
        return creating.create(s, url, now=at, options=options).path


def prune_keeps_rules_and_other_journals(cli, url: str, raw: Raw, home: Path, tmp_path: Path,
                                         env: dict | None = None, options: dict | None = None):
    """restic's --keep-* rules on the remote's listing: only this journal's backups are counted or removed;
    --dry-run removes nothing; a second prune finds nothing to do."""
    db = make_journal(home)
    other = make_journal(tmp_path / "other-journal", ("someone else's day",))
    t0 = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    mine = [_backup_at(db, url, t0 + timedelta(days=d), options) for d in range(4)]
    theirs = _backup_at(other, url, t0 - timedelta(days=30), options)
    env = dict(env or {})
    dry = _json(cli("backup", "prune", "--in", url, "--keep-last", "2", "--dry-run", "--json", env=env))
    assert dry["dry_run"] is True and dry["removed"] == mine[:2] and dry["kept"] == mine[2:]
    assert len([n for n in raw.names() if n.startswith("backups/")]) == 5
    r = cli("backup", "prune", "--in", url, "--keep-last", "2", "--json", env=env)
    assert r.exit_code == 0, r.stderr
    done = json.loads(r.stdout)
    assert set(done) >= {"kept", "removed"} and done["removed"] == mine[:2] and done["kept"] == mine[2:]
    assert "1 backup of another journal left alone" in r.stderr
    left = sorted(_object(p) for p in (*mine[2:], theirs))
    assert sorted(n for n in raw.names() if n.startswith("backups/")) == left
    again = _json(cli("backup", "prune", "--in", url, "--keep-last", "2", "--json", env=env))
    assert again["removed"] == [] and again["kept"] == mine[2:]
    listed = _json(cli("backup", "list", url, "--json", env=env))
    assert [b["path"] for b in listed] == mine[2:]


def two_prunes_at_once(url: str, raw: Raw, home: Path, monkeypatch, options: dict | None = None):
    """Two prunes interleaved at the worst point (B runs whole between A's listing and A's delete): both
    succeed, both remove the same backups, the backups their rules keep are all there, and a backup made
    after A listed is never deleted."""
    db = make_journal(home)
    t0 = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    made = [_backup_at(db, url, t0 + timedelta(days=d), options) for d in range(4)]
    real_delete = location.Shelf.delete
    results: list = []
    late: list[str] = []
    calls: list[list[str]] = []

    def delete_after_another_prune(self, names):
        calls.append(list(names))
        if len(calls) == 1:  # A is about to delete: B prunes whole first, then a new backup arrives
            results.append(retention.prune(url, journal=_db_id(db), last=2, local=home, options=options))
            late.append(_backup_at(db, url, t0 + timedelta(days=10), options))
        return real_delete(self, names)  # A's names are already gone: no error

    monkeypatch.setattr(location.Shelf, "delete", delete_after_another_prune)
    a = retention.prune(url, journal=_db_id(db), last=2, local=home, options=options)
    b = results[0]
    assert a.removed == b.removed == made[:2] and a.kept == b.kept == made[2:]
    assert len(calls) == 2 and calls[0] == calls[1]  # both deleted the same two objects
    left = sorted(n for n in raw.names() if n.startswith("backups/"))
    assert left == sorted(_object(p) for p in (*made[2:], *late))


def _object(path: str) -> str:
    """The object name of a backup shown by its URL (``.../backups/NAME[?query]``)."""
    return "backups/" + path.split("?")[0].rsplit("/", 1)[1]


def _db_id(db: Path) -> str:
    with Store.open(db) as s:
        return s.db_id


def config_and_named_locations(cli, url: str, raw: Raw, home: Path, config_value: str,
                               set_remote: Callable[[Path], None] | None = None, env: dict | None = None):
    """`backup.dir` holding a remote URL is where create, list and prune go without -o; a remote's NAME
    (with its options) is a location too."""
    make_journal(home)
    env = dict(env or {})
    assert cli("config", "set", "backup.dir", config_value, env=env).exit_code == 0
    r = cli("backup", "create", "--json", env=env)
    assert r.exit_code == 0, r.stderr
    made = json.loads(r.stdout)
    assert "/backups/mirror-" in made["path"] and len([n for n in raw.names() if n.startswith("backups/")]) == 1
    assert [b["path"] for b in _json(cli("backup", "list", "--json", env=env))] == [made["path"]]
    if set_remote is not None:
        set_remote(home / "mirror.db")
        r = cli("backup", "create", "-o", "cloud", "--json")
        assert r.exit_code == 0, r.stderr
        assert len(_json(cli("backup", "list", "cloud", "--json"))) == 2
        assert _json(cli("backup", "prune", "--in", "cloud", "--keep-last", "1", "--json"))["removed"] == [made["path"]]

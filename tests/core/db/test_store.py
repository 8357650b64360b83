"""store.Store: creation, file modes, pragmas, transactions, refusing newer schemas and non-databases."""

from __future__ import annotations

import contextlib
import sqlite3
import stat

import pytest

from mirror_cli.journal import reflections as journal
from mirror_cli.db import migrations
from mirror_cli.errors import OperationError, UsageError, VerificationError
from mirror_cli.db.store import Store


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def dump(path) -> tuple[list, list[str]]:
    conn = sqlite3.connect(path)
    try:
        master = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        return master, list(conn.iterdump())
    finally:
        conn.close()


def test_created_on_first_use_with_private_modes(tmp_path):
    db = tmp_path / "new" / "deeper" / "mirror.db"
    with Store.open(db) as store:
        journal.add(store, "first words")
        for suffix in ("", "-wal", "-shm"):
            f = db.with_name(db.name + suffix)
            assert f.exists(), suffix
            assert mode(f) == 0o600, suffix
        assert mode(db.parent) == 0o700
        assert store.schema_version == migrations.discover()[-1].version
    assert mode(db) == 0o600


def test_pragmas(tmp_path):
    with Store.open(tmp_path / "m.db") as store:
        c = store.conn
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert c.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert c.execute("PRAGMA secure_delete").fetchone()[0] == 1
        assert c.execute("PRAGMA busy_timeout").fetchone()[0] > 0


def test_meta_is_stable_across_opens(tmp_path):
    db = tmp_path / "m.db"
    with Store.open(db) as store:
        first = store.db_id
        created = store.meta("created_at")
    with Store.open(db) as store:
        assert store.db_id == first
        assert store.meta("created_at") == created
        assert store.meta("missing", "dflt") == "dflt"


def test_write_commits_and_rolls_back(tmp_path):
    with Store.open(tmp_path / "m.db") as store:
        with store.write():
            store.set_meta("k", "v")
            n1 = store.tick()
        with pytest.raises(RuntimeError), store.write():
            store.set_meta("k", "changed")
            store.tick()
            raise RuntimeError("boom")
        assert store.meta("k") == "v"
        with store.write():
            assert store.tick() == n1 + 1
            store.set_meta("k", None)
        assert store.meta("k") is None


def test_sqlite_errors_inside_write_become_mirror_errors(tmp_path):
    with Store.open(tmp_path / "m.db") as store:
        with pytest.raises(OperationError), store.write() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES ('x', NULL)")  # NOT NULL
        assert store.meta("x") is None
        assert not store.conn.in_transaction


def test_open_without_create(tmp_path):
    with pytest.raises(UsageError) as err:
        Store.open(tmp_path / "absent.db", create=False)
    assert err.value.exit_code == 2
    assert not (tmp_path / "absent.db").exists()


def test_folder_is_not_a_database(tmp_path):
    with pytest.raises(UsageError):
        Store.open(tmp_path)


def test_garbage_file_is_a_usage_error_and_left_alone(tmp_path):
    """Not SQLite at all: a mistyped --db (issue 12), exit 2, never "restore from a backup" over it."""
    db = tmp_path / "m.db"
    db.write_bytes(b"this is not sqlite at all " * 200)
    before = db.read_bytes()
    with pytest.raises(UsageError) as err:
        Store.open(db)
    assert err.value.exit_code == 2
    assert str(db) in err.value.message
    assert db.read_bytes() == before


def test_another_programs_sqlite_file_is_left_alone(tmp_path):
    db = tmp_path / "places.sqlite"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
        conn.execute("INSERT INTO moz_places (url) VALUES ('https://example.org')")
        conn.commit()
    before = db.read_bytes()
    for migrate in (True, False):
        with pytest.raises(VerificationError, match="not a mirror database") as err:
            Store.open(db, migrate=migrate)
        assert err.value.exit_code == 3
    assert db.read_bytes() == before  # not even switched to WAL
    assert not (tmp_path / "places.sqlite-wal").exists() and not (tmp_path / "places.sqlite-shm").exists()


def test_text_that_is_not_utf8_is_a_verification_error(tmp_path):
    from mirror_cli.db.store import _db_error

    db = tmp_path / "m.db"
    with Store.open(db) as s:
        rid = journal.add(s, "hello").id
        s.conn.execute("UPDATE reflections SET content = CAST(X'68656cff6c6f' AS TEXT) WHERE id = ?", (rid,))
        with pytest.raises(sqlite3.OperationalError) as raw:
            s.conn.execute("SELECT content FROM reflections").fetchall()
    err = _db_error(raw.value, db)
    assert isinstance(err, VerificationError) and err.exit_code == 3 and "UTF-8" in err.message
    assert "content" in err.message and "hel" not in err.message  # the column, not the text


def test_unwritable_location_is_an_operation_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(OperationError) as err:
        Store.open(blocker / "mirror.db")
    assert err.value.exit_code == 1


def test_newer_schema_is_refused_and_left_alone(tmp_path):
    db = tmp_path / "m.db"
    with Store.open(db) as store:
        journal.add(store, "kept as is")
        with store.write() as conn:
            conn.execute("INSERT INTO schema_migrations (version, name, checksum, applied_at)"
                         " VALUES (999, 'from_the_future', 'x', '2030-01-01T00:00:00.000Z')")
    before = dump(db)
    with pytest.raises(OperationError) as err:
        Store.open(db)
    assert err.value.exit_code == 1
    assert "999" in err.value.message and "newer" in err.value.message
    assert dump(db) == before


def test_lock_not_obtained_is_an_operation_error(tmp_path, monkeypatch):
    import mirror_cli.db.store as store_mod

    db = tmp_path / "m.db"
    Store.open(db).close()
    monkeypatch.setattr(store_mod, "BUSY_TIMEOUT_MS", 100)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with Store.open(db) as store:
            with pytest.raises(OperationError) as err:
                journal.add(store, "cannot get in")
            assert "locked" in err.value.message
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with Store.open(db) as store:
        assert store.count("reflections") == 0


def test_count_and_read_snapshot(tmp_path):
    with Store.open(tmp_path / "m.db") as store:
        journal.add(store, "one")
        journal.add(store, "two")
        with store.read() as conn:
            assert conn.execute("SELECT count(*) FROM reflections").fetchone()[0] == 2
        assert store.count("reflections") == 2
        assert not store.encrypted


def test_meta_and_encrypted_before_any_migration(tmp_path):
    with Store.open(tmp_path / "m.db", migrate=False) as store:
        assert store.meta("crypto") is None and store.encrypted is False
        assert store.schema_version == 0


def test_open_tries_again_while_another_process_holds_the_new_file(tmp_path, monkeypatch):
    """SQLite answers "locked" at once (no busy wait) when two processes switch a new file to WAL together."""
    import sqlite3

    calls = []
    real = Store._configure

    def contended(self):
        calls.append(1)
        if len(calls) <= 3:
            raise sqlite3.OperationalError("database is locked")
        real(self)

    monkeypatch.setattr(Store, "_configure", contended)
    with Store.open(tmp_path / "new.db") as store:
        assert len(calls) == 4
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.schema_version > 0


def test_open_does_not_retry_other_errors(tmp_path, monkeypatch):
    import sqlite3

    from mirror_cli.errors import MirrorError

    calls = []

    def broken(self):
        calls.append(1)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(Store, "_configure", broken)
    with pytest.raises(MirrorError):
        Store.open(tmp_path / "new.db")
    assert calls == [1]


def test_a_write_after_another_process_encrypted_the_journal_is_refused_clearly(tmp_path):
    """Opened as plaintext, then `key enable` elsewhere: the write is refused (nothing stored in
    clear), as EncryptedMeanwhile, which `reflect` retries with the key; it was a confusing exit 4."""
    from mirror_cli import crypto
    from mirror_cli.crypto import manage as keyops
    from mirror_cli.db.store import EncryptedMeanwhile

    db = tmp_path / "m.db"
    with Store.open(db) as first:
        journal.add(first, "before")
        with Store.open(db) as other:
            keyops.enable(other, {"MIRROR_NEW_PASSPHRASE": "pw"}, interactive=False,
                          kdf_params=crypto.new_kdf_params(iterations=1, lanes=1, memory_cost=8), allow_weak=True)
        with pytest.raises(EncryptedMeanwhile):
            journal.add(first, "written in clear?")
    with Store.open(db) as s:
        assert s.count("reflections") == 1

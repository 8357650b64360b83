"""A keyless writer cannot turn encryption off (issue 12, item 10).

Someone who can write the file but has no key deletes the `crypto` meta row and appends one plain
audit event and one plain decoy row, with plain sqlite3. The next keyless write must refuse (exit 3,
naming tampering) instead of storing plaintext, whatever is newest in the file.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest

from mirror_cli import audit
from mirror_cli.crypto import manage as keyops
from mirror_cli.crypto.fields import SEALED_COLUMNS
from mirror_cli.db.store import Store
from helpers import assert_error, cheap, raw

PW = "lighthouse keeper 42"
SECRET = "Quokkamarmalade"
DECOY = "decoy row"


@pytest.fixture
def db(mirror_home):
    return mirror_home / "mirror.db"


@pytest.fixture
def encrypted(cli, db):
    assert cli("reflect", f"alpha {SECRET} by the sea").exit_code == 0
    with Store.open(db) as s:
        keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
    return db


def _plain_event(conn) -> None:
    """Append one plain (unkeyed) audit event, as anyone can with sqlite3."""
    seq, prev = conn.execute("SELECT seq, event_hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
    fields = {"seq": seq + 1, "id": f"forged{seq}", "event_type": "reflection.added", "timestamp": "2030-01-01T00:00:00.000Z",
              "data": {}, "previous_hash": prev, "link": "sha256"}
    conn.execute("INSERT INTO audit_events (seq, id, event_type, timestamp, data, previous_hash, event_hash, link)"
                 " VALUES (?, ?, ?, ?, '{}', ?, ?, 'sha256')",
                 (seq + 1, fields["id"], fields["event_type"], fields["timestamp"], prev,
                  hashlib.sha256(audit.canonical(fields)).hexdigest()))


def _strip(db, *, decoy: bool = True, event: bool = True) -> None:
    """The attack: no key record, and (by default) a plain newest event and a plain newest row."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("DELETE FROM meta WHERE key IN ('crypto', 'audit_head')")
        if event:
            _plain_event(conn)
        if decoy:
            conn.execute("INSERT INTO reflections (id, created_at, updated_at, content, mode, tags, rev) VALUES "
                         f"('01ZZZZZZZZZZZZZZZZZZZZZZZZ', '2030-01-01T00:00:00.000Z', '2030-01-01T00:00:00.000Z', "
                         f"'{DECOY}', 'free', '[]', 999)")
    finally:
        conn.close()


def _plaintext_rows(db) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT content FROM reflections WHERE typeof(content) = 'text'")]
    finally:
        conn.close()


def test_stripped_key_record_with_plain_decoys_refuses_reflect(cli, encrypted):
    _strip(encrypted)
    r = cli("reflect", "a new secret never to be stored in clear", env={"MIRROR_PASSPHRASE": PW})
    assert_error(r, 3)
    assert "outside mirror" in r.stderr and "tampering" in r.stderr and "nothing was written" in r.stderr.lower()
    assert _plaintext_rows(encrypted) == [DECOY]


def test_stripped_refuses_even_without_a_passphrase_set(cli, encrypted):
    """The sealed rows left in the file are enough: no passphrase source is needed to notice."""
    _strip(encrypted)
    assert_error(cli("reflect", "another secret"), 3)
    assert _plaintext_rows(encrypted) == [DECOY]


@pytest.mark.parametrize("table", sorted(SEALED_COLUMNS))
def test_any_sealed_column_of_any_table_counts(db, table):
    """One sealed value in any sealed column, anywhere in the table, makes the journal encrypted."""
    from mirror_cli.db import keyless

    with Store.open(db):
        pass
    column = SEALED_COLUMNS[table][1][0]
    conn = sqlite3.connect(db)
    try:
        assert keyless.encrypted_leftovers(conn) is None
        conn.execute("PRAGMA foreign_keys = OFF")
        required = [r for r in conn.execute(f"PRAGMA table_info({table})") if r[3] and r[4] is None]
        values = {r[1]: 0 if r[2] in ("INTEGER", "REAL") else "x" for r in required}
        values[column] = b"\x01sealed"
        if table == "sync_derived":
            values["kind"] = "pattern"  # its CHECK takes only the two kinds
        conn.execute(f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                     list(values.values()))
        problem = keyless.encrypted_leftovers(conn)
    finally:
        conn.close()
    assert problem is not None and table in problem


def test_keyed_run_without_key_disabled_refuses(cli, encrypted):
    """No sealed value left (all rows deleted) but the chain's keyed run is still open."""
    raw(encrypted, "DELETE FROM meta WHERE key IN ('crypto', 'audit_head')", "DELETE FROM reflections",
        "DELETE FROM patterns", "DELETE FROM analysis_state")
    conn = sqlite3.connect(encrypted, isolation_level=None)
    try:
        _plain_event(conn)
    finally:
        conn.close()
    r = cli("reflect", "a new secret")
    assert_error(r, 3)
    assert "key.disabled" in r.stderr
    assert _plaintext_rows(encrypted) == []


def test_forged_key_disabled_does_not_close_the_run(cli, encrypted):
    """A key.disabled event publishing a key of the attacker's choosing does not verify the run's events."""
    raw(encrypted, "DELETE FROM meta WHERE key IN ('crypto', 'audit_head')", "DELETE FROM reflections",
        "DELETE FROM patterns", "DELETE FROM analysis_state")
    conn = sqlite3.connect(encrypted, isolation_level=None)
    try:
        fake = bytes(32)
        seq, prev = conn.execute("SELECT seq, event_hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
        data = {audit.RETIRED_KEY_FIELD: fake.hex()}
        fields = {"seq": seq + 1, "id": "forgedclose", "event_type": audit.KEY_DISABLED,
                  "timestamp": "2030-01-01T00:00:00.000Z", "data": data, "previous_hash": prev, "link": audit.KEYED_LINK}
        conn.execute("INSERT INTO audit_events (seq, id, event_type, timestamp, data, previous_hash, event_hash, link)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (seq + 1, "forgedclose", audit.KEY_DISABLED, fields["timestamp"], audit.canonical(data).decode(),
                      prev, audit.link_hash(fields, fake), audit.KEYED_LINK))
    finally:
        conn.close()
    assert_error(cli("reflect", "a new secret"), 3)
    assert _plaintext_rows(encrypted) == []


def test_a_passphrase_set_does_not_stop_a_plain_journal(cli, db):
    """MIRROR_PASSPHRASE is also a sync remote's passphrase or another journal's: a plain journal made
    while it is set keeps taking entries (the evidence-based checks above catch a stripped key record)."""
    assert cli("reflect", "plain start", env={"MIRROR_PASSPHRASE": PW}).exit_code == 0
    r = cli("reflect", "second", env={"MIRROR_PASSPHRASE": PW})
    assert r.exit_code == 0, r.stderr
    assert sorted(_plaintext_rows(db)) == ["plain start", "second"]


def test_key_disable_then_plain_writes_still_work(cli, encrypted):
    """A run closed by a genuine key.disabled is no reason to refuse."""
    with Store.open(encrypted) as s:
        keyops.disable(s, {"MIRROR_PASSPHRASE": PW}, interactive=False)
    assert cli("reflect", "plain again").exit_code == 0
    assert cli("audit", "verify").exit_code == 0


def test_plain_journal_writes_as_before(cli, db):
    for text in ("one", "two"):
        assert cli("reflect", text).exit_code == 0
    assert sorted(_plaintext_rows(db)) == ["one", "two"]
    assert json.loads(cli("list", "--json").stdout)[0]["content"] == "two"


def test_a_new_journal_with_a_passphrase_set_is_still_made(cli, db):
    """Nothing could have been removed from a journal this command creates."""
    assert cli("reflect", "first ever", env={"MIRROR_PASSPHRASE": PW}).exit_code == 0
    assert _plaintext_rows(db) == ["first ever"]


def test_key_enable_takes_the_passphrase_variable_on_a_plain_journal(cli, db):
    assert cli("reflect", "plain start").exit_code == 0
    r = cli("key", "enable", env={"MIRROR_PASSPHRASE": PW})
    assert r.exit_code == 0, r.stderr
    assert cli("reflect", "sealed now", env={"MIRROR_PASSPHRASE": PW}).exit_code == 0
    assert _plaintext_rows(db) == []


def test_the_guard_knows_every_sealed_column():
    from mirror_cli.db import keyless

    assert keyless.SEALED == {table: columns for table, (_, columns) in SEALED_COLUMNS.items()}


def test_a_rotated_then_disabled_journal_takes_plain_writes(cli, tmp_path, monkeypatch):
    """key.retired (from `key rotate`) closes a keyed run as key.disabled does: after rotate and
    disable, the plain journal is not mistaken for a stripped one."""
    import json as _json

    from mirror_cli.crypto import kdf
    from helpers import cheap

    monkeypatch.setattr(kdf, "new_kdf_params", lambda **kw: cheap())
    env = {"MIRROR_PASSPHRASE": "a long enough passphrase 1", "MIRROR_NEW_PASSPHRASE": "a long enough passphrase 1"}
    assert cli("reflect", "before", env=env).exit_code == 0
    r = cli("key", "enable", env=env)
    assert r.exit_code == 0, r.stderr
    assert cli("reflect", "encrypted", env=env).exit_code == 0
    r = cli("key", "rotate", env=env)
    assert r.exit_code == 0, r.stderr
    assert cli("reflect", "after rotate", env=env).exit_code == 0
    r = cli("key", "disable", env=env)
    assert r.exit_code == 0, r.stderr
    r = cli("reflect", "plain again")
    assert r.exit_code == 0, r.stderr
    assert len(_json.loads(cli("list", "--json").stdout)) == 4


def test_a_journal_encrypted_on_this_machine_refuses_plain_writes_once_its_whole_file_is_replaced(cli, tmp_path, monkeypatch):
    """The thorough attacker: nothing sealed and no keyed event left in the file (a fresh plain journal
    under the victim's db id), yet this user enabled its key here: refused, exit 3. `key disable` clears it."""
    import sqlite3

    from mirror_cli.crypto import kdf
    from helpers import cheap

    monkeypatch.setattr(kdf, "new_kdf_params", lambda **kw: cheap())
    env = {"MIRROR_PASSPHRASE": "a long enough passphrase 1"}
    assert cli("reflect", "before", env=env).exit_code == 0
    assert cli("key", "enable", env=env).exit_code == 0
    db = tmp_path / "mirror-home" / "mirror.db"
    conn = sqlite3.connect(db)
    db_id = conn.execute("SELECT value FROM meta WHERE key = 'db_id'").fetchone()[0]
    conn.close()
    db.unlink()
    for extra in ("-wal", "-shm"):
        (tmp_path / "mirror-home" / f"mirror.db{extra}").unlink(missing_ok=True)
    assert cli("reflect", "fresh").exit_code == 0  # a new journal...
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'db_id'", (db_id,))  # ...wearing the victim's id
    conn.close()
    r = cli("reflect", "secret words", env=env)
    assert r.exit_code == 3, r.stderr
    assert "encrypted on this machine" in r.stderr
    conn = sqlite3.connect(db)
    assert [t for (t,) in conn.execute("SELECT content FROM reflections")] == ["fresh"]
    conn.close()


def test_key_disable_clears_the_mark(cli, monkeypatch):
    from mirror_cli.crypto import kdf
    from helpers import cheap

    monkeypatch.setattr(kdf, "new_kdf_params", lambda **kw: cheap())
    env = {"MIRROR_PASSPHRASE": "a long enough passphrase 1"}
    assert cli("reflect", "before", env=env).exit_code == 0
    assert cli("key", "enable", env=env).exit_code == 0
    assert cli("key", "disable", env=env).exit_code == 0
    assert cli("reflect", "plain again").exit_code == 0


def _forge_indexes_and_id(db) -> None:
    """A stronger forger: the partial indexes that answer the keyless probes (migration 0009) emptied, with
    writable_schema and a REINDEX under `WHERE 0`, their SQL then put back so that the schema check sees
    nothing; and a new db_id, so that this machine's mark of the journal's id no longer applies."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        probes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
                              "(name LIKE '%!_sealed' ESCAPE '!' OR name = 'audit_events_keyed')").fetchall()
        assert len(probes) == 9
        conn.execute("PRAGMA writable_schema = ON")
        for name, sql in probes:
            conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = ?", (sql.split(" WHERE ")[0] + " WHERE 0", name))
    finally:
        conn.close()
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for name, _ in probes:
            conn.execute(f"REINDEX {name}")
        conn.execute("PRAGMA writable_schema = ON")
        for name, sql in probes:
            conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = ?", (sql, name))
        conn.execute("UPDATE meta SET value = '01FORGEDFORGEDFORGEDFORGED' WHERE key = 'db_id'")
    finally:
        conn.close()
    conn = sqlite3.connect(db)
    try:  # the forgery worked: the probe, through its index, finds nothing any more
        assert conn.execute("SELECT 1 FROM reflections WHERE typeof(content) = 'blob' OR "
                            "typeof(response) = 'blob' OR typeof(tags) = 'blob' LIMIT 1").fetchone() is None
        assert conn.execute("SELECT 1 FROM reflections NOT INDEXED WHERE typeof(content) = 'blob' LIMIT 1").fetchone()
    finally:
        conn.close()


def test_emptied_probe_indexes_and_a_new_db_id_still_refuse(cli, encrypted):
    """Found by review: the probes trust indexes the file's writer can empty. The file was encrypted on this
    machine, so its path is marked too: a db_id it no longer knows gets every row read, and the write refused."""
    _strip(encrypted)
    _forge_indexes_and_id(encrypted)
    r = cli("reflect", "a new secret never to be stored in clear")
    assert_error(r, 3)
    assert "encrypted values" in r.stderr and "tampering" in r.stderr
    assert _plaintext_rows(encrypted) == [DECOY]
    assert_error(cli("audit", "verify"), 3)  # integrity_check sees indexes that disagree with their tables


def test_a_new_journal_where_an_encrypted_one_was_is_written_to(cli, encrypted, db):
    """The path's mark does not hold a journal made anew at the same place: one full read, then as usual."""
    for suffix in ("", "-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    for text in ("a fresh start", "and a second entry"):
        assert cli("reflect", text).exit_code == 0
    assert sorted(_plaintext_rows(db)) == ["a fresh start", "and a second entry"]
    from mirror_cli.localfs import path_marked_encrypted

    assert not path_marked_encrypted(db)  # the first write found nothing encrypted and let the mark go


def test_audit_verify_finds_an_index_emptied_behind_its_table(cli, db):
    """`audit verify` runs integrity_check: quick_check passed a probe index emptied as above."""
    assert cli("reflect", "an entry the index should list").exit_code == 0
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'reflections_created_at'").fetchone()[0]
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = 'reflections_created_at'",
                     (sql.replace("(created_at)", "(created_at) WHERE 0"),))
    finally:
        conn.close()
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("REINDEX reflections_created_at")
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = 'reflections_created_at'", (sql,))
    finally:
        conn.close()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"  # what verify used to ask
    finally:
        conn.close()
    assert_error(cli("audit", "verify"), 3)

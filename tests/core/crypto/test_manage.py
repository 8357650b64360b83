"""mirror_cli.crypto.manage: enable/disable/change/lock/unlock/export/import, and the keyed audit chain around them.

Stores are encrypted in-process with cheap, explicit KDF parameters (the
parameters are stored per database, so every later unlock is cheap too).
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from keyring_backends import FailingKeyring, MemoryKeyring, keyring_backend

from mirror_cli import audit, crypto
from mirror_cli.journal import reflections as journal
from mirror_cli.journal import find as finder
from mirror_cli.crypto import manage as keyops
from mirror_cli.crypto import passphrase as keys
from mirror_cli.errors import InvalidInputError, LockedError, OperationError, UsageError, VerificationError
from mirror_cli.crypto.fields import occurrence_record_id
from mirror_cli.crypto.unlocked import UnlockedKey
from mirror_cli.db import scrub as scrubbing
from mirror_cli.db.store import Store
from helpers import cheap

PW = "correct horse battery staple"
NEW_PW = "a brand new passphrase"
MARKER = "Xylophonequartz"



def env_new(pw: str = PW) -> dict[str, str]:
    return {"MIRROR_NEW_PASSPHRASE": pw}


def env_cur(pw: str = PW) -> dict[str, str]:
    return {"MIRROR_PASSPHRASE": pw}


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "j.db"
    with Store.open(path) as s:
        journal.add(s, f"Walked by the river, {MARKER} thoughts #morning", response=f"reply {MARKER}")
        journal.add(s, "Second entry about tea", tags=["drink"])
        journal.add(s, "Third entry, long day at work")
    return path


@pytest.fixture
def store(db):
    s = Store.open(db)
    yield s
    s.close()


@pytest.fixture
def memory_keyring():
    with keyring_backend(MemoryKeyring()) as backend:
        yield backend


def enable(s: Store, **kw) -> keyops.EnableResult:
    kw.setdefault("interactive", False)
    kw.setdefault("kdf_params", cheap())
    return keyops.enable(s, kw.pop("env", env_new()), **kw)


def snapshot(s: Store):
    """Everything a failed operation must leave as it was."""
    return (s.conn.execute("SELECT * FROM reflections ORDER BY id").fetchall(),
            s.conn.execute("SELECT * FROM meta ORDER BY key").fetchall(),
            s.conn.execute("SELECT * FROM audit_events ORDER BY seq").fetchall())


def raw_bytes(path) -> bytes:
    out = b""
    for suffix in ("", "-wal", "-shm"):
        p = str(path) + suffix
        if os.path.exists(p):
            with open(p, "rb") as fh:
                out += fh.read()
    return out


def reopen_unlocked(path, pw: str = PW) -> Store:
    s = Store.open(path)
    meta = json.loads(s.meta("crypto"))
    result = keys.unlock(meta, s.db_id, env_cur(pw), interactive=False)
    s.key = UnlockedKey.from_dek(result.dek, result.source)
    return s


# ---------------------------------------------------------------------------
# enable
# ---------------------------------------------------------------------------


def test_enable_seals_every_field_and_keys_the_chain(store):
    result = enable(store)
    assert result.converted["reflections"] == 3
    assert store.encrypted
    for content, response, tags in store.conn.execute("SELECT content, response, tags FROM reflections"):
        assert isinstance(content, bytes) and isinstance(tags, bytes)
        assert response is None or isinstance(response, bytes)
    assert store.conn.execute("SELECT count(*) FROM reflections_fts_idx").fetchone()[0] == 0
    assert store.conn.execute("SELECT count(*) FROM reflections_fts_data").fetchone()[0] <= 2  # structure only
    texts = sorted(r.content for r in journal.list_reflections(store))
    assert texts[0].startswith("Second entry") and MARKER in texts[2]
    events = audit.events(store.conn)
    assert [e.link for e in events] == ["sha256"] * 3 + ["hmac-sha256"]
    assert events[-1].event_type == "key.enabled" and events[-1].data["vouches"]["count"] == 3
    report = audit.verify(store.conn, key=store.key.audit_key, encrypted=True)
    assert report.ok, report.problem
    assert report.keyed_events == 1 and report.records_checked == 3


def test_enable_leaves_no_plaintext_in_db_wal_or_shm(db):
    with Store.open(db) as s:
        assert MARKER.encode() in raw_bytes(db)
        enable(s)
        journal.add(s, "written after enable, still secret")
    data = raw_bytes(db)
    for needle in (MARKER, MARKER.lower(), "xylophonequartz", "river", "Second entry", "secret", "morning"):
        assert needle.encode() not in data, needle


def test_a_wipe_cut_short_by_a_full_disk_is_a_warning_and_finished_later(db, monkeypatch, memory_keyring):
    """key enable committed, then VACUUM failed on a full disk: it said "failed" (exit 1) for a
    journal now encrypted, and did not cache the key. Now: done, a warning, and the next process
    that opens the database finishes the wipe."""
    import sqlite3

    from mirror_cli.db.open import open_store
    from mirror_cli.settings import resolve

    real_scrub = scrubbing.scrub

    def full_disk(store):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(scrubbing, "scrub", full_disk)
    with Store.open(db) as s:
        result = enable(s)
        assert s.encrypted and s.meta(scrubbing.SCRUB_PENDING) == "key enable"
    assert result.key_cached and any("wiping the old bytes" in w for w in result.warnings)
    monkeypatch.setattr(scrubbing, "scrub", real_scrub)
    with open_store(resolve(db=db, env={})) as s:  # the next mirror to open it wipes
        assert s.meta(scrubbing.SCRUB_PENDING) is None
    assert MARKER.encode() not in raw_bytes(db)


def test_enable_refuses_an_encrypted_database(store):
    enable(store)
    with pytest.raises(UsageError, match="already encrypted"):
        enable(store)


def test_enable_refuses_when_the_chain_is_broken_unless_forced(store):
    store.conn.execute("UPDATE reflections SET content = 'edited behind mirror' WHERE content LIKE 'Second%'")
    before = snapshot(store)
    with pytest.raises(VerificationError, match="audit chain fails"):
        enable(store)
    assert snapshot(store) == before and not store.encrypted
    result = enable(store, force=True)
    assert result.forced and audit.events(store.conn)[-1].data["forced_over_failed_verify"] is True


@pytest.mark.parametrize("source", ["MIRROR_NEW_PASSPHRASE_FILE", "MIRROR_NEW_PASSPHRASE",
                                    "MIRROR_PASSPHRASE_FILE", "MIRROR_PASSPHRASE"])
def test_enable_takes_every_passphrase_source(tmp_path, db, source):
    if source.endswith("_FILE"):
        f = tmp_path / "pw.txt"
        f.write_text(PW + "\nsecond line ignored\n")
        os.chmod(f, 0o600)
        env = {source: str(f)}
    else:
        env = {source: PW}
    with Store.open(db) as s:
        result = enable(s, env=env)
        assert result.passphrase_source == source
    with reopen_unlocked(db, PW) as s:
        assert len(journal.list_reflections(s)) == 3


def test_enable_prompts_twice_and_refuses_a_mismatch(db):
    asked = []

    def prompt(answers):
        queue = list(answers)

        def ask(text):
            asked.append(text)
            return queue.pop(0)
        return ask

    with Store.open(db) as s:
        with pytest.raises(UsageError, match="do not match"):
            enable(s, env={}, interactive=True, prompt=prompt([PW, PW + "x"]))
        assert not s.encrypted
        result = enable(s, env={}, interactive=True, prompt=prompt([PW, PW]))
        assert result.passphrase_source == "prompt"
    assert len(asked) == 4
    with reopen_unlocked(db) as s:
        assert len(journal.list_reflections(s)) == 3


def test_enable_without_any_source_is_locked(store):
    with pytest.raises(LockedError, match="MIRROR_NEW_PASSPHRASE"):
        enable(store, env={})
    assert not store.encrypted


def test_patterns_occurrences_and_tensions_are_sealed_with_their_record_ids(store):
    rid = store.conn.execute("SELECT id FROM reflections LIMIT 1").fetchone()[0]
    c = store.conn
    c.execute("INSERT INTO patterns (id, pattern_type, name, confidence, created_at, updated_at, rev)"
              " VALUES ('P1', 'theme', 'rest and work', 0.7, 'x', 'x', 1)")
    c.execute("INSERT INTO pattern_occurrences (pattern_id, reflection_id, evidence, confidence)"
              " VALUES ('P1', ?, 'long day', 0.5)", (rid,))
    c.execute("INSERT INTO tensions (id, reflection_id, detected_at, data, rev) VALUES ('T1', ?, 'x', ?, 1)",
              (rid, json.dumps({"name": "Control vs Surrender"})))
    result = enable(store)
    assert {"reflections": 3, "patterns": 1, "pattern_occurrences": 1, "tensions": 1}.items() <= result.converted.items()
    cipher = crypto.FieldCipher(store.key.dek)
    name = c.execute("SELECT name FROM patterns").fetchone()[0]
    evidence = c.execute("SELECT evidence FROM pattern_occurrences").fetchone()[0]
    data = c.execute("SELECT data FROM tensions").fetchone()[0]
    assert cipher.open("patterns", "P1", "name", name) == "rest and work"
    assert cipher.open("pattern_occurrences", occurrence_record_id("P1", rid), "evidence", evidence) == "long day"
    assert json.loads(cipher.open("tensions", "T1", "data", data)) == {"name": "Control vs Surrender"}
    keyops.disable(store, env_cur(), interactive=False)
    assert c.execute("SELECT name FROM patterns").fetchone()[0] == "rest and work"
    assert c.execute("SELECT evidence FROM pattern_occurrences").fetchone()[0] == "long day"
    assert json.loads(c.execute("SELECT data FROM tensions").fetchone()[0]) == {"name": "Control vs Surrender"}


# ---------------------------------------------------------------------------
# disable
# ---------------------------------------------------------------------------


def test_disable_wrong_passphrase_changes_nothing(store):
    enable(store)
    before = snapshot(store)
    with pytest.raises(LockedError, match="wrong passphrase") as err:
        keyops.disable(store, env_cur("not it"), interactive=False)
    assert err.value.exit_code == 4 and "not it" not in str(err.value)
    assert snapshot(store) == before and store.encrypted


def test_disable_restores_plaintext_search_and_a_verifiable_chain(db):
    with Store.open(db) as s:
        enable(s)
        journal.add(s, "added while encrypted about kites")
    with Store.open(db) as s:
        result = keyops.disable(s, env_cur(), interactive=False)
        assert result.converted["reflections"] == 4 and not s.encrypted
        assert {r.content for r in finder.search(s, "kites")} == {"added while encrypted about kites"}
        assert len(finder.search(s, "entry")) == 2  # FTS repopulated by the triggers
        journal.add(s, "plain again")
        events = audit.events(s.conn)
        assert [e.event_type for e in events][-3:] == ["reflection.saved", "key.disabled", "reflection.saved"]
        assert [e.link for e in events][-3:] == ["hmac-sha256", "hmac-sha256", "sha256"]
        assert isinstance(s.conn.execute("SELECT content FROM reflections LIMIT 1").fetchone()[0], str)
        report = audit.verify(s.conn)  # no key at all: the closed run's key was published
        assert report.ok, report.problem
        assert report.keyed_events == 3


def test_reenable_after_disable_verifies_both_runs(store):
    enable(store)
    keyops.disable(store, env_cur(), interactive=False)
    enable(store, env=env_new(NEW_PW))
    journal.add(store, "third run entry")
    report = audit.verify(store.conn, key=store.key.audit_key, encrypted=True)
    assert report.ok, report.problem
    # The key of the current run is needed: the retired one does not pass for it.
    with pytest.raises(LockedError):
        audit.verify(store.conn, key=None, encrypted=True)


def test_disable_refuses_swapped_ciphertext_and_changes_nothing(store):
    enable(store)
    (a, ca), (b, cb) = store.conn.execute("SELECT id, content FROM reflections ORDER BY id LIMIT 2").fetchall()
    store.conn.execute("UPDATE reflections SET content = ? WHERE id = ?", (cb, a))
    store.conn.execute("UPDATE reflections SET content = ? WHERE id = ?", (ca, b))
    before = snapshot(store)
    with pytest.raises(VerificationError):
        keyops.disable(store, env_cur(), interactive=False, force=True)
    assert snapshot(store) == before and store.encrypted


# ---------------------------------------------------------------------------
# change, lock, unlock
# ---------------------------------------------------------------------------


def test_change_rewraps_only_and_refuses_the_old_passphrase(db, memory_keyring):
    with Store.open(db) as s:
        enable(s)
        rows_before = s.conn.execute("SELECT content, response, tags FROM reflections ORDER BY id").fetchall()
        old_kek = memory_keyring.get_password("mirror", s.db_id)
        result = keyops.change(s, {**env_cur(), **env_new(NEW_PW)}, interactive=False, kdf_params=cheap())
        assert result.key_cached
        assert s.conn.execute("SELECT content, response, tags FROM reflections ORDER BY id").fetchall() == rows_before
        assert memory_keyring.get_password("mirror", s.db_id) not in (None, old_kek)
        assert audit.events(s.conn)[-1].event_type == "key.changed"
    with Store.open(db) as s:
        with pytest.raises(LockedError, match="wrong passphrase"):
            keys.unlock(json.loads(s.meta("crypto")), s.db_id, env_cur(PW), interactive=False)
    with reopen_unlocked(db, NEW_PW) as s:
        assert audit.verify(s.conn, key=s.key.audit_key, encrypted=True).ok
        assert len(journal.list_reflections(s)) == 3


def test_change_with_wrong_current_passphrase_changes_nothing(store):
    enable(store)
    before = snapshot(store)
    with pytest.raises(LockedError):
        keyops.change(store, {**env_cur("wrong"), **env_new(NEW_PW)}, interactive=False, kdf_params=cheap())
    assert snapshot(store) == before


def test_lock_and_unlock_with_a_keyring(db, memory_keyring):
    with Store.open(db) as s:
        enable(s)
        db_id = s.db_id
        assert (keys.SERVICE, db_id) in memory_keyring.entries
        assert keyops.status(s, {}).unlocked
        assert keyops.lock(s).forgotten
        st = keyops.status(s, {})
        assert st.encrypted and not st.unlocked and st.key_cached is False
        with pytest.raises(LockedError, match="wrong passphrase"):
            keyops.unlock(s, env_cur("nope"), interactive=False)
        assert (keys.SERVICE, db_id) not in memory_keyring.entries
        result = keyops.unlock(s, env_cur(), interactive=False)
        assert result.cached and result.source == "MIRROR_PASSPHRASE"
        st = keyops.status(s, {})
        assert st.unlocked and st.source == "keyring" and st.key_cached
    # The keyring holds the derived key, never the passphrase.
    stored = memory_keyring.entries[(keys.SERVICE, db_id)]
    assert PW not in stored and len(stored) == 44


def test_unlock_prompt_retries(store, memory_keyring):
    enable(store)
    keyops.lock(store)
    answers = iter(["bad one", PW])
    result = keyops.unlock(store, {}, interactive=True, prompt=lambda text: next(answers))
    assert result.source == "prompt" and result.cached


def test_unlock_without_keyring_is_locked_and_says_why(store):
    enable(store)
    with pytest.raises(LockedError, match="no OS keyring") as err:
        keyops.unlock(store, env_cur(), interactive=False)
    assert err.value.exit_code == 4 and "MIRROR_PASSPHRASE_FILE" in err.value.hint


def test_no_keyring_falls_back_quietly(store):
    result = enable(store)
    assert not result.key_cached and result.warnings == []
    assert not keyops.lock(store).keyring_available
    st = keyops.status(store, env_cur())
    assert st.unlocked and st.source == "MIRROR_PASSPHRASE" and st.warnings == []


def test_failing_keyring_is_reported_not_fatal_for_enable(store):
    with keyring_backend(FailingKeyring()):
        result = enable(store)
        assert store.encrypted and not result.key_cached
        assert result.warnings and "keyring failed" in result.warnings[0]
        assert PW not in " ".join(result.warnings)
        with pytest.raises(keys.KeyringFailure) as err:
            keyops.unlock(store, env_cur(), interactive=False)
        assert err.value.exit_code == 1
        st = keyops.status(store, {})
        assert not st.unlocked and "keyring" in " ".join(st.warnings)


def test_store_refuses_to_write_with_a_key_the_database_no_longer_uses(db):
    with Store.open(db) as s:
        enable(s)
    stale = reopen_unlocked(db)
    try:
        with Store.open(db) as other:
            keyops.disable(other, env_cur(), interactive=False)
        with pytest.raises(OperationError, match="changed by another mirror process"):
            journal.add(stale, "would be sealed with a retired key")
    finally:
        stale.close()


# ---------------------------------------------------------------------------
# key-recovery file
# ---------------------------------------------------------------------------


def test_export_then_import_on_a_fresh_database(tmp_path, db):
    out = tmp_path / "keys" / "mirror-key.json"
    with Store.open(db) as s:
        enable(s)
        src_id, kid = s.db_id, json.loads(s.meta("crypto"))["key_id"]
        with pytest.raises(LockedError):
            keyops.export_key(s, out, env_cur("wrong"), interactive=False)
        assert not out.exists()
        result = keyops.export_key(s, out, env_cur(), interactive=False)
        with pytest.raises(UsageError, match="already exists"):
            keyops.export_key(s, out, env_cur(), interactive=False)
    assert result.path == str(out) and stat.S_IMODE(out.stat().st_mode) == 0o600
    doc = json.loads(out.read_text())
    assert doc["format"] == "mirror-key" and doc["db_id"] == src_id and doc["key_id"] == kid
    assert PW not in out.read_text()

    fresh = tmp_path / "fresh.db"
    with Store.open(fresh) as s:
        before = snapshot(s)
        with pytest.raises(LockedError):
            keyops.import_key(s, out, env_cur("wrong"), interactive=False)
        assert snapshot(s) == before
        imported = keyops.import_key(s, out, env_cur(), interactive=False)
        assert imported.db_id == src_id and s.encrypted and s.db_id == src_id
        journal.add(s, "first entry on the new machine")
        assert audit.verify(s.conn, key=s.key.audit_key, encrypted=True).ok
    # The same data key: a field sealed in one database opens in the other.
    with reopen_unlocked(db) as a, reopen_unlocked(fresh) as b:
        assert a.key.dek == b.key.dek


def test_import_refuses_non_empty_or_encrypted_databases_and_junk(tmp_path, db, store):
    out = tmp_path / "k.json"
    other = tmp_path / "other.db"
    with Store.open(other) as s:
        enable(s)
        keyops.export_key(s, out, env_cur(), interactive=False)
        with pytest.raises(UsageError, match="already encrypted"):
            keyops.import_key(s, out, env_cur(), interactive=False)
    with pytest.raises(UsageError, match="not empty"):
        keyops.import_key(store, out, env_cur(), interactive=False)
    junk = tmp_path / "junk.json"
    for text in ("not json", json.dumps({"format": "something"}),
                 json.dumps({**json.loads(out.read_text()), "kdf": {"algorithm": "argon2id", "salt": "AAAAAAAAAAAAAAAAAAAAAA==",
                                                                    "iterations": 64, "lanes": 1, "memory_cost": 1048576}})):
        junk.write_text(text)
        with pytest.raises(InvalidInputError) as err:
            keyops.import_key(store, junk, env_cur(), interactive=False)
        assert err.value.exit_code == 5
        assert str(junk) in err.value.message and "nothing was changed" in err.value.message
    assert not store.encrypted


def test_import_with_a_wrong_passphrase_is_locked_and_changes_nothing(tmp_path):
    out = tmp_path / "k.json"
    with Store.open(tmp_path / "src.db") as s:
        enable(s)
        keyops.export_key(s, out, env_cur(), interactive=False)
    with Store.open(tmp_path / "fresh.db") as fresh:
        before = (fresh.db_id, fresh.meta("crypto"), fresh.count("audit_events"))
        with pytest.raises(LockedError) as info:
            keyops.import_key(fresh, out, env_cur("not it"), interactive=False)
        assert info.value.exit_code == 4 and "Nothing was changed" in info.value.hint
        assert "key unlock" not in info.value.hint
        assert (fresh.db_id, fresh.meta("crypto"), fresh.count("audit_events")) == before
        assert not fresh.encrypted


# ---------------------------------------------------------------------------
# keyed audit chain: what someone without the key cannot do
# ---------------------------------------------------------------------------


def _rewrite_event(conn, seq: int, **changes) -> None:
    """What an attacker without the key can do: edit an event and recompute a plain SHA-256 link."""
    row = conn.execute("SELECT seq, id, event_type, timestamp, data, previous_hash, link FROM audit_events"
                       " WHERE seq = ?", (seq,)).fetchone()
    fields = {"seq": row[0], "id": row[1], "event_type": row[2], "timestamp": row[3], "data": json.loads(row[4]),
              "previous_hash": row[5], "link": row[6]}
    fields.update(changes)
    new_hash = audit.link_hash({**fields, "link": audit.PLAIN_LINK}, None)
    conn.execute("UPDATE audit_events SET data = ?, link = ?, event_hash = ? WHERE seq = ?",
                 (audit.canonical(fields["data"]).decode(), fields["link"], new_hash, seq))


def test_rewriting_a_keyed_event_without_the_key_fails(store):
    enable(store)
    journal.add(store, "one more")
    seq = audit.events(store.conn)[-1].seq
    _rewrite_event(store.conn, seq, data={"reflection_id": "forged"})
    report = audit.verify(store.conn, key=store.key.audit_key, encrypted=True)
    assert not report.ok and report.first_bad_seq == seq


def test_downgrading_a_keyed_event_to_plain_fails(store):
    enable(store)
    journal.add(store, "one more")
    first_keyed = next(e.seq for e in audit.events(store.conn) if e.link == audit.KEYED_LINK)
    _rewrite_event(store.conn, first_keyed + 1, link=audit.PLAIN_LINK)
    report = audit.verify(store.conn, key=store.key.audit_key, encrypted=True)
    assert not report.ok and "not keyed" in report.problem


def test_a_forged_key_disabled_event_does_not_close_the_open_run(store):
    enable(store)
    forged_key = os.urandom(32)
    with store.write():
        audit.append(store.conn, "key.disabled", {audit.RETIRED_KEY_FIELD: forged_key.hex()}, key=forged_key)
    report = audit.verify(store.conn, key=store.key.audit_key, encrypted=True)
    assert not report.ok


def test_keyed_events_without_a_key_record_fail_verification(store):
    enable(store)
    store.conn.execute("DELETE FROM meta WHERE key = 'crypto'")  # someone strips the key record
    report = audit.verify(store.conn, key=None, encrypted=False)
    assert not report.ok and "not encrypted" in report.problem


def test_a_keyed_chain_from_before_heads_verifies_until_its_next_keyed_event(store):
    """Chains keyed by an earlier mirror have no head and no mark: `audit verify` passed on them,
    and must still (a missing head read as tampering on every upgraded journal); once keyed events
    carry the mark, cutting the end of the chain, with or without its head row, is caught again."""
    enable(store)
    journal.add(store, "written by the new mirror")
    key, conn = store.key.audit_key, store.conn
    # Rewrite the chain as an older mirror wrote it: no mark in the data, no head row.
    previous = audit.GENESIS
    for seq, eid, etype, ts, data, _prev, _hash, link in conn.execute(
            "SELECT seq, id, event_type, timestamp, data, previous_hash, event_hash, link FROM audit_events"
            " ORDER BY seq").fetchall():
        parsed = json.loads(data)
        parsed.pop(audit.HEAD_MARK, None)
        fields = {"seq": seq, "id": eid, "event_type": etype, "timestamp": ts, "data": parsed,
                  "previous_hash": previous, "link": link}
        new_hash = audit.link_hash(fields, key if link == audit.KEYED_LINK else None)
        conn.execute("UPDATE audit_events SET data = ?, previous_hash = ?, event_hash = ? WHERE seq = ?",
                     (audit.canonical(parsed).decode(), previous, new_hash, seq))
        previous = new_hash
    conn.execute("DELETE FROM meta WHERE key = ?", (audit.HEAD_META,))
    assert audit.verify(conn, key=key, encrypted=True).ok  # as the older mirror saw it
    journal.add(store, "the first event with a head")
    rid = journal.add(store, "the second").id
    assert audit.verify(conn, key=key, encrypted=True).ok
    newest = conn.execute("SELECT max(seq) FROM audit_events").fetchone()[0]
    for sql in ("DELETE FROM audit_vouches WHERE seq = ?", "DELETE FROM audit_events WHERE seq = ?"):
        conn.execute(sql, (newest,))
    conn.execute("DELETE FROM reflections WHERE id = ?", (rid,))
    assert "removed from the end" in audit.verify(conn, key=key, encrypted=True).problem
    conn.execute("DELETE FROM meta WHERE key = ?", (audit.HEAD_META,))  # the head row goes too
    assert "missing" in audit.verify(conn, key=key, encrypted=True).problem  # a marked event remains


# ---------------------------------------------------------------------------
# the unlocked key: one object on the store, warnings returned
# ---------------------------------------------------------------------------


def test_the_unlocked_key_is_one_object_made_from_the_data_key(store):
    enable(store)
    key = store.key
    assert key is not None and key.key_id == json.loads(store.meta("crypto"))["key_id"]
    assert key.key_id == crypto.key_id(key.dek) and key.audit_key == crypto.audit_mac_key(key.dek)
    assert key.fields.encrypted and key.source == "MIRROR_NEW_PASSPHRASE"
    shown = repr(key)
    assert key.dek.hex() not in shown and key.audit_key.hex() not in shown and "FieldCipher" not in shown


def test_a_failed_enable_leaves_the_store_without_a_key(store, monkeypatch):
    def broken(*args, **kwargs):  # fails after the key was put on the store, inside the transaction
        raise OperationError("disk trouble")

    monkeypatch.setattr(keyops, "_analysis_converted", broken)
    before = snapshot(store)
    with pytest.raises(OperationError, match="disk trouble"):
        enable(store)
    assert store.key is None and not store.encrypted and snapshot(store) == before


def test_unlock_store_returns_its_warnings_and_leaves_the_key_on_the_store(db, tmp_path):
    from mirror_cli.db.unlock import unlock_store
    from mirror_cli.settings import resolve

    with Store.open(db) as s:
        enable(s)
    pf = tmp_path / "pf"
    pf.write_text(PW + "\n")
    pf.chmod(0o644)
    settings = resolve(db=db, env={"MIRROR_PASSPHRASE_FILE": str(pf)})
    with Store.open(db) as s:
        assert s.key is None
        result = unlock_store(s, settings)
        assert result.source == "MIRROR_PASSPHRASE_FILE" and s.key.source == "MIRROR_PASSPHRASE_FILE"
        assert any("chmod 600" in w for w in result.warnings)
        assert MARKER in " ".join(r.content for r in journal.list_reflections(s))

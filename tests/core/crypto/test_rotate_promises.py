"""`mirror key rotate` (issue 12, item 16): a new data key, everything re-sealed in one transaction,
and old copies of the key record open nothing written afterwards."""

from __future__ import annotations

import json

import pytest
from helpers import cheap
from keyring_backends import MemoryKeyring, keyring_backend

from mirror_cli import audit, crypto
from mirror_cli.crypto import manage as keyops
from mirror_cli.crypto import passphrase as keys
from mirror_cli.crypto import rotate as keyrotate
from mirror_cli.crypto.fields import SEALED_COLUMNS, codec
from mirror_cli.crypto.unlocked import UnlockedKey
from mirror_cli.db.store import Store
from mirror_cli.errors import LockedError, VerificationError
from mirror_cli.journal import reflections as journal
from mirror_cli.patterns import analysis

PW = "correct horse battery staple"
NEW_PW = "a brand new passphrase"


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "j.db")
    journal.add(s, "Anxious about the deadline, could not sleep #work", response="a reply")
    journal.add(s, "Calm walk by the river, grateful for the quiet", tags=["walks"])
    journal.add(s, "Torn between control and letting go at work")
    keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
    analysis.analyze(s, full=True)
    yield s
    s.close()


def rotate(s: Store, pw: str = PW, **kw) -> keyrotate.RotateResult:
    kw.setdefault("kdf_params", cheap())
    return keyrotate.rotate(s, kw.pop("env", {"MIRROR_PASSPHRASE": pw}), interactive=False, **kw)


def dek_of(record: dict, db_id: str, pw: str = PW) -> bytes:
    meta = crypto.CryptoMeta.from_dict(record)
    return crypto.unwrap_data_key(crypto.derive_kek(pw, meta.kdf), meta.wrapped_key, db_id)


def sealed_values(s: Store) -> list[tuple[str, str, str, bytes]]:
    out = []
    for table, (id_expr, columns) in SEALED_COLUMNS.items():
        for row in s.conn.execute(f"SELECT {id_expr}, {', '.join(columns)} FROM {table}"):  # noqa: S608
            out += [(table, row[0], c, v) for c, v in zip(columns, row[1:]) if v is not None]
    return out


def opens(fields, values) -> bool:
    try:
        for table, rid, column, blob in values:
            fields.open(table, rid, column, blob)
    except VerificationError:
        return False
    return True


def test_rotate_gives_a_new_data_key_and_reseals_every_sealed_value(store):
    old_record = json.loads(store.meta("crypto"))
    old = UnlockedKey.from_dek(dek_of(old_record, store.db_id))
    texts = sorted(r.content for r in journal.list_reflections(store))
    before = sealed_values(store)
    assert {t for t, *_ in before} >= {"reflections", "patterns", "pattern_occurrences", "analysis_state"}

    result = rotate(store)

    assert result.key_id != result.previous_key_id == old_record["key_id"]
    new_record = json.loads(store.meta("crypto"))
    assert new_record["key_id"] == result.key_id and new_record["kdf"]["salt"] != old_record["kdf"]["salt"]
    new = UnlockedKey.from_dek(dek_of(new_record, store.db_id))  # the same passphrase opens the new key
    assert new.dek != old.dek
    after = sealed_values(store)
    assert len(after) == len(before)
    assert opens(new.fields, after)
    assert not any(opens(old.fields, [v]) for v in after)  # nothing is left under the old key
    assert sorted(r.content for r in journal.list_reflections(store)) == texts


def test_an_old_key_record_opens_nothing_written_after_rotate(store):
    old_record = json.loads(store.meta("crypto"))  # an old `key export`, an old backup header, ...
    rotate(store)
    later = journal.add(store, "written after the rotation: secret")
    row = store.conn.execute("SELECT content FROM reflections WHERE id = ?", (later.id,)).fetchone()
    old = UnlockedKey.from_dek(dek_of(old_record, store.db_id))
    with pytest.raises(VerificationError):
        old.fields.open("reflections", later.id, "content", row[0])


def test_the_audit_chain_verifies_across_the_rotation(store):
    rotate(store)
    journal.add(store, "after the rotation")
    report = audit.verify(store.conn, key=store.key.audit_key, encrypted=True)
    assert report.ok, report.problem
    types = [e.event_type for e in audit.events(store.conn)]
    assert types[-3:-1] == ["key.retired", "key.rotated"]
    retired = audit.events(store.conn)[-3]
    assert retired.link == audit.KEYED_LINK and len(bytes.fromhex(retired.data["retired_audit_key"])) == 32
    # twice, then disabled: every run still checks
    rotate(store)
    keyops.disable(store, {"MIRROR_PASSPHRASE": PW}, interactive=False)
    report = audit.verify(store.conn, key=None, encrypted=False)
    assert report.ok, report.problem


def test_rotate_with_a_new_passphrase_retires_the_old_one(store):
    rotate(store, env={"MIRROR_PASSPHRASE": PW, "MIRROR_NEW_PASSPHRASE": NEW_PW}, new_passphrase=True)
    record = json.loads(store.meta("crypto"))
    with pytest.raises(LockedError):
        dek_of(record, store.db_id, PW)
    assert crypto.key_id(dek_of(record, store.db_id, NEW_PW)) == record["key_id"]


def test_a_wrong_passphrase_changes_nothing(store):
    before = (store.meta("crypto"), sealed_values(store), store.conn.execute("SELECT count(*) FROM audit_events").fetchone())
    with pytest.raises(LockedError):
        rotate(store, "not the passphrase at all")
    assert (store.meta("crypto"), sealed_values(store),
            store.conn.execute("SELECT count(*) FROM audit_events").fetchone()) == before


def test_a_value_that_does_not_open_rolls_the_whole_rotation_back(store):
    rid = store.conn.execute("SELECT id FROM reflections ORDER BY id DESC LIMIT 1").fetchone()[0]
    other = store.conn.execute("SELECT content FROM reflections WHERE id != ? LIMIT 1", (rid,)).fetchone()[0]
    store.conn.execute("UPDATE reflections SET response = ? WHERE id = ?", (other, rid))  # moved: does not open
    store.conn.commit()
    before = (store.meta("crypto"), sealed_values(store))
    with pytest.raises(VerificationError):
        rotate(store, force=True)
    assert (store.meta("crypto"), sealed_values(store)) == before
    assert store.key.key_id == json.loads(store.meta("crypto"))["key_id"]  # the old key is still the journal's


def test_rotate_replaces_the_cached_key(store):
    with keyring_backend(MemoryKeyring()):
        result = rotate(store)
        assert result.key_cached
        unlocked = keys.unlock(json.loads(store.meta("crypto")), store.db_id, {}, interactive=False,
                               cache=keys.KeyCache(env={}))
    assert unlocked.source == keys.SOURCE_KEYRING and crypto.key_id(unlocked.dek) == result.key_id


def _conflict(s: Store, text: str) -> int:
    with s.write():
        cur = s.conn.execute("INSERT INTO sync_conflicts (kind, id, field, value_stamp, kept_stamp, detected_at)"
                             " VALUES ('reflection', 'r1', 'content', '[]', '[]', '2026-01-01T00:00:00Z')")
        cid = cur.lastrowid
        s.conn.execute("UPDATE sync_conflicts SET value = ? WHERE cid = ?",
                       (codec(s).seal("sync_conflicts", str(cid), "value", json.dumps(text)), cid))
    return cid


def _conflict_text(s: Store, cid: int) -> str:
    stored = s.conn.execute("SELECT value FROM sync_conflicts WHERE cid = ?", (cid,)).fetchone()[0]
    return json.loads(codec(s).open("sync_conflicts", str(cid), "value", stored))


def test_a_sync_conflicts_kept_value_is_resealed_by_rotate_enable_and_disable(tmp_path):
    s = Store.open(tmp_path / "c.db")
    try:
        plain = _conflict(s, "the losing text")
        keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
        assert isinstance(s.conn.execute("SELECT value FROM sync_conflicts").fetchone()[0], bytes)
        sealed = _conflict(s, "lost while encrypted")
        rotate(s)
        assert _conflict_text(s, plain) == "the losing text" and _conflict_text(s, sealed) == "lost while encrypted"
        keyops.disable(s, {"MIRROR_PASSPHRASE": PW}, interactive=False)
        assert _conflict_text(s, sealed) == "lost while encrypted"
    finally:
        s.close()

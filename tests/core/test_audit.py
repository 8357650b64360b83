"""audit: the hash chain, vouches, and verify naming the first bad event for both kinds of tampering."""

from __future__ import annotations

import json
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirror_cli import audit
from mirror_cli.journal import reflections as journal
from mirror_cli.db.store import Store


@pytest.fixture
def db(tmp_path):
    """Events: 1 saved A, 2 saved B, 3 saved C, 4 edited A, 5 deleted C."""
    path = tmp_path / "m.db"
    with Store.open(path) as store:
        a = journal.add(store, "first #one")
        b = journal.add(store, "second", response="reply")
        c = journal.add(store, "third")
        journal.edit(store, a.id, content="first, changed #one")
        journal.delete(store, [c.id])
    return path, a.id, b.id, c.id


def raw(path, *sql, params=()):
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = OFF")
        for s in sql:
            conn.execute(s, params)
    finally:
        conn.close()


def verify(path):
    with Store.open(path) as store:
        return audit.verify(store.conn)


def test_a_clean_chain_verifies(db):
    path, *_ = db
    report = verify(path)
    assert report.ok and report.events == 5 and report.records_checked == 2
    assert report.first_bad_seq is None and report.problem is None
    assert set(report.to_dict()) >= {"ok", "events", "first_bad_seq", "problem"}


def test_events_link_and_hold_no_text(db):
    path, a, b, c = db
    with Store.open(path) as store:
        events = audit.events(store.conn)
        assert [e.seq for e in events] == [1, 2, 3, 4, 5]
        assert events[0].previous_hash == audit.GENESIS
        for prev, cur in zip(events, events[1:]):
            assert cur.previous_hash == prev.event_hash
        assert [e.event_type for e in events] == ["reflection.saved"] * 3 + ["reflection.edited", "reflection.deleted"]
        assert events[4].data["reflection_ids"] == [c]
        blob = json.dumps([e.to_dict() for e in events])
        for text in ("first", "second", "third", "reply", "changed"):
            assert text not in blob
        newest = audit.events(store.conn, limit=2, newest_first=True)
        assert [e.seq for e in newest] == [5, 4]


def test_event_hash_is_sha256_of_canonical_fields(db):
    import hashlib

    path, *_ = db
    with Store.open(path) as store:
        e = audit.events(store.conn)[1]
    fields = {"seq": e.seq, "id": e.id, "event_type": e.event_type, "timestamp": e.timestamp, "data": e.data,
              "previous_hash": e.previous_hash, "link": "sha256"}
    assert e.event_hash == hashlib.sha256(audit.canonical(fields)).hexdigest()


@pytest.mark.parametrize("column, value", [
    ("timestamp", "2020-01-01T00:00:00.000Z"),
    ("event_type", "reflection.deleted"),
    ("data", '{"reflection_id":"SOMETHINGELSE"}'),
    ("event_hash", "0" * 64),
    ("id", "01XXXXXXXXXXXXXXXXXXXXXXXX"),
])
def test_an_edited_audit_row_is_named_by_its_seq(db, column, value):
    path, *_ = db
    raw(path, f"UPDATE audit_events SET {column} = ? WHERE seq = 3", params=(value,))
    report = verify(path)
    assert not report.ok
    assert report.first_bad_seq == 3
    assert "#3" in report.problem


def test_reformatted_event_data_is_caught(db):
    path, *_ = db
    with Store.open(path) as store:
        data = store.conn.execute("SELECT data FROM audit_events WHERE seq = 2").fetchone()[0]
    raw(path, "UPDATE audit_events SET data = ? WHERE seq = 2", params=(json.dumps(json.loads(data), indent=1),))
    report = verify(path)
    assert (report.ok, report.first_bad_seq) == (False, 2)


def test_a_removed_event_is_named(db):
    path, *_ = db
    raw(path, "DELETE FROM audit_vouches WHERE seq = 2", "DELETE FROM audit_events WHERE seq = 2")
    report = verify(path)
    assert (report.ok, report.first_bad_seq) == (False, 2)
    assert "missing" in report.problem


def test_a_rewritten_chain_still_fails_on_the_data(db):
    """Cutting off the newest events leaves a consistent chain but data it does not vouch for."""
    path, a, b, c = db
    raw(path, "DELETE FROM audit_vouches WHERE seq >= 4", "DELETE FROM audit_events WHERE seq >= 4")
    report = verify(path)
    assert not report.ok
    # A's latest vouch is now event 1, whose digest is of the text before the edit.
    assert report.first_bad_seq == 1 and a in report.problem


def test_an_altered_vouch_list_is_named(db):
    path, a, *_ = db
    raw(path, "UPDATE audit_vouches SET digest = ? WHERE seq = 4", params=("f" * 64,))
    report = verify(path)
    assert (report.ok, report.first_bad_seq) == (False, 4)
    raw(path, "DELETE FROM audit_vouches WHERE seq = 4")
    assert verify(path).first_bad_seq == 4


def test_content_edited_outside_mirror_names_the_vouching_event(db):
    path, a, b, c = db
    raw(path, "UPDATE reflections SET content = 'tampered' WHERE id = ?", params=(b,))
    report = verify(path)
    assert (report.ok, report.first_bad_seq) == (False, 2)
    assert b in report.problem and "changed outside mirror" in report.problem


def test_edited_reflection_tampered_names_the_edit_event(db):
    path, a, b, c = db
    raw(path, "UPDATE reflections SET tags = '[\"x\"]' WHERE id = ?", params=(a,))
    report = verify(path)
    assert (report.ok, report.first_bad_seq) == (False, 4)


@pytest.mark.parametrize("column, value", [("mode", "OTHER"), ("local_only", 1), ("created_at", "2001-01-01T00:00:00.000Z"),
                                           ("response", None)])
def test_any_vouched_column_counts(db, column, value):
    path, a, b, c = db
    raw(path, f"UPDATE reflections SET {column} = ? WHERE id = ?", params=(value, b))
    assert verify(path).first_bad_seq == 2


def test_reflection_deleted_outside_mirror(db):
    path, a, b, c = db
    raw(path, "DELETE FROM reflections WHERE id = ?", params=(a,))
    report = verify(path)
    assert (report.ok, report.first_bad_seq) == (False, 4)
    assert a in report.problem and "removed outside mirror" in report.problem


def test_reflection_inserted_outside_mirror(db):
    path, *_ = db
    raw(path, "INSERT INTO reflections (id, created_at, updated_at, content, mode, tags, local_only, rev)"
              " VALUES ('SNEAKY000001', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'x', 'R', '[]', 0, 99)")
    report = verify(path)
    assert (report.ok, report.first_bad_seq) == (False, 5)
    assert "SNEAKY000001" in report.problem and "added outside mirror" in report.problem


def test_deleted_reflection_put_back_outside_mirror(db):
    path, a, b, c = db
    raw(path, "INSERT INTO reflections (id, created_at, updated_at, content, mode, tags, local_only, rev)"
              " VALUES (?, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'third', 'R', '[]', 0, 3)",
        params=(c,))
    report = verify(path)
    assert (report.ok, report.first_bad_seq) == (False, 5)
    assert "deleted by event #5" in report.problem


def test_earliest_problem_wins(db):
    path, a, b, c = db
    raw(path, "UPDATE reflections SET content = 'x' WHERE id = ?", params=(a,))  # vouched by 4
    raw(path, "UPDATE reflections SET content = 'y' WHERE id = ?", params=(b,))  # vouched by 2
    assert verify(path).first_bad_seq == 2


def test_empty_chain_is_ok(tmp_path):
    with Store.open(tmp_path / "m.db") as store:
        report = audit.verify(store.conn)
    assert report.ok and report.events == 0


def test_appending_in_one_write_keeps_seqs_linear(tmp_path):
    with Store.open(tmp_path / "m.db") as store:
        with store.write():
            e1 = store.append_event("x.one", {"n": 1})
            e2 = store.append_event("x.two", {"n": 2}, [("thing", "id1", None)])
        assert (e1.seq, e2.seq) == (1, 2) and e2.previous_hash == e1.event_hash
        assert e2.data["vouches"]["count"] == 1
        assert audit.verify(store.conn).ok


# --------------------------------------------------------------------------- the vouch-list digest


def _reference_vouch_list_digest(vouches):
    """The digest as first written (lists, sorted with a Python key): the faster one must give the same bytes."""
    import hashlib

    return hashlib.sha256(audit.canonical(sorted([list(v) for v in vouches], key=lambda v: (v[0], v[1])))).hexdigest()


_any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_vouch = st.tuples(st.sampled_from(["reflection", "pattern", "x"]) | _any_text,
                   st.sampled_from(["a", "b", "r1"]) | _any_text,
                   st.none() | st.text(alphabet="0123456789abcdef", min_size=64, max_size=64) | _any_text)


@settings(max_examples=300, deadline=None)
@given(st.lists(_vouch, max_size=30), st.booleans())
def test_vouch_list_digest_matches_the_reference(vouches, as_lists):
    # Repeated (kind, id) pairs keep their order (a stable sort); lists and tuples give the same bytes.
    given_vouches = [list(v) for v in vouches] if as_lists else vouches
    want = _reference_vouch_list_digest(vouches)
    assert audit.vouch_list_digest(given_vouches) == want
    digested = audit.DigestedVouches(given_vouches)
    assert digested.sha256 == want and audit.vouch_list_digest(digested) == want
    assert list(digested) == [tuple(v) for v in vouches]


def test_an_event_with_digested_vouches_is_the_same_event(tmp_path):
    # Kinds verify does not replay (no such rows to compare with), in an order that is not sorted.
    vouches = [("thing", f"r{i:03d}", f"{i:064x}") for i in range(50, 0, -1)] + [("other", "gone", None)]
    rows = {}
    for name, given_vouches in (("plain", vouches), ("digested", audit.DigestedVouches(vouches))):
        with Store.open(tmp_path / f"{name}.db") as store:
            with store.write():
                event = store.append_event("x.bulk", {"n": 1}, given_vouches)
            assert audit.verify(store.conn).ok
            rows[name] = (event.data, store.conn.execute(
                "SELECT seq, kind, record_id, digest FROM audit_vouches ORDER BY rowid").fetchall())
    assert rows["plain"] == rows["digested"]
    data, stored = rows["plain"]
    assert data["vouches"] == {"count": 51, "sha256": _reference_vouch_list_digest(vouches)}
    assert stored == [(1, *v) for v in vouches]  # stored in the order given

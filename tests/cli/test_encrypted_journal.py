"""Every journal command keeps working on an encrypted database; tampering is caught (exit 3)."""

from __future__ import annotations

import json
import os
import sqlite3
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirror_cli import audit, crypto
from mirror_cli.crypto import manage as keyops
from mirror_cli.crypto.fields import SEALED_COLUMNS
from mirror_cli.db.store import Store
from helpers import cheap

PW = "lighthouse keeper 42"
ENV = {"MIRROR_PASSPHRASE": PW}
MARK_A = "Quokkamarmalade"
MARK_B = "Zeppelinwaffles"


@pytest.fixture
def db(mirror_home):
    return mirror_home / "mirror.db"


@pytest.fixture
def ids(cli, db):
    a = cli("reflect", f"alpha {MARK_A} by the sea #walk", "--response", "kind words").stdout.strip()
    b = cli("reflect", f"beta {MARK_B} in the city", "-t", "work").stdout.strip()
    with Store.open(db) as s:
        keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
    return a, b


def raw_bytes(path) -> bytes:
    out = b""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(str(path) + suffix):
            with open(str(path) + suffix, "rb") as fh:
                out += fh.read()
    return out


def test_journal_commands_work_encrypted(cli, ids, db):
    a, b = ids
    r = cli("reflect", "gamma under the lanterns #night", "--json", env=ENV)
    assert r.exit_code == 0, r.stderr
    c = json.loads(r.stdout)["id"]
    r = cli("list", "--json", env=ENV)
    assert [x["id"] for x in json.loads(r.stdout)] == [c, b, a]
    assert [x["id"] for x in json.loads(cli("list", "--tag", "walk", "--json", env=ENV).stdout)] == [a]
    r = cli("show", a[:10], "--json", env=ENV)
    assert json.loads(r.stdout)["response"] == "kind words"
    assert cli("edit", b, f"beta rewritten {MARK_B} again", env=ENV).exit_code == 0
    assert json.loads(cli("show", b, "--json", env=ENV).stdout)["content"] == f"beta rewritten {MARK_B} again"
    r = cli("search", MARK_B.lower(), "--json", env=ENV)
    assert [x["id"] for x in json.loads(r.stdout)] == [b]
    assert [x["id"] for x in json.loads(cli("search", '"under the lanterns"', "--json", env=ENV).stdout)] == [c]
    assert cli("delete", c, "--yes", env=ENV).exit_code == 0
    r = cli("audit", "verify", "--json", env=ENV)
    assert r.exit_code == 0, r.stdout
    report = json.loads(r.stdout)
    assert report["ok"] and report["keyed_events"] >= 4
    with Store.open(db) as s:
        for (content,) in s.conn.execute("SELECT content FROM reflections"):
            assert isinstance(content, bytes)
        assert s.conn.execute("SELECT count(*) FROM reflections_fts_idx").fetchone()[0] == 0


def test_commands_without_key_are_locked(cli, ids):
    for args in (("list",), ("show", ids[0]), ("search", "alpha"), ("reflect", "x"), ("audit", "verify")):
        r = cli(*args)
        assert r.exit_code == 4, args
        assert "MIRROR_PASSPHRASE_FILE" in r.stderr and r.stdout == ""


def test_cli_enable_leaves_no_plaintext_in_the_files(cli, db):
    cli("reflect", f"alpha {MARK_A} by the sea", "--response", f"reply {MARK_B}", "-t", "Kumquatish")
    rid = json.loads(cli("list", "--json").stdout)[0]["id"]
    cli("edit", rid, f"alpha {MARK_A} edited once")
    assert MARK_A.encode() in raw_bytes(db)
    r = cli("key", "enable", env={"MIRROR_NEW_PASSPHRASE": PW})
    assert r.exit_code == 0, r.stderr
    data = raw_bytes(db)
    for needle in (MARK_A, MARK_A.lower(), MARK_B, MARK_B.lower(), "kumquatish", "by the sea"):
        assert needle.encode() not in data, needle


def test_delete_all_keeps_encryption_and_verifies(cli, ids, db):
    r = cli("delete", "--all", "--yes", env=ENV)
    assert r.exit_code == 0, r.stderr
    assert json.loads(cli("key", "status", "--json", env=ENV).stdout)["encrypted"] is True
    assert cli("reflect", "after the purge", env=ENV).exit_code == 0
    assert cli("audit", "verify", env=ENV).exit_code == 0
    for needle in (MARK_A, MARK_B):
        assert needle.encode() not in raw_bytes(db)


def test_swapped_ciphertext_is_refused_naming_the_record(cli, ids, db):
    a, b = ids
    con = sqlite3.connect(db)
    (ca,), (cb,) = (con.execute("SELECT content FROM reflections WHERE id = ?", (x,)).fetchone() for x in (a, b))
    con.execute("UPDATE reflections SET content = ? WHERE id = ?", (cb, a))
    con.execute("UPDATE reflections SET content = ? WHERE id = ?", (ca, b))
    con.commit()
    con.close()
    for args in (("show", a), ("list",), ("search", "beta")):
        r = cli(*args, env=ENV)
        assert r.exit_code == 3, args
        assert a in r.stderr or b in r.stderr
        assert MARK_A not in r.stdout + r.stderr and MARK_B not in r.stdout + r.stderr
    r = cli("show", a, env=ENV)
    assert a in r.stderr and "content" in r.stderr
    r = cli("audit", "verify", "--json", env=ENV)
    assert r.exit_code == 3 and not json.loads(r.stdout)["ok"]


@pytest.mark.parametrize("column", ["content", "tags", "response"])
def test_tampered_envelope_is_refused(cli, ids, db, column):
    a, _ = ids
    con = sqlite3.connect(db)
    blob = bytearray(con.execute(f"SELECT {column} FROM reflections WHERE id = ?", (a,)).fetchone()[0])
    blob[-5] ^= 0x01
    con.execute(f"UPDATE reflections SET {column} = ? WHERE id = ?", (bytes(blob), a))
    con.commit()
    con.close()
    r = cli("show", a, env=ENV)
    assert r.exit_code == 3 and a in r.stderr and column in r.stderr
    assert "Traceback" not in r.stderr


def test_plaintext_planted_in_an_encrypted_database_is_refused(cli, ids, db):
    a, _ = ids
    con = sqlite3.connect(db)
    con.execute("UPDATE reflections SET content = 'planted text' WHERE id = ?", (a,))
    con.commit()
    con.close()
    r = cli("show", a, env=ENV)
    assert r.exit_code == 3 and "in clear" in r.stderr


@pytest.mark.parametrize("also", ["nothing else", "the audit log", "the sealed reflections"])
def test_a_removed_key_record_never_switches_encryption_off(cli, ids, db, also):
    """Deleting meta.crypto outside mirror made the next reflect store plaintext. Either the keyed
    audit chain (no key.disabled closes it) or the newest sealed reflection gives it away."""
    con = sqlite3.connect(db)
    con.execute("DELETE FROM meta WHERE key = 'crypto'")
    if also == "the audit log":
        con.execute("DELETE FROM audit_vouches")
        con.execute("DELETE FROM audit_events")
    elif also == "the sealed reflections":
        con.execute("DELETE FROM reflections")
    con.commit()
    con.close()
    r = cli("reflect", f"NEW {MARK_A} secret")
    if also == "the sealed reflections":  # and the chain still says keyed
        assert r.exit_code == 3
    else:
        assert r.exit_code == 3 and "key record is gone" in r.stderr and r.stdout == ""
    assert f"NEW {MARK_A}".encode() not in raw_bytes(db)


def test_a_passphrase_file_others_can_read_is_warned_about_by_every_command(cli, ids, tmp_path):
    pf = tmp_path / "pf"
    pf.write_text(PW + "\n")
    pf.chmod(0o644)
    env = {"MIRROR_PASSPHRASE_FILE": str(pf)}
    for args in (("reflect", "hi"), ("list",), ("search", "hi"), ("-q", "list")):
        r = cli(*args, env=env)
        assert r.exit_code == 0, r.stderr
        assert r.stderr.count("can be read by other users") == 1, (args, r.stderr)
    pf.chmod(0o600)
    assert "other users" not in cli("list", env=env).stderr


def test_removing_the_newest_reflection_with_its_event_is_caught(cli, ids, db):
    """Links only prove order: cutting the end of the chain (the newest reflection, its vouches and
    its event) left a shorter, consistent chain. The keyed head names the newest event."""
    rid = cli("reflect", "the newest one", env=ENV).stdout.strip()
    assert cli("audit", "verify", env=ENV).exit_code == 0
    con = sqlite3.connect(db)
    newest = con.execute("SELECT max(seq) FROM audit_events").fetchone()[0]
    con.execute("DELETE FROM reflections WHERE id = ?", (rid,))
    con.execute("DELETE FROM audit_vouches WHERE seq = ?", (newest,))
    con.execute("DELETE FROM audit_events WHERE seq = ?", (newest,))
    con.commit()
    con.close()
    r = cli("audit", "verify", "--json", env=ENV)
    assert r.exit_code == 3, r.stdout
    assert f"#{newest}" in json.loads(r.stdout)["problem"] and "removed from the end" in json.loads(r.stdout)["problem"]
    con = sqlite3.connect(db)  # and without the head at all
    con.execute("DELETE FROM meta WHERE key = 'audit_head'")
    con.commit()
    con.close()
    assert cli("audit", "verify", env=ENV).exit_code == 3


def test_the_keyed_head_follows_every_write_and_leaves_with_disable(cli, ids, db):
    for args in (("reflect", "more"), ("delete", "--all", "--yes"), ("reflect", "after")):
        assert cli(*args, env=ENV).exit_code == 0
        assert cli("audit", "verify", env=ENV).exit_code == 0, args
    assert cli("key", "disable", env=ENV).exit_code == 0
    assert cli("reflect", "plain now").exit_code == 0
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM meta WHERE key = 'audit_head'").fetchone()[0] == 0
    con.close()
    assert cli("audit", "verify").exit_code == 0


def test_reflect_after_a_real_disable_is_plain_and_verifies(cli, ids, db):
    r = cli("key", "disable", env=ENV)
    assert r.exit_code == 0, r.stderr
    assert cli("reflect", "after disable").exit_code == 0
    assert cli("audit", "verify").exit_code == 0


def test_rewritten_keyed_event_fails_audit_verify(cli, ids, db):
    cli("reflect", "one more", env=ENV)
    con = sqlite3.connect(db)
    seq, eid, etype, ts, data, prev, link = con.execute(
        "SELECT seq, id, event_type, timestamp, data, previous_hash, link FROM audit_events ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    assert link == audit.KEYED_LINK
    forged = json.loads(data)
    forged["reflection_id"] = ids[0]
    fields = {"seq": seq, "id": eid, "event_type": etype, "timestamp": ts, "data": forged,
              "previous_hash": prev, "link": audit.PLAIN_LINK}
    con.execute("UPDATE audit_events SET data = ?, link = ?, event_hash = ? WHERE seq = ?",
                (audit.canonical(forged).decode(), audit.PLAIN_LINK, audit.link_hash(fields, None), seq))
    con.commit()
    con.close()
    r = cli("audit", "verify", "--json", env=ENV)
    assert r.exit_code == 3
    assert json.loads(r.stdout)["first_bad_seq"] == seq


def test_audit_verify_passes_after_enable_change_and_disable(cli, db):
    cli("reflect", "plain start")
    assert cli("audit", "verify").exit_code == 0
    with Store.open(db) as s:
        keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
    assert cli("audit", "verify", env=ENV).exit_code == 0
    with Store.open(db) as s:
        keyops.change(s, {"MIRROR_PASSPHRASE": PW, "MIRROR_NEW_PASSPHRASE": "second"}, interactive=False,
                      kdf_params=cheap(), allow_weak=True)
    cli("reflect", "after change", env={"MIRROR_PASSPHRASE": "second"})
    assert cli("audit", "verify", env={"MIRROR_PASSPHRASE": "second"}).exit_code == 0
    assert cli("key", "disable", env={"MIRROR_PASSPHRASE": "second"}).exit_code == 0
    cli("reflect", "plain end")
    r = cli("audit", "verify", "--json")
    assert r.exit_code == 0, r.stdout
    assert json.loads(r.stdout)["keyed_events"] == 4  # enabled, changed, saved, disabled


def test_enable_and_disable_convert_the_pattern_analysis(cli, db):
    for text in ("I felt anxious and worried about the deadline at work, so tired",
                 "Calm walk, grateful for my family and the quiet morning",
                 "Worried again, anxious about money and control"):
        assert cli("reflect", text).exit_code == 0
    assert cli("patterns", "analyze").exit_code == 0
    before = json.loads(cli("patterns", "--json").stdout)
    assert before
    with Store.open(db) as s:
        result = keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
        assert result.converted["patterns"] >= len(before) and result.converted["analysis_state"] == 3
        for table, (_, columns) in SEALED_COLUMNS.items():
            for column in columns:
                kinds = {r[0] for r in s.conn.execute(f"SELECT typeof({column}) FROM {table}")}
                assert kinds <= {"blob", "null"}, (table, column, kinds)
    for needle in ("anxious", "worried", "deadline", "grateful"):
        assert needle.encode() not in raw_bytes(db), needle
    after = json.loads(cli("patterns", "--json", env=ENV).stdout)
    assert sorted(p["name"] for p in after) == sorted(p["name"] for p in before)
    # the analysis stays current through the conversion: nothing to analyse again, no stale note
    assert "analy" not in cli("patterns", env=ENV).stderr.replace("not diagnoses", "")
    assert json.loads(cli("patterns", "analyze", "--json", env=ENV).stdout)["analyzed"] == 0
    assert cli("key", "disable", env=ENV).exit_code == 0
    assert sorted(p["name"] for p in json.loads(cli("patterns", "--json").stdout)) == sorted(p["name"] for p in before)
    assert "No analysis yet" not in cli("patterns").stderr
    assert json.loads(cli("patterns", "analyze", "--json").stdout)["analyzed"] == 0
    assert cli("audit", "verify").exit_code == 0


def test_encrypted_search_matches_words_phrases_tags_and_responses(tmp_path):
    from mirror_cli.journal import reflections as journal
    from mirror_cli.journal import find as finder

    with Store.open(tmp_path / "e.db") as s:
        tag_only = journal.add(s, "nothing else to see", tags=["Kumquat"]).id
        walking = journal.add(s, "We went walking by the shore").id
        sidewalk = journal.add(s, "the sidewalk was wet").id
        phrase = journal.add(s, "a long, winding walk").id
        reply = journal.add(s, "plain words", response="an answer about a Quasar").id
        thrice = journal.add(s, "walk, walk and walk again").id
        keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
        assert s.encrypted

        def hits(query, limit=20):
            return [r.id for r in finder.search(s, query, limit=limit)]

        assert hits("kumquat") == [tag_only]  # found in the tags only
        assert hits("QUASAR") == [reply]  # in the response only, any case
        assert set(hits("walk")) == {walking, phrase, thrice}  # "walking" yes, "sidewalk" no
        assert hits("walk")[0] == thrice and hits("walk", limit=1) == [thrice]  # most occurrences first
        assert hits("sidewalk") == [sidewalk]
        assert hits('"long winding"') == [phrase]  # a phrase across punctuation
        assert hits('"winding long"') == [] and hits("walk long") == [phrase]
        assert hits("walk zebra") == []  # every term must match
        assert finder.search(s, "kumquat")[0].tags == ["kumquat"]


@given(rows=st.lists(st.tuples(st.text(max_size=40), st.none() | st.text(max_size=20),
                               st.lists(st.text(min_size=1, max_size=8), max_size=3), st.booleans()),
                     min_size=1, max_size=4))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_encrypted_export_lines_equal_the_plain_ones(tmp_path, rows):
    """The sealed export path builds the same JSON text as the dict encoder and the plain path."""
    from mirror_cli.journal import reflections as journal
    from mirror_cli.exchange.export import iter_reflections
    from mirror_cli.exchange.records import encode as _encode

    records = [journal.Reflection(id=f"R{i}", created_at=f"2024-01-0{i + 1}T00:00:00.000Z",
                                  updated_at="2024-02-01T00:00:00.000Z", content=c, response=r, tags=t,
                                  mode="MODE \"x\"", local_only=lo)
               for i, (c, r, t, lo) in enumerate(rows)]
    lines = {}
    for name in ("plain", "sealed"):
        path = tmp_path / f"{name}-{uuid.uuid4().hex}.db"
        with Store.open(path) as s:
            if name == "sealed":
                keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
            with s.write():
                for rec in records:
                    journal.insert_row(s, rec, s.tick())
            lines[name] = list(map(_encode, iter_reflections(s)))
    assert lines["sealed"] == lines["plain"] == [_encode(rec.to_dict()) for rec in records]

"""The importer: plan + apply, all or nothing, merge/replace, dry run, audit, engine caches, --encrypt."""

from __future__ import annotations

import io
import json
import re
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirror_cli import audit, crypto
from mirror_cli.journal import reflections as journal
from mirror_cli.journal import find as finder
from mirror_cli.crypto import manage as keyops
from mirror_cli.errors import InvalidInputError, LockedError, OperationError, VerificationError
from mirror_cli.exchange import export, importer
from mirror_cli.exchange.detect import Prefixed, load_document
from mirror_cli.patterns import analysis, queries
from mirror_cli.crypto.unlocked import UnlockedKey
from mirror_cli.db.store import Store
from helpers import cheap

PW = "correct horse battery staple"
SECTIONS = ("reflections", "patterns", "tensions")



def export_text(store: Store, fmt: str = "json", **kw) -> str:
    buf = io.StringIO()
    export.write_stream(store, buf, fmt=fmt, **kw)
    return buf.getvalue()


def export_obj(store: Store) -> dict:
    return json.loads(export_text(store))


def do_import(store: Store, data: str | bytes, **kw) -> importer.ImportResult:
    raw = data.encode() if isinstance(data, str) else data
    doc, _ = importer.read_document(raw, kw.pop("fmt", "auto"))
    return importer.apply_import(store, doc, **kw)


def snapshot(store: Store) -> dict:
    """Everything an import could touch, as stored (for 'nothing changed' checks)."""
    c = store.conn
    return {t: c.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
            for t in ("reflections", "patterns", "pattern_occurrences", "tensions", "audit_events",
                      "tombstones", "analysis_state", "pattern_stats", "meta")}


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "a.db") as s:
        yield s


@pytest.fixture
def other(tmp_path):
    with Store.open(tmp_path / "b.db") as s:
        yield s


def populate(s: Store) -> None:
    journal.add(s, "Anxious before the #work meeting, stressed and tired.", response="Breathe.")
    journal.add(s, "Long walk with my sister, calm and grateful. #family")
    journal.add(s, "Anxious again about work; I must control every detail.", tags=["work"])
    journal.add(s, "Let go today, rested and calm.", mode="POST_ACTION")
    analysis.analyze(s)


def rec(rid: str, created: str = "2024-05-01T09:30:00.000Z", updated: str | None = None, content: str = "text",
        **kw) -> dict:
    out = {"id": rid, "created_at": created, "updated_at": updated or created, "content": content,
           "response": None, "mode": "REFLECTION", "tags": [], "local_only": False}
    out.update(kw)
    return out


def doc(reflections=(), patterns=(), tensions=(), audit_events=None) -> str:
    d = {"format": "mirror-export", "version": 1, "reflections": list(reflections), "patterns": list(patterns),
         "tensions": list(tensions)}
    if audit_events is not None:
        d["audit_events"] = audit_events
    return json.dumps(d)


# --------------------------------------------------------------------------- round trip


def _sections(obj: dict) -> dict:
    return {k: obj.get(k) for k in SECTIONS}


def test_export_import_export_is_identical_with_patterns_and_tensions(store, other):
    populate(store)
    first = export_obj(store)
    assert first["patterns"] and first["tensions"]
    result = do_import(other, json.dumps(first))
    assert result.added["reflections"] == 4 and result.added["patterns"] == len(first["patterns"])
    assert result.skipped["audit_events"] == len(first["audit_events"])
    second = export_obj(other)
    assert _sections(second) == _sections(first)
    assert audit.verify(other.conn).ok


def test_imported_tensions_tied_to_reflections_or_of_other_names_are_listed(store):
    """Rows the analysis does not write (one per reflection, or a name it does not know) count
    one reflection each in `tensions list` and `show` until an analysis finds that tension."""
    def tension(tid, name, a, b, position, rid, at):
        return {"id": tid, "name": name, "axis_a": a, "axis_b": b, "position": position, "intensity": 0.5,
                "reflection_id": rid, "detected_at": at}

    do_import(store, doc(
        reflections=[rec("refA123456"), rec("refB123456", "2024-05-02T09:30:00.000Z")],
        tensions=[tension("ten000001", "Control vs Surrender", "Control", "Surrender", 0.2, "refA123456",
                          "2024-05-01T09:30:00.000Z"),
                  tension("ten000002", "Control vs Surrender", "Control", "Surrender", 0.4, "refB123456",
                          "2024-05-02T09:30:00.000Z"),
                  tension("ten000003", "Zork vs Blorb", "Zork", "Blorb", 0.9, "refA123456",
                          "2024-05-01T09:30:00.000Z")]))
    shown = {t["name"]: t for t in queries.list_tensions(store)}
    assert list(shown) == ["Control vs Surrender", "Zork vs Blorb"]  # seed order, then the others
    control = shown["Control vs Surrender"]
    assert (control["count"], control["position"], control["first_seen"]) == (2, 0.3, "2024-05-01T09:30:00.000Z")
    assert (shown["Zork vs Blorb"]["axis_a"], shown["Zork vs Blorb"]["count"]) == ("Zork", 1)
    assert queries.show_tension(store, "blorb")["name"] == "Zork vs Blorb"
    assert [p["count"] for p in queries.show_tension(store, "Control vs Surrender", by="week")["series"]] == [2]
    # An analysis that finds the tension replaces the imported observations with its own totals.
    journal.add(store, "I must control every detail, I cannot let go.", at=__import__("datetime").datetime(
        2024, 6, 1, tzinfo=__import__("datetime").timezone.utc))
    analysis.analyze(store)
    after = {t["name"]: t for t in queries.list_tensions(store)}
    assert after["Control vs Surrender"]["first_seen"].startswith("2024-06-01")
    assert after["Zork vs Blorb"]["count"] == 1  # no analysis knows it: still shown


def test_jsonl_round_trip(store, other):
    populate(store)
    text = export_text(store, "jsonl")
    do_import(other, text)
    assert _sections(export_obj(other)) == _sections(export_obj(store))


_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60)
_word = st.text("abcdefghijklmnopqrstuvwxyzé-_", min_size=1, max_size=12)
_time = st.datetimes(min_value=__import__("datetime").datetime(1990, 1, 1),
                     max_value=__import__("datetime").datetime(2090, 1, 1)).map(
    lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z")
_unit = st.floats(min_value=0, max_value=1, allow_nan=False)


@st.composite
def documents(draw):
    n = draw(st.integers(0, 6))
    refl = []
    for i in range(n):
        created = draw(_time)
        refl.append({"id": f"r{i}-{draw(st.text('ABCDEFGHJK0123', min_size=1, max_size=8))}",
                     "created_at": created, "updated_at": draw(st.sampled_from([created, draw(_time)])),
                     "content": draw(_text), "response": draw(st.one_of(st.none(), _text)),
                     "mode": draw(st.sampled_from(["REFLECTION", "POST_ACTION", "rêve"])),
                     "tags": draw(st.lists(_word, max_size=3, unique=True)), "local_only": draw(st.booleans())})
    ids = [r["id"] for r in refl]
    pats = []
    for i in range(draw(st.integers(0, 3))):
        occ_ids = draw(st.lists(st.sampled_from(ids), unique=True, max_size=3)) if ids else []
        pats.append({"id": f"p{i}", "pattern_type": draw(st.sampled_from(["tag", "theme", "emotion"])),
                     "name": f"{draw(_word)}{i}", "confidence": draw(_unit),
                     "first_seen": draw(st.one_of(st.none(), _time)), "last_seen": draw(st.one_of(st.none(), _time)),
                     "occurrences": [{"reflection_id": r, "evidence": draw(st.one_of(st.none(), _text)),
                                      "confidence": draw(_unit)} for r in occ_ids]})
    tens = []
    for i in range(draw(st.integers(0, 3))):
        tens.append({"id": f"t{i}", "name": f"{draw(_word)} vs {draw(_word)}", "axis_a": draw(_word),
                     "axis_b": draw(_word), "position": draw(_unit), "intensity": draw(_unit),
                     "reflection_id": draw(st.one_of(st.none(), st.sampled_from(ids))) if ids else None,
                     "detected_at": draw(_time)})
    return {"format": "mirror-export", "version": 1, "reflections": refl, "patterns": pats, "tensions": tens}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.sampled_from(["json", "jsonl"]), st.booleans())
def test_round_trip_property(d, fmt, encrypted):
    with tempfile.TemporaryDirectory() as tmp:
        with Store.open(Path(tmp) / "a.db") as a, Store.open(Path(tmp) / "b.db") as b:
            if encrypted:
                keyops.enable(a, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
            res = do_import(a, json.dumps(d))
            assert res.added["reflections"] == len(d["reflections"])
            first = export_text(a, fmt)
            do_import(b, first)
            second = export_text(b, fmt)
            one, two = (json.loads(first), json.loads(second)) if fmt == "json" else (first, second)
            if fmt == "json":
                assert _sections(one) == _sections(two)
                # What went in is what comes out (in export order).
                assert sorted(one["reflections"], key=lambda r: r["id"]) == sorted(d["reflections"], key=lambda r: r["id"])
            else:
                body = [ln for ln in one.splitlines()[1:] if '"type":"audit_event"' not in ln]
                assert body == [ln for ln in two.splitlines()[1:] if '"type":"audit_event"' not in ln]
            assert audit.verify(b.conn).ok
            # The data kinds (audit events differ: b's chain records its import) byte for byte.
            kinds = {"kinds": SECTIONS}
            assert _but_exported_at(export_text(a, fmt, **kinds)) == _but_exported_at(export_text(b, fmt, **kinds))
            c = Path(tmp) / "c.db"
            with Store.open(c) as empty:
                do_import(empty, export_text(a, fmt, **kinds))
                assert (_but_exported_at(export_text(empty, fmt, **kinds))
                        == _but_exported_at(export_text(a, fmt, **kinds)))


def _but_exported_at(text: str) -> str:
    out, n = re.subn(r'"exported_at":"[^"]*"', '"exported_at":"-"', text, count=1)
    assert n == 1
    return out


# --------------------------------------------------------------------------- merge rules


def test_merge_is_idempotent(store):
    text = doc([rec("a1"), rec("a2", content="two")])
    first = do_import(store, text)
    assert first.added["reflections"] == 2
    before = snapshot(store)["reflections"]
    second = do_import(store, text)
    assert second.added["reflections"] == 0 and second.updated["reflections"] == 0
    assert second.skipped["reflections"] == 2
    assert snapshot(store)["reflections"] == before
    assert audit.verify(store.conn).ok


def test_newer_updated_at_replaces_older_and_same_or_older_is_skipped(store):
    do_import(store, doc([rec("a1", updated="2024-05-02T00:00:00.000Z", content="v2")]))
    r = do_import(store, doc([rec("a1", updated="2024-05-01T12:00:00.000Z", content="older")]))
    assert r.skipped["reflections"] == 1 and journal.get(store, "a1").content == "v2"
    r = do_import(store, doc([rec("a1", updated="2024-05-02T00:00:00.000Z", content="same time")]))
    assert r.skipped["reflections"] == 1 and journal.get(store, "a1").content == "v2"
    r = do_import(store, doc([rec("a1", updated="2024-05-03T01:00:00+01:00", content="v3")]))
    assert r.updated["reflections"] == 1 and journal.get(store, "a1").content == "v3"
    assert journal.get(store, "a1").updated_at == "2024-05-03T00:00:00.000Z"
    assert audit.verify(store.conn).ok


def test_merge_keeps_local_reflections_and_ids(store):
    mine = journal.add(store, "my own reflection")
    do_import(store, doc([rec("imported-1")]))
    ids = {r.id for r in journal.list_reflections(store)}
    assert ids == {mine.id, "imported-1"}


def test_replace_deletes_first_and_leaves_tombstones(store):
    populate(store)
    old_ids = {r.id for r in journal.list_reflections(store)}
    r = do_import(store, doc([rec("new-1")]), mode="replace")
    assert r.deleted["reflections"] == 4 and r.deleted["patterns"] > 0
    assert r.added["reflections"] == 1
    assert {x.id for x in journal.list_reflections(store)} == {"new-1"}
    assert store.count("patterns") == 0 and store.count("tensions") == 0
    stones = {row[0] for row in store.conn.execute("SELECT id FROM tombstones")}
    assert stones == old_ids
    assert audit.verify(store.conn).ok
    # The engine copes: analysis starts again from the new reflections.
    res = analysis.analyze(store)
    assert res.analyzed == 1


def test_replace_only_reflections_keeps_other_kinds_of_the_file_out(store):
    populate(store)
    r = do_import(store, doc([rec("n1")], tensions=[{"id": "t1", "name": "A vs B", "axis_a": "A", "axis_b": "B",
                                                   "position": 0.5, "intensity": 0.5, "reflection_id": None,
                                                   "detected_at": "2024-05-01T00:00:00Z"}]),
                  mode="replace", kinds=("reflections",))
    assert r.added["tensions"] == 0 and r.deleted["tensions"] == 0
    assert store.conn.execute("SELECT count(*) FROM tensions WHERE id = 't1'").fetchone()[0] == 0


def test_dry_run_changes_nothing(store):
    populate(store)
    before = snapshot(store)
    for mode in ("merge", "replace"):
        r = do_import(store, doc([rec("x1"), rec("x2")]), mode=mode, dry_run=True)
        assert r.dry_run and r.added["reflections"] == 2
    assert snapshot(store) == before


def test_only_reflections(store, other):
    populate(store)
    r = do_import(other, export_text(store), kinds=("reflections",))
    assert r.added == {"reflections": 4, "patterns": 0, "tensions": 0, "audit_events": 0}
    assert other.count("patterns") == 0


def test_audit_events_of_a_file_are_never_copied_and_one_event_records_the_import(store, other):
    populate(store)
    before = other.count("audit_events")
    do_import(other, export_text(store))
    events = audit.events(other.conn)
    assert len(events) == before + 1
    last = events[-1]
    assert last.event_type == "data.imported"
    assert last.data["added"]["reflections"] == 4 and last.data["vouches"]["count"] == 4
    text = json.dumps(last.data)
    assert "Anxious" not in text and "sister" not in text


# --------------------------------------------------------------------------- all or nothing


def test_bad_record_in_the_middle_changes_nothing(store):
    populate(store)
    before = snapshot(store)
    records = [rec(f"ok{i}") for i in range(5)]
    records[3]["created_at"] = "yesterday"
    with pytest.raises(InvalidInputError) as info:
        do_import(store, doc(records))
    msg = info.value.message
    assert "reflections[3]" in msg and "ok3" in msg and '"created_at"' in msg
    assert snapshot(store) == before


@pytest.mark.parametrize("raw, fragment", [
    (b"\xff\xfe{not utf-8", "UTF-8"),
    (b'{"format":"mirror-export","version":1,"reflections":[' + b"[" * 100000 + b"]" * 100000 + b"]}", "deep"),
    (b'{"format":"mirror-export","version":1,"reflections":[{"id":"a","created_at":"2024-01-01T00:00:00Z",'
     b'"content":"x\\u0000y","mode":"M"}]}', "NUL"),
    (b'{"format":"mirror-export","version":1,"reflections":[{"id":"a","created_at":"2024-01-01T00:00:00Z",'
     b'"content":5,"mode":"M"}]}', "content"),
    (b'{"type":"header","format":"mirror-export","version":1}\n{"type":"reflection","id":"a"}\n', "created_at"),
    (b"\x00\x00\x00binary", "JSON"),
    (b"", "empty"),
])
def test_hostile_input_is_refused_cleanly(store, raw, fragment):
    before = snapshot(store)
    with pytest.raises(InvalidInputError) as info:
        do_import(store, raw)
    assert fragment.lower() in info.value.message.lower()
    assert snapshot(store) == before


def test_counts_mismatch_is_refused(store, other):
    populate(store)
    obj = export_obj(store)
    obj["reflections"].pop()
    with pytest.raises(InvalidInputError, match="truncated"):
        do_import(other, json.dumps(obj))


def test_occurrences_of_absent_reflections_are_dropped(store, other):
    populate(store)
    obj = export_obj(store)
    n = sum(len(p["occurrences"]) for p in obj["patterns"])
    r = do_import(other, json.dumps(obj), kinds=("patterns", "tensions"))
    assert r.added["patterns"] == len(obj["patterns"])
    assert r.dropped_occurrences == n
    assert other.count("pattern_occurrences") == 0


def _occurrences(s: Store) -> set[tuple[str, str]]:
    return set(s.conn.execute("SELECT pattern_id, reflection_id FROM pattern_occurrences"))


@pytest.mark.parametrize("mode", ["merge", "replace"])
def test_only_patterns_keeps_occurrences_of_reflections_already_in_the_journal(store, other, mode):
    """--only patterns leaves the reflections alone, so occurrences are checked against them (replace too)."""
    populate(store)
    text = export_text(store)
    do_import(other, text, kinds=("reflections",))
    r = do_import(other, text, mode=mode, kinds=("patterns",))
    assert r.dropped_occurrences == 0
    assert r.added["patterns"] == len(export_obj(store)["patterns"])
    assert _occurrences(other) == _occurrences(store)
    assert r.deleted["reflections"] == 0 and other.count("reflections") == 4
    assert other.conn.execute("SELECT count(*) FROM tombstones").fetchone()[0] == 0
    assert all(p.support > 0 for p in queries.list_patterns(other))
    assert audit.verify(other.conn).ok


def test_replace_only_patterns_into_the_same_journal_keeps_every_occurrence(store):
    populate(store)
    before = _occurrences(store)
    r = do_import(store, export_text(store), mode="replace", kinds=("patterns",))
    assert r.dropped_occurrences == 0 and r.deleted["patterns"] == r.added["patterns"] > 0
    assert _occurrences(store) == before and store.count("reflections") == 4
    assert audit.verify(store.conn).ok


@pytest.mark.parametrize("mode", ["merge", "replace"])
def test_only_tensions_keeps_a_tension_tied_to_a_reflection_already_in_the_journal(store, mode):
    tension = {"id": "ten000001", "name": "Control vs Surrender", "axis_a": "Control", "axis_b": "Surrender",
               "position": 0.2, "intensity": 0.5, "reflection_id": "refA123456",
               "detected_at": "2024-05-01T09:30:00.000Z"}
    text = doc(reflections=[rec("refA123456")], tensions=[tension])
    do_import(store, text, kinds=("reflections",))
    r = do_import(store, text, mode=mode, kinds=("tensions",))
    assert (r.added["tensions"], r.skipped["tensions"]) == (1, 0)
    assert list(store.conn.execute("SELECT id, reflection_id FROM tensions")) == [("ten000001", "refA123456")]
    assert store.count("reflections") == 1 and r.deleted["reflections"] == 0
    # A tension tied to a reflection that is in neither the journal nor the file is still skipped.
    gone = dict(tension, id="ten000002", reflection_id="refZ999999")
    r = do_import(store, doc(tensions=[gone]), mode=mode, kinds=("tensions",))
    assert (r.added["tensions"], r.skipped["tensions"]) == (0, 1)


def test_same_pattern_name_under_another_id_is_skipped(store):
    populate(store)
    obj = export_obj(store)
    p = obj["patterns"][0]
    clone = dict(p, id="ANOTHERID")
    r = do_import(store, doc(patterns=[clone]))
    assert r.skipped["patterns"] == 1 and r.added["patterns"] == 0


# --------------------------------------------------------------------------- engine


def test_patterns_analyze_works_after_importing_patterns(store, other):
    populate(store)
    do_import(other, export_text(store))
    assert queries.status(other)["analyzed_at"] is None  # caches were reset
    listed = {(p.pattern_type, p.name) for p in queries.list_patterns(other)}
    assert listed  # provisional stats make them visible before the analysis
    res = analysis.analyze(other)
    assert res.full and res.patterns > 0
    after = {(p.pattern_type, p.name) for p in queries.list_patterns(other)}
    assert after == {(p.pattern_type, p.name) for p in queries.list_patterns(store)}
    # ids of patterns kept by the analysis are the imported ones
    ids_a = {p.name: p.id for p in queries.list_patterns(store)}
    ids_b = {p.name: p.id for p in queries.list_patterns(other)}
    assert ids_a == ids_b
    # and an incremental run after a new reflection still works
    journal.add(other, "anxious again")
    assert analysis.analyze(other).analyzed == 1


# --------------------------------------------------------------------------- encryption


def test_import_into_an_encrypted_database_seals_everything(store, other):
    populate(store)
    keyops.enable(other, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
    do_import(other, export_text(store))
    plain_rows = other.conn.execute(
        "SELECT count(*) FROM reflections WHERE typeof(content) = 'text'").fetchone()[0]
    assert plain_rows == 0
    assert other.conn.execute("SELECT count(*) FROM patterns WHERE typeof(name) = 'text'").fetchone()[0] == 0
    assert other.conn.execute("SELECT count(*) FROM tensions WHERE typeof(data) = 'text'").fetchone()[0] == 0
    assert _sections(export_obj(other)) == _sections(export_obj(store))
    assert audit.verify(other.conn, key=(other.key.audit_key if other.key else None), encrypted=True).ok


def _sealed(store: Store, keys: export.ContainerKeys) -> bytes:
    buf = io.BytesIO()
    counts, size = export.write_sealed(store, buf, keys)
    assert counts["reflections"] == store.count("reflections") and size == len(buf.getvalue())
    return buf.getvalue()


def test_encrypted_export_of_a_plain_database_opens_with_the_passphrase(store, other):
    populate(store)
    keys = export.container_keys(store, {"MIRROR_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
    assert not keys.from_database
    blob = _sealed(store, keys)
    assert crypto.is_container(blob) and b"Anxious" not in blob
    d, enc = importer.read_document(blob, passphrase=lambda: PW)
    assert enc and len(d.records["reflections"]) == 4
    with pytest.raises(LockedError):
        importer.read_document(blob, passphrase=lambda: "wrong")
    with pytest.raises(LockedError):
        importer.read_document(blob)
    bad = bytearray(blob)
    bad[-40] ^= 1
    with pytest.raises(VerificationError):
        importer.read_document(bytes(bad), passphrase=lambda: PW)


def test_an_old_encrypted_export_sealed_with_the_database_key_still_reads(store, other):
    """Files made before each export had its own key were sealed with the database's key."""
    populate(store)
    keyops.enable(store, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
    meta = crypto.CryptoMeta.from_dict(json.loads(store.meta("crypto")))
    keys = export.ContainerKeys(store.key.dek, meta.kdf, meta.wrapped_key, store.db_id, True)
    blob = _sealed(store, keys)
    # same database: the data key opens it, no passphrase needed
    d, _ = importer.read_document(blob, dek=store.key.dek)
    assert len(d.records["reflections"]) == 4
    # another machine: the database's passphrase opens it
    d, _ = importer.read_document(blob, passphrase=lambda: PW)
    assert len(d.records["reflections"]) == 4
    truncated = blob[:-10]
    with pytest.raises(VerificationError):
        importer.read_document(truncated, passphrase=lambda: PW)


def test_encrypted_jsonl_reads_back(store):
    populate(store)
    keys = export.container_keys(store, {"MIRROR_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
    buf = io.BytesIO()
    export.write_sealed(store, buf, keys, fmt="jsonl")
    d, _ = importer.read_document(io.BytesIO(buf.getvalue()), "jsonl", passphrase=lambda: PW)
    assert d.source_format == "jsonl" and len(d.records["reflections"]) == 4


def test_writer_failure_inside_write_encrypted_is_raised(store):
    keys = export.container_keys(store, {"MIRROR_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())

    def produce():
        yield "x" * 300_000
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        export.write_encrypted(produce(), io.BytesIO(), keys)


def test_a_large_text_is_sealed_whole_across_chunks(store):
    keys = export.container_keys(store, {"MIRROR_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
    pieces = ["é" * 70_000, "", "x" * (1 << 20), "🙂" * 3]
    buf = io.BytesIO()
    size = export.write_encrypted(pieces, buf, keys)
    assert size == len(buf.getvalue())
    out = io.BytesIO()
    crypto.decrypt_stream(io.BytesIO(buf.getvalue()), out, dek=keys.dek, expected_purpose="export")
    assert out.getvalue() == "".join(pieces).encode("utf-8")


def test_locked_store_cannot_export(tmp_path):
    with Store.open(tmp_path / "e.db") as s:
        journal.add(s, "secret")
        keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
    with Store.open(tmp_path / "e.db") as s:
        with pytest.raises(LockedError):
            export_text(s)
        meta = crypto.CryptoMeta.from_dict(json.loads(s.meta("crypto")))
        dek = crypto.unwrap_data_key(crypto.derive_kek(PW, meta.kdf), meta.wrapped_key, s.db_id)
        s.key = UnlockedKey.from_dek(dek)
        assert json.loads(export_text(s))["reflections"][0]["content"] == "secret"


def test_load_document_and_importer_agree_on_formats(store):
    populate(store)
    for fmt in ("json", "jsonl"):
        text = export_text(store, fmt)
        assert load_document(text.encode()).source_format == fmt


def test_large_import_fills_the_search_index_and_keeps_the_trigger(store):
    n = importer.BULK_MIN + 20
    records = [rec(f"bulk{i:04d}", content=f"entry {i} about harbour lanterns" if i % 2 else f"entry {i} plain")
               for i in range(n)]
    sql_before = store.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'reflections_fts_insert'").fetchone()
    r = do_import(store, doc(records))
    assert r.added["reflections"] == n
    hits = finder.search(store, "lanterns", limit=1000)
    assert len(hits) == n // 2
    sql_after = store.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'reflections_fts_insert'").fetchone()
    assert sql_after == sql_before
    journal.add(store, "a new note about zeppelins")
    assert [x.content for x in finder.search(store, "zeppelins")] == ["a new note about zeppelins"]
    assert audit.verify(store.conn).ok
    # A failing large import rolls the trigger change back too.
    bad = [rec(f"more{i:04d}") for i in range(n)]
    bad[-1]["tags"] = ["x"] * 2 + [""]
    with pytest.raises(InvalidInputError):
        do_import(store, doc(bad))
    assert store.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'reflections_fts_insert'").fetchone() == sql_before


def test_failure_during_apply_rolls_everything_back(store, monkeypatch):
    populate(store)
    before = snapshot(store)
    records = [rec(f"roll{i:04d}") for i in range(importer.BULK_MIN + 5)]
    d, _ = importer.read_document(doc(records).encode())

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(importer, "_reset_engine_cache", boom)
    d.records["tensions"] = [{"id": "t9", "name": "A vs B", "axis_a": "A", "axis_b": "B", "position": 0.1,
                              "intensity": 0.2, "reflection_id": None, "detected_at": "2024-01-01T00:00:00.000Z"}]
    with pytest.raises(RuntimeError):
        importer.apply_import(store, d)
    assert snapshot(store) == before
    assert store.conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'reflections_fts_insert'").fetchone()[0] == 1


# --------------------------------------------------------------------------- the bulk writer


_odd_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_odd_text.filter(str.strip), st.one_of(st.none(), _odd_text),
                          st.lists(st.text("abcdé\"\\\t-", min_size=1, max_size=6).filter(str.strip), unique=True,
                                   max_size=3),
                          st.booleans()), min_size=1, max_size=5), st.booleans())
def test_imported_rows_are_stored_as_journal_insert_row_stores_them(rows, encrypted):
    with tempfile.TemporaryDirectory() as tmp:
        with Store.open(Path(tmp) / "a.db") as a, Store.open(Path(tmp) / "b.db") as b:
            if encrypted:
                for s in (a, b):
                    keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
            recs = [rec(f"w{i}", content=c, response=r, tags=t, local_only=lo) for i, (c, r, t, lo) in enumerate(rows)]
            do_import(a, doc(recs))
            with b.write():
                for r in recs:
                    journal.insert_row(b, journal.Reflection(**r), 1)

            def stored(s):
                cols = "id, created_at, updated_at, content, response, mode, tags, local_only"
                got = s.conn.execute(f"SELECT {cols} FROM reflections ORDER BY id").fetchall()
                if not encrypted:
                    return got
                return [journal.decode(s, row) for row in got]  # ciphertext differs; what it opens to must not

            assert stored(a) == stored(b)
            assert audit.verify(a.conn, key=(a.key.audit_key if a.key else None), encrypted=encrypted).ok


@pytest.mark.parametrize("encrypted", [False, True])
def test_large_import_vouches_for_exactly_what_is_stored(tmp_path, encrypted):
    with Store.open(tmp_path / "v.db") as s:
        if encrypted:
            keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
        journal.add(s, "already here")
        recs = [rec(f"v{i:04d}", content=f"text {i} \x01 é 😀 \"q\" \\", tags=["a", "b\"c"] if i % 2 else [],
                    response=None if i % 3 else "r") for i in range(importer.BULK_MIN + 10)]
        do_import(s, doc(recs))
        recs[5]["updated_at"] = "2030-01-01T00:00:00.000Z"
        recs[5]["content"] = "changed"
        assert do_import(s, doc(recs)).updated["reflections"] == 1
        event = json.loads(s.conn.execute("SELECT data FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()[0]
                           ) if not encrypted else None
        assert audit.verify(s.conn, key=(s.key.audit_key if s.key else None), encrypted=encrypted).ok
        if event is not None:
            assert event["updated"]["reflections"] == 1
        assert [r.content for r in finder.search(s, "changed")] == ["changed"] if not encrypted else True


def test_a_failure_while_indexing_rolls_everything_back(store, monkeypatch):
    populate(store)
    before = snapshot(store)
    real = store.conn

    class Failing:
        """The connection, failing once the full-text index has been filled."""

        def __getattr__(self, name):
            return getattr(real, name)

        def execute(self, sql, *args):
            cur = real.execute(sql, *args)
            if sql.startswith("INSERT INTO reflections_fts"):
                raise sqlite3.OperationalError("disk I/O error")
            return cur

    monkeypatch.setattr(store, "conn", Failing())
    with pytest.raises(OperationError):  # the store's name for a failed write
        do_import(store, doc([rec(f"ix{i:04d}") for i in range(importer.BULK_MIN)]))
    assert snapshot(store) == before
    assert store.conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'reflections_fts_insert'").fetchone()[0] == 1
    assert audit.verify(store.conn).ok


def test_importing_a_deleted_reflection_removes_its_tombstone(store):
    n = importer.BULK_MIN + 3
    do_import(store, doc([rec(f"gone{i:04d}") for i in range(n)]))
    journal.delete(store, ["gone0001"])
    assert store.conn.execute("SELECT count(*) FROM tombstones WHERE id = 'gone0001'").fetchone()[0] == 1
    # The file's copy was changed after the deletion (an unchanged one stays deleted: CONTRACT.md).
    later = "2099-01-01T00:00:00.000Z"
    result = do_import(store, doc([rec(f"gone{i:04d}", updated=later if i == 1 else None) for i in range(n)]))
    assert result.added["reflections"] == 1 and result.skipped["reflections"] == n - 1
    assert store.conn.execute("SELECT count(*) FROM tombstones").fetchone()[0] == 0
    assert audit.verify(store.conn).ok


_stored_value = st.one_of(st.none(), st.text(st.characters(blacklist_categories=("Cs",))), st.binary(max_size=40),
                          st.integers(-2**63, 2**63 - 1), st.booleans(), st.floats(allow_nan=False))


@settings(max_examples=300, deadline=None)
@given(st.lists(_stored_value, min_size=8, max_size=8).map(tuple))
def test_row_digest_is_the_digest_of_the_canonical_row(row):
    assert audit.row_digest(row) == audit._canonical_row_digest(row)


def test_a_large_import_writes_with_a_larger_page_cache_and_restores_it(store, monkeypatch):
    seen = []
    original = importer._write_reflections

    def spy(s, *a, **k):
        seen.append(s.conn.execute("PRAGMA cache_size").fetchone()[0])
        return original(s, *a, **k)

    monkeypatch.setattr(importer, "_write_reflections", spy)
    before = store.conn.execute("PRAGMA cache_size").fetchone()[0]
    do_import(store, doc([rec(f"c{i:04d}") for i in range(importer.BULK_MIN)]))
    do_import(store, doc([rec("small")]))
    bad = [rec(f"d{i:04d}") for i in range(importer.BULK_MIN)]
    d, _ = importer.read_document(doc(bad).encode())
    d.records["reflections"][-1]["tags"] = 5  # past validation: fails while writing
    with pytest.raises(TypeError):
        importer.apply_import(store, d)
    assert seen == [-importer.IMPORT_CACHE_KIB, before, -importer.IMPORT_CACHE_KIB]
    assert store.conn.execute("PRAGMA cache_size").fetchone()[0] == before


# --------------------------------------------------------------------------- reading paths and the paused collector


class _Pipe(io.RawIOBase):
    """A stream that cannot seek (like stdin from a pipe), handing out at most 7 bytes per read."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        chunk = self._data.read(min(len(buf), 7))
        buf[:len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_every_way_of_handing_over_a_file_reads_the_same_document(store, tmp_path, fmt):
    for i in range(3):
        journal.add(store, f"entry {i} é #tag{i}", response="r" if i else None)
    raw = export_text(store, fmt).encode()
    path = tmp_path / f"x.{fmt}"
    path.write_bytes(b"skip me" + raw)
    want, _ = importer.read_document(raw)
    with open(path, "rb") as fh:  # a regular file, read from where it stands (after 7 bytes)
        fh.seek(7)
        from_file, enc = importer.read_document(fh)
        assert fh.tell() == len(b"skip me") + len(raw) and not enc
    from_pipe, _ = importer.read_document(_Pipe(raw))
    from_buffered_pipe, _ = importer.read_document(io.BufferedReader(_Pipe(raw), 16))
    for got in (from_file, from_pipe, from_buffered_pipe):
        assert got.records == want.records and got.source_format == want.source_format == fmt


def test_the_replay_layer_reads_everything_in_one_call():
    stream = io.BufferedReader(Prefixed(b"head", io.BytesIO(b"-and the rest")), 4)
    assert stream.read(2) == b"he"
    assert stream.read() == b"ad-and the rest" and stream.read() == b""
    assert io.BufferedReader(Prefixed(b"", io.BytesIO(b""))).read() == b""

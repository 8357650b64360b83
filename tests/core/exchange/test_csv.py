from __future__ import annotations

import copy
import csv
import io
import json
import os
import stat

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange_samples import DOCUMENTS, TEXT, header_for, records, sections
from mirror_cli.exchange.formats.csvfmt import (
    AUDIT_COLUMNS, OCCURRENCE_COLUMNS, PATTERN_COLUMNS, REFLECTION_COLUMNS, TENSION_COLUMNS,
    FILES, guard, unguard, write_csv, write_csv_folder, write_csv_streams,
)


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _num(cell: str):
    return None if cell == "" else float(cell)


def _opt(cell: str):
    return None if cell == "" else unguard(cell)


def decode_reflection(row: dict) -> dict:
    return {"id": unguard(row["id"]), "created_at": row["created_at"], "updated_at": row["updated_at"],
            "content": unguard(row["content"]), "response": _opt(row["response"]),
            "mode": unguard(row["mode"]), "tags": json.loads(row["tags"]),
            "local_only": {"true": True, "false": False}[row["local_only"]]}


def _read_folder(folder) -> dict[str, list[dict]]:
    def rows(name):
        with open(folder / name, encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))

    return _decode_all(rows)


def _decode_all(rows) -> dict[str, list[dict]]:

    occ: dict[str, list] = {}
    for o in rows("pattern_occurrences.csv"):
        occ.setdefault(unguard(o["pattern_id"]), []).append(
            {"reflection_id": unguard(o["reflection_id"]), "evidence": _opt(o["evidence"]),
             "confidence": float(o["confidence"])})
    patterns = []
    for p in rows("patterns.csv"):
        pid = unguard(p["id"])
        assert int(p["occurrences"]) == len(occ.get(pid, []))
        patterns.append({"id": pid, "pattern_type": unguard(p["pattern_type"]), "name": unguard(p["name"]),
                         "confidence": float(p["confidence"]), "first_seen": _opt(p["first_seen"]),
                         "last_seen": _opt(p["last_seen"]), "occurrences": occ.get(pid, [])})
    tensions = [{"id": unguard(t["id"]), "name": unguard(t["name"]), "axis_a": unguard(t["axis_a"]),
                 "axis_b": unguard(t["axis_b"]), "position": float(t["position"]),
                 "intensity": float(t["intensity"]), "reflection_id": _opt(t["reflection_id"]),
                 "detected_at": t["detected_at"]} for t in rows("tensions.csv")]
    audit = [{"seq": int(e["seq"]), "id": unguard(e["id"]), "event_type": unguard(e["event_type"]),
              "timestamp": e["timestamp"], "data": json.loads(unguard(e["data"])),
              "previous_hash": unguard(e["previous_hash"]), "event_hash": unguard(e["event_hash"])}
             for e in rows("audit_events.csv")]
    return {"reflections": [decode_reflection(r) for r in rows("reflections.csv")],
            "patterns": patterns, "tensions": tensions, "audit_events": audit}


def test_stdout_mode_writes_reflections_csv_only():
    recs = records()
    buf = io.StringIO(newline="")
    assert write_csv(buf, header_for(recs), sections(recs)) == {"reflections": 3}
    text = buf.getvalue()
    assert text.startswith("id,created_at,updated_at,mode,tags,local_only,content,response\r\n")
    assert not text.startswith("\ufeff")
    rows = _rows(text)
    assert list(rows[0]) == REFLECTION_COLUMNS
    assert [decode_reflection(r) for r in rows] == recs["reflections"]
    assert rows[1]["content"] == "'=HYPERLINK(\"http://evil\")"  # formula guard
    assert rows[2]["tags"] == '["a;b","c,d"]'


def test_bom_flag():
    buf = io.StringIO(newline="")
    write_csv(buf, {}, {"reflections": iter(records()["reflections"])}, bom=True)
    assert buf.getvalue().startswith("\ufeffid,")


def test_folder_mode_files_modes_and_round_trip(tmp_path):
    recs = records()
    folder = tmp_path / "out" / "csv"
    paths = write_csv_folder(folder, header_for(recs), sections(recs))
    assert [p.name for p in paths] == ["reflections.csv", "patterns.csv", "pattern_occurrences.csv",
                                       "tensions.csv", "audit_events.csv"]
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o600 for p in paths)
    assert sorted(os.listdir(folder)) == sorted(p.name for p in paths)  # no temp files left
    with open(folder / "patterns.csv", encoding="utf-8", newline="") as fh:
        assert next(csv.reader(fh)) == PATTERN_COLUMNS
    with open(folder / "pattern_occurrences.csv", encoding="utf-8", newline="") as fh:
        assert next(csv.reader(fh)) == OCCURRENCE_COLUMNS
    with open(folder / "tensions.csv", encoding="utf-8", newline="") as fh:
        assert next(csv.reader(fh)) == TENSION_COLUMNS
    with open(folder / "audit_events.csv", encoding="utf-8", newline="") as fh:
        assert next(csv.reader(fh)) == AUDIT_COLUMNS
    back = _read_folder(folder)
    # audit data that came as a JSON string stays a string
    assert back == recs


def test_folder_mode_writes_only_the_kinds_given(tmp_path):
    paths = write_csv_folder(tmp_path / "x", {}, {"tensions": iter(records()["tensions"])})
    assert [p.name for p in paths] == ["tensions.csv"]
    assert os.listdir(tmp_path / "x") == ["tensions.csv"]


def test_failed_folder_write_leaves_no_partial_file(tmp_path):
    def broken():
        yield records()["reflections"][0]
        raise RuntimeError("store went away")

    with pytest.raises(RuntimeError):
        write_csv_folder(tmp_path / "y", {}, {"reflections": broken()})
    assert os.listdir(tmp_path / "y") == []


@pytest.mark.parametrize("text, guarded", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("'quoted", "''quoted"), ("plain", "plain"), ("", ""), ("a=b", "a=b"),
])
def test_formula_guard(text, guarded):
    assert guard(text) == guarded
    assert unguard(guard(text)) == text


@given(TEXT)
def test_guard_is_reversible(text):
    assert unguard(guard(text)) == text
    assert not guard(text).startswith(("=", "+", "-", "@", "\t", "\r"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS)
def test_round_trip_property(recs):
    # in memory (the folder variant above fsyncs every file); numbers are written with
    # Python's repr, which float() reads back exactly
    outs = {name: io.StringIO(newline="") for names in FILES.values() for name in names}
    assert write_csv_streams(outs, sections(recs)) == {k: len(v) for k, v in recs.items()}
    # CSV has one empty cell for both null and "" (documented): evidence "" reads back as None
    expected = copy.deepcopy(recs)
    for p in expected["patterns"]:
        for o in p["occurrences"]:
            o["evidence"] = o["evidence"] or None
    assert _decode_all(lambda name: _rows(outs[name].getvalue())) == expected


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=50), max_size=5))
def test_tags_cell_is_lossless_json(tags):
    rec = {"id": "r", "created_at": "2024-01-01T00:00:00.000Z", "updated_at": "2024-01-01T00:00:00.000Z",
           "content": "", "response": None, "mode": "M", "tags": tags, "local_only": False}
    buf = io.StringIO(newline="")
    write_csv(buf, {}, {"reflections": iter([rec])})
    assert json.loads(_rows(buf.getvalue())[0]["tags"]) == tags


_anything = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({
    "id": st.text("abcXYZ019_-", min_size=1, max_size=8), "created_at": st.just("2024-05-01T09:30:00.000Z"),
    "updated_at": st.sampled_from(["2024-05-01T09:30:00.000Z", "2024-06-01T00:00:00.000Z"]),
    "content": _anything, "response": st.one_of(st.none(), _anything), "mode": _anything.filter(bool),
    "tags": st.lists(_anything.filter(str.strip), max_size=3), "local_only": st.booleans()}), max_size=5),
    st.booleans())
def test_reflections_file_is_byte_identical_to_csv_writer(recs, folder):
    from mirror_cli.exchange.formats.csvfmt import _reflection_row, write_reflections_csv

    want = io.StringIO(newline="")
    w = csv.writer(want)
    w.writerow(REFLECTION_COLUMNS)
    w.writerows(_reflection_row(r) for r in recs)
    got = io.StringIO(newline="")
    if folder:
        assert write_csv_streams({"reflections.csv": got}, {"reflections": recs}) == {"reflections": len(recs)}
    else:
        assert write_reflections_csv(got, recs) == len(recs)
    assert got.getvalue() == want.getvalue()
    assert [decode_reflection(r) for r in _rows(got.getvalue())] == [
        {**r, "response": r["response"] or None} for r in recs]


def test_a_number_where_text_belongs_is_written_as_csv_writer_would():
    from mirror_cli.exchange.formats.csvfmt import write_reflections_csv

    rec = {"id": "n1", "created_at": "2024-05-01T09:30:00.000Z", "updated_at": None, "content": 1e300,
           "response": 7, "mode": "M", "tags": [], "local_only": False}
    got = io.StringIO(newline="")
    write_reflections_csv(got, [rec])
    assert got.getvalue().splitlines()[1] == "n1,2024-05-01T09:30:00.000Z,2024-05-01T09:30:00.000Z,M,[],false,1e+300,7"

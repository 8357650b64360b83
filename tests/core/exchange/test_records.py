"""mirror_cli.exchange.records: stored row <-> export dict <-> JSON text, and the limits, for every kind."""

from __future__ import annotations

import json
import os

import pytest
from exchange_samples import audit_event, pattern, reflection, tension
from hypothesis import given, settings
from hypothesis import strategies as st

from mirror_cli import audit, crypto
from mirror_cli.crypto.fields import PLAIN, SealedFields
from mirror_cli.errors import InvalidInputError, UsageError, VerificationError
from mirror_cli.exchange import records
from mirror_cli.exchange.validate import validate_records

SEALED = SealedFields(crypto.FieldCipher(os.urandom(32)))
CODECS = st.sampled_from([PLAIN, SEALED])


def _json_round_trip(kind: str, rec: dict) -> None:
    text = records.encode(rec)
    assert records.decode(text) == rec
    assert "\n" not in text  # one record, one line
    line = records.to_line(kind, rec)
    assert json.loads(line) == {"type": {"reflections": "reflection", "patterns": "pattern", "tensions": "tension",
                                         "audit_events": "audit_event"}[kind], **rec}
    assert records.line_bytes(kind, rec) == len(line.encode("utf-8"))


@settings(max_examples=80, deadline=None)
@given(reflection(), CODECS)
def test_a_reflection_round_trips_through_its_row_and_its_json_text(rec, fields):
    row = records.reflection_row(fields, rec, 7)
    assert row[-1] == 7 and (fields is PLAIN) == (row[3] == rec["content"])
    back = records.reflection(fields, row[:8])
    assert back == rec and list(back) == list(records.FIELDS["reflections"])
    _json_round_trip("reflections", back)


@settings(max_examples=60, deadline=None)
@given(pattern(), CODECS)
def test_a_pattern_round_trips_with_its_occurrences(rec, fields):
    row = records.pattern_row(fields, rec)
    occ_rows = [records.occurrence_row(fields, rec["id"], o) for o in rec["occurrences"]]
    assert all(r[0] == rec["id"] and r[4] is None for r in occ_rows)
    occurrences = [records.occurrence(fields, rec["id"], r[1:4]) for r in occ_rows]
    back = records.pattern(fields, row, occurrences)
    assert back == rec and list(back) == list(records.FIELDS["patterns"])
    assert all(list(o) == list(records.FIELDS["occurrences"]) for o in back["occurrences"])
    _json_round_trip("patterns", back)


@settings(max_examples=60, deadline=None)
@given(tension(), CODECS)
def test_a_tension_round_trips_through_its_sealed_data(rec, fields):
    row = records.tension_row(fields, rec, {"count": 1})
    back = records.tension(fields, row)
    assert back == rec and list(back) == list(records.FIELDS["tensions"])
    _json_round_trip("tensions", back)


@settings(max_examples=60, deadline=None)
@given(audit_event())
def test_an_audit_event_round_trips(rec):
    back = records.audit_event(audit.Event(**rec))
    assert back == rec and list(back) == list(records.FIELDS["audit_events"])
    _json_round_trip("audit_events", back)


def test_a_sealed_field_moved_to_another_record_does_not_open():
    rec = {"id": "r1", "created_at": "2024-01-01T00:00:00.000Z", "updated_at": "2024-01-01T00:00:00.000Z",
           "content": "mine", "response": None, "mode": "M", "tags": [], "local_only": False}
    row = list(records.reflection_row(SEALED, rec, 1)[:8])
    row[0] = "r2"
    with pytest.raises(VerificationError, match="reflections r2: field content"):
        records.reflection(SEALED, row)


@pytest.mark.parametrize("column, index", [("id", 0), ("created_at", 1), ("updated_at", 2), ("mode", 5)])
def test_a_clear_column_that_is_not_text_is_exit_3_naming_record_and_field(column, index):
    row = ["r1", "2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00.000Z", "text", None, "M", "[]", 0]
    row[index] = b"\x00\x01"
    with pytest.raises(VerificationError, match=f"holds a binary value in its {column} field") as info:
        records.reflection(PLAIN, row)
    assert info.value.exit_code == 3


def test_json_text_refuses_what_json_cannot_hold():
    with pytest.raises(ValueError):
        records.encode({"x": float("nan")})
    with pytest.raises(ValueError, match="NaN"):
        records.decode('{"x": NaN}')
    with pytest.raises(ValueError, match="reserved"):
        records.to_line("reflections", {"type": "x"})
    assert records.to_line("tensions", {}) == '{"type":"tension"}'


# --------------------------------------------------------------------------- limits, on both sides


def _reflection(content: str) -> dict:
    return {"id": "big", "created_at": "2024-01-01T00:00:00.000Z", "updated_at": "2024-01-01T00:00:00.000Z",
            "content": content, "response": None, "mode": "M", "tags": ["t"], "local_only": False}


@settings(max_examples=40, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=300))
def test_the_size_limit_is_exactly_the_jsonl_line(content):
    rec = _reflection(content)
    size = records.line_bytes("reflections", rec)
    records.check_size("reflections", rec, "r", size)  # fits exactly
    with pytest.raises(InvalidInputError, match=f"{size:,} bytes"):
        records.check_size("reflections", rec, "r", size - 1)


def test_import_and_reflect_use_the_same_limit(monkeypatch, tmp_path):
    from mirror_cli.db.store import Store
    from mirror_cli.journal import reflections as journal

    rec = _reflection("x" * 300)
    size = records.line_bytes("reflections", rec)
    monkeypatch.setattr(records, "MAX_LINE", size - 1)
    with pytest.raises(InvalidInputError, match="too large"):
        validate_records("reflections", [rec])
    with Store.open(tmp_path / "a.db") as store, pytest.raises(UsageError, match="too large"):
        journal.add(store, "x" * 300, tags=["t"])
    monkeypatch.setattr(records, "MAX_LINE", size)
    assert validate_records("reflections", [rec])[0]["content"] == "x" * 300


@pytest.mark.parametrize("text, problem", [
    ("fine", None), ("tab\tand é 🙂", None), ("a\x00b", "a NUL character"),
    ("lone \ud800", "an invalid character (a lone UTF-16 surrogate)"),
])
def test_the_character_rule(text, problem):
    assert records.text_problem(text) == problem


def test_import_refuses_a_nul_naming_record_and_field():
    with pytest.raises(InvalidInputError, match='reflections\\[0\\] \\(id big\\): "content" contains a NUL character'):
        validate_records("reflections", [_reflection("a\x00b")])

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_samples import HEADER, header_for, pattern, records, reflection, tension
from mirror_cli.errors import InvalidInputError
from mirror_cli.exchange import parse_kinds
from mirror_cli.exchange.document import ImportDocument
from mirror_cli.errors import UsageError
from mirror_cli.exchange.validate import normalize_time, validate_document, validate_records

R1 = "reflections[1] (id 01HX0000000000000000000002)"
P0 = "patterns[0] (id pat-1)"
T1 = "tensions[1] (id ten-2)"
A0 = "audit_events[0] (id evt-1)"


def _doc(recs=None):
    recs = records() if recs is None else recs
    return {**header_for(recs), **recs}


def test_valid_document_passes_unchanged():
    doc = validate_document(_doc())
    assert isinstance(doc, ImportDocument)
    assert doc.records == records()
    assert doc.header == header_for(records())


def test_defaults_for_optional_reflection_fields():
    rec = {"id": "r", "created_at": "2024-01-02T03:04:05Z", "content": "c", "mode": "M"}
    [out] = validate_records("reflections", [rec])
    assert out == {"id": "r", "created_at": "2024-01-02T03:04:05.000Z", "updated_at": "2024-01-02T03:04:05.000Z",
                   "content": "c", "response": None, "mode": "M", "tags": [], "local_only": False}


def test_optional_schema_fields_kept_unknown_fields_dropped():
    rec = {"id": "r", "created_at": "2024-01-02T03:04:05Z", "content": "c", "mode": "M",
           "visibility": "shared", "colour": "blue"}
    [out] = validate_records("reflections", [rec])
    assert out["visibility"] == "shared" and "colour" not in out
    pat = copy.deepcopy(records()["patterns"][0])
    pat["occurrences"][0]["intensity"] = 0.4
    [p] = validate_records("patterns", [pat])
    assert p["occurrences"][0]["intensity"] == 0.4 and "intensity" not in p["occurrences"][1]


def _set(kind, index, field, value):
    def mutate(recs):
        recs[kind][index][field] = value
    return mutate


def _drop(kind, index, field):
    def mutate(recs):
        del recs[kind][index][field]
    return mutate


def _occ(field, value):
    def mutate(recs):
        recs["patterns"][0]["occurrences"][1][field] = value
    return mutate


CASES = [
    # reflections
    (_drop("reflections", 1, "id"), 'reflections[1]: "id" is missing.'),
    (_set("reflections", 1, "id", "has space"), 'reflections[1]: "id" is not a valid id'),
    (_set("reflections", 1, "id", "x" * 65), 'reflections[1]: "id" is not a valid id'),
    (_set("reflections", 1, "id", 7), 'reflections[1]: "id" must be an id (a string), not a number.'),
    (_set("reflections", 1, "id", "01HX0000000000000000000001"),
     'reflections[1] (id 01HX0000000000000000000001): "id" repeats reflections[0]'),
    (_drop("reflections", 1, "created_at"), f'{R1}: "created_at" is missing.'),
    (_set("reflections", 1, "created_at", "yesterday"), f'{R1}: "created_at" is not an ISO-8601 time'),
    (_set("reflections", 1, "created_at", "2024-05-01T09:30:00"), f'{R1}: "created_at" is not an ISO-8601 time with a time zone'),
    (_set("reflections", 1, "created_at", "2024-02-30T09:30:00Z"), f'{R1}: "created_at" is not an ISO-8601 time'),
    (_set("reflections", 1, "created_at", 1714555800), f'{R1}: "created_at" must be an ISO-8601 time (a string), not a number.'),
    (_set("reflections", 1, "updated_at", "2024-13-01T00:00:00Z"), f'{R1}: "updated_at" is not an ISO-8601 time'),
    (_drop("reflections", 1, "content"), f'{R1}: "content" is missing.'),
    (_set("reflections", 1, "content", None), f'{R1}: "content" must be a string, not null.'),
    (_set("reflections", 1, "content", ["a"]), f'{R1}: "content" must be a string, not a list.'),
    (_set("reflections", 1, "content", "a\x00b"), f'{R1}: "content" contains a NUL character.'),
    (_set("reflections", 1, "content", "a\ud800b"), f'{R1}: "content" contains an invalid character'),
    (_set("reflections", 1, "content", "café 日本 \udfff"), f'{R1}: "content" contains an invalid character'),
    (_set("reflections", 1, "content", "😀" * 1000 + "\ud83d"), f'{R1}: "content" contains an invalid character'),
    (_set("reflections", 1, "response", "é" * 1000 + "\x00"), f'{R1}: "response" contains a NUL character.'),
    (_set("reflections", 1, "tags", ["ok", "ü\udc80"]), f'{R1}: "tags[1]" contains an invalid character'),
    (_set("reflections", 1, "response", 5), f'{R1}: "response" must be a string or null, not a number.'),
    (_drop("reflections", 1, "mode"), f'{R1}: "mode" is missing.'),
    (_set("reflections", 1, "mode", "  "), f'{R1}: "mode" is empty.'),
    (_set("reflections", 1, "tags", "work"), f'{R1}: "tags" must be a list of strings, not a string.'),
    (_set("reflections", 1, "tags", ["ok", 3]), f'{R1}: "tags[1]" must be a string, not a number.'),
    (_set("reflections", 1, "tags", ["ok", ""]), f'{R1}: "tags[1]" is empty.'),
    (_set("reflections", 1, "local_only", 1), f'{R1}: "local_only" must be true or false, not a number.'),
    (_set("reflections", 1, "local_only", "false"), f'{R1}: "local_only" must be true or false, not a string.'),
    (_set("reflections", 1, "visibility", "public"), f'{R1}: "visibility" must be "private" or "shared".'),
    # patterns
    (_set("patterns", 0, "confidence", 1.5), f'{P0}: "confidence" must be between 0 and 1, not 1.5.'),
    (_set("patterns", 0, "confidence", -0.1), f'{P0}: "confidence" must be between 0 and 1'),
    (_set("patterns", 0, "confidence", True), f'{P0}: "confidence" must be a number between 0 and 1, not true.'),
    (_set("patterns", 0, "confidence", "0.5"), f'{P0}: "confidence" must be a number between 0 and 1, not a string.'),
    (_set("patterns", 0, "confidence", 1e400), f'{P0}: "confidence" must be between 0 and 1, not inf.'),
    (_drop("patterns", 0, "name"), f'{P0}: "name" is missing.'),
    (_drop("patterns", 0, "pattern_type"), f'{P0}: "pattern_type" is missing.'),
    (_drop("patterns", 0, "first_seen"), f'{P0}: "first_seen" is missing.'),
    (_set("patterns", 0, "last_seen", "soon"), f'{P0}: "last_seen" is not an ISO-8601 time'),
    (_drop("patterns", 0, "occurrences"), f'{P0}: "occurrences" is missing.'),
    (_set("patterns", 0, "occurrences", {}), f'{P0}: "occurrences" must be a list, not an object.'),
    (_occ("confidence", 2), f'{P0}: "occurrences[1].confidence" must be between 0 and 1, not 2.'),
    (_occ("reflection_id", "bad id"), f'{P0}: "occurrences[1].reflection_id" is not a valid id'),
    (_occ("reflection_id", "01HX0000000000000000000001"), f'{P0}: "occurrences[1].reflection_id" repeats occurrences[0]'),
    (_occ("evidence", 3), f'{P0}: "occurrences[1].evidence" must be a string or null, not a number.'),
    (_occ("intensity", 7), f'{P0}: "occurrences[1].intensity" must be between 0 and 1, not 7.'),
    # tensions
    (_set("tensions", 1, "position", -1), f'{T1}: "position" must be between 0 and 1, not -1.'),
    (_set("tensions", 1, "intensity", None), f'{T1}: "intensity" must be a number between 0 and 1, not null.'),
    (_drop("tensions", 1, "axis_b"), f'{T1}: "axis_b" is missing.'),
    (_drop("tensions", 1, "reflection_id"), f'{T1}: "reflection_id" is missing.'),
    (_set("tensions", 1, "reflection_id", ""), f'{T1}: "reflection_id" is not a valid id'),
    (_set("tensions", 1, "detected_at", "2024-05-01"), f'{T1}: "detected_at" is not an ISO-8601 time'),
    # audit events
    (_set("audit_events", 0, "seq", True), f'{A0}: "seq" must be a whole number, not true.'),
    (_set("audit_events", 0, "seq", 1.0), f'{A0}: "seq" must be a whole number, not a number.'),
    (_set("audit_events", 0, "seq", -1), f'{A0}: "seq" must be between 0 and 2**63 - 1, not -1.'),
    (_set("audit_events", 1, "seq", 1), 'audit_events[1] (id evt-2): "seq" repeats audit_events[0].'),
    (_set("audit_events", 0, "data", {"x": ["a\x00"]}), f'{A0}: "data" contains a NUL character.'),
    (_drop("audit_events", 0, "event_hash"), f'{A0}: "event_hash" is missing.'),
    (_set("audit_events", 0, "timestamp", "noon"), f'{A0}: "timestamp" is not an ISO-8601 time'),
    # records that are not objects
    (lambda recs: recs["tensions"].__setitem__(0, "t"), "tensions[0]: must be an object, not a string."),
]


@pytest.mark.parametrize("mutate, message", CASES)
def test_each_rule_names_record_and_field(mutate, message):
    recs = records()
    mutate(recs)
    with pytest.raises(InvalidInputError) as info:
        validate_document(_doc(recs))
    assert info.value.exit_code == 5
    assert info.value.message.startswith(message), info.value.message
    assert "Nothing was changed" in str(info.value)


def test_first_problem_wins():
    recs = records()
    recs["reflections"][2]["mode"] = 3
    recs["reflections"][1]["content"] = None
    with pytest.raises(InvalidInputError, match=r"reflections\[1\]"):
        validate_document(_doc(recs))


@pytest.mark.parametrize("top, fragment", [
    ({"version": 1}, '"format" is missing'),
    ({"format": "something-else", "version": 1}, "\"format\" is 'something-else', not \"mirror-export\""),
    ({"format": 1, "version": 1}, '"format" is a number'),
    ({"tags": {}, "entries": []}, "looks like a jrnl export"),
    ({"format": "mirror-export"}, 'no "version"'),
    ({"format": "mirror-export", "version": "1"}, '"version" must be a whole number, not a string'),
    ({"format": "mirror-export", "version": True}, '"version" must be a whole number, not true'),
    ({"format": "mirror-export", "version": 2}, "made by a newer mirror (export format version 2"),
    ({"format": "mirror-export", "version": 0}, "unknown export format version 0"),
    ({**HEADER, "counts": []}, '"counts" must be an object'),
    ({**HEADER, "counts": {"tensions": 1}, "tensions": []}, "counts 1 tensions but the file holds 0"),
    ({**HEADER, "counts": {"tensions": "1"}, "tensions": []}, '"counts.tensions" must be a whole number'),
    ({**HEADER, "patterns": None}, '"patterns" must be a list, not null'),
])
def test_header_rules(top, fragment):
    with pytest.raises(InvalidInputError) as info:
        validate_document(top)
    assert fragment in str(info.value)


def test_newer_version_message_says_upgrade():
    with pytest.raises(InvalidInputError) as info:
        validate_document({"format": "mirror-export", "version": 7})
    assert "Upgrade mirror" in str(info.value)


def test_counts_of_absent_sections_and_unknown_keys_are_ignored():
    doc = validate_document({**HEADER, "counts": {"patterns": 4, "widgets": 2, "audit": 9}, "tensions": []})
    assert doc.counts() == {"reflections": 0, "patterns": 0, "tensions": 0, "audit_events": 0}


def test_minimal_document_only_needs_format_and_version():
    assert validate_document({"format": "mirror-export", "version": 1}).counts()["reflections"] == 0


@pytest.mark.parametrize("value, expected", [
    ("2024-05-01T09:30:00Z", "2024-05-01T09:30:00.000Z"),
    ("2024-05-01T09:30:00.042Z", "2024-05-01T09:30:00.042Z"),
    ("2024-02-29T23:59:59.999Z", "2024-02-29T23:59:59.999Z"),
    ("2023-02-29T09:30:00.000Z", None),
    ("2024-05-01T24:00:00.000Z", None),
    ("0000-05-01T09:30:00.000Z", None),
    ("2024-05-01T09:30:00.5Z", "2024-05-01T09:30:00.500Z"),
    ("2024-05-01T09:30:00.123999999Z", "2024-05-01T09:30:00.123Z"),
    ("2024-05-01 09:30z", "2024-05-01T09:30:00.000Z"),
    ("2024-05-01T09:30:00+02:00", "2024-05-01T07:30:00.000Z"),
    ("2024-05-01T23:30:00-0130", "2024-05-02T01:00:00.000Z"),
    ("2024-01-01T00:30:00+01", "2023-12-31T23:30:00.000Z"),
    ("2024-05-01T09:30:00,25Z", "2024-05-01T09:30:00.250Z"),
    ("2024-05-01T09:30:00", None),
    ("2024-05-01", None),
    ("2024-05-01T24:00:00Z", None),
    ("2024-05-01T09:30:60Z", None),
    ("2024-05-01T09:30:00+24:00", None),
    ("0001-01-01T00:30:00+01:00", None),
    ("２０２４-05-01T09:30:00Z", None),
    (" 2024-05-01T09:30:00Z", None),
    ("2024-05-01T09:30:00Z\n", None),
])
def test_normalize_time(value, expected):
    assert normalize_time(value) == expected


def test_parse_kinds():
    assert parse_kinds(None) == ("reflections", "patterns", "tensions", "audit_events")
    assert parse_kinds("audit, reflections") == ("reflections", "audit_events")
    assert parse_kinds("tension,") == ("tensions",)
    with pytest.raises(UsageError) as info:
        parse_kinds("reflections,moods")
    assert info.value.exit_code == 2 and "moods" in str(info.value)
    for empty in ("", "  ", ",", " , ,"):  # given, but naming no kind: not "everything"
        with pytest.raises(UsageError) as info:
            parse_kinds(empty)
        assert info.value.exit_code == 2 and "names no kind" in str(info.value)


def test_import_document_only():
    doc = validate_document(_doc())
    only = doc.only(parse_kinds("patterns"))
    assert only.counts() == {"reflections": 0, "patterns": 2, "tensions": 0, "audit_events": 0}
    assert doc.counts()["reflections"] == 3


# --------------------------------------------------------------------------- size: what jsonl can read back


def _jsonl_line(kind: str, rec: dict) -> bytes:
    """The line mirror's JSON Lines writer puts out for *rec* as an export carries it (no newline)."""
    import io

    from mirror_cli.exchange.formats.jsonl import write_jsonl

    if kind == "reflections":
        rec = {k: v for k, v in rec.items() if k != "visibility"}
    if kind == "patterns":
        rec = {**rec, "occurrences": [{k: v for k, v in o.items() if k != "intensity"} for o in rec["occurrences"]]}
    out = io.StringIO()
    write_jsonl(out, HEADER, {kind: [rec]})
    return out.getvalue().split("\n")[1].encode("utf-8")  # not splitlines(): text may hold \x85 or \u2028


_ESCAPING = st.text(st.sampled_from("\x01\x1f\"\\\n\té€😀a"), max_size=300)


@given(st.one_of(
    st.tuples(st.just("reflections"), reflection()),
    st.tuples(st.just("reflections"), reflection().map(lambda r: {**r, "content": r["content"] * 3, "visibility": "shared"})),
    st.tuples(st.just("patterns"), pattern()),
    st.tuples(st.just("tensions"), tension()),
), _ESCAPING)
def test_a_record_is_refused_exactly_when_its_jsonl_line_would_not_be_read_back(kind_rec, extra):
    from unittest import mock

    from mirror_cli.exchange import records as codec

    kind, rec = kind_rec
    field = {"reflections": "content", "patterns": "name", "tensions": "axis_a"}[kind]
    rec = {**rec, field: (rec[field] + extra) if rec[field].strip() else "x" + extra}
    norm = validate_records(kind, [rec])[0]
    size = len(_jsonl_line(kind, norm))
    with mock.patch.object(codec, "MAX_LINE", size):
        assert validate_records(kind, [rec]) == [norm]  # fits exactly: imported, and read back
    with mock.patch.object(codec, "MAX_LINE", size - 1), pytest.raises(InvalidInputError) as info:
        validate_records(kind, [rec])
    assert "too large" in str(info.value) and f"{size:,} bytes" in str(info.value)


def test_a_pattern_with_many_occurrences_counts_them_all(monkeypatch):
    from mirror_cli.exchange import records as codec

    pat = {**records()["patterns"][0], "occurrences": [
        {"reflection_id": f"r{i:05d}", "evidence": None, "confidence": 0.5} for i in range(200)]}
    size = len(_jsonl_line("patterns", validate_records("patterns", [pat])[0]))
    monkeypatch.setattr(codec, "MAX_LINE", size - 1)
    with pytest.raises(InvalidInputError, match="patterns\\[0\\] \\(id pat-1\\) is too large"):
        validate_records("patterns", [pat])
    monkeypatch.setattr(codec, "MAX_LINE", size)
    assert len(validate_records("patterns", [pat])[0]["occurrences"]) == 200


def test_audit_events_are_not_held_to_the_line_limit(monkeypatch):
    from mirror_cli.exchange import records as codec

    monkeypatch.setattr(codec, "MAX_LINE", 10)  # never imported, so never exported again from here
    assert len(validate_records("audit_events", records()["audit_events"])) == 2

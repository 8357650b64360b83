from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings

from exchange_samples import DOCUMENTS, HEADER, header_for, records, sections
from mirror_cli.errors import ExitCode, InvalidInputError
from mirror_cli.exchange.formats.jsondoc import read_json, write_json


def _export(recs, header=None) -> str:
    buf = io.StringIO()
    write_json(buf, header if header is not None else header_for(recs), sections(recs))
    return buf.getvalue()


def test_document_layout_header_first_one_record_per_line():
    recs = records()
    text = _export(recs)
    lines = text.splitlines()
    assert lines[0].startswith('{"format":"mirror-export","version":1,"exported_at":')
    assert lines[1] == '"reflections":['
    assert len(lines) == 1 + sum(len(v) + 2 for v in recs.values())
    doc = json.loads(text)
    assert list(doc)[:6] == ["format", "version", "exported_at", "tool_version", "schema_version", "counts"]
    assert list(doc)[6:] == ["reflections", "patterns", "tensions", "audit_events"]
    assert doc["reflections"] == recs["reflections"]
    assert "🙂" in text and "—" in text  # ensure_ascii=False: text stays readable UTF-8


def test_only_given_sections_are_written_and_empty_sections_are_valid():
    text = _export({"tensions": [], "reflections": records()["reflections"][:1]},
                   header={**HEADER, "counts": {"reflections": 1, "tensions": 0}})
    doc = json.loads(text)
    assert [k for k in doc if k in ("reflections", "patterns", "tensions", "audit_events")] == ["reflections", "tensions"]
    assert doc["tensions"] == []
    parsed = read_json(text.encode())
    assert parsed.counts() == {"reflections": 1, "patterns": 0, "tensions": 0, "audit_events": 0}


def test_writer_consumes_iterators_once_and_reports_counts():
    recs = records()
    consumed = []

    def gen(kind):
        for r in recs[kind]:
            consumed.append(kind)
            yield r

    buf = io.StringIO()
    written = write_json(buf, header_for(recs), {k: gen(k) for k in recs})
    assert written == {k: len(v) for k, v in recs.items()}
    assert consumed == [k for k in recs for _ in recs[k]]


def test_writer_rejects_unknown_sections_and_colliding_header_keys():
    with pytest.raises(ValueError):
        write_json(io.StringIO(), HEADER, {"bogus": iter([])})
    with pytest.raises(ValueError):
        write_json(io.StringIO(), {**HEADER, "reflections": 1}, {})


def test_round_trip_fixed_records():
    recs = records()
    doc = read_json(_export(recs).encode())
    assert doc.records == recs
    assert doc.header["format"] == "mirror-export" and "reflections" not in doc.header
    assert doc.source_format == "json"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS)
def test_round_trip_property(recs):
    doc = read_json(_export(recs).encode("utf-8"))
    assert doc.records == recs


def test_read_accepts_utf8_bom_and_normalises_times():
    recs = {"reflections": [{"id": "r1", "created_at": "2024-05-01T11:30:00.123456+02:00",
                             "content": "x", "mode": "REFLECTION"}]}
    raw = b"\xef\xbb\xbf" + json.dumps({**HEADER, **recs}).encode()
    [r] = read_json(raw).records["reflections"]
    assert r == {"id": "r1", "created_at": "2024-05-01T09:30:00.123Z", "updated_at": "2024-05-01T09:30:00.123Z",
                 "content": "x", "response": None, "mode": "REFLECTION", "tags": [], "local_only": False}


@pytest.mark.parametrize("raw, fragment", [
    (b"", "empty"),
    (b"  \n\t ", "empty"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"format": "mirror-export", "version": 1, "reflections": [{"id": "a\xc3"}]}', "not UTF-8"),
    (b"\x00", "not valid JSON"),
    (b'{"format": "mirror-export",\x00 "version": 1}', "not valid JSON"),
    (b"not json at all", "not valid JSON"),
    (b'{"format": "mirror-export", "version": 1', "not valid JSON"),
    (b"[1, 2, 3]", "top level is a list"),
    (b'"mirror-export"', "top level is a string"),
    (b"42", "top level is a number"),
    (b"null", "top level is null"),
    (b'{"format": "mirror-export", "version": NaN}', "NaN"),
    (b'{"format": "mirror-export", "version": 1, "x": ' + b"1" * 5000 + b"}", "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "too deeply"),
    (b'{"format": "mirror-export", "version": 1, "reflections": [{"id": "a", "content": '
     + b"[" * 100_000 + b"]" * 100_000 + b"}]}", "too deeply"),
    (b'{"format": "mirror-export", "version": 1, "reflections": {}}', '"reflections" must be a list'),
])
def test_hostile_input_is_invalid_input_never_a_traceback(raw, fragment):
    with pytest.raises(InvalidInputError) as info:
        read_json(raw)
    assert info.value.exit_code == ExitCode.INVALID_INPUT == 5
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_nul_character_in_a_string_is_rejected_with_record_and_field():
    raw = json.dumps({**HEADER, "reflections": [
        {"id": "r1", "created_at": "2024-05-01T09:30:00Z", "content": "a\u0000b", "mode": "REFLECTION"}]}).encode()
    with pytest.raises(InvalidInputError, match=r'reflections\[0\] \(id r1\): "content" contains a NUL character'):
        read_json(raw)


def test_a_truncated_file_is_named_in_plain_words():
    """json's "Unterminated string starting at" gained a second "at" ("starting at at line 15")."""
    from mirror_cli.exchange.formats.jsondoc import parse_json_text

    with pytest.raises(InvalidInputError) as info:
        parse_json_text('{"format": "mirror-export", "reflections": [{"content": "cut he')
    assert "at at" not in str(info.value) and "starting at line 1" in str(info.value)

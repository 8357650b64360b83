from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings

from exchange_samples import DOCUMENTS, HEADER, header_for, records, sections
from mirror_cli.errors import InvalidInputError
from mirror_cli.exchange import records as codec
from mirror_cli.exchange.formats.jsonl import iter_jsonl, read_jsonl, write_jsonl


def _export(recs, header=None) -> bytes:
    buf = io.StringIO()
    write_jsonl(buf, header if header is not None else header_for(recs), sections(recs))
    return buf.getvalue().encode("utf-8")


def test_header_line_first_then_one_typed_object_per_line():
    recs = records()
    lines = _export(recs).decode().split("\n")
    assert lines[-1] == ""
    objs = [json.loads(line) for line in lines[:-1]]
    assert objs[0] == {"type": "header", **header_for(recs)}
    assert list(objs[0])[:3] == ["type", "format", "version"]
    types = [o["type"] for o in objs[1:]]
    assert types == ["reflection"] * 3 + ["pattern"] * 2 + ["tension"] * 2 + ["audit_event"] * 2
    assert {k: v for k, v in objs[1].items() if k != "type"} == recs["reflections"][0]


def test_empty_record_and_reserved_type_key():
    buf = io.StringIO()
    write_jsonl(buf, HEADER, {"tensions": iter([{}])})
    assert buf.getvalue().split("\n")[1] == '{"type":"tension"}'
    with pytest.raises(ValueError):
        write_jsonl(io.StringIO(), HEADER, {"reflections": iter([{"type": "x"}])})


def test_round_trip_fixed_records_from_stream():
    recs = records()
    doc = read_jsonl(io.BytesIO(_export(recs)))
    assert doc.records == recs and doc.source_format == "jsonl"
    assert doc.header["counts"] == header_for(recs)["counts"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS)
def test_round_trip_property(recs):
    assert read_jsonl(io.BytesIO(_export(recs))).records == recs


def test_iter_jsonl_skips_blank_lines_accepts_crlf_and_bom():
    data = b'\xef\xbb\xbf{"type":"header","format":"mirror-export","version":1}\r\n\r\n{"type":"tension","id":"t"}\r\n'
    assert list(iter_jsonl(io.BytesIO(data))) == [
        (1, {"type": "header", "format": "mirror-export", "version": 1}), (3, {"type": "tension", "id": "t"})]


def test_line_over_the_limit_is_refused_without_reading_it_whole(monkeypatch):
    monkeypatch.setattr(codec, "MAX_LINE", 1024)
    data = b'{"type":"header"}\n' + b'{"type":"reflection","content":"' + b"x" * 5000 + b'"}\n'
    with pytest.raises(InvalidInputError, match="line 2 is longer than"):
        list(iter_jsonl(io.BytesIO(data)))


def test_real_70_mib_line_is_refused():
    data = b'{"type":"header","format":"mirror-export","version":1}\n{"type":"reflection","content":"' \
        + b"a" * (70 * 1024 * 1024) + b'"}\n'
    with pytest.raises(InvalidInputError, match="line 2 is longer than 64 MiB") as info:
        read_jsonl(io.BytesIO(data))
    assert info.value.exit_code == 5


H = b'{"type":"header","format":"mirror-export","version":1}\n'


@pytest.mark.parametrize("data, fragment", [
    (b"", "empty"),
    (b"\n\n", "empty"),
    (H + b"\xc3\x28\n", "line 2 is not UTF-8"),
    (H + b"{nope}\n", "line 2 is not valid JSON"),
    (H + b"[1]\n", "line 2 must be a JSON object, not a list"),
    (H + b'{"id": "x"}\n', 'line 2: "type" is missing'),
    (H + b'{"type": 3}\n', 'line 2: "type" is missing or not a string'),
    (H + b'{"type": "header"}\n', "line 2: a second header"),
    (H + b'{"type": "diary"}\n', "line 2: unknown type 'diary'"),
    (b'{"type": "reflection", "id": "x"}\n', "line 1: the first line must be the header"),
    (b'{"type":"header","format":"mirror-export","version":2}\n', "newer mirror"),
    (H + b'{"type":"tension","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", "line 2 nests"),
    (H + b'{"type":"tension","x":NaN}\n', "line 2 is not valid JSON"),
    (H + b'{"type":"reflection","id":"r1","created_at":"2024-05-01T09:00:00Z","content":"a\\u0000","mode":"M"}\n',
     'line 2: reflections[0] (id r1): "content" contains a NUL character'),
    (H + b"\x00\n", "line 2 is not valid JSON"),
])
def test_hostile_lines(data, fragment):
    with pytest.raises(InvalidInputError) as info:
        read_jsonl(io.BytesIO(data))
    assert fragment in str(info.value)
    assert info.value.exit_code == 5


def test_truncated_file_is_detected_by_header_counts():
    recs = records()
    data = _export(recs)
    truncated = b"\n".join(data.split(b"\n")[:-2]) + b"\n"  # drop the last audit event line
    with pytest.raises(InvalidInputError, match="counts 2 audit_events but the file holds 1"):
        read_jsonl(io.BytesIO(truncated))

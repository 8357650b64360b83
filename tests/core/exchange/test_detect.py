from __future__ import annotations

import io
from pathlib import Path

import pytest

from exchange_samples import header_for, records, sections
from mirror_cli.errors import InvalidInputError, UsageError
from mirror_cli.exchange.detect import PEEK, detect_format, load_document
from mirror_cli.exchange.formats.jsondoc import write_json
from mirror_cli.exchange.formats.jsonl import write_jsonl
from helpers import DATA

FIXTURE = DATA / "jrnl_export.json"


def _bytes(writer) -> bytes:
    recs = records()
    buf = io.StringIO()
    writer(buf, header_for(recs), sections(recs))
    return buf.getvalue().encode()


def test_detects_own_formats_and_jrnl():
    assert detect_format(_bytes(write_json)[:PEEK]) == "json"
    assert detect_format(_bytes(write_jsonl)[:PEEK]) == "jsonl"
    assert detect_format(FIXTURE.read_bytes()[:PEEK]) == "jrnl"
    assert detect_format(b'{"entries": []}') == "jrnl"
    assert detect_format(b'\xef\xbb\xbf\n {"type":"header","format":"mirror-export","version":1}\n') == "jsonl"
    assert detect_format(b'{"type": "header", "format": "mirror-ex') == "jsonl"  # cut inside the first line
    assert detect_format(b'{\n  "format": "mirror-export",\n  "version": 1\n}') == "json"
    assert detect_format(b"garbage") == "json"
    assert detect_format(b"") == "json"


@pytest.mark.parametrize("fmt", ["auto", "json"])
def test_load_json_from_bytes_and_stream(fmt):
    data = _bytes(write_json)
    assert load_document(data, fmt).records == records()
    assert load_document(io.BytesIO(data), fmt).records == records()


@pytest.mark.parametrize("fmt", ["auto", "jsonl"])
def test_load_jsonl_from_bytes_and_stream(fmt):
    data = _bytes(write_jsonl)
    assert load_document(data, fmt).records == records()
    doc = load_document(io.BytesIO(data), fmt)
    assert doc.records == records() and doc.source_format == "jsonl"


def test_load_jsonl_stream_longer_than_the_peek():
    recs = records()
    recs["reflections"][0]["content"] = "x" * (3 * PEEK)
    buf = io.StringIO()
    write_jsonl(buf, header_for(recs), sections(recs))
    assert load_document(io.BytesIO(buf.getvalue().encode())).records == recs


def test_load_jrnl_auto():
    doc = load_document(io.BytesIO(FIXTURE.read_bytes()))
    assert doc.source_format == "jrnl" and len(doc.records["reflections"]) == 5


def test_forcing_the_wrong_format_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="looks like a jrnl export"):
        load_document(FIXTURE.read_bytes(), "json")
    with pytest.raises(InvalidInputError, match="is a mirror export, not a jrnl export"):
        load_document(_bytes(write_json), "jrnl")
    with pytest.raises(InvalidInputError, match="line 1"):
        load_document(_bytes(write_json), "jsonl")


@pytest.mark.parametrize("raw", [b"", b"   \n", b"\xef\xbb\xbf", b"\xff\xfe\x00", b"\x00\x00\x00",
                                 b"[" * 100_000, b"{" * 100_000, b"nope", b"[]", b"123"])
@pytest.mark.parametrize("as_stream", [False, True])
def test_hostile_input_always_invalid_input(raw, as_stream):
    with pytest.raises(InvalidInputError) as info:
        load_document(io.BytesIO(raw) if as_stream else raw)
    assert info.value.exit_code == 5


def test_unknown_format_is_a_usage_error():
    with pytest.raises(UsageError):
        load_document(b"{}", "yaml")


def test_markdown_csv_and_backup_files_are_named_for_what_they_are(tmp_path):
    from mirror_cli.exchange.formats.csvfmt import write_reflections_csv
    from mirror_cli.exchange.formats.markdown import write_markdown

    recs = records()
    md, csv_text = io.StringIO(), io.StringIO()
    write_markdown(md, header_for(recs), sections(recs))
    write_reflections_csv(csv_text, recs["reflections"])
    for raw, what in ((md.getvalue().encode(), "a Markdown export"), (csv_text.getvalue().encode(), "a CSV export"),
                      (b"\xef\xbb\xbf" + csv_text.getvalue().encode(), "a CSV export")):
        for fmt in ("auto", "json", "jrnl"):
            with pytest.raises(InvalidInputError, match=f"looks like {what}, which is for reading") as info:
                load_document(io.BytesIO(raw), fmt)
            assert info.value.exit_code == 5
    with pytest.raises(InvalidInputError, match="is a mirror backup, not an export"):
        load_document(b"MIRRBAK\x01\x00\x00\x00\x9c{}")

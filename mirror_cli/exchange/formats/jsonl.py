"""JSON Lines export: the header line first, then one record object per line.

Every line is one compact JSON object with a ``"type"``: ``header`` (first
line, carrying the same fields as the JSON document's header), then
``reflection``, ``pattern``, ``tension`` or ``audit_event`` records in that
kind order. Lines end with ``\\n``; text is UTF-8, unescaped; each line is
the record codec's :func:`~mirror_cli.exchange.records.to_line`. Readers take
one line at a time and refuse a line longer than
:data:`~mirror_cli.exchange.records.MAX_LINE` bytes without reading further into it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any, TextIO

from mirror_cli.errors import InvalidInputError
from mirror_cli.exchange import records
from mirror_cli.exchange.formats.jsondoc import _where, batches, header_items
from mirror_cli.exchange.document import ImportDocument
from mirror_cli.exchange.kinds import KINDS, TYPE_KINDS
from mirror_cli.exchange.validate import check_counts, check_header, describe, validate_records


def jsonl_text(header: Mapping[str, Any], sections: Mapping[str, Iterable[dict]],
               written: dict[str, int] | None = None) -> Iterator[str]:
    """The header line and one line per record, as pieces of text; *written* receives the records per kind."""
    unknown = set(sections) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown section(s): {sorted(unknown)}")
    items = header_items(header)
    if any(k == "type" for k, _ in items):
        raise ValueError("header key 'type' is reserved")
    written = {} if written is None else written
    yield records.encode(dict([("type", "header"), *items])) + "\n"
    to_line = records.to_line
    for kind in KINDS:
        if kind not in sections:
            continue
        n = written[kind] = 0
        for batch in batches(sections[kind]):
            yield "".join([to_line(kind, rec) + "\n" for rec in batch])
            n = written[kind] = n + len(batch)


def write_jsonl(out: TextIO, header: Mapping[str, Any], sections: Mapping[str, Iterable[dict]]) -> dict[str, int]:
    """Stream the header line and one line per record to *out*; return records written per kind."""
    written: dict[str, int] = {}
    write = out.write
    for piece in jsonl_text(header, sections, written):
        write(piece)
    return written


def iter_jsonl(fh: IO) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-blank line of a binary stream.

    Each object is a dict with a string ``"type"``. Raises InvalidInputError
    for a line over :data:`~mirror_cli.exchange.records.MAX_LINE` bytes, invalid UTF-8, invalid JSON, deep
    nesting, or a line that is not an object with a type. Blank lines are skipped.
    """
    limit = records.MAX_LINE
    lineno = 0
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        lineno += 1
        if len(line) > limit and len(line.rstrip(b"\r\n" if isinstance(line, bytes) else "\r\n")) > limit:
            raise InvalidInputError(
                f"line {lineno} is longer than {records.size_text(limit)}; this is not a mirror export.",
                "Nothing was changed.")
        if isinstance(line, bytes):
            if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInputError(
                    f"line {lineno} is not UTF-8 text (invalid byte at column {exc.start + 1}).",
                    "Nothing was changed.") from None
        else:
            text = line.lstrip("\ufeff") if lineno == 1 else line
        if not text.strip():
            continue
        try:
            obj = records.decode(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"line {lineno} is not valid JSON: {_where(exc.msg)} column {exc.colno}.",
                                    "Nothing was changed.") from None
        except RecursionError:
            raise InvalidInputError(f"line {lineno} nests arrays or objects too deeply.",
                                    "Nothing was changed.") from None
        except ValueError as exc:
            raise InvalidInputError(f"line {lineno} is not valid JSON: {exc}.", "Nothing was changed.") from None
        if not isinstance(obj, dict):
            raise InvalidInputError(f"line {lineno} must be a JSON object, not {describe(obj)}.",
                                    "Nothing was changed.")
        if not isinstance(obj.get("type"), str):
            raise InvalidInputError(f'line {lineno}: "type" is missing or not a string.', "Nothing was changed.")
        yield lineno, obj


def read_jsonl(fh: IO) -> ImportDocument:
    """Read and validate a JSON Lines export from a binary stream (all or nothing).

    Header counts are checked for every kind: a JSON Lines export names in its
    header only the kinds it holds, so a missing tail is detected.
    """
    header: dict | None = None
    raw: dict[str, list[dict]] = {k: [] for k in KINDS}
    lines: dict[str, list[int]] = {k: [] for k in KINDS}
    for lineno, obj in iter_jsonl(fh):
        kind_type = obj.pop("type")
        if header is None:
            if kind_type != "header":
                raise InvalidInputError(
                    f'line {lineno}: the first line must be the header ({{"type": "header", ...}}), '
                    f"not a {kind_type!r} object.", "Nothing was changed.")
            header = check_header(obj)
            continue
        kind = TYPE_KINDS.get(kind_type)
        if kind is None:
            what = "a second header" if kind_type == "header" else f"unknown type {kind_type!r}"
            raise InvalidInputError(f"line {lineno}: {what}.", "Nothing was changed.")
        raw[kind].append(obj)
        lines[kind].append(lineno)
    if header is None:
        raise InvalidInputError("the file is empty.", "Nothing was changed.")
    records = {k: validate_records(k, raw[k], lines=lines[k]) for k in KINDS}
    check_counts(header, records, KINDS)
    return ImportDocument(header=header, records=records, source_format="jsonl")

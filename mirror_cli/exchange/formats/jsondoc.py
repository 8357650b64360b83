"""The JSON export document: streaming writer and all-or-nothing reader.

Layout (valid JSON, compact, one record per line inside the arrays so that
two exports diff well)::

    {"format":"mirror-export","version":1,"exported_at":"...",...,"counts":{...},
    "reflections":[
    {"id":"...",...},
    {"id":"...",...}
    ],
    "patterns":[
    ],
    ...}

Header keys come first (``format`` and ``version`` leading), then only the
sections that were given, in the order reflections, patterns, tensions,
audit_events. Text is written as UTF-8 (``ensure_ascii=False``); records are
encoded one at a time, so memory stays flat whatever the number of records.
Each record is one call of the record codec's encoder
(:func:`mirror_cli.exchange.records.encode`); :func:`json_text` gives the
document as pieces of text (what ``export --encrypt`` seals), :func:`write_json`
writes them to a text stream.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import Any, TextIO

from mirror_cli.errors import InvalidInputError
from mirror_cli.exchange import records
from mirror_cli.exchange.document import ImportDocument
from mirror_cli.exchange.kinds import KINDS
from mirror_cli.exchange.validate import validate_document

_BATCH = 512


def batches(items: Iterable[Any], size: int = _BATCH) -> Iterator[list[Any]]:
    """*items* in lists of up to *size* (the writers join and write one list at a time)."""
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def header_items(header: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Header items with ``format`` and ``version`` first; section names are not allowed."""
    for key in header:
        if key in KINDS:
            raise ValueError(f"header key {key!r} collides with a section name")
    first = [(k, header[k]) for k in ("format", "version") if k in header]
    return first + [(k, v) for k, v in header.items() if k not in ("format", "version")]


def json_text(header: Mapping[str, Any], sections: Mapping[str, Iterable[dict]],
              written: dict[str, int] | None = None) -> Iterator[str]:
    """The export document as pieces of text, records encoded one at a time.

    *sections* maps section names (see :data:`~mirror_cli.exchange.kinds.KINDS`)
    to iterables of records; each iterable is consumed once, in order.
    *written*, when given, receives the number of records of each section.
    """
    unknown = set(sections) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown section(s): {sorted(unknown)}")
    encode = records.encode
    written = {} if written is None else written
    yield "{" + ",".join(f"{encode(k)}:{encode(v)}" for k, v in header_items(header))
    first_key = not header
    for kind in KINDS:
        if kind not in sections:
            continue
        yield ("" if first_key else ",") + f"\n{encode(kind)}:["
        first_key = False
        n = written[kind] = 0
        for batch in batches(sections[kind]):
            yield ("\n" if n == 0 else ",\n") + ",\n".join(map(encode, batch))
            n = written[kind] = n + len(batch)
        yield "\n]"
    yield "}\n"


def write_json(out: TextIO, header: Mapping[str, Any], sections: Mapping[str, Iterable[dict]]) -> dict[str, int]:
    """Stream the export document to *out* (:func:`json_text`); return the number of records written per kind."""
    written: dict[str, int] = {}
    write = out.write
    for piece in json_text(header, sections, written):
        write(piece)
    return written


def decode_utf8(raw: bytes, what: str = "the file") -> str:
    """Decode *raw* as strict UTF-8 (a leading BOM is allowed); InvalidInputError otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{what} is not UTF-8 text (invalid byte at offset {exc.start}).",
            "Export the data again as UTF-8; nothing was changed.") from None
    return text[1:] if text.startswith("\ufeff") else text


def parse_json_text(text: str, what: str = "the file") -> Any:
    """``json.loads`` with every failure turned into a one-line InvalidInputError."""
    if not text.strip():
        raise InvalidInputError(f"{what} is empty.", "Nothing was changed.")
    try:
        return records.decode(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"{what} is not valid JSON: {_where(exc.msg)} line {exc.lineno}, column {exc.colno}.",
            "Nothing was changed.") from None
    except RecursionError:
        raise InvalidInputError(f"{what} nests arrays or objects too deeply to be an export.",
                                "Nothing was changed.") from None
    except ValueError as exc:  # NaN/Infinity, integers with too many digits
        raise InvalidInputError(f"{what} is not valid JSON: {exc}.", "Nothing was changed.") from None


def read_json(raw: bytes) -> ImportDocument:
    """Parse and validate a JSON export document (all or nothing)."""
    obj = parse_json_text(decode_utf8(raw))
    return validate_document(obj)


def _where(msg: str) -> str:
    """json's message and "at", once: some of its messages end in "at" already ("Unterminated
    string starting at")."""
    return msg if msg.endswith(" at") else msg + " at"

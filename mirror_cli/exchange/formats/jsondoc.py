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
A section may also come already encoded (:class:`Encoded`: each record as
the text ``_encode(record)`` gives), which is copied as is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import Any, TextIO

from mirror_cli.errors import InvalidInputError
from mirror_cli.exchange.kinds import KINDS, ImportDocument

_encode = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), check_circular=False, allow_nan=False
).encode
_BATCH = 512


class Encoded:
    """A section whose records are already encoded: each one compact JSON object text.

    Writers of the JSON formats copy such text as is (it must parse to the
    record ``_encode`` would have written); other writers need plain records.
    """

    __slots__ = ("records",)

    def __init__(self, records: Iterable[str]) -> None:
        self.records = records

    def __iter__(self) -> Iterator[str]:
        return iter(self.records)


def encoded_records(records: Iterable[Any]) -> Iterable[str]:
    """The records of a section as compact JSON texts (an :class:`Encoded` section as it is)."""
    return records if isinstance(records, Encoded) else map(_encode, records)


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


def write_json(out: TextIO, header: Mapping[str, Any], sections: Mapping[str, Iterable[dict]]) -> dict[str, int]:
    """Stream the export document to *out*; return the number of records written per kind.

    *sections* maps section names (see :data:`~mirror_cli.exchange.kinds.KINDS`)
    to iterables of records; each iterable is consumed once, in order.
    """
    unknown = set(sections) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown section(s): {sorted(unknown)}")
    write = out.write
    write("{" + ",".join(f"{_encode(k)}:{_encode(v)}" for k, v in header_items(header)))
    first_key = not header
    written: dict[str, int] = {}
    for kind in KINDS:
        if kind not in sections:
            continue
        write(("" if first_key else ",") + f"\n{_encode(kind)}:[")
        first_key = False
        n = 0
        for batch in batches(encoded_records(sections[kind])):
            write("\n" if n == 0 else ",\n")
            write(",\n".join(batch))
            n += len(batch)
        write("\n]")
        written[kind] = n
    write("}\n")
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


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def parse_json_text(text: str, what: str = "the file") -> Any:
    """``json.loads`` with every failure turned into a one-line InvalidInputError."""
    if not text.strip():
        raise InvalidInputError(f"{what} is empty.", "Nothing was changed.")
    try:
        return json.loads(text, parse_constant=_reject_constant)
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
    from mirror_cli.exchange.validate import validate_document

    obj = parse_json_text(decode_utf8(raw))
    return validate_document(obj)


def _where(msg: str) -> str:
    """json's message and "at", once: some of its messages end in "at" already ("Unterminated
    string starting at")."""
    return msg if msg.endswith(" at") else msg + " at"

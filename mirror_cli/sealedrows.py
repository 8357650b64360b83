"""The export's JSON text of sealed reflection rows, built without a dict per row.

:func:`row_json` gives, for a row read from an encrypted database, exactly the
text ``exchange.jsondoc._encode`` writes for its export dict: the row is opened
in one call (``fields.open_row``), its strings are escaped by the C string
encoder, and the tags' stored JSON is made compact without a round trip when
that is exact (:func:`compact_tags`). :func:`rows_json` does the same for a
whole cursor in one loop (the AEAD called directly, the record id's part of the
associated data encoded once per row), and hands any row it cannot take that
way to the per-row path, which gives the same text or raises the same error.

A large export is built on two cores by ``mirror_cli.exportsplit``: a helper
process reads and builds the later part of the rows straight from the database
(sending rows to a helper instead, pickled, cost more than it saved; see
benchmarks/README.md).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

FIELDS = ("content", "response", "tags")

Row = Sequence[Any]  # (id, created_at, updated_at, content, response, mode, tags, local_only)


def compact_tags(text: str, encode: Callable[[Any], str]) -> str:
    """Stored tags text (``json.dumps(list)``: ``["a", "b"]``) in the export's compact form (``["a","b"]``).

    Without a backslash no string holds a quote, so every ``", "`` is a
    separator; anything else (a space left over, not a list of strings) is
    parsed and re-encoded.
    """
    if text == "[]":
        return text
    if "\\" not in text and text.startswith('["') and text.endswith('"]'):
        compact = text.replace('", "', '","')
        if ", " not in compact:
            return compact
    return encode(json.loads(text))


def clear_text(row: Row) -> bool:
    """True when the clear columns of *row* hold text, as mirror writes them (else: the dict path)."""
    return str is type(row[0]) is type(row[1]) is type(row[2]) is type(row[5])


def row_json(row: Row, open_row: Callable[..., list[Any]], quote: Callable[[str], str],
             encode: Callable[[Any], str]) -> str:
    """One row ``(id, created_at, updated_at, content, response, mode, tags, local_only)`` whose clear
    columns are text (:func:`clear_text`), as the export's JSON object text."""
    rid, created, updated, content, response, mode, tags, local = row
    content, response, tags = open_row("reflections", rid, FIELDS, (content, response, tags))
    return "".join((
        '{"id":', quote(rid), ',"created_at":', quote(created), ',"updated_at":', quote(updated),
        ',"content":', quote(content), ',"response":', "null" if response is None else quote(response),
        ',"mode":', quote(mode), ',"tags":', compact_tags(tags, encode),
        ',"local_only":', "true" if local else "false", "}"))


def rows_json(rows: Iterable[Row], fields: Any, quote: Callable[[str], str], encode: Callable[[Any], str],
              slow: Callable[[Row], str]) -> Iterator[str]:
    """:func:`row_json` of every row of *rows*, for an encrypted store's *fields* (``SealedFields``).

    A row whose clear columns are not all text, whose envelopes do not pass the
    version and length checks, or that fails to decrypt or decode, goes to
    ``slow(row)`` (``row_json`` through ``fields.open_row``, or the dict path),
    which builds the same text or raises the error naming the record.
    """
    from mirror_cli import crypto

    cipher = getattr(fields, "cipher", None)
    if type(cipher) is not crypto.FieldCipher:  # a reader without the batch form: row by row
        yield from map(slow, rows)
        return
    decrypt, ((cb, ca), (rb, ra), (tb, ta)) = cipher.row_parts("reflections", FIELDS)
    version, start, least = crypto.FIELD_VERSION, crypto._NONCE_END, crypto._MIN_ENVELOPE
    pack = struct.Struct(">I").pack
    for row in rows:
        rid, created, updated, content, response, mode, tags, local = row
        try:
            if not (str is type(rid) is type(created) is type(updated) is type(mode)):
                raise ValueError
            if content[0] != version or len(content) < least or tags[0] != version or len(tags) < least:
                raise ValueError
            r = rid.encode("utf-8")
            r = pack(len(r)) + r
            text = decrypt(content[1:start], content[start:], cb + r + ca).decode("utf-8")
            tag_text = decrypt(tags[1:start], tags[start:], tb + r + ta).decode("utf-8")
            if response is None:
                answer = "null"
            else:
                if response[0] != version or len(response) < least:
                    raise ValueError
                answer = quote(decrypt(response[1:start], response[start:], rb + r + ra).decode("utf-8"))
        except Exception:  # noqa: BLE001 - the per-row path decides: the same text, or the error
            yield slow(row)
            continue
        yield (f'{{"id":{quote(rid)},"created_at":{quote(created)},"updated_at":{quote(updated)},'
               f'"content":{quote(text)},"response":{answer},"mode":{quote(mode)},'
               f'"tags":{compact_tags(tag_text, encode)},"local_only":{"true" if local else "false"}}}')


def export_rows_json(rows: Iterable[Row], fields: Any) -> Iterator[str]:
    """:func:`rows_json` with the export's encoders and per-row path: the text ``mirror export`` writes for
    each sealed row (used by the export and by its helper process, ``mirror_cli.exportsplit``)."""
    from json.encoder import encode_basestring as quote  # the C encoder: '"' + escaped text + '"'

    from mirror_cli.exchange.formats.jsondoc import _encode as encode

    open_row = fields.open_row

    def slow(row: Row) -> str:
        if clear_text(row):
            return row_json(row, open_row, quote, encode)
        # a clear column that is not text (changed outside mirror): the dict path, exactly as the export takes it
        from types import SimpleNamespace

        from mirror_cli.exchange.export import _reflection_dicts

        return encode(next(_reflection_dicts(SimpleNamespace(fields=fields), [row])))

    return rows_json(rows, fields, quote, encode, slow)

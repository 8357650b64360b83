"""The export's JSON text of sealed reflection rows, built without a dict per row.

:func:`row_json` gives, for a row read from an encrypted database, exactly the
text ``exchange.jsondoc._encode`` writes for its export dict: the row is opened
in one call (``fields.open_row``), its strings are escaped by the C string
encoder, and the tags' stored JSON is made compact without a round trip when
that is exact (:func:`compact_tags`).

Measured and left out: building every other block of rows in a helper process
(the way ``mirror_cli.scan`` splits a search). The rows must then be read here
and sent across (pickling and unpickling cost more than a third of the work
they save), so the export got no faster on two cores; see benchmarks/README.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
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

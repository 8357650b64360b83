"""Export and import formats (CONTRACT.md, "Your data, out and in").

Pure, streaming format code: writers take a header dict and, per kind, an
iterable of plaintext records in the export shape; readers turn bytes or a
binary stream into a validated :class:`ImportDocument`. Nothing here touches
the database, the key or the terminal.

Modules: :mod:`.jsondoc` (the JSON document), :mod:`.jsonl` (JSON Lines),
:mod:`.markdown`, :mod:`.csvfmt`, :mod:`.jrnl` (jrnl's JSON export, import
only), :mod:`.validate` (the import rules) and :mod:`.detect` (format
detection and :func:`~.detect.load_document`).
"""

from __future__ import annotations

from mirror_cli.exchange.kinds import KINDS, RECORD_TYPES, ImportDocument, parse_kinds

__all__ = ["KINDS", "RECORD_TYPES", "ImportDocument", "parse_kinds"]

"""Import entry point: detect the format and load a validated document.

``detect_format`` looks only at the first bytes: a first line that is a
complete JSON object with ``"type": "header"`` is JSON Lines; a document
whose first key is ``"tags"`` or ``"entries"`` is jrnl's export, and a file
starting with ``[YYYY-MM-DD HH:MM] `` is jrnl's text journal; anything
else is treated as the JSON export document (and validation then says what
is wrong with it).
"""

from __future__ import annotations

import io
import json
import re
from typing import IO

from mirror_cli.errors import InvalidInputError, UsageError
from mirror_cli.exchange.formats.jrnl import read_jrnl
from mirror_cli.exchange.formats.jrnltext import looks_like_text
from mirror_cli.exchange.formats.jsondoc import read_json
from mirror_cli.exchange.formats.jsonl import read_jsonl
from mirror_cli.exchange.document import ImportDocument

FORMATS = ("auto", "json", "jsonl", "jrnl")
PEEK = 64 * 1024
_FIRST_KEY = re.compile(rb'\s*\{\s*"([A-Za-z_]{1,32})"\s*:')


def detect_format(first_bytes: bytes) -> str:
    """``"json"``, ``"jsonl"`` or ``"jrnl"`` from the first bytes of a file."""
    data = first_bytes[3:] if first_bytes.startswith(b"\xef\xbb\xbf") else first_bytes
    data = data.lstrip(b" \t\r\n")
    newline = data.find(b"\n")
    if newline != -1:
        try:
            first = json.loads(data[:newline].decode("utf-8"))
        except (ValueError, RecursionError):
            first = None
        if isinstance(first, dict) and first.get("type") == "header":
            return "jsonl"
    if looks_like_text(data[:4096]):
        return "jrnl"
    m = _FIRST_KEY.match(data)
    if m:
        key = m.group(1)
        if key == b"type":
            return "jsonl"
        if key in (b"tags", b"entries"):
            return "jrnl"
    return "json"


class Prefixed(io.RawIOBase):
    """A raw stream that replays already-read bytes before the rest of *fh*."""

    def __init__(self, prefix: bytes, fh: IO[bytes]) -> None:
        self._prefix = prefix
        self._fh = fh

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        if self._prefix:
            n = min(len(buf), len(self._prefix))
            buf[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._fh.read(len(buf))
        n = len(data or b"")
        buf[:n] = data or b""
        return n

    def readall(self) -> bytes:
        # BufferedReader.read() of everything lands here; RawIOBase's default would loop over 8 KiB reads.
        data = self._prefix + (self._fh.read() or b"")
        self._prefix = b""
        return data


def _refuse_other_files(head: bytes) -> None:
    """A Markdown or CSV export (made for reading, not for import) or a backup is named as such."""
    if head.startswith((b"MIRRBAK", b"MIRRARC")):
        raise InvalidInputError("the file is a mirror backup, not an export.",
                                "Restore it with `mirror backup restore FILE`; nothing was changed.")
    data = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    data = data.lstrip(b" \t\r\n")
    if data.startswith(b"#"):
        what = "a Markdown export"
    elif data.startswith(b"id,created_at,") or data.startswith(b"id,pattern_type,") or data.startswith(b"seq,id,"):
        what = "a CSV export"
    else:
        return
    raise InvalidInputError(f"the file looks like {what}, which is for reading and cannot be imported.",
                            "Import a JSON or JSON Lines export (`mirror export --format json`); nothing was changed.")


def load_document(source: bytes | IO[bytes], fmt: str = "auto") -> ImportDocument:
    """Read, convert and validate an import from bytes or a binary stream (all or nothing).

    *fmt* is one of :data:`FORMATS`. JSON Lines is read line by line from a
    stream; the JSON document and jrnl formats are read whole. ``--only`` is
    the caller's job (:meth:`ImportDocument.only`).
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown import format {fmt!r}.", "Use one of auto, json, jsonl, jrnl.")
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        stream: IO[bytes] | None = None
        head = data[:PEEK]
    else:
        head = source.read(PEEK)
        if isinstance(head, str):
            raise TypeError("load_document needs a binary stream (e.g. sys.stdin.buffer)")
        stream, data = source, None
    if len(head) < PEEK and not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise InvalidInputError("the file is empty.", "Nothing was changed.")
    if fmt != "jsonl":
        _refuse_other_files(head)
    if fmt == "auto":
        fmt = detect_format(head)
    if fmt == "jsonl":
        fh = io.BytesIO(data) if stream is None else io.BufferedReader(Prefixed(head, stream), 1 << 20)
        return read_jsonl(fh)
    if data is None:
        data = head + stream.read()
    if fmt == "jrnl":
        return read_jrnl(data)
    return read_json(data)


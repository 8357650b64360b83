"""The export's JSON text of sealed reflection rows, built on two cores.

Opening a sealed row (AES-GCM) and escaping its text hold the GIL, so for a
journal of at least :data:`PARALLEL_MIN_ROWS` reflections the rows are handed
out in turns: this process builds :data:`BLOCK` rows while a helper process
(``python -m mirror_cli.sealedrows``) builds the next ``HELPER_SHARE * BLOCK``
(this process also reads every row and passes them on, so the helper gets more).

This process reads every row itself (one snapshot, in order) and sends the
helper the odd blocks' stored values -- ciphertext and SQLite-quoted clear
columns, never plaintext -- as length-prefixed pickles on its stdin, after the
data key (32 bytes). The helper answers each block with one frame: ``T`` and
the block's JSON object texts joined by newlines (they hold no raw newline), or
``E`` and ``{"message", "hint"}`` for a row that fails to open, raised here as
the same :class:`VerificationError`. Nothing is unpickled from the helper. If
the helper cannot start or stops answering, this process builds the rest
itself, so the output never depends on it. Memory stays at about two blocks.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, BinaryIO

from mirror_cli.errors import VerificationError

PARALLEL_MIN_ROWS = 20_000
BLOCK = 2000
HELPER_SHARE = 2  # the helper takes this many blocks per block built here (it has less else to do)
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


def two_cores(rows: Iterable[Row], n: int, local: Callable[[list[Row]], Iterable[str]],
              dek: bytes | None) -> Iterator[str]:
    """The JSON texts of *rows* (in order): *local* builds a block here, the helper every other one."""
    it = iter(rows)
    helper = _Helper.start(dek) if n >= max(PARALLEL_MIN_ROWS, 2) and dek is not None and _cores() >= 2 else None
    try:
        while True:
            even = list(islice(it, BLOCK))
            if not even:
                return
            odd = list(islice(it, BLOCK * HELPER_SHARE))
            sent = False
            if odd and helper is not None and all(map(clear_text, odd)):
                sent = helper.send(odd)
                if not sent:
                    helper.close()
                    helper = None
            yield from local(even)
            if not odd:
                return
            text = helper.receive() if sent and helper is not None else None
            if text is None:
                if sent and helper is not None:
                    helper.close()
                    helper = None
                yield from local(odd)
            else:
                yield from text.split("\n")
    finally:
        if helper is not None:
            helper.close()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class _Helper:
    def __init__(self, proc: Any) -> None:
        self.proc = proc
        self.writer: Any = None
        self.failed = False

    @classmethod
    def start(cls, dek: bytes) -> _Helper | None:
        import subprocess

        if getattr(sys, "frozen", False) or not sys.executable:
            return None
        env = dict(os.environ)
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        try:
            proc = subprocess.Popen([sys.executable, "-m", "mirror_cli.sealedrows"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        except OSError:
            return None
        helper = cls(proc)
        try:
            proc.stdin.write(dek)
            proc.stdin.flush()
        except OSError:
            helper.close()
            return None
        return helper

    def send(self, block: list[Row]) -> bool:
        """Hand *block* to the helper from a thread (the pipe blocks until the helper reads it)."""
        import threading

        payload = pickle.dumps([tuple(r) for r in block], protocol=pickle.HIGHEST_PROTOCOL)
        frame = struct.pack(">I", len(payload)) + payload
        self.failed = False

        def write() -> None:
            try:
                self.proc.stdin.write(frame)
                self.proc.stdin.flush()
            except (OSError, ValueError):
                self.failed = True

        self.writer = threading.Thread(target=write, daemon=True)
        self.writer.start()
        return True

    def receive(self) -> str | None:
        """The block's text; None when the helper gave no usable answer. A damaged row -> VerificationError."""
        head = _read(self.proc.stdout, 5)
        self.writer.join()
        if self.failed:
            return None
        if len(head) < 5 or head[:1] not in (b"T", b"E"):
            return None
        body = _read(self.proc.stdout, struct.unpack(">I", head[1:])[0])
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if head[:1] == b"T":
            return text
        try:
            err = json.loads(text)
            message, hint = str(err["message"]), err.get("hint")
        except (ValueError, KeyError, TypeError):
            return None
        raise VerificationError(message, hint if isinstance(hint, str) else None)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        if self.writer is not None:
            self.writer.join()  # its write fails (broken pipe) once the helper is gone
        for fh in (self.proc.stdin, self.proc.stdout):
            try:
                fh.close()
            except OSError:
                pass


def _read(fh: BinaryIO, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        chunk = fh.read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _main() -> int:
    """The helper: a data key, then blocks of rows on stdin; one frame per block on stdout."""
    from json.encoder import encode_basestring as quote

    from mirror_cli import crypto
    from mirror_cli.errors import MirrorError
    from mirror_cli.exchange.jsondoc import _encode
    from mirror_cli.fields import SealedFields

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    dek = _read(stdin, crypto.KEY_SIZE)
    if len(dek) != crypto.KEY_SIZE:
        return 1
    open_row = SealedFields(crypto.FieldCipher(dek)).open_row
    while True:
        head = _read(stdin, 4)
        if len(head) < 4:
            return 0
        block = pickle.loads(_read(stdin, struct.unpack(">I", head)[0]))
        try:
            kind, body = b"T", "\n".join(row_json(r, open_row, quote, _encode) for r in block).encode("utf-8")
        except MirrorError as exc:
            kind, body = b"E", json.dumps({"message": exc.message, "hint": exc.hint}).encode("utf-8")
        stdout.write(kind + struct.pack(">I", len(body)) + body)
        stdout.flush()
        if kind == b"E":
            return 0


if __name__ == "__main__":
    sys.exit(_main())

"""Export of an encrypted journal on two cores: a helper process builds the later half of the rows.

Decrypting and building each sealed row's JSON text holds the GIL, so for a
window of at least :data:`PARALLEL_MIN_ROWS` reflections (and when this
process may use two CPUs or more) :func:`reflection_json` splits the rows in
export order (``created_at, id``) at a boundary time: this process builds the
rows created before it while a helper process (``python -m mirror_cli.exportsplit``)
builds the rows created at or after it. The helper is started first, with the
database path, the data key and the time window as JSON on its stdin (never in
argv or the environment); it opens the file read-only and, in one read
transaction, reads the *change marker*, picks the boundary as this process
does (:func:`boundary`: the creation time of the row at :data:`SPLIT` of the
window, read from the ``created_at`` index), reads its rows straight from the
database (nothing is pickled) and writes one line per record to its stdout:
first a header line ``{"marker": ..., "bound": ...}``, then each record's JSON
text (which never holds a raw newline), then a trailer line ``{"done": n}``
(or ``{"error": ...}`` for a row that fails to open). A thread here drains that
pipe into memory while this process builds its own part (at most
:data:`BUFFER_BYTES`, then the helper waits on the pipe; nothing reaches the
disk), and this process copies the helper's records after its own. This process takes a little
more than half (:data:`SPLIT`), as the helper starts later.

Same state, or no helper
------------------------
This process runs inside the export's read transaction; the helper reads its
marker and its rows in one read transaction of its own. The marker is the
store's change counter (``meta.clock``, advanced by every write of mirror's),
the key record (``meta.crypto``: ``key enable|disable|change`` rewrite rows
without advancing the counter), and the reflections' count, ``max(rowid)`` and
``max(rev)``. The helper's rows are used only when its marker and boundary equal
the ones read here and it reports exactly the number of rows this snapshot
holds from the boundary on; on any doubt (a write landed before the helper's
transaction began, the helper failed to start, died, timed out, reported a row
it could not open, or answered anything else) this process builds that part
itself from its own snapshot, from the first record it has not copied (a
damaged row then fails here, with the usual error). The output is therefore always
the text the single-process path gives for this snapshot, byte for byte.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from mirror_cli import helperproc
from mirror_cli.helperproc import cores as _cores

PARALLEL_MIN_ROWS = 20_000
BUFFER_BYTES = 64 << 20  # the helper's output held here at most (it then waits on the pipe)
READ_TIMEOUT = 60.0  # seconds without output after which the helper is treated as gone
SPLIT = (11, 20)  # the helper's rows start at this fraction of the window (it starts ~0.1 s later)
COLUMNS = "id, created_at, updated_at, content, response, mode, tags, local_only"
ORDER = " ORDER BY created_at ASC, id ASC"
MARKER_SQL = ("SELECT (SELECT value FROM meta WHERE key = 'clock'), (SELECT value FROM meta WHERE key = 'crypto'),"
              " count(*), max(rowid), (SELECT max(rev) FROM reflections) FROM reflections")

Builder = Callable[[Iterable[Sequence[Any]]], Iterator[str]]


def _where(where: list[str], extra: str | None = None) -> str:
    conds = list(where) + ([extra] if extra else [])
    return " WHERE " + " AND ".join(conds) if conds else ""


def _select(where: list[str], extra: str | None) -> str:
    return f"SELECT {COLUMNS} FROM reflections" + _where(where, extra) + ORDER


def marker(conn: Any) -> list[Any]:
    return list(conn.execute(MARKER_SQL).fetchone())


def boundary(conn: Any, where: list[str], params: list[str], n: int) -> Any:
    """The creation time where the helper's part of a window of *n* rows starts."""
    row = conn.execute("SELECT created_at FROM reflections" + _where(where) + " ORDER BY created_at LIMIT 1 OFFSET ?",
                       [*params, n * SPLIT[0] // SPLIT[1]]).fetchone()
    return None if row is None else row[0]


def _count(conn: Any, where: list[str], params: list[Any], extra: str | None = None) -> int:
    return conn.execute("SELECT count(*) FROM reflections" + _where(where, extra), params).fetchone()[0]


def reflection_json(store: Any, where: list[str], params: list[str], build: Builder, *,
                    parallel_min_rows: int | None = None) -> Iterator[str]:
    """Each reflection of the window (``where``/``params``, as ``journal.time_window`` gives) as its JSON
    text, oldest first; *build* turns rows of :data:`COLUMNS` into those texts (the single-process path).

    Call it inside a read transaction (``store.read()``), as the export does.
    """
    conn = store.conn
    helper = bound = None
    if _cores() >= 2 and getattr(store, "data_key", None) is not None:
        n = _count(conn, where, params)
        if n >= max(PARALLEL_MIN_ROWS if parallel_min_rows is None else parallel_min_rows, 2):
            helper = _Helper.start(store, where, params)
            if helper is not None:
                bound = boundary(conn, where, params, n)
                if type(bound) is not str:  # not what mirror writes: one process, as before
                    helper.kill()
                    helper = None
    if helper is None:
        yield from build(conn.execute(_select(where, None), params))
        return
    upper = [*params, bound]
    try:
        helper.expect(marker(conn), bound, _count(conn, where, upper, "created_at >= ?"))
        yield from build(conn.execute(_select(where, "created_at < ?"), upper))
        done = 0
        if helper.same_state():
            for text in helper.records():
                yield text
                done += 1
            if helper.complete(done):
                return
    finally:
        helper.kill()
    # the helper's part, or what it did not finish, from this snapshot (a damaged row fails here)
    yield from build(conn.execute(_select(where, "created_at >= ?") + " LIMIT -1 OFFSET ?", [*upper, done]))


class _Helper:
    """The helper process building the rows from the boundary on; a thread drains its stdout.

    The thread keeps at most :data:`BUFFER_BYTES` of unread output (then the
    helper waits on the pipe), so memory stays bounded however large the journal.
    """

    def __init__(self, proc: Any) -> None:
        import collections

        self.proc = proc
        self.marker: list[Any] = []
        self.bound: Any = None
        self.expected = -1
        self.chunks: collections.deque[bytes] = collections.deque()
        self.size = 0
        self.eof = False
        self.closed = False
        self.cond = threading.Condition()
        self.rest = b""
        self.lines: list[str] = []
        self.trailer: Any = None
        self.thread = threading.Thread(target=self._drain, name="mirror-export-helper", daemon=True)
        self.thread.start()

    @classmethod
    def start(cls, store: Any, where: list[str], params: list[str]) -> _Helper | None:
        if getattr(store, "path", None) is None:
            return None
        proc = helperproc.start("mirror_cli.exportsplit", {"db": os.path.abspath(str(store.path)),
                                                           "key": store.data_key.hex(),
                                                           "where": where, "params": params})
        if proc is None:
            return None
        try:  # a larger pipe: fewer wake-ups of the draining thread (Linux; harmless where absent)
            import fcntl

            fcntl.fcntl(proc.stdout.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
        except (ImportError, OSError):
            pass
        return cls(proc)

    def expect(self, marker: list[Any], bound: str, count: int) -> None:
        """What this snapshot holds: the helper's records are used only if it read the same."""
        self.marker, self.bound, self.expected = marker, bound, count

    def _drain(self) -> None:
        fd = self.proc.stdout.fileno()
        cond = self.cond
        try:
            while chunk := os.read(fd, 1 << 20):
                with cond:
                    while self.size > BUFFER_BYTES and not self.closed:
                        cond.wait()
                    if self.closed:
                        break
                    self.chunks.append(chunk)
                    self.size += len(chunk)
                    cond.notify_all()
        except OSError:
            pass
        finally:
            with cond:
                self.eof = True
                cond.notify_all()

    def _more(self) -> bool:
        """Decode the next chunk of output into :attr:`lines` (whole lines only); False at the end of it."""
        with self.cond:
            while not self.chunks and not self.eof:
                if not self.cond.wait(timeout=READ_TIMEOUT):
                    return False  # silent too long: treated as gone
            if not self.chunks:
                return False
            chunk = self.chunks.popleft()
            self.size -= len(chunk)
            self.cond.notify_all()
        buf = self.rest + chunk
        cut = buf.rfind(b"\n")
        if cut < 0:
            self.rest = buf
            return True
        self.rest = buf[cut + 1:]
        try:
            self.lines = buf[:cut].decode("utf-8").split("\n")
        except UnicodeDecodeError:
            return False
        self.lines.reverse()
        return True

    def _line(self) -> str | None:
        while not self.lines:
            if not self._more():
                return None
        return self.lines.pop()

    def same_state(self) -> bool:
        """Read the helper's header: True when it read this snapshot (same marker, same boundary)."""
        head = self._line()
        try:
            answer = json.loads(head) if head is not None else None
        except ValueError:
            return False
        return isinstance(answer, dict) and answer.get("marker") == self.marker and answer.get("bound") == self.bound

    def records(self) -> Iterator[str]:
        """The helper's record texts, up to its end-of-records line (a blank one) or the expected count."""
        for _ in range(self.expected):
            text = self._line()
            if not text:  # the end (""), or no more output (None)
                if text == "":
                    self.trailer = self._line()
                return
            yield text
        if self._line() == "":
            self.trailer = self._line()

    def complete(self, done: int) -> bool:
        """True when the helper said it built exactly the rows this snapshot holds, and exited cleanly."""
        try:
            tail = json.loads(self.trailer) if self.trailer is not None else None
        except ValueError:
            return False
        if not (done == self.expected and isinstance(tail, dict) and tail.get("done") == done):
            return False
        try:
            return self.proc.wait(timeout=READ_TIMEOUT) == 0
        except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired: not complete
            return False

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.thread.join()
        self.proc.stdout.close()


def _main() -> int:
    """The helper: read the request on stdin, write the marker, the records >= bound and a trailer."""
    import sqlite3
    from pathlib import Path

    from mirror_cli import crypto, sealedrows
    from mirror_cli.errors import MirrorError
    from mirror_cli.crypto.fields import SealedFields

    request = json.loads(sys.stdin.buffer.read())
    fields = SealedFields(crypto.FieldCipher(bytes.fromhex(request["key"])))
    conn = sqlite3.connect(Path(request["db"]).as_uri() + "?mode=ro", uri=True, isolation_level=None)
    out = sys.stdout.buffer
    try:
        conn.execute("BEGIN")
        where, params = request["where"], request["params"]
        bound = boundary(conn, where, params, _count(conn, where, params))
        out.write(json.dumps({"marker": marker(conn), "bound": bound}).encode("utf-8") + b"\n")
        rows = conn.execute(_select(where, "created_at >= ?"), [*params, bound])
        n = 0
        try:
            batch: list[str] = []
            for text in sealedrows.export_rows_json(rows, fields):
                batch.append(text)
                if len(batch) >= 500:
                    out.write(("\n".join(batch) + "\n").encode("utf-8"))
                    n += len(batch)
                    batch = []
            if batch:
                out.write(("\n".join(batch) + "\n").encode("utf-8"))
                n += len(batch)
            trailer: dict[str, Any] = {"done": n}
        except MirrorError:
            trailer = {"error": "a row failed to open"}
        out.write(b"\n" + json.dumps(trailer).encode("utf-8") + b"\n")  # a blank line ends the records
        out.flush()
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(_main())

"""A PostgreSQL table as a remote (``postgresql://HOST/DB?table=NAME``), through psycopg 3.

One table per remote, default ``mirror_objects``, created when absent::

    name text COLLATE "C" PRIMARY KEY, body bytea NOT NULL (STORAGE EXTERNAL), tag text NOT NULL

``COLLATE "C"`` makes the primary key sort by code point, as :meth:`list` promises and as every
other remote sorts, and lets a prefix be an index range (``name >= 'h/' AND name < 'h0'``, no
``LIKE``). ``STORAGE EXTERNAL``: the bodies are encrypted, so compressing them is wasted work, and
an uncompressed value is read in slices (:meth:`get_file` streams 1 MiB at a time).

Tag = the SHA-256 of the body in hex, written with the row (the same content, the same tag).
``put_new`` is a plain INSERT: the primary key lets exactly one of two racing writers win, the
other gets :class:`~.base.Exists`. ``put`` is an UPSERT. Every write is one statement or one
transaction, so a reader sees the old row, the new one or none; :meth:`batch` makes several writes
one transaction (a push's segments and head), and :meth:`put_new_many` sends many new objects with
one ``COPY`` (a first push). ``put_file`` and ``put_stream``
send the bytes with ``COPY`` in 1 MiB parts into a temporary table and publish them in the same
transaction, so no client holds a whole large object in memory.

psycopg is imported only here, and only when a ``postgresql://`` remote is opened (~185 ms). A
password never reaches this module: :mod:`.url` refuses one in the URL (use ``PGPASSWORD``,
``PGPASSFILE`` or ``~/.pgpass``), and error messages carry libpq's text, which never holds it.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

from mirror_cli.errors import UsageError
from mirror_cli.localfs import atomic_write, io_error
from mirror_cli.remotes.base import Exists, NotFound, ObjectInfo, RemoteError, check_name, check_prefix, chunks

DEFAULT_TABLE = "mirror_objects"
CHUNK = 1 << 20
SPOOL_IN_MEMORY = 8 << 20  # a put_stream larger than this waits in a private temp file until its commit
CONNECT_TIMEOUT_S = 10
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_TABLE_HINT = "Give ?table=NAME (letters, digits, '_'), optionally SCHEMA.NAME."


def load_psycopg() -> ModuleType:
    """psycopg, imported now (ImportError without the ``cloud`` extra); heavy, so only for this remote."""
    import psycopg  # noqa: PLC0415 - ~185 ms: only postgresql:// remotes pay for it

    return psycopg


def table_identifier(table: str) -> tuple[str, ...]:
    """``NAME`` or ``SCHEMA.NAME`` as identifier parts; :class:`UsageError` (exit 2) for anything else."""
    parts = tuple(table.split("."))
    if len(parts) > 2 or not all(_IDENT.fullmatch(p) for p in parts):
        raise UsageError(f"{table!r} is not a table name mirror uses.", _TABLE_HINT)
    return parts


def prefix_end(prefix: str) -> str | None:
    """The smallest string above every string starting with *prefix* (None: no upper bound)."""
    while prefix:
        last = ord(prefix[-1]) + 1
        if last == 0xD800:
            last = 0xE000  # skip the surrogates: no UTF-8 text holds them
        if last <= 0x10FFFF:
            return prefix[:-1] + chr(last)
        prefix = prefix[:-1]
    return None


class PostgresRemote:
    """The Remote protocol over one table of the database *conninfo* names (a libpq URL, no password)."""

    # One database: a committed row is there for every reader at once, so a missing object is missing.
    may_lag = False

    def __init__(self, conninfo: str, table: str = DEFAULT_TABLE, *, url: str | None = None,
                 where: str = "PostgreSQL") -> None:
        self._table_name = table
        self._parts = table_identifier(table)
        self._url = url or conninfo
        self._where = where
        self._conn: Any = None
        self._pg = load_psycopg()
        self._sql = self._pg.sql
        self._t = self._sql.Identifier(*self._parts)
        self._upload_ready = False
        try:
            self._conn = self._pg.connect(conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except self._pg.Error as exc:
            raise RemoteError(f"cannot connect to {self.describe()}: {_first_line(exc)}.",
                              "Check the host, port, database and user, and that a password, if one is "
                              "needed, is in PGPASSWORD, PGPASSFILE or ~/.pgpass.") from None
        try:
            self._ensure_table()
        except BaseException:
            self.close()
            raise

    @property
    def url(self) -> str:
        return self._url

    @property
    def table(self) -> str:
        return self._table_name

    def describe(self) -> str:
        return f"PostgreSQL table {self._table_name} at {self._where}"

    def __repr__(self) -> str:
        return f"PostgresRemote({self._where!r}, table={self._table_name!r})"

    def purge_history(self, owned: Callable[[str], bool]) -> list[str]:
        """After a wipe: the rows are gone; the server's own history is beyond a client's reach."""
        return [f"{self.describe()}: the rows are deleted, but the server may keep them in its WAL, point-in-time "
                "recovery and backups (Supabase keeps daily backups, and PITR where enabled) until those expire; "
                "VACUUM reclaims the table's space."]

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def __enter__(self) -> PostgresRemote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # -- reading -------------------------------------------------------------------------

    def get(self, name: str) -> bytes:
        check_name(name)
        row = self._one("read", name, "SELECT body FROM {t} WHERE name = %s", (name,), binary=True)
        if row is None:
            raise NotFound(f"no object {name} in {self.describe()}.")
        return bytes(row[0])

    def open(self, name: str) -> BinaryIO:
        out = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - the caller closes it
        try:
            self._read_into(name, out)
            out.seek(0)
        except BaseException:
            out.close()
            raise
        return out  # type: ignore[return-value] - a readable, seekable binary file

    def get_file(self, name: str, path: Path) -> None:
        check_name(name)
        self._size(name)  # NotFound before anything is written near *path*
        with atomic_write(path) as out:
            self._read_into(name, out)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        check_prefix(prefix)
        query, args = "SELECT name, tag, octet_length(body) FROM {t}", []
        end = prefix_end(prefix)
        if prefix:
            query += " WHERE name >= %s" + (" AND name < %s" if end is not None else "")
            args = [prefix] + ([end] if end is not None else [])
        rows = self._all("list", prefix, query + " ORDER BY name", args)
        return iter([ObjectInfo(name, tag, size) for name, tag, size in rows])

    # -- writing -------------------------------------------------------------------------

    def put_new(self, name: str, data: bytes) -> str:
        check_name(name)
        tag = hashlib.sha256(data).hexdigest()
        # ON CONFLICT DO NOTHING, not a unique violation: inside a batch an error would abort the transaction
        row = self._one("write", name, "INSERT INTO {t} (name, body, tag) VALUES (%s, %s, %s) "
                        "ON CONFLICT (name) DO NOTHING RETURNING tag", (name, data, tag))
        if row is None:
            raise Exists(f"{name} already exists in {self.describe()}; nothing was written.")
        return tag

    def put_new_many(self, items: Sequence[tuple[str, bytes]]) -> list[str]:
        """Create many objects at once (a first push): one ``COPY`` into a temporary table, then one
        INSERT of those whose name is free, in one transaction. Returns the names that were already
        taken (nothing written for them), as ``put_new`` would have raised :class:`~.base.Exists`."""
        rows = [(check_name(name), data, hashlib.sha256(data).hexdigest()) for name, data in items]
        conn = self._check_open()
        try:
            with conn.transaction():
                conn.execute("CREATE TEMPORARY TABLE IF NOT EXISTS mirror_bulk (name text COLLATE \"C\" NOT NULL, "
                             "body bytea NOT NULL, tag text NOT NULL) ON COMMIT DELETE ROWS")
                with conn.cursor() as cur, cur.copy("COPY pg_temp.mirror_bulk (name, body, tag) FROM STDIN "
                                                    "(FORMAT BINARY)") as copy:
                    copy.set_types(["text", "bytea", "text"])
                    for row in rows:
                        copy.write_row(row)
                made = {r[0] for r in conn.execute(self._q(
                    "INSERT INTO {t} (name, body, tag) SELECT name, body, tag FROM pg_temp.mirror_bulk "
                    "ON CONFLICT (name) DO NOTHING RETURNING name")).fetchall()}
                conn.execute("TRUNCATE pg_temp.mirror_bulk")  # inside an outer batch ON COMMIT comes later
        except self._pg.Error as exc:
            raise self._error("write", f"{len(rows)} objects", _first_line(exc)) from None
        return [name for name, _, _ in rows if name not in made]

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction: every write inside commits at its end, or none does (an error, a kill)."""
        conn = self._check_open()
        try:
            with conn.transaction():
                yield
        except self._pg.Error as exc:
            raise self._error("commit", "a batch of writes", _first_line(exc)) from None

    def put(self, name: str, data: bytes) -> str:
        check_name(name)
        tag = hashlib.sha256(data).hexdigest()
        self._run("write", name, "INSERT INTO {t} (name, body, tag) VALUES (%s, %s, %s) ON CONFLICT (name) "
                  "DO UPDATE SET body = EXCLUDED.body, tag = EXCLUDED.tag", (name, data, tag))
        return tag

    def put_file(self, name: str, path: Path, *, exclusive: bool = False) -> str:
        check_name(name)
        try:
            src = open(path, "rb")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            raise io_error("read", path, exc) from None
        with src:
            return self._upload(name, src, exclusive=exclusive, read_error=lambda exc: io_error("read", path, exc))

    def put_stream(self, name: str, *, exclusive: bool = False) -> PostgresWriter:
        return PostgresWriter(self, check_name(name), exclusive=exclusive)

    def delete(self, names: Iterable[str]) -> None:
        batch = [check_name(name) for name in names]
        if batch:
            self._run("delete", batch[0] if len(batch) == 1 else f"{len(batch)} objects",
                      "DELETE FROM {t} WHERE name = ANY(%s)", (batch,))

    # -- helpers -------------------------------------------------------------------------

    def _ensure_table(self) -> None:
        """Create the table when it is absent (a read-only user of an existing one needs no CREATE right)."""
        for attempt in (1, 2):
            try:
                with self._conn.transaction():
                    found = self._conn.execute("SELECT to_regclass(%s)", (".".join(
                        f'"{p}"' for p in self._parts),)).fetchone()[0]
                    if found is not None:
                        return
                    self._conn.execute(self._q('CREATE TABLE IF NOT EXISTS {t} (name text COLLATE "C" PRIMARY KEY, '
                                               "body bytea NOT NULL, tag text NOT NULL)"))
                    self._conn.execute(self._q("ALTER TABLE {t} ALTER COLUMN body SET STORAGE EXTERNAL"))
                return
            except self._pg.errors.UniqueViolation:
                if attempt == 2:  # another client created it at the same instant: look again
                    raise self._error("create the table", "", "it is being created by another client") from None
            except self._pg.Error as exc:
                raise self._error("create the table", "", _first_line(exc)) from None

    def _size(self, name: str) -> int:
        row = self._one("read", name, "SELECT octet_length(body) FROM {t} WHERE name = %s", (name,))
        if row is None:
            raise NotFound(f"no object {name} in {self.describe()}.")
        return int(row[0])

    def _read_into(self, name: str, out: BinaryIO) -> None:
        """Write the object's body to *out* in CHUNK slices, all from one snapshot (REPEATABLE READ)."""
        check_name(name)
        conn = self._check_open()
        own = conn.info.transaction_status == self._pg.pq.TransactionStatus.IDLE  # else inside a batch
        try:
            if own:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                size = self._size(name)
                for offset in range(0, size, CHUNK):
                    piece = conn.execute(self._q("SELECT substring(body FROM %s FOR %s) FROM {t} WHERE name = %s"),
                                         (offset + 1, CHUNK, name), binary=True).fetchone()
                    if piece is None:
                        raise NotFound(f"no object {name} in {self.describe()}.")
                    out.write(piece[0])
            finally:
                if own:
                    conn.execute("COMMIT")
        except self._pg.Error as exc:
            raise self._error("read", name, _first_line(exc)) from None

    def _upload(self, name: str, src: BinaryIO, *, exclusive: bool, read_error: Any) -> str:
        """Send *src* in CHUNK parts with COPY, then publish them as the object, in one transaction."""
        conn = self._check_open()
        digest = hashlib.sha256()
        publish = ("INSERT INTO {t} (name, body, tag) SELECT %s, b, encode(sha256(b), 'hex') FROM "
                   "(SELECT coalesce(string_agg(part, ''::bytea ORDER BY seq), ''::bytea) AS b "
                   "FROM pg_temp.mirror_upload) AS whole")
        if not exclusive:
            publish += " ON CONFLICT (name) DO UPDATE SET body = EXCLUDED.body, tag = EXCLUDED.tag"
        try:
            with conn.transaction():
                self._prepare_upload()
                with conn.cursor() as cur, cur.copy("COPY pg_temp.mirror_upload (seq, part) FROM STDIN "
                                                    "(FORMAT BINARY)") as copy:
                    copy.set_types(["int4", "bytea"])
                    for seq, chunk in enumerate(chunks(src, read_error, CHUNK)):
                        digest.update(chunk)
                        copy.write_row((seq, chunk))
                tag = conn.execute(self._q(publish + " RETURNING tag"), (name,)).fetchone()[0]
        except self._pg.errors.UniqueViolation:
            raise Exists(f"{name} already exists in {self.describe()}; nothing was written.") from None
        except self._pg.Error as exc:
            raise self._error("write", name, _first_line(exc)) from None
        if tag != digest.hexdigest():
            raise RemoteError(f"{name} in {self.describe()} does not hold the bytes sent.", "Try again.")
        return str(tag)

    def _prepare_upload(self) -> None:
        """The session's temporary table of parts, emptied at each commit; created once per connection."""
        if not self._upload_ready:
            self._conn.execute("CREATE TEMPORARY TABLE IF NOT EXISTS mirror_upload (seq int4 NOT NULL, "
                               "part bytea NOT NULL) ON COMMIT DELETE ROWS")
            self._upload_ready = True

    def _q(self, query: str) -> Any:
        return self._sql.SQL(query).format(t=self._t)

    def _run(self, action: str, name: str, query: str, args: Any) -> None:
        try:
            self._check_open().execute(self._q(query), args)
        except self._pg.errors.UniqueViolation:
            raise Exists(f"{name} already exists in {self.describe()}; nothing was written.") from None
        except self._pg.Error as exc:
            raise self._error(action, name, _first_line(exc)) from None

    def _one(self, action: str, name: str, query: str, args: Any, *, binary: bool = False) -> Any:
        try:
            return self._check_open().execute(self._q(query), args, binary=binary).fetchone()
        except self._pg.Error as exc:
            raise self._error(action, name, _first_line(exc)) from None

    def _all(self, action: str, name: str, query: str, args: Any) -> list[Any]:
        try:
            return self._check_open().execute(self._q(query), args).fetchall()
        except self._pg.Error as exc:
            raise self._error(action, name, _first_line(exc)) from None

    def _check_open(self) -> Any:
        if self._conn is None or self._conn.closed:
            raise RemoteError(f"the remote {self.describe()} is closed.")
        return self._conn

    def _error(self, action: str, name: str, why: str) -> RemoteError:
        where = f"{name} in {self.describe()}" if name else self.describe()
        return RemoteError(f"cannot {action} {where}: {why}.")


class PostgresWriter:
    """:meth:`PostgresRemote.put_stream`: the bytes wait in a spooled temp file (memory up to 8 MiB,
    then a private file) and reach the database only at :meth:`commit`, in one transaction."""

    def __init__(self, remote: PostgresRemote, name: str, *, exclusive: bool) -> None:
        remote._check_open()
        self._remote, self._name, self._exclusive = remote, name, exclusive
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by close()
        self._done = False

    def write(self, data: bytes | memoryview) -> int:
        if self._done:
            raise RemoteError(f"{self._name} in {self._remote.describe()} was already committed or discarded.")
        try:
            return self._spool.write(data)
        except OSError as exc:
            raise RemoteError(f"cannot write {self._name} for {self._remote.describe()}: "
                              f"{exc.strerror or exc} (its local temp file).") from None

    def commit(self) -> str:
        if self._done:
            raise RemoteError(f"{self._name} in {self._remote.describe()} was already committed or discarded.")
        try:
            self._spool.seek(0)
            return self._remote._upload(self._name, self._spool, exclusive=self._exclusive,  # type: ignore[arg-type]
                                        read_error=lambda exc: RemoteError(
                                            f"cannot write {self._name}: {exc.strerror or exc} (its local temp file)."))
        finally:
            self.close()

    def close(self) -> None:
        if not self._done:
            self._done = True
            self._spool.close()

    def __enter__(self) -> PostgresWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line(exc: BaseException) -> str:
    """libpq's message, first line, without a trailing period (it names hosts and ports, never a password)."""
    text = str(exc).strip().splitlines()
    return (text[0].strip() if text else type(exc).__name__).rstrip(".")

"""The SQLite store: one file, one connection per process.

* created on first use: folder 0700, file 0600 (and its -wal/-shm files);
* ``journal_mode=WAL``, ``busy_timeout``, ``foreign_keys=ON``,
  ``secure_delete=ON`` (freed pages are zeroed, so deleted text does not linger);
* writes go through :meth:`Store.write`, a ``BEGIN IMMEDIATE`` transaction, so
  concurrent writers queue on the lock instead of failing mid-way;
* pending migrations are applied on open; a database whose schema is newer
  than this code is refused.

Key state is one attribute: ``store.key``, the :class:`~mirror_cli.crypto.unlocked.UnlockedKey`
of an unlocked encrypted database, else None (set by ``db.unlock.unlock_store`` and the ``mirror
key`` operations). The store uses it only to refuse writes with a key the database no longer
uses and to key its audit events; field codecs come from ``crypto.fields.codec(store)``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from mirror_cli import audit
from mirror_cli.db import keyless, migrations, objects
from mirror_cli.errors import LockedError, MirrorError, OperationError, UsageError, VerificationError
from mirror_cli.localfs import FILE_MODE, ensure_private_dir, marked_encrypted, path_marked_encrypted, unmark_path
from mirror_cli.ids import hlc_next, now_iso, ulid

if TYPE_CHECKING:  # the store holds the key; only crypto makes it (db sits below crypto)
    from mirror_cli.crypto.unlocked import UnlockedKey

BUSY_TIMEOUT_MS = 30_000
SYNC_SCHEMA = 7  # the migration that added sync's local state (rev_hlc)


class Store:
    """An open mirror database."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self.key: UnlockedKey | None = None  # the unlocked key of an encrypted database, else None
        self._opened_plain = False  # plaintext when opened (see EncryptedMeanwhile)
        # The passphrase variable set for a journal with no key record (db.open sets it): a write
        # without a key is then refused (_check_not_stripped); None for the `key` commands.
        self._migrations_dir: Path | None = None  # where the migrations the schema is checked against live
        self._schema_checked = False  # objects.differences found nothing (looked before the first write)
        self._keyless_checked = False  # keyless.encrypted_leftovers found nothing (looked once per store)

    # -- opening -------------------------------------------------------------
    @classmethod
    def open(cls, path: Path | str, *, migrate: bool = True,
             migrations_dir: Path | None = None, create: bool = True) -> Store:
        path = Path(path)
        if not path.exists() or (not create and _empty(path)):
            if not create:
                raise UsageError(f"no journal at {path}; nothing was created.",
                                 "Check --db, MIRROR_DB or `database` in the config; `mirror reflect` or "
                                 "`mirror import` starts a new journal.")
            ensure_private_dir(path.parent)
            try:
                fd = os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE)
                os.close(fd)
            except OSError as exc:
                raise OperationError(f"cannot create database {path}: {exc.strerror}.") from None
        elif path.is_dir():
            raise UsageError(f"{path} is a folder, not a database file.", "Check --db or MIRROR_DB.")
        else:
            _refuse_non_sqlite(path)
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000,
                                   check_same_thread=False)
        except sqlite3.Error as exc:
            raise OperationError(f"cannot open database {path}: {exc}.") from None
        store = cls(conn, path)
        store._migrations_dir = migrations_dir
        try:
            store._refuse_foreign()
            store._set_up(migrate, migrations_dir)
            store._opened_plain = not store.encrypted
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise _db_error(exc, path) from None
        except BaseException:
            conn.close()
            raise
        return store

    def _refuse_foreign(self) -> None:
        """Another program's SQLite file (tables, but never a mirror migration) is left alone:
        mirror would otherwise switch it to WAL and add its own tables to it."""
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "schema_migrations" not in tables:
            shown = ", ".join(sorted(tables)[:3]) + (", ..." if len(tables) > 3 else "")
            raise VerificationError(
                f"{self.path} is not a mirror database: it is another program's SQLite file (tables {shown}).",
                "Check --db, MIRROR_DB or `database` in the config; nothing was changed.")

    def _set_up(self, migrate: bool, migrations_dir: Path | None) -> None:
        """Configure the connection and migrate, retrying while another process holds the file.

        Most waits are SQLite's busy handler. But switching a new file to WAL
        escalates a shared lock, and SQLite answers "locked" at once, without
        waiting, when two processes do that together (it would deadlock): seen
        when several ``mirror reflect`` create the database at the same moment.
        Both steps are idempotent, so they are simply tried again.
        """
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        attempt = 0
        while True:
            try:
                self._configure()
                if migrate:
                    self.migrate_to_latest(migrations_dir)
                return
            except sqlite3.OperationalError as exc:
                if not is_busy(exc) or time.monotonic() >= deadline:
                    raise
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                attempt += 1
                time.sleep(min(0.005 * attempt, 0.1))

    def _configure(self) -> None:
        c = self.conn
        c.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = c.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise OperationError(f"cannot switch {self.path} to WAL mode (got {mode}).")
        c.execute("PRAGMA foreign_keys = ON")
        c.execute("PRAGMA secure_delete = ON")
        c.execute("PRAGMA synchronous = NORMAL")
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.chmod(str(self.path) + suffix, FILE_MODE)

    def migrate_to_latest(self, migrations_dir: Path | None = None) -> None:
        latest = migrations.latest_shipped(migrations_dir)
        # user_version is only a cache: schema_migrations decides, so a database
        # whose recorded migrations are newer than this code is still refused.
        if (latest and self.conn.execute("PRAGMA user_version").fetchone()[0] == latest
                and migrations.current_version(self.conn) == latest):
            self._ensure_meta()  # up to date: a few cheap queries
            return
        shipped = migrations.discover(migrations_dir)
        latest = shipped[-1].version if shipped else 0
        current = migrations.current_version(self.conn)
        if current > latest:
            raise OperationError(
                f"{self.path} has schema version {current}, newer than this mirror knows ({latest}).",
                "Upgrade mirror (pipx upgrade mirror-cli) to open it.",
            )
        plan = migrations.plan_up(self.conn, shipped)
        for m in plan:
            migrations.apply(self.conn, m, "up", now_iso())
        if not plan and current == latest:
            self.conn.execute(f"PRAGMA user_version = {int(latest)}")  # databases from before user_version
        self._ensure_meta()

    def _ensure_meta(self) -> None:
        if self.conn.execute("SELECT 1 FROM meta WHERE key = 'db_id'").fetchone():
            return
        with self.write():
            self.conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('db_id', ?)", (ulid(),))
            self.conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('clock', '0')")
            self.conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?)", (now_iso(),))

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions --------------------------------------------------------
    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE): commit on success, roll back on any error."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _db_error(exc, self.path) from None
        try:
            if not self._schema_checked:
                self._check_schema()
            if self.key is not None:
                self._check_key_current()
            else:
                self._check_not_stripped()
            yield self.conn
            self.conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            raise _db_error(exc, self.path) from None
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot for several queries."""
        self.conn.execute("BEGIN")
        try:
            yield self.conn
        finally:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("COMMIT")

    def tick(self) -> int:
        """Advance the per-database change counter; call inside write().

        Each change is also stamped with the hybrid logical clock (``rev_hlc``), so sync orders
        an edit by when it was made, not by when it was synced."""
        row = self.conn.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'clock' RETURNING value"
        ).fetchone()
        rev = int(row[0])
        try:
            stamp = hlc_next(self.meta("hlc"))
            self.set_meta("hlc", stamp)
            self.conn.execute("INSERT OR REPLACE INTO rev_hlc (rev, hlc) VALUES (?, ?)", (rev, stamp))
        except sqlite3.OperationalError:
            if self.schema_version >= SYNC_SCHEMA:
                raise  # before migration 0007 (`migrate down`) there is no clock to stamp
        return rev

    # -- meta ---------------------------------------------------------------
    def meta(self, key: str, default: str | None = None) -> str | None:
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.OperationalError:
            # Before migration 0001 (a new file, or `migrate down --to 0`) there is no meta table yet.
            if self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone():
                raise
            return default
        return row[0] if row else default

    def set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self.conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self.conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    @property
    def db_id(self) -> str:
        value = self.meta("db_id")
        assert value is not None
        return value

    @property
    def schema_version(self) -> int:
        return migrations.current_version(self.conn)

    # -- encryption state ---------------------------------------------------
    @property
    def encrypted(self) -> bool:
        return self.meta("crypto") is not None

    def _check_not_stripped(self) -> None:
        """Inside a write without a key (both read the key record once):

        * opened as plaintext but encrypted since (`key enable` elsewhere): EncryptedMeanwhile;
        * no key record, yet the file shows it was encrypted (:func:`.keyless.encrypted_leftovers`: a sealed value
          anywhere, a keyed audit run no verifying key.disabled closes): the key record was removed
          outside mirror, and the write is refused so that nothing is stored unencrypted. The file
          is looked at once per open store (a probe per table, answered by the partial indexes of migration 0009);
          audit.append refuses on its own when the newest event is keyed."""
        encrypted = self.encrypted
        if self._opened_plain and encrypted:
            raise EncryptedMeanwhile(
                "the journal was encrypted by another mirror process (`key enable`) while this one ran; "
                "nothing was written.", "Run the command again (with the passphrase).")
        if encrypted:
            return
        problem = None if self._keyless_checked else keyless.encrypted_leftovers(self.conn)
        if not problem and not self._keyless_checked and path_marked_encrypted(self.path):
            # This file was encrypted here once, and its db_id is no longer marked: a journal made anew
            # at the same place, or one whose db_id and indexes were forged. The tables tell.
            problem = keyless.encrypted_leftovers(self.conn, thorough=True)
            if not problem:
                unmark_path(self.path)  # a new journal: its writes need not read every row again
        if problem:
            raise VerificationError(
                f"this journal has no key record, yet {problem}: its key record is gone (removed outside mirror, "
                "tampering). Nothing was written, so that nothing is stored unencrypted.",
                "Restore the database from a backup (`mirror backup restore FILE`); `mirror audit verify` shows more.")
        self._keyless_checked = True
        if marked_encrypted(self.meta("db_id")):
            raise VerificationError(
                "this journal was encrypted on this machine (its key was enabled or unlocked here) but its key "
                "record is gone (removed outside mirror, tampering). Nothing was written, so that nothing is "
                "stored unencrypted.",
                "Restore the database from a backup (`mirror backup restore FILE`); `mirror audit verify` shows more.")

    def _check_schema(self) -> None:
        """Inside the first write of this store: refuse when a table, index, trigger or view is not what the
        migrations make (:mod:`.objects`). A planted object acts only when mirror writes (a trigger fires on
        INSERT, UPDATE or DELETE), so reading commands do not pay for the look (~2 ms)."""
        found = objects.differences(self.conn, self._migrations_dir)
        if found:
            raise VerificationError(
                f"the schema of {self.path} was changed outside mirror (tampering): {objects.summary(found)}; "
                "nothing was written.",
                "`mirror migrate check` lists every difference; restore the database from a backup "
                "(`mirror backup restore FILE`).")
        self._schema_checked = True

    def _check_key_current(self) -> None:
        """Inside a write: refuse to seal with a key the database no longer uses.

        Another process may have run `key disable` (or disable + enable) since
        this one unlocked; writing with the old key would store unreadable data.
        """
        raw = self.meta("crypto")
        current = None
        if raw is not None:
            try:
                current = json.loads(raw).get("key_id")
            except (ValueError, AttributeError):
                current = None
        if raw is None or (current is not None and current != self.key.key_id):
            raise OperationError("the database's encryption was changed by another mirror process while this "
                                 "one ran; nothing was written.", "Run the command again.")

    def append_event(self, event_type: str, data: dict | None = None, vouches=()):
        """Append an audit event; keyed once the database is encrypted. Call inside write()."""
        if self.key is None and self.encrypted:
            raise LockedError("this database is encrypted and no key is loaded.",
                              "Set MIRROR_PASSPHRASE_FILE or run `mirror key unlock`.")
        return audit.append(self.conn, event_type, data, vouches,
                            key=self.key.audit_key if self.key is not None else None)

    def record_if_writable(self, event_type: str, data: dict | None = None) -> bool:
        """Append an audit event for something that only read the journal (an export, a backup),
        in its own transaction; False instead of an error when the database is read-only, so a
        read-only journal can still be exported and backed up (the caller says it went unrecorded)."""
        try:
            with self.write():
                self.append_event(event_type, data)
        except ReadOnlyDatabase:
            return False
        return True

    def count(self, table: str) -> int:
        return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


SQLITE_MAGIC = b"SQLite format 3\x00"


def _empty(path: Path) -> bool:
    """True for an empty file with no WAL content: no journal yet (a reading command must not make one)."""
    try:
        if path.stat().st_size:
            return False
        return os.path.getsize(f"{path}-wal") == 0
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _refuse_non_sqlite(path: Path) -> None:
    """A file that is not SQLite at all (a README passed as --db) is a mistyped path, not a damaged
    journal: refused as a usage error before SQLite touches it, never met with advice to restore a
    backup over it. An empty file is left to SQLite (it is how a new database starts)."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError:
        return  # unreadable: SQLite's own error says why
    if head and head != SQLITE_MAGIC:
        raise UsageError(f"{path} is not a mirror database (not an SQLite file at all); nothing was changed.",
                         "Check --db, MIRROR_DB or `database` in the config.")


class EncryptedMeanwhile(OperationError):
    """A write from a process that found the journal plaintext, after another one encrypted it."""


class ReadOnlyDatabase(OperationError):
    """A write refused because the database (its file, folder or disk) is read-only."""


def is_busy(exc: sqlite3.Error) -> bool:
    """True when *exc* only says another connection holds the database ("database is locked",
    "database table is locked", SQLITE_BUSY): try again later, nothing is damaged."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _db_error(exc: sqlite3.Error, path: Path) -> MirrorError:
    """The MirrorError for a SQLite error on *path*; SQLite's messages are matched without regard to case."""
    text = str(exc)
    lowered = text.lower()
    if is_busy(exc):
        return OperationError(
            f"the database {path} is locked by another mirror process.",
            "Try again in a moment.",
        )
    if "could not decode to utf-8" in lowered:
        column = re.search(r"column '([^']*)'", text)  # SQLite's message goes on with the text itself: not shown
        return VerificationError(
            f"{path} holds text that is not valid UTF-8{f' (column {column.group(1)})' if column else ''}: "
            "it was changed outside mirror.",
            "Restore it from a backup: `mirror backup restore FILE`.",
        )
    if "not a database" in lowered or "malformed" in lowered or "file is encrypted" in lowered:
        return VerificationError(
            f"{path} is damaged or not a mirror database ({text}).",
            "Restore it from a backup: `mirror backup restore FILE`.",
        )
    if "disk is full" in lowered:
        return OperationError(f"cannot write {path}: the disk is full.", "Free some space and try again.")
    if "readonly" in lowered:
        return ReadOnlyDatabase(f"cannot write {path}: the database is read-only ({text}).",
                                "Check the file's permissions, and that its folder is writable and not "
                                "on a read-only disk.")
    if "disk i/o error" in lowered:  # SQLite says "disk I/O error": most often a (nearly) full disk
        return OperationError(f"cannot read or write {path} ({text}).",
                              "Check that its disk is not full (free some space), read-only or failing, and that "
                              "its folder is writable (SQLite creates -wal and -shm files beside the database).")
    if "unable to open" in lowered:
        return OperationError(f"cannot open {path} for writing ({text}).",
                              "SQLite needs to create its -wal and -shm files beside the database: check that "
                              "the folder is writable and that its disk is not full or read-only.")
    return OperationError(f"database error on {path}: {text}.")

"""Putting a checked snapshot in place of the journal, while other mirror processes may use it.

Other processes keep the database file open (a ``reflect`` queued behind a writer, a long
``export``). Renaming another file over it would leave them on the old inode: their later writes
would go to a file nobody reads (or to a WAL that was moved away), and the ``-shm`` index they
share with new processes would no longer match. So the restored content is written *into* the
live database by SQLite's backup API, as one write transaction under the journal's write lock:

1. the first step takes the write lock (waiting, like any writer, up to the busy timeout, then
   "locked": nothing changed); no other writer can commit until the copy is done;
2. with that lock held, a second connection, whose snapshot is the last committed state, copies
   the journal to ``<db>.before-restore-<UTC time>`` (SQLite's backup API again: a consistent copy
   that holds every write acknowledged so far);
3. the remaining steps copy the snapshot's pages and commit; other connections see a normal change
   (SQLite bumps the schema cookie) and every later write lands in the restored journal.

A live file SQLite cannot read at all (not a database, a damaged first page) cannot take part in
that: it is moved aside and the snapshot renamed in its place, as before.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

from mirror_cli.db.store import BUSY_TIMEOUT_MS, is_busy
from mirror_cli.errors import OperationError
from mirror_cli.localfs import FILE_MODE, _fsync_dir, aside_path, fsync_file, io_error


class _Unreadable(Exception):
    """The live file is not a database SQLite can lock and read (its first page)."""


def _locked(db: Path) -> OperationError:
    return OperationError(f"the database {db} is locked by another mirror process; nothing was restored.",
                          "Try again in a moment.")


def replace_database(snap: Path, db: Path, at: datetime) -> Path | None:
    """Make *db* hold the snapshot *snap*; keep what it held as ``<db>.before-restore-<time>`` (returned;
    None when there was no database). *snap* lies in a private working folder on *db*'s file system
    (a damaged *db* is swapped by rename), which the copy is written in before it gets its name."""
    if not db.exists():
        os.replace(snap, db)
        _fsync_dir(db.parent)
        return None
    try:
        return _write_into(snap, db, at)
    except _Unreadable:
        return _swap_file(snap, db, at)


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)


def _write_into(snap: Path, db: Path, at: datetime) -> Path:
    """Steps 1-3 of the module docstring."""
    live, reader, src = _connect(db), _connect(db), _connect(snap)
    try:
        try:
            page_size = live.execute("PRAGMA page_size").fetchone()[0]
            live.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            if is_busy(exc):
                raise _locked(db) from None
            raise _Unreadable from None
        if src.execute("PRAGMA page_size").fetchone()[0] != page_size:  # a WAL database takes only its own size
            src.execute(f"PRAGMA page_size = {int(page_size)}")
            src.execute("VACUUM")
        pages = src.execute("PRAGMA page_count").fetchone()[0]
        if pages < 2:  # the copy below needs a step that leaves the transaction open
            raise OperationError(f"the snapshot {snap} is empty; nothing was restored.")
        kept: list[Path] = []

        def step(status: int, _remaining: int, _total: int) -> None:
            if status in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise _locked(db)
            if not kept:  # the write lock is held, nothing is committed yet
                kept.append(_keep_copy(reader, db, at, snap.parent))

        try:
            src.backup(live, pages=pages - 1, progress=step)
        except sqlite3.Error as exc:
            if kept:  # the restore was rolled back: the copy is not a "before" of anything
                with contextlib.suppress(OSError):
                    kept[0].unlink()
            raise _locked(db) if is_busy(exc) else OperationError(
                f"cannot restore into {db} ({exc}); nothing was changed.") from None
        with contextlib.suppress(sqlite3.Error):
            live.execute("PRAGMA wal_checkpoint(PASSIVE)")  # as far as no reader needs the old pages
        return kept[0]
    finally:
        for conn in (src, reader, live):
            conn.close()


def _keep_copy(reader: sqlite3.Connection, db: Path, at: datetime, work: Path) -> Path:
    """Copy the last committed state of *db* (through *reader*) to a new ``<db>.before-restore-<time>``,
    a self-contained file (no WAL), mode 0600, on disk. It is written in *work* and renamed once
    whole: a killed restore leaves no partial copy under that name (the next run removes *work*)."""
    before = aside_path(db, "before-restore", at)
    tmp = work / "before-restore"
    try:
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
        out = sqlite3.connect(tmp, isolation_level=None)
        try:
            reader.backup(out)
            out.execute("PRAGMA journal_mode = DELETE")
        finally:
            out.close()
        fsync_file(tmp)
        os.replace(tmp, before)  # no other restore runs meanwhile: this one holds the write lock
        _fsync_dir(db.parent)
    except (sqlite3.Error, OSError) as exc:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
            with contextlib.suppress(OSError):
                leftover.unlink()
        if isinstance(exc, sqlite3.Error) and is_busy(exc):
            raise _locked(db) from None
        raise OperationError(f"cannot keep a copy of {db} as {before} ({exc}); nothing was restored.",
                             "Free some space and try again." if "full" in str(exc).lower() else None) from None
    return before


def _swap_file(snap: Path, db: Path, at: datetime) -> Path:
    """A database SQLite cannot read: moved aside (with its WAL) and the snapshot renamed in its place."""
    before = aside_path(db, "before-restore", at)
    try:
        try:
            os.link(db, before)
        except FileExistsError:
            raise
        except OSError:
            shutil.copy2(db, before)
        wal = Path(f"{db}-wal")
        if wal.exists():
            if wal.stat().st_size:
                os.replace(wal, f"{before}-wal")
            else:
                wal.unlink()
        with contextlib.suppress(FileNotFoundError):
            Path(f"{db}-shm").unlink()
        os.replace(snap, db)
    except OSError as exc:
        raise io_error("set aside", db, exc) from None
    _fsync_dir(db.parent)
    return before

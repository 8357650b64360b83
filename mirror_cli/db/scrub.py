"""Wiping old bytes out of the database file (after `key enable` and `delete --all`).

A command that leaves old text in freed pages (plaintext before encryption, deleted
reflections) marks ``meta.scrub_pending`` in its own transaction, then calls
:func:`scrub_or_warn`. A scrub that fails (a full disk) leaves the mark, and the next
mirror process that opens the database for a command finishes it (:func:`retry_scrub`,
called by :func:`mirror_cli.db.open.open_store`).

Another process that holds a read (a mirror command, or any program with the file open) keeps the
old pages in the main file: the checkpoint cannot copy the rebuilt file over them until it is done.
The scrub waits :data:`CHECKPOINT_WAIT` seconds for it, then raises :class:`OldBytesRemain` (exit 1),
the mark kept, rather than report a wipe that did not happen.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time

from mirror_cli.db.store import BUSY_TIMEOUT_MS, Store
from mirror_cli.errors import OperationError

SCRUB_PENDING = "scrub_pending"  # meta: old bytes (plaintext, deleted text) may remain in the file
CHECKPOINT_WAIT = 10.0  # seconds the final checkpoint waits for other processes' reads to end


class OldBytesRemain(OperationError):
    """What was asked for is committed, but another process's read keeps old bytes in the main file."""


def forget_deleted_words(conn: sqlite3.Connection) -> None:
    """Rewrite the full-text index without the entries of rows just deleted, in the caller's transaction.

    FTS5 records a deletion as a marker in a new segment and keeps the old segment (with the
    deleted words) until a merge; 'optimize' merges every segment into one, and secure_delete
    zeroes the pages it frees. FTS5's own 'secure-delete' option would be cheaper but needs
    SQLite 3.42+ (Python here may ship older) and changes the index format older versions read.
    """
    conn.execute("INSERT INTO reflections_fts (reflections_fts) VALUES ('optimize')")


def checkpoint(conn: sqlite3.Connection, wait: float) -> bool:
    """Copy the whole WAL into the main file and empty it, waiting up to *wait* seconds for other
    processes' reads; whether it was complete (``wal_checkpoint`` returns busy=1, or fewer frames
    checkpointed than logged, while a reader holds an older snapshot)."""
    deadline = time.monotonic() + wait
    conn.execute(f"PRAGMA busy_timeout = {int(min(wait, BUSY_TIMEOUT_MS / 1000) * 1000)}")
    try:
        while True:
            busy, logged, done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy and logged == done:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def scrub(store: Store, *, wait: float | None = None) -> None:
    """Rebuild the file so no freed page keeps old bytes, then empty the WAL; clears the mark.

    :class:`OldBytesRemain` when another process's read kept the old pages in place for *wait*
    seconds (default :data:`CHECKPOINT_WAIT`); the mark then stays for the next command.
    """
    wait = CHECKPOINT_WAIT if wait is None else wait
    conn = store.conn
    conn.execute("INSERT INTO reflections_fts (reflections_fts) VALUES ('optimize')")
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # a smaller WAL for VACUUM, not waiting; the one that counts is below
    conn.execute("VACUUM")
    if not checkpoint(conn, wait):
        raise OldBytesRemain(
            f"another process is reading {store.path}, so its old bytes stay in the file until that process ends.",
            "Close the other mirror command or program that has the journal open; the next mirror command "
            "then finishes the wiping.")
    conn.execute("DELETE FROM meta WHERE key = ?", (SCRUB_PENDING,))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def scrub_or_warn(store: Store, what: str) -> str | None:
    """:func:`scrub` after *what* was committed; on failure a warning (the mark stays), not an error:
    what was asked for is done, and the next mirror command finishes the wiping. Another process's
    read that keeps the old bytes is an error (:class:`OldBytesRemain`, exit 1) that says *what* is done."""
    try:
        scrub(store)
    except OldBytesRemain as exc:
        raise OldBytesRemain(f"{what}, but {exc.message}", exc.hint) from None
    except (sqlite3.Error, OSError) as exc:
        return (f"{what}, but wiping the old bytes from the database file failed ({exc}); free some space: "
                "the next mirror command tries again.")
    return None


def retry_scrub(store: Store) -> None:
    """Finish a scrub an earlier process could not; quietly and without waiting, as it is only overdue."""
    if store.meta(SCRUB_PENDING) is None:
        return
    with contextlib.suppress(sqlite3.Error, OSError, OldBytesRemain):
        scrub(store, wait=0)

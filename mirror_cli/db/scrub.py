"""Wiping old bytes out of the database file (after `key enable` and `delete --all`).

A command that leaves old text in freed pages (plaintext before encryption, deleted
reflections) marks ``meta.scrub_pending`` in its own transaction, then calls
:func:`scrub_or_warn`. A scrub that fails (a full disk) leaves the mark, and the next
mirror process that opens the database for a command finishes it (:func:`retry_scrub`,
called by :func:`mirror_cli.db.open.open_store`).
"""

from __future__ import annotations

import contextlib
import sqlite3

from mirror_cli.db.store import Store

SCRUB_PENDING = "scrub_pending"  # meta: old bytes (plaintext, deleted text) may remain in the file


def forget_deleted_words(conn: sqlite3.Connection) -> None:
    """Rewrite the full-text index without the entries of rows just deleted, in the caller's transaction.

    FTS5 records a deletion as a marker in a new segment and keeps the old segment (with the
    deleted words) until a merge; 'optimize' merges every segment into one, and secure_delete
    zeroes the pages it frees. FTS5's own 'secure-delete' option would be cheaper but needs
    SQLite 3.42+ (Python here may ship older) and changes the index format older versions read.
    """
    conn.execute("INSERT INTO reflections_fts (reflections_fts) VALUES ('optimize')")


def scrub(store: Store) -> None:
    """Rebuild the file so no freed page keeps old bytes, then empty the WAL; clears the mark."""
    conn = store.conn
    conn.execute("INSERT INTO reflections_fts (reflections_fts) VALUES ('optimize')")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")
    conn.execute("DELETE FROM meta WHERE key = ?", (SCRUB_PENDING,))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def scrub_or_warn(store: Store, what: str) -> str | None:
    """:func:`scrub` after *what* was committed; on failure a warning (the mark stays), not an error:
    what was asked for is done, and the next mirror command finishes the wiping."""
    try:
        scrub(store)
    except (sqlite3.Error, OSError) as exc:
        return (f"{what}, but wiping the old bytes from the database file failed ({exc}); free some space: "
                "the next mirror command tries again.")
    return None


def retry_scrub(store: Store) -> None:
    """Finish a scrub an earlier process could not; quietly, as it is only overdue."""
    if store.meta(SCRUB_PENDING) is None:
        return
    with contextlib.suppress(sqlite3.Error, OSError):
        scrub(store)

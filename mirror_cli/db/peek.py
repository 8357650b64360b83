"""A look into a journal's file without opening it as a journal: no migration, no key, no write.

``mirror journals`` lists every journal with its size and whether it is encrypted; opening each one as a
:class:`~mirror_cli.db.store.Store` would migrate it (a write) and, for an encrypted one, ask for its key.
Reflection ids are stored in clear, so counting them needs no key.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Peek:
    """What a journal's file shows without its key; None where the file could not be read."""

    exists: bool
    reflections: int | None = None
    encrypted: bool | None = None


def peek(path: Path) -> Peek:
    """Count *path*'s reflections and tell whether it is encrypted, read-only (a missing file: not there)."""
    if not path.is_file():
        return Peek(exists=False)
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return Peek(exists=True)
    try:
        encrypted = conn.execute("SELECT 1 FROM meta WHERE key = 'crypto'").fetchone() is not None
        count = int(conn.execute("SELECT count(*) FROM reflections").fetchone()[0])
        return Peek(exists=True, reflections=count, encrypted=encrypted)
    except sqlite3.Error:  # not (yet) a mirror database, locked, or damaged: shown as unknown
        return Peek(exists=True)
    finally:
        conn.close()

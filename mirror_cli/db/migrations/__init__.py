"""Schema migrations: numbered SQL files shipped in this package, and their runner.

Each ``NNNN_name.sql`` holds an up and a down section separated by the
``-- migrate:up`` and ``-- migrate:down`` markers. Version numbers are unique
and never reused or renamed. Each migration runs inside one ``BEGIN
IMMEDIATE`` transaction together with its row in ``schema_migrations`` (its
version, name, SHA-256 checksum of the file and the time it was applied), so a
failing migration leaves the database exactly as it was.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path
from typing import NamedTuple

from mirror_cli.digests import sha256
from mirror_cli.errors import OperationError, UsageError

PACKAGE_DIR = Path(__file__).parent
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    checksum    TEXT NOT NULL,
    applied_at  TEXT NOT NULL
)
"""


class Migration(NamedTuple):  # NamedTuple, not a dataclass: every command loads it (start-up)
    version: int
    name: str
    up: str
    down: str
    checksum: str
    path: Path


class Applied(NamedTuple):
    version: int
    name: str
    checksum: str
    applied_at: str


def latest_shipped(folder: Path | None = None) -> int:
    """The newest version in *folder*, from file names only (cheap: no file is read)."""
    versions = [int(m.group(1)) for name in os.listdir(folder or PACKAGE_DIR) if (m := _NAME.match(name))]
    return max(versions, default=0)


def discover(folder: Path | None = None) -> list[Migration]:
    folder = Path(folder) if folder else PACKAGE_DIR
    found: list[Migration] = []
    seen: set[int] = set()
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in seen:
            raise OperationError(f"two migrations share version {version} in {folder}.")
        seen.add(version)
        text = path.read_text(encoding="utf-8")
        up, down = _split(text, path)
        found.append(Migration(version, match.group(2), up, down, _sha256(text), path))
    return found


def _sha256(text: str) -> str:
    return sha256(text.encode()).hexdigest()


def _split(text: str, path: Path) -> tuple[str, str]:
    if "-- migrate:up" not in text or "-- migrate:down" not in text:
        raise OperationError(f"migration {path.name} lacks '-- migrate:up' / '-- migrate:down' markers.")
    _, rest = text.split("-- migrate:up", 1)
    up, down = rest.split("-- migrate:down", 1)
    return up.strip(), down.strip()


def statements(sql: str) -> list[str]:
    """Split a script into statements (trigger bodies stay whole)."""
    out: list[str] = []
    buf = ""
    for line in sql.splitlines(keepends=True):
        if not buf and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


def ensure_bookkeeping(conn: sqlite3.Connection) -> None:
    conn.execute(BOOKKEEPING)


def applied(conn: sqlite3.Connection) -> list[Applied]:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if not exists:
        return []
    rows = conn.execute(
        "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"
    ).fetchall()
    return [Applied(*row) for row in rows]


def current_version(conn: sqlite3.Connection) -> int:
    done = applied(conn)
    return done[-1].version if done else 0


def plan_up(conn: sqlite3.Connection, migrations: list[Migration], to: int | None = None) -> list[Migration]:
    latest = migrations[-1].version if migrations else 0
    target = latest if to is None else to
    if target > latest:
        raise UsageError(f"there is no migration {target}; the latest is {latest}.")
    done = {a.version for a in applied(conn)}
    return [m for m in migrations if m.version not in done and m.version <= target]


def plan_down(conn: sqlite3.Connection, migrations: list[Migration], *, steps: int | None = None,
              to: int | None = None) -> list[Migration]:
    by_version = {m.version: m for m in migrations}
    done = [a.version for a in applied(conn)]
    if to is not None:
        if to < 0:
            raise UsageError("--to must be 0 or a migration version.")
        chosen = [v for v in reversed(done) if v > to]
    else:
        n = 1 if steps is None else steps
        if n < 0:
            raise UsageError("--steps must be a positive number.")
        chosen = list(reversed(done))[:n]
    missing = [v for v in chosen if v not in by_version]
    if missing:
        raise OperationError(f"migration {missing[0]} is applied but this mirror does not ship it; cannot roll back.")
    return [by_version[v] for v in chosen]


def apply(conn: sqlite3.Connection, migration: Migration, direction: str, now: str) -> None:
    """Run one migration and its bookkeeping in a single transaction."""
    sql = migration.up if direction == "up" else migration.down
    conn.execute("BEGIN IMMEDIATE")
    try:
        ensure_bookkeeping(conn)
        already = conn.execute(
            "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
        ).fetchone()
        if (direction == "up") == bool(already):
            # Another process got here first; nothing to do.
            conn.execute("ROLLBACK")
            return
        for stmt in statements(sql):
            conn.execute(stmt)
        # user_version mirrors the newest applied version so that opening an
        # up-to-date database costs one PRAGMA instead of reading every file.
        if direction == "up":
            conn.execute(f"PRAGMA user_version = {int(migration.version)}")
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
                (migration.version, migration.name, migration.checksum, now),
            )
        else:
            conn.execute("DELETE FROM schema_migrations WHERE version = ?", (migration.version,))
            remaining = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] or 0
            conn.execute(f"PRAGMA user_version = {int(remaining)}")
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        conn.execute("ROLLBACK")
        raise MigrationFailed(
            f"migration {migration.version:04d}_{migration.name} ({direction}) failed: {exc}; "
            "the database was left as it was."
        ) from None
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class MigrationFailed(OperationError):
    pass

"""The schema's objects against what the migrations make: no planted trigger, table, index or view.

Anyone who can write the file can add a trigger that copies each new reflection into a side table
(it would outlive ``key enable`` and ``delete --all``), or change one of mirror's own. The
expected objects are found by running the applied migrations, as this mirror ships them, on an
empty in-memory database; the database's ``sqlite_master`` is then compared with it, name and SQL
(one query on each side, ~8 ms in all, most of it reading the migration files and building the
in-memory schema). A journal whose objects are exactly those of every migration this mirror ships is
the usual case: its objects' SHA-256 (:func:`fingerprint`) equals :data:`SHIPPED`, and the comparison
stops there (one query, ~0.3 ms). A test keeps :data:`SHIPPED` equal to what the shipped migrations
make; were it stale, every journal would only take the full comparison.

SQLite's own objects are left out (``sqlite_sequence``, ``sqlite_stat*``, and the automatic indexes
of UNIQUE and PRIMARY KEY constraints, which have no SQL), and so is the migration runner's own
``schema_migrations`` table (its rows say which migrations are applied).
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import NamedTuple

from mirror_cli.db import migrations
from mirror_cli.digests import sha256

# Every schema object but SQLite's own and the runner's bookkeeping table. An object named sqlite_*
# with SQL of its own is not SQLite's (only writable_schema can make one): it is compared too.
_OBJECTS = ("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name != 'schema_migrations' "
            "AND NOT (name LIKE 'sqlite!_%' ESCAPE '!' AND (sql IS NULL OR type = 'table' AND name IN "
            "('sqlite_sequence', 'sqlite_stat1', 'sqlite_stat2', 'sqlite_stat3', 'sqlite_stat4')))")
_SPACE = re.compile(r"\s+")


class Difference(NamedTuple):
    """One object that is not as the migrations make it."""

    type: str
    name: str
    problem: str

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "name": self.name, "problem": self.problem}


#: fingerprint() of the objects all shipped migrations make (0001-0009). A new migration changes it:
#: tests/core/db/test_migrations.py prints the value to put here.
SHIPPED = "d937598b6a175ebf7a1f6d0520b905136a38ae8b591c46d4d725a21df48bff72"

UNKNOWN = "no migration made it"
ALTERED = "it differs from what its migration made"
MISSING = "a migration made it, and it is missing"


def _objects(conn: sqlite3.Connection) -> dict[tuple[str, str], tuple[str, str]]:
    """(type, name) -> (table, SQL with runs of white space as one space)."""
    return {(kind, name): (table, _SPACE.sub(" ", sql or "").strip())
            for kind, name, table, sql in conn.execute(_OBJECTS)}


def fingerprint(objects: dict[tuple[str, str], tuple[str, str]]) -> str:
    """SHA-256 of *objects* (as :func:`_objects` gives them), in a canonical order."""
    return sha256(json.dumps(sorted((k, v) for k, v in objects.items())).encode()).hexdigest()


def expected(versions: list[int], shipped: dict[int, migrations.Migration]) -> dict[tuple[str, str], tuple[str, str]]:
    """What the migrations *versions* make, as :func:`_objects` gives it, from an empty in-memory database."""
    scratch = sqlite3.connect(":memory:")
    try:
        scratch.executescript("BEGIN;\n" + "\n".join(shipped[v].up for v in versions) + "\nCOMMIT;")
        return _objects(scratch)
    finally:
        scratch.close()


def differences(conn: sqlite3.Connection, migrations_dir: Path | None = None) -> list[Difference] | None:
    """The objects of *conn* that its applied migrations did not make, or made otherwise, or that are
    missing; None when an applied migration is not shipped by this mirror (nothing to compare with)."""
    found = _objects(conn)
    if migrations_dir is None and fingerprint(found) == SHIPPED:
        return []  # exactly what every shipped migration makes: nothing planted, nothing changed
    shipped = {m.version: m for m in migrations.discover(migrations_dir)}
    versions = [a.version for a in migrations.applied(conn)]
    if any(v not in shipped for v in versions):
        return None
    want = expected(versions, shipped)
    out = [Difference(kind, name, UNKNOWN if (kind, name) not in want else ALTERED)
           for (kind, name), shape in sorted(found.items()) if want.get((kind, name)) != shape]
    out += [Difference(kind, name, MISSING) for kind, name in sorted(want.keys() - found.keys())]
    return out


def describe(diff: Difference) -> str:
    """One difference in words: "the trigger copy_out (no migration made it)"."""
    return f"the {diff.type} {diff.name} ({diff.problem})"


def summary(found: list[Difference], shown: int = 3) -> str:
    """The first *shown* differences in words, and how many more."""
    text = ", ".join(describe(d) for d in found[:shown])
    return text + (f" and {len(found) - shown} more" if len(found) > shown else "")

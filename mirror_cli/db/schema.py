"""Schema operations behind `mirror migrate`: status, up, down, history, check.

``check`` compares the database's tables, indexes, triggers and views, name and SQL, with those
its applied migrations make (:mod:`.objects`, which the store also runs before its first write).
(sqlite-utils' introspection would do the same at the cost of seven packages and ~0.2 s of
imports, so mirror does not use it.)
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mirror_cli.db import migrations, objects
from mirror_cli.ids import now_iso
from mirror_cli.db.store import Store, is_busy


@dataclass
class Status:
    current_version: int
    latest_version: int
    pending: list[int]
    applied: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {"current_version": self.current_version, "latest_version": self.latest_version,
                "pending": self.pending, "applied": self.applied}


def status(store: Store, migrations_dir: Path | None = None) -> Status:
    shipped = migrations.discover(migrations_dir)
    done = [a.version for a in migrations.applied(store.conn)]
    return Status(done[-1] if done else 0, shipped[-1].version if shipped else 0,
                  [m.version for m in shipped if m.version not in done], done)


@dataclass
class MigrateResult:
    direction: str
    dry_run: bool
    from_version: int
    to_version: int
    steps: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"direction": self.direction, "dry_run": self.dry_run, "from_version": self.from_version,
                "to_version": self.to_version, "steps": self.steps}


def _record(store: Store, result: MigrateResult) -> None:
    """An audit event for the migration, when the chain exists and can be appended to."""
    has_audit = store.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_events'").fetchone()
    if not has_audit or (store.encrypted and store.key is None) or not result.steps:
        return
    with store.write():
        store.append_event("schema.migrated", {"direction": result.direction, "from": result.from_version,
                                               "to": result.to_version})


def up(store: Store, *, to: int | None = None, dry_run: bool = False,
       migrations_dir: Path | None = None) -> MigrateResult:
    shipped = migrations.discover(migrations_dir)
    start = migrations.current_version(store.conn)
    plan = migrations.plan_up(store.conn, shipped, to)
    return _run(store, "up", plan, start, plan[-1].version if plan else start, dry_run)


def down(store: Store, *, steps: int | None = None, to: int | None = None, dry_run: bool = False,
         migrations_dir: Path | None = None) -> MigrateResult:
    shipped = migrations.discover(migrations_dir)
    start = migrations.current_version(store.conn)
    plan = migrations.plan_down(store.conn, shipped, steps=steps, to=to)
    done = [a.version for a in migrations.applied(store.conn)]
    remaining = [v for v in done if v not in {m.version for m in plan}]
    return _run(store, "down", plan, start, remaining[-1] if remaining else 0, dry_run)


def _run(store: Store, direction: str, plan: list, start: int, target: int, dry_run: bool) -> MigrateResult:
    """Apply *plan* in *direction* (each migration in its own transaction) and record it, unless *dry_run*."""
    result = MigrateResult(direction, dry_run, start, target, [{"version": m.version, "name": m.name} for m in plan])
    if not dry_run:
        for m in plan:
            migrations.apply(store.conn, m, direction, now_iso())
        _record(store, result)
    return result


def history(store: Store) -> list[dict[str, Any]]:
    return [{"version": a.version, "name": a.name, "checksum": a.checksum, "applied_at": a.applied_at}
            for a in migrations.applied(store.conn)]


@dataclass
class CheckReport:
    ok: bool
    integrity: list[str]
    foreign_keys: list[dict[str, Any]]
    orphans: list[dict[str, Any]]
    drift: list[dict[str, Any]]
    objects: list[dict[str, Any]] = field(default_factory=list)  # tables, indexes, ... no migration made, or missing

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "integrity": self.integrity, "foreign_keys": self.foreign_keys,
                "orphans": self.orphans, "drift": self.drift, "objects": self.objects}


_ORPHAN_QUERIES = {
    "pattern_occurrences without pattern": (
        "SELECT rowid FROM pattern_occurrences WHERE pattern_id NOT IN (SELECT id FROM patterns)"),
    "pattern_occurrences without reflection": (
        "SELECT rowid FROM pattern_occurrences WHERE reflection_id NOT IN (SELECT id FROM reflections)"),
    "tensions without reflection": (
        "SELECT id FROM tensions WHERE reflection_id IS NOT NULL AND reflection_id NOT IN (SELECT id FROM reflections)"),
    "audit_vouches without event": (
        "SELECT rowid FROM audit_vouches WHERE seq NOT IN (SELECT seq FROM audit_events)"),
    "tombstones of live reflections": (
        "SELECT id FROM tombstones WHERE kind = 'reflection' AND id IN (SELECT id FROM reflections)"),
}


def check(store: Store, migrations_dir: Path | None = None) -> CheckReport:
    """Integrity, foreign keys, orphans and migration drift; a file too damaged to query is reported, not raised.

    A database that is only locked by another process is not a finding: that error is raised (exit 1,
    "try again"), never reported as damage with advice to restore a backup."""
    try:
        return _check(store, migrations_dir)
    except sqlite3.DatabaseError as exc:
        if is_busy(exc):
            raise
        return CheckReport(False, [f"the database cannot be read: {exc}"], [], [], [])


def _check(store: Store, migrations_dir: Path | None) -> CheckReport:
    conn = store.conn
    integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    if integrity == ["ok"]:
        integrity = []
    fks = [{"table": t, "rowid": r, "parent": p} for t, r, p, _ in conn.execute("PRAGMA foreign_key_check")]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    orphans = []
    for what, sql in _ORPHAN_QUERIES.items():
        table = sql.split("FROM ", 1)[1].split()[0]
        if table not in tables:
            continue
        try:
            found = [row[0] for row in conn.execute(sql)]
        except sqlite3.OperationalError as exc:
            if is_busy(exc):  # not checked is not "no orphans"
                raise
            continue
        if found:
            orphans.append({"what": what, "count": len(found), "examples": found[:5]})
    if "reflections_fts" in tables and not store.encrypted:
        try:
            conn.execute("INSERT INTO reflections_fts (reflections_fts, rank) VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError as exc:
            if is_busy(exc):  # another process writes: the index was not checked, nor found damaged
                raise
            if "readonly" not in str(exc):  # FTS5 runs its check as a write: on a read-only file it cannot run
                integrity.append(f"full-text index: {exc}")
    shipped = {m.version: m for m in migrations.discover(migrations_dir)}
    applied = migrations.applied(conn)
    drift = []
    for a in applied:
        m = shipped.get(a.version)
        if m is None:
            drift.append({"version": a.version, "name": a.name, "problem": "applied but not shipped by this mirror"})
        elif m.checksum != a.checksum:
            drift.append({"version": a.version, "name": a.name,
                          "problem": "checksum changed since it was applied",
                          "applied_checksum": a.checksum, "shipped_checksum": m.checksum})
    found = [d.to_dict() for d in objects.differences(conn, migrations_dir) or []]
    ok = not (integrity or fks or orphans or drift or found)
    return CheckReport(ok, integrity, fks, orphans, drift, found)

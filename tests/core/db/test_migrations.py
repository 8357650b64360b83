"""The migration runner and schema operations: discover, up/down, one transaction each, check."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest

from mirror_cli import audit
from mirror_cli.journal import reflections as journal
from mirror_cli.journal import find as finder
from mirror_cli.db import migrations
from mirror_cli.db import schema
from mirror_cli.errors import OperationError, UsageError, VerificationError
from mirror_cli.db.store import Store
from helpers import DATA, ROOT, raw

LATEST = migrations.discover()[-1].version


def _broken_folder() -> Path:
    """A test-only migrations folder: every shipped migration, then a broken one as the next version."""
    folder = Path(tempfile.mkdtemp(prefix="mirror-broken-migrations-"))
    for m in migrations.discover():
        shutil.copy(m.path, folder / m.path.name)
    template = DATA / "broken_on_purpose.sql"
    shutil.copy(template, folder / f"{LATEST + 1:04d}_broken_on_purpose.sql")
    return folder


BROKEN = _broken_folder()


def dump(path) -> tuple[list, list[str], int]:
    conn = sqlite3.connect(path)
    try:
        master = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        return master, list(conn.iterdump()), conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def checkpointed_bytes(path) -> bytes:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return Path(path).read_bytes()


@pytest.fixture
def populated(tmp_path):
    db = tmp_path / "m.db"
    with Store.open(db) as store:
        a = journal.add(store, "a walk by the river #calm", response="noted")
        journal.add(store, "second reflection", tags=["work"])
        journal.edit(store, a.id, content="a long walk by the river #calm")
    return db


def test_shipped_migrations_are_well_formed():
    shipped = migrations.discover()
    assert [m.version for m in shipped] == list(range(1, len(shipped) + 1))
    assert migrations.latest_shipped() == shipped[-1].version
    for m in shipped:
        assert m.up and m.down
        assert m.checksum == hashlib.sha256(m.path.read_bytes()).hexdigest()


def test_broken_folder_is_the_shipped_one_plus_a_broken_last():
    shipped = migrations.discover()
    broken = migrations.discover(BROKEN)
    assert [m.version for m in broken] == [m.version for m in shipped] + [LATEST + 1]
    assert [m.checksum for m in broken[:-1]] == [m.checksum for m in shipped]


def test_statements_keep_trigger_bodies_whole():
    up = migrations.discover()[0].up
    stmts = migrations.statements(up)
    triggers = [s for s in stmts if s.startswith("CREATE TRIGGER")]
    assert len(triggers) == 4
    assert all(s.rstrip().endswith("END;") for s in triggers)


def test_discover_rejects_duplicates_and_missing_markers(tmp_path):
    (tmp_path / "0001_a.sql").write_text("-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 1;\n")
    (tmp_path / "0001_b.sql").write_text("-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 1;\n")
    with pytest.raises(OperationError):
        migrations.discover(tmp_path)
    (tmp_path / "0001_b.sql").unlink()
    (tmp_path / "0002_c.sql").write_text("CREATE TABLE x (a);\n")
    with pytest.raises(OperationError):
        migrations.discover(tmp_path)


def test_up_down_up_keeps_reflections_and_the_chain(populated):
    with Store.open(populated) as store:
        before = [r.to_dict() for r in journal.list_reflections(store)]
        r = schema.down(store, to=1)
        assert (r.from_version, r.to_version) == (LATEST, 1)
        assert [s["version"] for s in r.steps] == list(range(LATEST, 1, -1))
        assert store.schema_version == 1
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == 1
        cols = [c[1] for c in store.conn.execute("PRAGMA table_info(reflections)")]
        assert "visibility" not in cols
        r = schema.up(store)
        assert (r.from_version, r.to_version) == (1, LATEST)
        assert store.schema_version == LATEST
        assert [x.to_dict() for x in journal.list_reflections(store)] == before
        report = audit.verify(store.conn)
        assert report.ok, report.problem
        kinds = [e.event_type for e in audit.events(store.conn)]
        assert kinds.count("schema.migrated") == 2


def test_down_to_zero_and_back(tmp_path):
    db = tmp_path / "m.db"
    with Store.open(db) as store:
        schema.down(store, to=0)
        assert store.schema_version == 0
        tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"schema_migrations"}
    with Store.open(db) as store:  # opening migrates again
        assert store.schema_version == LATEST
        journal.add(store, "works again")


def test_dry_run_changes_nothing(populated):
    before = dump(populated)
    with Store.open(populated) as store:
        r = schema.down(store, steps=2, dry_run=True)
        assert r.dry_run and [s["version"] for s in r.steps] == [LATEST, LATEST - 1] and r.to_version == LATEST - 2
    assert dump(populated) == before
    with Store.open(populated) as store:
        schema.down(store, steps=2)
    mid = dump(populated)
    with Store.open(populated, migrate=False) as store:
        r = schema.up(store, to=LATEST - 1, dry_run=True)
        assert [s["version"] for s in r.steps] == [LATEST - 1] and r.to_version == LATEST - 1
    assert dump(populated) == mid


def test_plan_errors(populated):
    with Store.open(populated) as store:
        with pytest.raises(UsageError):
            schema.up(store, to=99)
        with pytest.raises(UsageError):
            migrations.plan_down(store.conn, migrations.discover(), to=-1)
        with pytest.raises(UsageError):
            migrations.plan_down(store.conn, migrations.discover(), steps=-1)
        assert schema.up(store).steps == []


def test_status_and_history(tmp_path):
    db = tmp_path / "m.db"
    with Store.open(db, migrate=False) as store:
        s = schema.status(store)
        assert (s.current_version, s.latest_version, s.pending) == (0, LATEST, list(range(1, LATEST + 1)))
        schema.up(store, to=2)
        s = schema.status(store)
        assert (s.current_version, s.pending, s.applied) == (2, list(range(3, LATEST + 1)), [1, 2])
        h = schema.history(store)
        assert [x["version"] for x in h] == [1, 2]
        assert h[0]["checksum"] == migrations.discover()[0].checksum
        assert h[0]["applied_at"].endswith("Z")


def test_broken_migration_leaves_the_database_exactly_as_it_was(populated):
    before = dump(populated)
    before_bytes = checkpointed_bytes(populated)
    with pytest.raises(migrations.MigrationFailed) as err:
        Store.open(populated, migrations_dir=BROKEN)
    assert err.value.exit_code == 1
    assert f"{LATEST + 1:04d}_broken_on_purpose" in err.value.message
    assert dump(populated) == before
    assert checkpointed_bytes(populated) == before_bytes
    with Store.open(populated) as store:
        assert audit.verify(store.conn).ok


def test_broken_migration_via_schema_up(populated):
    before = dump(populated)
    with Store.open(populated) as store:
        with pytest.raises(migrations.MigrationFailed):
            schema.up(store, migrations_dir=BROKEN)
        assert not store.conn.in_transaction
        assert store.schema_version == LATEST
        assert store.conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'broken_extra'").fetchone()[0] == 0
    assert dump(populated) == before


def test_each_migration_is_its_own_transaction(tmp_path):
    """From version 1, the good ones apply; the broken last one alone is rolled back."""
    db = tmp_path / "m.db"
    with Store.open(db, migrate=False) as store:
        schema.up(store, to=1)
    with pytest.raises(migrations.MigrationFailed):
        Store.open(db, migrations_dir=BROKEN)
    conn = sqlite3.connect(db)
    try:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
        assert versions == list(range(1, LATEST + 1))
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
        assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'broken_extra'").fetchone()
    finally:
        conn.close()


def test_check_ok_on_a_fresh_database(populated):
    with Store.open(populated) as store:
        report = schema.check(store)
    assert report.ok, report.to_dict()


def test_check_finds_a_changed_checksum(populated):
    raw(populated, "UPDATE schema_migrations SET checksum = 'deadbeef' WHERE version = 2")
    with Store.open(populated) as store:
        report = schema.check(store)
    assert not report.ok
    assert [d["version"] for d in report.drift] == [2]
    assert report.drift[0]["applied_checksum"] == "deadbeef"


def test_check_finds_a_foreign_key_violation(populated):
    with Store.open(populated) as store:
        rid = journal.list_reflections(store)[0].id
    raw(populated, "INSERT INTO pattern_occurrences (pattern_id, reflection_id, evidence, confidence)"
                    f" VALUES ('no-such-pattern', '{rid}', 'e', 0.5)")
    with Store.open(populated) as store:
        report = schema.check(store)
    assert not report.ok
    assert report.foreign_keys and report.foreign_keys[0]["table"] == "pattern_occurrences"
    assert any(o["what"] == "pattern_occurrences without pattern" for o in report.orphans)


def test_check_finds_an_orphan_without_foreign_key(populated):
    with Store.open(populated) as store:
        rid = journal.list_reflections(store)[0].id
    raw(populated, f"INSERT INTO tombstones (kind, id, deleted_at, rev) VALUES ('reflection', '{rid}', 'x', 1)")
    with Store.open(populated) as store:
        report = schema.check(store)
    assert not report.ok and not report.foreign_keys
    assert report.orphans == [{"what": "tombstones of live reflections", "count": 1, "examples": [rid]}]


def test_check_finds_an_unknown_applied_migration(populated):
    raw(populated, "INSERT INTO schema_migrations VALUES (999, 'future', 'x', '2030-01-01T00:00:00.000Z')")
    with Store.open(populated, migrate=False) as store:
        report = schema.check(store)
        assert [d["version"] for d in report.drift] == [999]
        with pytest.raises(OperationError):
            schema.down(store)  # cannot roll back what this mirror does not ship


def test_check_finds_schema_objects_no_migration_made(populated):
    """CONTRACT.md: `migrate check` reports tables, triggers, views or indexes that no migration made."""
    raw(populated, "CREATE TABLE planted (x)", "CREATE INDEX planted_mode ON reflections (mode)",
         "CREATE VIEW peek AS SELECT id FROM reflections",
         "CREATE TRIGGER quiet AFTER INSERT ON reflections BEGIN DELETE FROM planted; END")
    with Store.open(populated) as store:
        report = schema.check(store)
    assert not report.ok and not (report.integrity or report.foreign_keys or report.orphans or report.drift)
    assert report.objects == [{"type": kind, "name": name, "problem": "no migration made it"}
                              for kind, name in (("index", "planted_mode"), ("table", "planted"),
                                                 ("trigger", "quiet"), ("view", "peek"))]


def test_check_finds_a_missing_trigger_and_ignores_sqlites_own_tables(populated):
    raw(populated, "ANALYZE")  # sqlite_stat1: SQLite's own, not a problem
    with Store.open(populated) as store:
        assert schema.check(store).ok
        trigger = store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                     "ORDER BY name LIMIT 1").fetchone()[0]
    raw(populated, f"DROP TRIGGER {trigger}")
    with Store.open(populated) as store:
        report = schema.check(store)
    assert not report.ok
    assert report.objects == [{"type": "trigger", "name": trigger,
                               "problem": "a migration made it, and it is missing"}]


def test_check_compares_objects_even_when_a_migration_drifted(populated):
    """A changed checksum is drift, and the objects are still compared with the shipped migrations
    (issue 12: editing a checksum in schema_migrations must not hide a planted table)."""
    raw(populated, "UPDATE schema_migrations SET checksum = 'deadbeef' WHERE version = 2",
         "CREATE TABLE planted (x)")
    with Store.open(populated) as store:
        report = schema.check(store)
    assert [d["version"] for d in report.drift] == [2]
    assert report.objects == [{"type": "table", "name": "planted", "problem": "no migration made it"}]


def test_shipped_fingerprint_is_what_the_shipped_migrations_make():
    """objects.SHIPPED lets a journal exactly as every migration makes it skip building the schema in
    memory before its first write. A new migration changes it: put the value printed here."""
    from mirror_cli.db import objects

    shipped = {m.version: m for m in migrations.discover()}
    made = objects.fingerprint(objects.expected(sorted(shipped), shipped))
    assert made == objects.SHIPPED, f"set objects.SHIPPED = {made!r}"


def test_the_fingerprint_shortcut_still_sees_a_changed_object(populated, monkeypatch):
    """The shortcut answers only for the exact shipped schema: an altered or added object takes the full
    comparison, which names it; a store's first write is refused as before."""
    from mirror_cli.db import objects

    built: list[int] = []
    real = objects.expected
    monkeypatch.setattr(objects, "expected", lambda *a: built.append(1) or real(*a))
    with Store.open(populated) as store:
        assert objects.differences(store.conn) == [] and not built  # the shortcut, nothing built
    trigger = "CREATE TRIGGER copy_out AFTER INSERT ON reflections BEGIN SELECT 1; END"
    raw(populated, trigger)
    with Store.open(populated) as store:
        found = objects.differences(store.conn)
        assert [(d.type, d.name, d.problem) for d in found] == [("trigger", "copy_out", objects.UNKNOWN)]
        assert built
        with pytest.raises(VerificationError, match="changed outside mirror"):
            journal.add(store, "not written")
    with Store.open(populated) as store:
        assert store.conn.execute("SELECT count(*) FROM reflections WHERE content = 'not written'").fetchone()[0] == 0


def test_every_package_data_entry_names_a_package_with_its_files():
    """The SQL migrations must be in the wheel: a package-data key left at an old location ships none."""
    import tomllib
    from pathlib import Path

    root = ROOT
    with open(root / "pyproject.toml", "rb") as fh:
        data = tomllib.load(fh)["tool"]["setuptools"]["package-data"]
    assert "mirror_cli.db.migrations" in data
    for package, patterns in data.items():
        folder = root.joinpath(*package.split("."))
        assert (folder / "__init__.py").is_file(), package
        for pattern in patterns:
            assert list(folder.glob(pattern)), (package, pattern)


def test_search_index_stays_right_after_edits(populated):
    """0001's update triggers fired in the wrong order; 0004 fixes and rebuilds the index."""
    with Store.open(populated) as store:
        r = journal.add(store, "hello world")
        journal.edit(store, r.id, content="hello big world")
        journal.edit(store, r.id, content="hello big world again", response="a reply")
        assert [x.id for x in finder.search(store, "hello")] == [r.id]
        assert [x.id for x in finder.search(store, "world")] == [r.id]
        assert [x.id for x in finder.search(store, "reply")] == [r.id]
        assert schema.check(store).ok


def test_migration_0004_repairs_an_index_broken_by_the_old_triggers(tmp_path):
    db = tmp_path / "m.db"
    with Store.open(db, migrate=False) as store:
        schema.up(store, to=3)
        store._ensure_meta()
        r = journal.add(store, "hello world")
        journal.edit(store, r.id, content="hello big world")
        assert not schema.check(store).ok  # the bug 0004 repairs
        schema.up(store)
        assert schema.check(store).ok
        assert [x.id for x in finder.search(store, "hello world")] == [r.id]


def _tension_row(conn, tid):
    return conn.execute("SELECT detected_at, created_at, updated_at FROM tensions WHERE id = ?", (tid,)).fetchone()


def test_migration_0006_gives_tensions_created_and_updated_times(tmp_path):
    db = tmp_path / "m.db"
    with Store.open(db, migrate=False) as store:
        schema.up(store, to=5)
        store._ensure_meta()
        conn = store.conn
        conn.execute("INSERT INTO tensions (id, reflection_id, detected_at, data, rev)"
                     " VALUES ('old', NULL, '2024-03-01T10:00:00.000Z', '{}', 1)")
        schema.up(store, to=6)
        # an existing row takes its detected_at
        assert _tension_row(conn, "old") == ("2024-03-01T10:00:00.000Z",) * 3
        # a new row is stamped now, in mirror's time format
        conn.execute("INSERT INTO tensions (id, reflection_id, detected_at, data, rev)"
                     " VALUES ('new', NULL, '2020-01-01T00:00:00.000Z', '{}', 2)")
        _, created, updated = _tension_row(conn, "new")
        assert created == updated and created > "2026" and created.endswith("Z") and len(created) == 24
        # a real change moves updated_at; rewriting the same values, or stamping it explicitly, does not
        conn.execute("UPDATE tensions SET updated_at = '2025-01-01T00:00:00.000Z' WHERE id = 'old'")
        conn.execute("UPDATE tensions SET data = '{}' WHERE id = 'old'")
        assert _tension_row(conn, "old")[2] == "2025-01-01T00:00:00.000Z"
        conn.execute("UPDATE tensions SET data = '{\"position\": 0.4}' WHERE id = 'old'")
        detected, created, updated = _tension_row(conn, "old")
        assert created == detected and updated > "2026"
        # and down takes the columns and triggers away again
        schema.down(store, to=5)
        cols = [c[1] for c in conn.execute("PRAGMA table_info(tensions)")]
        assert "created_at" not in cols and "updated_at" not in cols
        assert not conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'tensions_%'"
                                ).fetchall()

"""backup.swap: a restore writes into the live database under its write lock (issue 12, item 8)."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from mirror_cli.backup import create as bcreate
from mirror_cli.backup import keys as bkeys
from mirror_cli.backup import restore as brestore
from mirror_cli.backup import swap
from mirror_cli.db.store import Store
from mirror_cli.errors import OperationError
from mirror_cli.journal import reflections as journal


def _texts(db: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert [r[0] for r in conn.execute("PRAGMA integrity_check")] == ["ok"]
        return sorted(r[0] for r in conn.execute("SELECT content FROM reflections"))
    finally:
        conn.close()


@pytest.fixture
def backed_up(tmp_path):
    """A journal of two reflections with a backup of the first: (database, backup)."""
    db = tmp_path / "live" / "mirror.db"
    with Store.open(db) as s:
        journal.add(s, "in the backup")
        path = Path(bcreate.create(s, tmp_path / "backups").path)
        journal.add(s, "after the backup")
    return db, path


def test_restore_waits_for_a_writer_and_changes_nothing_when_it_gives_up(backed_up, monkeypatch):
    """A connection holds BEGIN EXCLUSIVE: restore does not swap the file under it; it waits (here a short
    busy timeout) and says the journal is locked. The writer's commit is then kept, nothing is set aside."""
    db, path = backed_up
    monkeypatch.setattr(swap, "BUSY_TIMEOUT_MS", 200)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE reflections SET content = 'written under the lock' WHERE content = 'after the backup'")
    with pytest.raises(OperationError, match="locked by another mirror process"):
        brestore.restore(path, db, bkeys.KeyRequest({}))
    holder.execute("COMMIT")
    holder.close()
    assert _texts(db) == ["in the backup", "written under the lock"]
    assert not [p for p in db.parent.iterdir() if ".before-restore-" in p.name]


def test_restore_keeps_a_whole_copy_and_other_connections_see_the_restored_journal(backed_up):
    db, path = backed_up
    other = sqlite3.connect(db, isolation_level=None)  # another process's open connection
    assert other.execute("SELECT count(*) FROM reflections").fetchone() == (2,)
    ino = os.stat(db).st_ino
    res = brestore.restore(path, db, bkeys.KeyRequest({}))
    assert os.stat(db).st_ino == ino  # the same file: nobody is left on an unlinked one
    assert other.execute("SELECT count(*) FROM reflections").fetchone() == (1,)
    other.close()
    before = Path(res.before)
    assert _texts(before) == ["after the backup", "in the backup"]
    assert stat.S_IMODE(before.stat().st_mode) == 0o600
    assert not Path(f"{before}-wal").exists()  # one self-contained file
    assert _texts(db) == ["in the backup"]


def test_restore_over_a_file_that_is_not_a_database_sets_it_aside(backed_up):
    db, path = backed_up
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"not a database at all" * 300)
    res = brestore.restore(path, db, bkeys.KeyRequest({}))
    assert Path(res.before).read_bytes() == b"not a database at all" * 300
    assert _texts(db) == ["in the backup"]


def test_a_copy_that_cannot_be_kept_stops_the_restore_before_it_changes_anything(backed_up, monkeypatch):
    db, path = backed_up

    def full(_path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(swap, "fsync_file", full)
    with pytest.raises(OperationError, match="nothing was restored"):
        brestore.restore(path, db, bkeys.KeyRequest({}))
    assert _texts(db) == ["after the backup", "in the backup"]
    assert not [p for p in db.parent.iterdir() if "before-restore" in p.name]

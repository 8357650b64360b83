"""Issue 12: `delete ID` leaves no recoverable trace of the deleted text, the full-text index included."""

from __future__ import annotations

from pathlib import Path

from mirror_cli.db.store import Store
from mirror_cli.journal import reflections as journal
from mirror_cli.journal import find as finder

CANARY = "zqxvbnmkcanary"
# the index stores porter stems, prefix-compressed: look for the word, its stem and its tail
TRACES = (b"zqxvbnmkcanary", b"zqxvbnmkcanari", b"vbnmkcanar")


def _traces(path: Path) -> list[bytes]:
    data = path.read_bytes() if path.exists() else b""
    return [t for t in TRACES if t in data]


def test_deleted_words_leave_the_full_text_index_and_the_file(tmp_path):
    db = tmp_path / "mirror.db"
    wal = Path(str(db) + "-wal")
    with Store.open(db) as store:
        kept = journal.add(store, "a first ordinary day")
        gone = journal.add(store, f"today I wrote {CANARY} and nothing else")
        journal.delete(store, [gone.id])
        for i in range(10):
            journal.add(store, f"later entry {i} about the weather")
        assert finder.search(store, CANARY) == []
        assert [r.id for r in finder.search(store, "ordinary")] == [kept.id]
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert _traces(db) == []
        assert _traces(wal) == []
    assert _traces(db) == []
    assert store_integrity_ok(db)


def test_words_edited_away_leave_the_full_text_index_and_the_file(tmp_path):
    db = tmp_path / "mirror.db"
    with Store.open(db) as store:
        journal.add(store, "a first ordinary day")
        r = journal.add(store, f"today I wrote {CANARY} and nothing else")
        journal.edit(store, r.id, content="today I wrote nothing at all")
        for i in range(10):
            journal.add(store, f"later entry {i} about the weather")
        assert finder.search(store, CANARY) == []
        assert [x.id for x in finder.search(store, "nothing")] == [r.id]
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert _traces(db) == []
    assert _traces(db) == []
    assert store_integrity_ok(db)


def store_integrity_ok(db: Path) -> bool:
    with Store.open(db) as store:
        store.conn.execute("INSERT INTO reflections_fts (reflections_fts, rank) VALUES ('integrity-check', 1)")
        return store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

"""Issue 12: an import that removes or rewrites reflections leaves none of their words in the
full-text index (as `delete` and `edit` do): ``replace`` and a ``merge`` that updates."""

from __future__ import annotations

import io
import json
from pathlib import Path

from mirror_cli.db.store import Store
from mirror_cli.exchange import export, importer
from mirror_cli.journal import reflections as journal
from mirror_cli.journal import find as finder

CANARY = "zqxvbnmkcanary"
# the index stores porter stems, prefix-compressed: look for the word, its stem and its tail
TRACES = (b"zqxvbnmkcanary", b"zqxvbnmkcanari", b"vbnmkcanar")


def _traces(db: Path) -> list[bytes]:
    found = []
    for path in (db, Path(f"{db}-wal")):
        data = path.read_bytes() if path.exists() else b""
        found += [t for t in TRACES if t in data]
    return found


def _export(store: Store) -> dict:
    buf = io.StringIO()
    export.write_stream(store, buf, fmt="json")
    return json.loads(buf.getvalue())


def _import(store: Store, obj: dict, mode: str) -> importer.ImportResult:
    doc, _ = importer.read_document(json.dumps(obj).encode(), "auto")
    return importer.apply_import(store, doc, mode=mode)


def _settle(store: Store) -> None:
    for i in range(10):
        journal.add(store, f"later entry {i} about the weather")
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def test_replace_leaves_no_word_of_the_replaced_reflections(tmp_path):
    with Store.open(tmp_path / "source.db") as src:
        journal.add(src, "a first ordinary day")
        kept = _export(src)
    db = tmp_path / "mirror.db"
    with Store.open(db) as store:
        journal.add(store, f"today I wrote {CANARY} and nothing else")
        result = _import(store, kept, "replace")
        assert result.deleted["reflections"] == 1
        _settle(store)
        assert finder.search(store, CANARY) == []
        assert len(finder.search(store, "ordinary")) == 1
        assert _traces(db) == []


def test_a_merge_that_rewrites_a_reflection_leaves_no_word_of_its_old_text(tmp_path):
    db = tmp_path / "mirror.db"
    with Store.open(db) as store:
        r = journal.add(store, f"today I wrote {CANARY} and nothing else")
        newer = _export(store)
        newer["reflections"][0].update(content="today I wrote nothing at all", updated_at="2099-01-01T00:00:00.000Z")
        assert _import(store, newer, "merge").updated["reflections"] == 1
        _settle(store)
        assert finder.search(store, CANARY) == []
        assert [x.id for x in finder.search(store, "nothing")] == [r.id]
        assert _traces(db) == []

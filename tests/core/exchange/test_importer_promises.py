"""Import promises of issue 12 at the core's own entry point (``importer.apply_import``)."""

from __future__ import annotations

import json

import pytest

from mirror_cli.db.store import Store
from mirror_cli.errors import UsageError
from mirror_cli.exchange import importer
from mirror_cli.journal import reflections as journal


def _doc(**header) -> importer.ImportDocument:
    text = json.dumps({"format": "mirror-export", "version": 1, **header, "reflections": [
        {"id": "r-in-window", "created_at": "2024-05-01T00:00:00Z", "content": "in", "mode": "REFLECTION"}]})
    return importer.read_document(text.encode())[0]


@pytest.mark.parametrize("window", [{"since": "2024-01-01T00:00:00.000Z"}, {"until": "2025-01-01T00:00:00.000Z"}])
@pytest.mark.parametrize("dry_run", [False, True])
def test_apply_import_refuses_replace_with_a_windowed_document(tmp_path, window, dry_run):
    with Store.open(tmp_path / "a.db") as store:
        kept = journal.add(store, "outside any window")
        with pytest.raises(UsageError, match="time window"):
            importer.apply_import(store, _doc(**window), mode="replace", dry_run=dry_run)
        assert [r for (r,) in store.conn.execute("SELECT id FROM reflections")] == [kept.id]
    assert not list(tmp_path.glob("*.before-replace-*"))


def test_replace_keeps_a_copy_unless_the_journal_was_empty(tmp_path):
    with Store.open(tmp_path / "a.db") as store:
        result = importer.apply_import(store, _doc(), mode="replace")
        assert result.before is None  # nothing was there to lose
        journal.add(store, "will be replaced")
        result = importer.apply_import(store, _doc(), mode="replace")
        assert result.before is not None and result.before.startswith(str(tmp_path / "a.db.before-replace-"))

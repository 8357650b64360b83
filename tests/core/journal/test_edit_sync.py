"""An edit that moves a reflection to another time (`edit --at`) is a change like any other: it is stamped
through Store.tick() and reaches a second device (sync_helpers' in-process Device harness)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from sync_helpers import Device, cheap_sync_kdf, folder  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("cheap_sync_kdf")


def test_an_at_edit_syncs_to_a_second_device(tmp_path):
    remote = folder(tmp_path)
    laptop, desktop = (Device(tmp_path / name / "mirror.db", name) for name in ("laptop", "desktop"))
    for d in (laptop, desktop):
        d.add_remote("home", remote)
    rid = laptop.reflect("written late, dated wrong #walk")
    laptop.sync()
    desktop.sync()
    assert desktop.entries()[rid]["created_at"] == laptop.entries()[rid]["created_at"]

    laptop.edit(rid, at=datetime(2024, 6, 3, 19, 15, tzinfo=timezone.utc), add_tags=["starred"], drop_tags=["walk"])
    moved = laptop.entries()[rid]
    assert moved["created_at"] == "2024-06-03T19:15:00.000Z" and moved["tags"] == ["starred"]
    assert laptop.sync().pushed["reflections"] == 1
    assert desktop.sync().pulled["reflections"] == 1
    there = desktop.entries()[rid]
    assert there["created_at"] == "2024-06-03T19:15:00.000Z"
    assert there["tags"] == ["starred"] and there["content"] == moved["content"]
    assert desktop.conflicts() == [] and laptop.verify_audit() and desktop.verify_audit()


def test_an_edit_that_changes_nothing_is_not_synced_again(tmp_path):
    remote = folder(tmp_path)
    laptop = Device(tmp_path / "laptop" / "mirror.db", "laptop")
    laptop.add_remote("home", remote)
    rid = laptop.reflect("once", at=datetime(2024, 6, 3, 19, 15, tzinfo=timezone.utc))
    laptop.sync()
    with laptop.store() as store:
        rev = store.conn.execute("SELECT rev FROM reflections WHERE id = ?", (rid,)).fetchone()[0]
        events = store.count("audit_events")
    laptop.edit(rid, at=datetime(2024, 6, 3, 19, 15, tzinfo=timezone.utc), drop_tags=["absent"], mode="REFLECTION")
    with laptop.store() as store:
        assert store.conn.execute("SELECT rev FROM reflections WHERE id = ?", (rid,)).fetchone()[0] == rev
        assert store.count("audit_events") == events
    assert laptop.sync().pushed["reflections"] == 0

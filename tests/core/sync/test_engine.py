"""The sync engine in-process over a folder remote: merging, deletes, local-only, key-only remotes,
restored journals, clocks. The checks that apply to every kind of remote (tampering, rollback, an
empty or replaced remote, joining, wrong passphrase, cloned identity, plaintext) are in
test_engine_remotes.py, the request counts in test_sync_requests.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync_helpers import Device, cheap_sync_kdf, dump, folder, snapshot  # noqa: F401 (fixture)
from mirror_cli.errors import LockedError

pytestmark = pytest.mark.usefixtures("cheap_sync_kdf")


@pytest.fixture
def pair(tmp_path):
    remote = folder(tmp_path)
    a, b = Device(tmp_path / "a" / "mirror.db", "laptop"), Device(tmp_path / "b" / "mirror.db", "desktop")
    a.add_remote("home", remote)
    b.add_remote("home", remote)
    return a, b, remote


def settle(*devices: Device, rounds: int = 2) -> None:
    for _ in range(rounds):
        for d in devices:
            d.sync()


def test_entries_written_on_two_devices_end_up_on_both(pair):
    a, b, _ = pair
    ra = a.reflect("written on the laptop #work")
    rb = b.reflect("written on the desktop")
    settle(a, b)
    assert set(a.entries()) == set(b.entries()) == {ra, rb}
    assert dump(a) == dump(b)
    assert a.verify_audit() and b.verify_audit()


def test_a_no_op_sync_changes_nothing_and_records_no_audit_event(pair):
    a, b, remote = pair
    a.reflect("one")
    settle(a, b)
    with a.store() as s:
        events = s.count("audit_events")
    before = snapshot(remote.root)
    report = a.sync()
    assert not report.changed
    assert snapshot(remote.root) == before
    with a.store() as s:
        assert s.count("audit_events") == events


def test_the_same_field_edited_on_both_keeps_one_value_and_the_other_as_a_conflict(pair):
    a, b, _ = pair
    rid = a.reflect("base text")
    settle(a, b)
    a.edit(rid, content="the laptop's words")
    b.edit(rid, content="the desktop's words")
    a.sync()
    report = b.sync(policy="local-wins")
    assert [c["field"] for c in report.conflicts] == ["content"]
    settle(a, b)
    assert a.entries()[rid]["content"] == b.entries()[rid]["content"] == "the desktop's words"
    assert (rid, "content", "the laptop's words") in a.conflicts()
    assert (rid, "content", "the laptop's words") in b.conflicts()
    assert dump(a) == dump(b)


def test_an_edit_put_back_before_a_sync_leaves_the_same_updated_at_everywhere(pair):
    """Found by the convergence property (seed 235): tags changed and changed back between two syncs
    make no new version, so the other device keeps the shared updated_at; this one's moved with the
    edits and must go back to it, with an audit event for the row it rewrites."""
    import time

    a, b, _ = pair
    rid = a.reflect("base text #sleep")
    settle(a, b)
    time.sleep(0.005)  # the edits' updated_at is later than the entry's
    b.edit(rid, tags=["work"])
    b.edit(rid, tags=["sleep"])
    assert b.entries()[rid]["updated_at"] != a.entries()[rid]["updated_at"]
    report = b.sync()
    assert not report.changed  # nothing to publish: every value is the shared one
    settle(a, b)
    assert b.entries()[rid] == a.entries()[rid] and dump(a) == dump(b)
    assert a.verify_audit() and b.verify_audit()


def test_different_fields_edited_on_both_merge_without_conflict(pair):
    a, b, _ = pair
    rid = a.reflect("base text")
    settle(a, b)
    a.edit(rid, content="new words from the laptop")
    b.edit(rid, mode="GRATITUDE")
    settle(a, b)
    entry = a.entries()[rid]
    assert entry["content"] == "new words from the laptop" and entry["mode"] == "GRATITUDE"
    assert dump(a) == dump(b)
    assert not a.conflicts() and not b.conflicts()


def test_a_delete_travels_and_an_older_state_does_not_bring_it_back(pair):
    a, b, _ = pair
    rid = a.reflect("to be deleted")
    settle(a, b)
    b.delete(rid)
    settle(a, b)
    assert rid not in a.entries() and rid not in b.entries()


def test_an_edit_beats_a_concurrent_delete(pair):
    a, b, _ = pair
    rid = a.reflect("contested")
    settle(a, b)
    a.delete(rid)
    b.edit(rid, content="kept alive by the desktop")
    settle(a, b, rounds=3)
    assert a.entries()[rid]["content"] == b.entries()[rid]["content"] == "kept alive by the desktop"
    assert dump(a) == dump(b)


def test_local_only_entries_never_leave_and_toggling_withdraws_them(pair, tmp_path):
    a, b, remote = pair
    secret = a.reflect("only on this machine", local_only=True)
    shared = a.reflect("shared")
    settle(a, b)
    assert secret not in b.entries() and shared in b.entries()
    a.set_local_only(shared, True)
    settle(a, b)
    assert shared not in b.entries()
    with a.store() as s:
        assert s.conn.execute("SELECT local_only FROM reflections WHERE id = ?", (shared,)).fetchone() == (1,)


def test_a_key_only_remote_keeps_no_envelope_and_joins_with_the_recovery_code(tmp_path):
    from mirror_cli.sync import access
    from mirror_cli.sync.keys import recovery_code

    remote = folder(tmp_path)
    rid, key = access.initialise(remote, None, key_only=True)
    assert not list(remote.list("k/"))
    code = recovery_code(key)
    a, b = Device(tmp_path / "a" / "mirror.db", "laptop"), Device(tmp_path / "b" / "mirror.db", "desktop")
    for d in (a, b):
        d.add_remote("home", remote)
    entry = a.reflect("behind a key the remote never had")
    a.sync(env={"MIRROR_SYNC_RECOVERY_CODE": code})
    with pytest.raises(LockedError):
        b.sync(env={"MIRROR_SYNC_PASSPHRASE": "any passphrase at all"})
    broken = code[:-1] + ("a" if code[-1] != "a" else "b")
    with pytest.raises(LockedError):
        b.sync(env={"MIRROR_SYNC_RECOVERY_CODE": broken})
    other = recovery_code(access.initialise(folder(tmp_path, "other"), None, key_only=True)[1])
    with pytest.raises(LockedError):
        b.sync(env={"MIRROR_SYNC_RECOVERY_CODE": other})
    b.sync(env={"MIRROR_SYNC_RECOVERY_CODE": code})
    assert entry in b.entries()


def test_a_dry_run_writes_nothing_anywhere(pair):
    a, b, remote = pair
    a.reflect("one")
    a.sync()
    b.reflect("two")
    before_db, before_remote = db_dump(b), snapshot(remote.root)
    report = b.sync(dry_run=True)
    assert report.pulled["reflections"] == 1 and report.pushed["reflections"] == 1
    assert db_dump(b) == before_db and snapshot(remote.root) == before_remote


def db_dump(d: Device) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(d.path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_a_journal_restored_from_a_backup_syncs_as_a_new_device_and_gets_its_later_entries_back(pair, tmp_path):
    from mirror_cli.backup import create, restore
    from mirror_cli.backup.keys import KeyRequest

    a, b, remote = pair
    a.reflect("before the backup")
    a.sync()
    with a.store() as s:
        backup = create.create(s, tmp_path / "backups", mkdir=True).path
        old_id = s.meta("device_id")
    later = a.reflect("after the backup")
    a.sync()
    restore.restore(Path(backup), a.path, KeyRequest({}))
    assert later not in a.entries()
    report = a.sync()
    with a.store() as s:
        assert s.meta("device_id") not in (None, old_id)
    assert later in a.entries(), "the restored journal pulls what its old self had published"
    assert report.notes
    settle(a, b)
    assert dump(a) == dump(b)


def test_a_restored_journal_never_syncs_under_its_old_device_id(pair, tmp_path):
    """Even with nothing new on the remote: the original file could be alive elsewhere (a restore on
    a new laptop while the old one still syncs), and two copies must never write as one device."""
    from mirror_cli.backup import create, restore
    from mirror_cli.backup.keys import KeyRequest

    a, b, remote = pair
    a.reflect("one")
    a.sync()
    with a.store() as s:
        backup = create.create(s, tmp_path / "backups", mkdir=True).path
        old_id = s.meta("device_id")
    restore.restore(Path(backup), a.path, KeyRequest({}))
    a.reflect("written after the restore")
    a.sync()
    with a.store() as s:
        assert s.meta("device_id") not in (None, old_id)
    b.sync()
    assert dump(a) == dump(b)


def test_a_delete_that_loses_to_an_edit_is_reported(pair):
    a, b, remote = pair
    rid = a.reflect("contested")
    settle(a, b)
    a.delete(rid)
    b.edit(rid, content="kept alive")
    a.sync()
    report = b.sync()
    assert any(rid in note and "edit wins" in note for note in report.notes)


def test_a_device_whose_clock_runs_days_ahead_is_named(tmp_path):
    remote = folder(tmp_path)
    fast = Device(tmp_path / "fast" / "mirror.db", "fast-laptop", skew_ms=2 * 86_400_000)
    right = Device(tmp_path / "right" / "mirror.db", "desktop")
    fast.add_remote("home", remote)
    right.add_remote("home", remote)
    fast.reflect("written with a clock two days ahead")
    fast.sync()
    report = right.sync()
    assert any("fast-laptop" in note and "2 days ahead" in note for note in report.notes), report.notes
    again = right.sync()
    assert not any("ahead" in note for note in again.notes), "named when its stamps arrive, not every sync"

"""The sync engine in-process: two and three devices over a folder remote."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync_helpers import Device, cheap_sync_kdf, dump, folder, snapshot  # noqa: F401 (fixture)
from mirror_cli.errors import InvalidInputError, LockedError, OperationError, VerificationError

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


def test_a_wrong_passphrase_is_exit_4_and_writes_nothing(tmp_path, pair):
    a, b, remote = pair
    a.reflect("one")
    a.sync()
    c = Device(tmp_path / "c" / "mirror.db", "intruder")
    c.add_remote("home", remote)
    before_remote, before_db = snapshot(remote.root), db_dump(c)
    with pytest.raises(LockedError):
        c.sync(env={"MIRROR_SYNC_PASSPHRASE": "not the passphrase at all"})
    assert snapshot(remote.root) == before_remote and db_dump(c) == before_db
    assert c.entries() == {}


def test_a_new_device_joins_with_the_passphrase_alone(tmp_path, pair):
    a, b, remote = pair
    ids = {a.reflect(f"entry {i}") for i in range(5)}
    a.sync()
    c = Device(tmp_path / "c" / "mirror.db", "new laptop")
    c.add_remote("home", remote)
    c.sync()
    assert set(c.entries()) == ids


def test_an_emptied_remote_stops_the_sync_and_deletes_nothing(pair):
    a, b, remote = pair
    a.reflect("precious")
    settle(a, b)
    before = dump(b)
    for p in sorted(remote.root.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    with pytest.raises(OperationError):
        b.sync()
    assert dump(b) == before
    b.sync(rejoin=True)
    a2 = a.entries()
    assert a2 and dump(b) == before


@pytest.mark.parametrize("prefix", ["h/", "s/"])
def test_a_flipped_byte_is_exit_3_and_the_journal_is_unchanged(pair, prefix):
    a, b, remote = pair
    a.reflect("one")
    a.sync()
    b.reflect("two")
    b.sync()
    a.reflect("three")
    a.sync()
    # the newest object of that kind is A's, written after B last synced
    target = max((remote.root / prefix[0]).iterdir(), key=lambda p: p.stat().st_mtime_ns)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 1
    target.write_bytes(bytes(data))
    before = dump(b)
    with pytest.raises(VerificationError):
        b.sync()
    assert dump(b) == before


def test_a_segment_moved_to_another_name_is_exit_3(pair):
    a, b, remote = pair
    a.reflect("one")
    a.sync()
    a.reflect("two")
    a.sync()
    segs = sorted((remote.root / "s").iterdir())
    assert len(segs) == 2
    x, y = segs
    bx, by = x.read_bytes(), y.read_bytes()
    x.write_bytes(by)
    y.write_bytes(bx)
    with pytest.raises(VerificationError):
        b.sync()
    assert b.entries() == {}


def test_a_rolled_back_remote_is_exit_3(pair, tmp_path):
    a, b, remote = pair
    a.reflect("one")
    a.sync()
    b.sync()
    old = snapshot(remote.root)
    a.reflect("two")
    a.sync()
    b.sync()
    for name in list(snapshot(remote.root)):
        if name not in old:
            (remote.root / name).unlink()
    for name, data in old.items():
        (remote.root / name).write_bytes(data)
    with pytest.raises(VerificationError):
        b.sync()
    with pytest.raises(VerificationError):
        a.sync()


def test_a_bootstrap_of_a_newer_format_is_exit_5(pair):
    a, b, remote = pair
    a.reflect("one")
    a.sync()
    (remote.root / "mirror-remote.json").write_text('{"format": "mirror-remote", "version": 2}')
    before = dump(b)
    with pytest.raises(InvalidInputError):
        b.sync()
    assert dump(b) == before


def test_every_remote_byte_is_free_of_plaintext(pair):
    a, b, remote = pair
    rid = a.reflect("CANARYWORD in a reflection #canarytag", mode="CANARYMODE")
    a.sync()
    b.sync()
    with a.store() as s:
        dev_a, db_id = s.meta("device_id"), s.db_id
    blobs = b"".join(snapshot(remote.root).values())
    for needle in (b"CANARYWORD", b"canarytag", b"CANARYMODE", rid.encode(), b"laptop", b"desktop",
                   db_id.encode(), dev_a.encode(), bytes.fromhex(dev_a), b"2026-", b"REFLECTION"):
        assert needle not in blobs, needle
    sizes = {len(v) for k, v in snapshot(remote.root).items() if k.startswith(("h/", "s/"))}
    assert all(s >= 1024 for s in sizes)


def test_a_copied_journal_syncing_as_the_same_device_takes_a_new_identity_and_loses_nothing(pair, tmp_path):
    import shutil

    a, b, remote = pair
    a.reflect("before the copy")
    a.sync()
    clone_path = tmp_path / "clone" / "mirror.db"
    clone_path.parent.mkdir()
    shutil.copy(a.path, clone_path)
    clone = Device(clone_path, "laptop")
    clone._remotes = {"home": remote}
    ra = a.reflect("written on the original")
    rc = clone.reflect("written on the copy")
    a.sync()
    report = clone.sync()
    assert report.notes, "the copy says it took a new identity"
    settle(a, b, clone, rounds=3)
    assert ra in a.entries() and rc in a.entries()
    assert dump(a) == dump(b) == dump(clone)
    with a.store() as s1, clone.store() as s2:
        assert s1.meta("device_id") != s2.meta("device_id")


def test_a_copy_racing_for_the_same_segment_takes_a_new_identity(pair, tmp_path):
    import shutil

    a, b, remote = pair
    a.reflect("before the copy")
    a.sync()
    clone_path = tmp_path / "clone" / "mirror.db"
    clone_path.parent.mkdir()
    shutil.copy(a.path, clone_path)
    clone = Device(clone_path, "laptop")
    clone._remotes = {"home": remote}
    ra = a.reflect("written on the original")
    rc = clone.reflect("written on the copy")
    clone.sync(pull=False)  # the copy pushes first: same seq, same head slot
    a.sync()                # the original now finds its head written by the copy
    settle(a, b, clone, rounds=3)
    assert {ra, rc} <= set(b.entries())
    assert dump(a) == dump(b) == dump(clone)


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


class Counting:
    """A remote that counts what is read: one listing, and GETs by prefix."""

    def __init__(self, inner) -> None:
        self.inner, self.gets, self.lists = inner, [], 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def get(self, name):
        self.gets.append(name)
        return self.inner.get(name)

    def list(self, prefix=""):
        self.lists += 1
        return self.inner.list(prefix)


def test_a_no_op_sync_lists_once_and_reads_no_head_and_no_segment(pair):
    a, b, remote = pair
    a.reflect("one")
    b.reflect("two")
    settle(a, b)
    counting = Counting(remote)
    b._remotes["home"] = counting
    b.sync()
    counting.gets.clear()
    counting.lists = 0
    report = b.sync()
    assert not report.changed
    assert counting.lists == 1
    assert [g for g in counting.gets if g.startswith(("h/", "s/", "c/"))] == []


def test_ten_changed_entries_are_one_segment_and_the_puller_reads_one_head_and_one_segment(pair):
    a, b, remote = pair
    a.reflect("one")
    settle(a, b)
    counting = Counting(remote)
    b._remotes["home"] = counting
    b.sync()
    for i in range(10):
        a.reflect(f"change {i}")
    before = set(i.name for i in remote.list("s/"))
    a.sync()
    assert len(set(i.name for i in remote.list("s/")) - before) == 1
    counting.gets.clear()
    b.sync(push=False)
    assert sorted(g[:2] for g in counting.gets if g.startswith(("h/", "s/"))) == ["h/", "s/"]


def test_a_replaced_remote_stops_with_exit_1_and_changes_nothing(pair, tmp_path):
    """CONTRACT.md: an empty, missing or replaced remote never deletes anything locally (exit 1)."""
    from mirror_cli.sync import access

    a, b, remote = pair
    a.reflect("one")
    settle(a, b)
    other = folder(tmp_path, "other")
    access.initialise(other, access.sync_passphrase({"MIRROR_SYNC_PASSPHRASE": "another remote entirely 9"}))
    (remote.root / "mirror-remote.json").write_bytes((other.root / "mirror-remote.json").read_bytes())
    before = db_dump(b)
    with pytest.raises(OperationError) as err:
        b.sync()
    assert err.value.exit_code == 1 and "replaced" in err.value.message
    assert db_dump(b) == before

"""Checkpoints and garbage collection: a new device joins from a checkpoint, a device that was away
since before the compaction converges (deletions included), collected objects are only ever the
device's own."""

from __future__ import annotations

import pytest

from sync_helpers import Device, cheap_sync_kdf, dump, folder  # noqa: F401 (fixture)
from mirror_cli.sync import checkpoint

pytestmark = pytest.mark.usefixtures("cheap_sync_kdf")


def names(remote, prefix):
    return sorted(i.name for i in remote.list(prefix))


@pytest.fixture
def trio(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "COMPACT_AFTER_SEGMENTS", 5)
    remote = folder(tmp_path)
    devices = [Device(tmp_path / n / "mirror.db", n) for n in ("laptop", "desktop", "server")]
    for d in devices:
        d.add_remote("home", remote)
    return devices, remote


def test_many_small_syncs_make_a_checkpoint_and_collect_only_own_covered_segments(trio, tmp_path):
    (a, b, c), remote = trio
    a.sync(), b.sync(), c.sync()  # c is then away for a long time
    gone = a.reflect("deleted while the server was away")
    a.sync(), b.sync()
    for i in range(8):
        a.reflect(f"small change {i}")
        a.sync(gc_grace_s=0)
        b.sync(gc_grace_s=0)
    b.delete(gone)
    b.sync(gc_grace_s=0)
    a.sync(gc_grace_s=0, compact=True)
    assert names(remote, "c/"), "a checkpoint was written"
    segments_left = len(names(remote, "s/"))
    assert segments_left < 10, segments_left  # a's covered segments were collected
    # the server was away since before all of it: it loads the checkpoint, and the deletion holds
    c.sync()
    assert gone not in c.entries()
    assert dump(c) == dump(a) == dump(b)
    # a new device joins from the checkpoint
    d = Device(tmp_path / "new" / "mirror.db", "new")
    d.add_remote("home", remote)
    d.sync()
    assert dump(d) == dump(a)


def test_collection_waits_for_the_grace_period(trio):
    (a, b, c), remote = trio
    for i in range(7):
        a.reflect(f"change {i}")
        a.sync()  # default grace on a folder: 7 days
    assert names(remote, "c/")
    assert len(names(remote, "s/")) == 7, "nothing is collected before the grace period"
    b.sync()
    assert len(b.entries()) == 7


def test_a_checkpoint_chunk_not_arrived_in_a_folder_waits_and_elsewhere_is_exit_3(trio):
    from mirror_cli.errors import VerificationError

    (a, b, c), remote = trio
    for i in range(7):
        a.reflect(f"change {i}")
        a.sync(gc_grace_s=0)
    chunks = {name: (remote.root / name).read_bytes() for name in names(remote, "c/")}
    for name in chunks:
        (remote.root / name).unlink()
    report = b.sync()  # a synced folder: the chunk may be in transit; nothing is lost meanwhile
    assert report.incomplete and b.entries() == {}
    remote.may_lag = False  # a store that does not lag (S3, PostgreSQL): a missing object is tampering
    with pytest.raises(VerificationError):
        c.sync()
    assert c.entries() == {}
    remote.may_lag = True
    for name, data in chunks.items():
        (remote.root / name).write_bytes(data)
    b.sync()
    assert len(b.entries()) == 7


def test_a_checkpoint_does_not_hide_an_edit_held_beside_a_local_only_entry(trio, tmp_path):
    (a, b, c), remote = trio
    rid = a.reflect("shared at first")
    a.sync(), b.sync()
    a.set_local_only(rid, True)
    b.edit(rid, content="edited on the desktop meanwhile")
    a.sync()              # a withdraws the entry (local-only here)
    b.sync()              # b's edit is concurrent with the withdrawal: it lives on
    a.sync(compact=True)  # a holds b's edit beside its local row: it writes no checkpoint that would hide it
    assert not names(remote, "c/")
    b.sync(compact=True)  # b can
    assert names(remote, "c/")
    new = Device(tmp_path / "new" / "mirror.db", "new")
    new.add_remote("home", remote)
    new.sync()
    assert new.entries()[rid]["content"] == b.entries()[rid]["content"] == "edited on the desktop meanwhile"


def test_a_checkpoint_does_not_hide_a_version_held_beside_a_never_shared_local_only_entry(trio, tmp_path):
    """A imported an entry and made it local-only before it ever synced; B imported the same file
    and shared it. A holds B's version beside its row: a checkpoint of A's would cover B's segment
    without the entry, so a device joining from it would never have it."""
    (a, b, c), remote = trio
    source = Device(tmp_path / "source" / "mirror.db", "source")
    rid = source.reflect("imported on two devices")
    data = source.export_file()
    a.import_file(data)
    b.import_file(data)
    a.set_local_only(rid, True)
    a.reflect("shared from the laptop")
    a.sync()
    b.sync()
    a.sync(compact=True)  # holds B's version beside its local-only row: no checkpoint
    assert not names(remote, "c/")
    new = Device(tmp_path / "new" / "mirror.db", "new")
    new.add_remote("home", remote)
    new.sync()
    assert new.entries()[rid] == b.entries()[rid]

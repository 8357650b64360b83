"""The sync engine in-process over every kind of remote: a folder, S3 (moto) and PostgreSQL
(SYNC.md "What proves it right": the checks that apply on all three). Each test runs once per kind
(`-k folder`, `-k s3`, `-k postgres`); each device opens its own connection to the remote, as two
machines would. What the store does behind mirror's back goes through :class:`sync_helpers.Spot`.
"""

from __future__ import annotations

import shutil

import pytest

from sync_helpers import PASSPHRASE, Device, cheap_sync_kdf, dump, fresh_remote  # noqa: F401 (fixtures)
from mirror_cli.errors import ExitCode, InvalidInputError, LockedError, OperationError, VerificationError
from mirror_cli.remotes.base import RemoteError
from mirror_cli.sync import access

pytestmark = pytest.mark.usefixtures("cheap_sync_kdf")


@pytest.fixture
def spot(fresh_remote):
    return fresh_remote()


def device(tmp_path, name: str, spot, label: str | None = None) -> Device:
    d = Device(tmp_path / name / "mirror.db", label or name)
    d.add_remote("home", spot.open(), url=spot.url)
    return d


@pytest.fixture
def pair(tmp_path, spot):
    return device(tmp_path, "a", spot, "laptop"), device(tmp_path, "b", spot, "desktop"), spot


def settle(*devices: Device, rounds: int = 2) -> None:
    for _ in range(rounds):
        for d in devices:
            d.sync()


def journal_bytes(d: Device) -> bytes:
    """The journal file as it is on disk (closed: SQLite has folded its WAL back into it)."""
    return d.path.read_bytes()


def refused(d: Device, error: type[Exception], code: int, **kwargs) -> Exception:
    """*d*'s sync fails with *error* and exit *code*, and its journal file is byte-identical after."""
    before = journal_bytes(d)
    with pytest.raises(error) as info:
        d.sync(**kwargs)
    assert info.value.exit_code == code, info.value
    assert journal_bytes(d) == before
    return info.value


# -- convergence and no loss -------------------------------------------------------------------------


def test_two_devices_converge_with_edits_deletes_and_conflicts(pair):
    a, b, spot = pair
    ra = a.reflect("written on the laptop #work")
    rb = b.reflect("written on the desktop")
    settle(a, b)
    assert set(a.entries()) == set(b.entries()) == {ra, rb}
    a.edit(ra, content="the laptop's words")
    b.edit(ra, content="the desktop's words")
    a.delete(rb)
    a.sync()
    b.sync(policy="local-wins")
    settle(a, b)
    assert a.entries()[ra]["content"] == "the desktop's words" and rb not in b.entries()
    assert (ra, "content", "the laptop's words") in a.conflicts()
    assert dump(a) == dump(b) and a.verify_audit() and b.verify_audit()
    assert {name[:2] for name in spot.snapshot()} >= {"h/", "s/", "k/"}


# -- integrity against the remote: exit 3, the journal untouched ---------------------------------------


def newest(spot, before: dict[str, bytes], prefix: str) -> str:
    [name] = spot.changed_since(before, prefix)
    return name


@pytest.mark.parametrize("how,prefix", [("flip", "h/"), ("flip", "s/"), ("truncate", "s/"), ("append", "h/")])
def test_a_changed_object_is_exit_3_and_the_journal_is_unchanged(pair, how, prefix):
    a, b, spot = pair
    a.reflect("one")
    a.sync()
    b.reflect("two")
    b.sync()
    a.reflect("three")
    before = spot.snapshot()
    a.sync()
    target = newest(spot, before, prefix)  # A's, written after B last synced
    data = bytearray(spot.snapshot()[target])
    if how == "flip":
        data[len(data) // 2] ^= 1
    elif how == "truncate":
        del data[-1]
    else:
        data.append(0)
    spot.write(target, bytes(data))
    refused(b, VerificationError, ExitCode.VERIFY)


def test_two_segments_swapped_are_exit_3(pair):
    a, b, spot = pair
    b.sync()  # a device that has synced before (a first sync writes this device's id)
    names = []
    for text in ("one", "two"):
        a.reflect(text)
        before = spot.snapshot()
        a.sync()
        names.append(newest(spot, before, "s/"))
    x, y = names
    snap = spot.snapshot()
    spot.write(x, snap[y])
    spot.write(y, snap[x])
    refused(b, VerificationError, ExitCode.VERIFY)
    assert b.entries() == {}


def test_a_segment_copied_to_another_devices_name_is_exit_3(pair, tmp_path):
    a, b, spot = pair
    c = device(tmp_path, "c", spot, "server")
    c.sync()
    a.reflect("one")
    before = spot.snapshot()
    a.sync()
    seg_a = newest(spot, before, "s/")
    b.reflect("two")
    before = spot.snapshot()
    b.sync()
    seg_b = newest(spot, before, "s/")
    spot.write(seg_b, spot.snapshot()[seg_a])  # A's bytes under B's first segment name
    refused(c, VerificationError, ExitCode.VERIFY)


def test_a_rolled_back_remote_is_exit_3_for_every_device_that_saw_later(pair):
    a, b, spot = pair
    a.reflect("one")
    a.sync()
    b.sync()
    old = spot.snapshot()
    a.reflect("two")
    a.sync()
    b.sync()
    spot.restore(old)
    refused(b, VerificationError, ExitCode.VERIFY)
    refused(a, VerificationError, ExitCode.VERIFY)


def test_a_dropped_middle_segment_is_exit_3_missing_or_waited_for_on_a_folder(pair):
    a, b, spot = pair
    b.sync()
    made = []
    for i in range(3):
        a.reflect(f"entry {i}")
        before = spot.snapshot()
        a.sync()
        made.append(newest(spot, before, "s/"))
    body = spot.snapshot()[made[1]]
    spot.remove(made[1])
    if spot.kind == "folder":  # a synced folder: the object may still be in transit
        report = b.sync()
        assert report.incomplete and report.waiting_objects >= 1
        spot.write(made[1], body)
        b.sync()
        assert dump(a) == dump(b)
        return
    error = refused(b, VerificationError, ExitCode.VERIFY)
    assert "missing" in str(error)
    assert b.entries() == {}


def test_a_replaced_bootstrap_is_exit_1_and_a_newer_one_exit_5(pair, fresh_remote):
    a, b, spot = pair
    a.reflect("one")
    settle(a, b)
    other = fresh_remote()
    access.initialise(other.open(), access.sync_passphrase({"MIRROR_SYNC_PASSPHRASE": "another remote entirely 9"}))
    original = spot.snapshot()[access.BOOTSTRAP]
    spot.write(access.BOOTSTRAP, other.snapshot()[access.BOOTSTRAP])
    error = refused(b, OperationError, ExitCode.FAILED)
    assert "replaced" in str(error)
    spot.write(access.BOOTSTRAP, b'{"format": "mirror-remote", "version": 2}')
    before = spot.snapshot()
    refused(b, InvalidInputError, ExitCode.INVALID_INPUT)
    assert spot.snapshot() == before
    spot.write(access.BOOTSTRAP, original)
    b.sync()


def test_an_emptied_remote_stops_every_device_and_rejoin_uploads_again(pair, tmp_path):
    a, b, spot = pair
    ids = {a.reflect("precious"), b.reflect("also precious")}
    settle(a, b)
    spot.empty()
    for d in (a, b):
        refused(d, OperationError, ExitCode.FAILED)
        assert set(d.entries()) == ids
    b.sync(rejoin=True)
    assert {name[:2] for name in spot.snapshot()} >= {"h/", "s/"}
    c = device(tmp_path, "c", spot, "server")
    c.sync()
    assert set(c.entries()) == ids


# -- keys ---------------------------------------------------------------------------------------------


def test_a_new_device_joins_with_the_journal_passphrase_alone(pair, tmp_path):
    a, b, spot = pair
    ids = {a.reflect(f"entry {i}") for i in range(5)}
    a.sync()
    c = device(tmp_path, "c", spot, "new laptop")
    report = c.sync(env={"MIRROR_PASSPHRASE": PASSPHRASE})  # no sync passphrase, no keyring
    assert set(c.entries()) == ids and report.pulled["reflections"] == 5


def test_a_wrong_passphrase_is_exit_4_and_writes_nothing_anywhere(pair, tmp_path):
    a, b, spot = pair
    a.reflect("one")
    a.sync()
    c = device(tmp_path, "c", spot, "intruder")
    before = spot.snapshot()
    refused(c, LockedError, ExitCode.LOCKED, env={"MIRROR_SYNC_PASSPHRASE": "not the passphrase at all"})
    assert spot.snapshot() == before and c.entries() == {}


# -- a cloned identity ------------------------------------------------------------------------------


def clone_of(d: Device, tmp_path, spot) -> Device:
    path = tmp_path / "clone" / "mirror.db"
    path.parent.mkdir()
    shutil.copy(d.path, path)
    clone = Device(path, d.label)
    clone._remotes = {"home": spot.open()}
    return clone


class RacedBy:
    """A device's remote that lets *other* sync once, just before this device's first segment upload:
    both read the same heads, then race for the same segment name (detected by the conditional write)."""

    def __init__(self, inner, other: Device) -> None:
        self.inner, self.other = inner, other

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def put_new(self, name, data):
        if name.startswith("s/") and self.other is not None:
            other, self.other = self.other, None
            other.sync()
        return self.inner.put_new(name, data)


@pytest.mark.parametrize("order", ["copy-second", "racing"])
def test_a_copied_journal_takes_a_new_identity_and_nothing_is_lost(pair, tmp_path, order):
    a, b, spot = pair
    a.reflect("before the copy")
    settle(a, b)
    clone = clone_of(a, tmp_path, spot)
    ra = a.reflect("written on the original")
    rc = clone.reflect("written on the copy")
    if order == "racing":
        a._remotes["home"] = RacedBy(a._remotes["home"], clone)
        report = a.sync()  # the copy's segment lands first: the original's put_new finds it taken
    else:
        a.sync()
        report = clone.sync()  # finds its head written by the original
    assert any("new device" in note for note in report.notes), report.notes
    settle(a, b, clone, rounds=3)
    assert {ra, rc} <= set(b.entries())
    assert dump(a) == dump(b) == dump(clone)
    with a.store() as s1, clone.store() as s2:
        assert s1.meta("device_id") != s2.meta("device_id")


# -- confidentiality ----------------------------------------------------------------------------------


def test_every_stored_byte_and_version_is_free_of_plaintext(tmp_path, spot):
    """SYNC.md check 7, reading every file / every S3 object version / every row (COPY ... TO STDOUT)."""
    import base64

    if spot.kind == "s3":
        spot.enable_versioning()  # heads are overwritten: their old versions stay, and are read too
    a, b = device(tmp_path, "a", spot, "CANARY-LAPTOP"), device(tmp_path, "b", spot, "CANARY-DESKTOP")
    rid = a.reflect("CANARYWORD in a reflection #canarytag", mode="GRATITUDE", response="CANARYRESPONSE")
    a.backdate(rid, "2019-03-14T15:09:26.535Z")
    rb = b.reflect("another CANARYWORD entry #canarytag")
    settle(a, b)
    a.edit(rid, content="CANARYWORD edited")
    settle(a, b)
    blobs = spot.every_byte()
    if spot.kind == "s3":
        assert len(spot.versions()) > len(spot.snapshot()), "the overwritten heads' versions were read"
    needles = [b"CANARY", b"canarytag", b"GRATITUDE", b"REFLECTION", b"2019", b"20190314", b"2019-03-14"]
    for d in (a, b):
        with d.store() as s:
            dev, db_id, today = s.meta("device_id"), s.db_id, s.meta("created_at") or ""
        raw = bytes.fromhex(dev)
        needles += [db_id.encode(), dev.encode(), dev.upper().encode(), raw,
                    base64.b32encode(raw).rstrip(b"="), base64.b32encode(raw).lower().rstrip(b"="),
                    base64.b64encode(raw).rstrip(b"="), base64.urlsafe_b64encode(raw).rstrip(b"=")]
        if today:
            needles += [today[:10].encode(), today[:10].replace("-", "").encode()]
    for entry in (rid, rb):
        needles += [entry.encode(), entry.lower().encode()]
    for entry in a.entries().values():
        for stamp in (entry["created_at"], entry["updated_at"]):
            needles += [stamp[:10].encode(), stamp[:10].replace("-", "").encode(), stamp[:19].encode()]
    hits = sorted({n.decode("latin-1") for n in needles if n and n in blobs})
    assert hits == []
    sizes = {name: len(data) for name, data in spot.snapshot().items() if name.startswith(("h/", "s/"))}
    assert all(size >= (1024 if name.startswith("h/") else 4096) for name, size in sizes.items()), sizes


# -- a push is staged; on PostgreSQL its objects land in one transaction ---------------------------------


class HeadFails:
    """A remote on which writing a head fails once (the network drops between the segment and the head)."""

    def __init__(self, inner) -> None:
        self.inner, self.armed = inner, True

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def put(self, name, data):
        if name.startswith("h/") and self.armed:
            self.armed = False
            raise RemoteError("the connection dropped")
        return self.inner.put(name, data)


def test_a_push_cut_before_its_head_is_resumed_and_on_postgres_left_nothing(pair):
    a, b, spot = pair
    a.reflect("one")
    settle(a, b)
    before = spot.snapshot()
    rid = a.reflect("cut off")
    a._remotes["home"] = HeadFails(a._remotes["home"])
    with pytest.raises(RemoteError):
        a.sync()
    left = spot.changed_since(before)
    # PostgreSQL: the segment's INSERT rolled back with the head's; elsewhere it waits, unreferenced
    assert [n[:2] for n in left] == ([] if spot.kind == "postgres" else ["s/"])
    b.sync()
    assert rid not in b.entries()
    a.sync()  # the outbox is re-driven: the same segment (already there, same bytes, or sent now)
    b.sync()
    assert rid in b.entries() and dump(a) == dump(b)
    assert len(spot.changed_since(before, "s/")) == 1

"""Key rotation and revocation in-process, over a folder remote (SYNC.md §9, "What proves it right" 19)."""

from __future__ import annotations

import pytest

from keyring_backends import MemoryKeyring
from sync_helpers import ENV, Device, cheap_sync_kdf, dump, folder, snapshot  # noqa: F401 (fixture)
from mirror_cli.crypto.passphrase import KeyCache
from mirror_cli.errors import LockedError, VerificationError
from mirror_cli.remotes.folder import FolderRemote
from mirror_cli.sync import access, checkpoint, config, engine, objects, rotate
from mirror_cli.sync.generations import Revoked
from mirror_cli.sync.keys import open_envelope, parse_envelope

pytestmark = pytest.mark.usefixtures("cheap_sync_kdf")


class Dev(Device):
    """A device with its own keyring (the remote's KEK is cached after its first sync)."""

    def __init__(self, path, label):
        super().__init__(path, label)
        self.cache = KeyCache(backend=MemoryKeyring())

    def sync(self, name="home", *, env=None, **kwargs):
        return super().sync(name, env=env, cache=self.cache, **kwargs)

    def rotate(self, revoke=None, wipe_device=False, env=ENV):
        with self.store() as store, engine.SyncLock(store.path):
            cfg = config.get_remote(store, "home")
            opts = engine.Options(env=env, cache=self.cache)
            return rotate.rotate(store, cfg, self._remotes["home"], opts, revoke=revoke, wipe_device=wipe_device)

    def gen(self):
        with self.store() as store:
            return config.get_remote(store, "home").gen


@pytest.fixture
def trio(tmp_path):
    remote = folder(tmp_path)
    devs = [Dev(tmp_path / n / "mirror.db", label) for n, label in (("a", "laptop"), ("b", "desktop"),
                                                                     ("c", "old-phone"))]
    for d in devs:
        d.add_remote("home", remote)
    for i, d in enumerate(devs):
        d.reflect(f"entry {i} written on {d.label}")
    for _ in range(2):
        for d in devs:
            d.sync()
    return (*devs, remote)


def _old_key(remote):
    rid = access.read_bootstrap(remote)
    return rid, access.open_key(remote, rid, ENV, interactive=False, prompt=None, cache=None).key


def _device_id(d):
    with d.store() as s:
        return s.meta("device_id")


def test_after_revoke_nothing_new_opens_with_the_old_key_c_stops_and_a_b_converge(trio):
    a, b, c, remote = trio
    rid, old = _old_key(remote)
    old_kek = c.cache.load("remote:" + rid)
    before = snapshot(remote.root)
    c_dev = _device_id(c)

    result = a.rotate(revoke="old-phone")
    assert result.generation == 2 and result.revoked == [{"device": c_dev[:8], "label": "old-phone"}]
    assert any("keeps everything it had already synced" in n for n in result.notes)
    assert a.gen() == 2
    # the old generation's envelopes are gone; C's old KEK opens no envelope left
    envs = [parse_envelope(p.read_bytes(), p.name) for p in (remote.root / "k").iterdir()]
    assert envs and all(e.gen == 2 for e in envs)
    assert all(open_envelope(old_kek, e, rid) is None for e in envs)

    # B has only its cached KEK: one clear exit 4, nothing changed here
    state = dump(b)
    with pytest.raises(LockedError, match="rotated on 'laptop'"):
        b.sync(env={})
    assert dump(b) == state
    # with the passphrase it moves, republishes and converges with A
    b.reflect("b after the rotation")
    a.reflect("a after the rotation")
    report = b.sync()
    assert any("moved to generation 2" in n for n in report.notes)
    a.sync()
    b.sync()
    assert dump(a) == dump(b) and len(a.entries()) == 5
    assert b.gen() == 2

    # every object written since the revoke fails to open with C's old key (the test tries it)
    devs = [_device_id(d) for d in (a, b, c)]
    after = snapshot(remote.root)
    written = {n: blob for n, blob in after.items() if before.get(n) != blob}
    moved = objects.head_name(old, devs[0])  # the old generation's "moved" head: it tells C to stop
    assert moved in written
    assert set(written) - {moved}
    for name, blob in written.items():
        if name == moved:
            head = objects.open_head(old, rid, name, blob)
            assert head.moved_to_gen == 2 and head.revoked == [c_dev]
            continue
        if name.startswith("k/"):
            assert open_envelope(old_kek, parse_envelope(blob, name), rid) is None
            continue
        attempts = 0
        for dev in devs:
            for kind, nos in (("seg", range(0, 6)), ("ckpt", range(0, 4))):
                for no in nos:
                    for obj_name in ("", name, checkpoint.chunk_name(old, dev, no, 0)):
                        attempts += 1
                        with pytest.raises(VerificationError):
                            objects.unseal(old, rid, kind, dev, no, blob, name, obj_name)
        with pytest.raises(VerificationError):
            objects.open_head(old, rid, name, blob)
        assert attempts
    # no new name is one the old name key gives
    old_names = {objects.head_name(old, d) for d in devs} | {objects.segment_name(old, d, s) for d in devs
                                                             for s in range(1, 10)}
    assert not (set(written) - {moved}) & old_names

    # C: exit 4 with its cached KEK alone, and exit 4 with the passphrase too (it obeys)
    state = dump(c)
    with pytest.raises(Revoked, match="revoked"):
        c.sync(env={})
    with pytest.raises(Revoked, match="revoked"):
        c.sync()
    assert dump(c) == state
    # A and B list C as revoked; the generation is shown
    devices = a.sync(dry_run=True).devices
    assert {d["label"]: d["generation"] for d in devices if not d["revoked"]} == {"laptop": 2, "desktop": 2}
    assert [d["device"] for d in devices if d["revoked"]] == [c_dev[:8]]


def test_wipe_device_makes_an_obedient_device_delete_its_journal(trio):
    a, b, c, remote = trio
    assert len(c.entries()) == 3
    a.rotate(revoke=_device_id(c)[:6], wipe_device=True)
    with pytest.raises(Revoked, match="THIS DEVICE WAS REVOKED.*deleted"):
        c.sync(env={})
    assert c.entries() == {}
    with c.store() as s:
        assert config.get_remote(s, "home").paused
        assert s.count("sync_records") == 0
    b.sync()
    a.sync()
    assert dump(a) == dump(b) and len(a.entries()) == 3


def test_rotation_then_a_new_device_joins_with_the_passphrase_and_old_objects_are_gone(trio, tmp_path):
    a, b, c, remote = trio
    rid, old = _old_key(remote)
    a.rotate()
    for d in (b, c):
        d.sync()
    a.sync()
    d = Dev(tmp_path / "d" / "mirror.db", "new-tablet")
    d.add_remote("home", remote)
    d.sync()
    for x in (a, b, c, d):
        x.sync()
    assert dump(a) == dump(b) == dump(c) == dump(d) and len(d.entries()) == 3
    # what is left of generation 1: A's "moved" head only (B and C deleted their own objects)
    names = set(snapshot(remote.root))
    gen1 = {n for n in names if n.startswith(("h/", "s/", "c/"))}
    devs = [_device_id(x) for x in (a, b, c)]
    left = {n for n in gen1 for dev in devs
            if n in generations_names(old, dev)}
    assert left == {objects.head_name(old, devs[0])}


def generations_names(key, dev):
    return {objects.head_name(key, dev)} | {objects.segment_name(key, dev, s) for s in range(1, 20)} | {
        checkpoint.chunk_name(key, dev, no, i) for no in range(1, 4) for i in range(3)}


def test_a_rotation_killed_before_its_remote_steps_is_finished_by_the_next_sync(trio, monkeypatch):
    a, b, c, remote = trio
    from mirror_cli.sync import generations

    real = generations.finish_pending
    monkeypatch.setattr(generations, "finish_pending", lambda *args: False)  # killed after the local commit
    a.rotate()
    assert not any(parse_envelope(p.read_bytes(), p.name).gen == 2 for p in (remote.root / "k").iterdir())
    monkeypatch.setattr(generations, "finish_pending", real)
    a.sync()
    envs = [parse_envelope(p.read_bytes(), p.name) for p in (remote.root / "k").iterdir()]
    assert [e.gen for e in envs] == [2]
    b.sync()
    c.sync()
    a.sync()
    assert dump(a) == dump(b) == dump(c)


# -- passphrase change: re-wrap only ---------------------------------------------------------------

NEW = "another long sync passphrase 9"


def _listing(remote, prefixes=("h/", "s/", "c/")):
    return {n: b for n, b in snapshot(remote.root).items() if n.startswith(prefixes)}


def test_passphrase_change_rewraps_only_and_others_ask_once(trio):
    from mirror_cli.sync import rewrap

    a, b, c, remote = trio
    rid, old = _old_key(remote)
    data, envs = _listing(remote), _listing(remote, ("k/",))
    with a.store() as store:
        out = rewrap.carry(store, ENV["MIRROR_SYNC_PASSPHRASE"], NEW, lambda cfg: FolderRemote(remote.root), a.cache)
        assert rewrap.carry(store, "not the passphrase at all", NEW + "x", lambda cfg: FolderRemote(remote.root), None) == [
            {"remote": "home", "rewrapped": False, "reason": "it uses its own passphrase (or a recovery code)"}]
    assert out == [{"remote": "home", "rewrapped": True, "reason": None}]
    assert _listing(remote) == data  # no head, segment or checkpoint changed
    new_envs = _listing(remote, ("k/",))
    assert len(new_envs) == 1 and not set(new_envs) & set(envs)
    # the new passphrase opens the same key; the old one opens nothing now
    assert access.open_key(remote, rid, {"MIRROR_SYNC_PASSPHRASE": NEW}, interactive=False, prompt=None,
                           cache=None).key.key_id == old.key_id
    with pytest.raises(LockedError, match="wrong passphrase"):
        access.open_key(remote, rid, ENV, interactive=False, prompt=None, cache=None)
    a.reflect("after the change")
    a.sync(env={})  # A cached the new KEK
    # B's cached KEK opened the old envelope only: exit 4 once, then the new passphrase works
    state = dump(b)
    with pytest.raises(LockedError, match="passphrase of remote home was changed"):
        b.sync(env={})
    assert dump(b) == state
    b.sync(env={"MIRROR_SYNC_PASSPHRASE": NEW})
    b.sync(env={})
    assert dump(a) == dump(b)


def test_key_change_for_one_remote(trio):
    from mirror_cli.sync import rewrap

    a, b, c, remote = trio
    data = _listing(remote)
    with a.store() as store:
        cfg = config.get_remote(store, "home")
        result = rewrap.change(store, cfg, remote, {}, NEW, interactive=False, prompt=None, cache=a.cache)
    assert result["rewrapped"] and result["generation"] == 1
    assert _listing(remote) == data
    a.sync(env={})
    with pytest.raises(LockedError):
        c.sync(env=ENV)
    c.sync(env={"MIRROR_SYNC_PASSPHRASE": NEW})

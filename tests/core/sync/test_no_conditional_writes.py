"""A store that ignores conditional writes (``put_new`` overwrites silently): correctness never rests
on them (SYNC.md rule 1, section 9), so sync converges with nothing lost, and a cloned identity is
caught by the chain check as on a folder. Over each kind of remote, wrapped."""

from __future__ import annotations

import shutil

import pytest

from sync_helpers import Device, IgnoresConditionalWrites, cheap_sync_kdf, dump, fresh_remote  # noqa: F401
from mirror_cli.errors import VerificationError
from mirror_cli.sync import access

pytestmark = pytest.mark.usefixtures("cheap_sync_kdf")


def device(tmp_path, name: str, spot) -> Device:
    d = Device(tmp_path / name / "mirror.db", name)
    d.add_remote("home", IgnoresConditionalWrites(spot.open()), url=spot.url)
    return d


def settle(*devices: Device, rounds: int = 3) -> None:
    for _ in range(rounds):
        for d in devices:
            d.sync()


@pytest.fixture
def trio(tmp_path, fresh_remote):
    spot = fresh_remote()
    return [device(tmp_path, name, spot) for name in ("laptop", "desktop", "server")], spot


def test_the_probe_finds_a_store_that_ignores_conditional_writes(fresh_remote):
    spot = fresh_remote()
    assert access.honours_conditional_writes(spot.open()) is True
    assert access.honours_conditional_writes(IgnoresConditionalWrites(spot.open())) is False
    assert spot.snapshot() == {}, "the probe leaves nothing behind"


def test_sync_converges_with_nothing_lost(trio):
    (a, b, c), _ = trio
    ra, rb = a.reflect("from the laptop"), b.reflect("from the desktop")
    settle(a, b, c)
    a.edit(ra, content="the laptop's words")
    b.edit(ra, content="the desktop's words")
    c.delete(rb)
    rc = c.reflect("from the server")
    settle(a, b, c)
    assert set(a.entries()) == {ra, rc}
    assert dump(a) == dump(b) == dump(c)
    assert {"the laptop's words", "the desktop's words"} <= {a.entries()[ra]["content"]} | {
        other for rid, field, other in a.conflicts() + b.conflicts() if rid == ra}


class RacedBy:
    """Lets *others* sync once each just before this device's first segment upload (the first of them
    read the same heads as this device)."""

    def __init__(self, inner, *others: Device) -> None:
        self.inner, self.others = inner, others

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def put_new(self, name, data):
        if name.startswith("s/") and self.others:
            others, self.others = self.others, ()
            for other in others:
                other.sync()
        return self.inner.put_new(name, data)


@pytest.mark.parametrize("order", ["copy-second", "racing"])
def test_a_cloned_identity_is_caught_by_the_chain_and_nothing_is_lost(trio, tmp_path, order):
    (a, b, c), spot = trio
    shared = a.reflect("before the copy")
    settle(a, b)
    clone = copy_of(a, tmp_path, spot)
    ra, rc = a.reflect("written on the original"), clone.reflect("written on the copy")
    a.edit(shared, content="the original's words")
    clone.edit(shared, content="the copy's words")
    if order == "racing":  # the copy's segment is overwritten by the original's, silently
        a._remotes["home"] = RacedBy(a._remotes["home"], clone)
    a.sync()
    clone.sync()
    settle(a, b, c, clone)
    assert {ra, rc} <= set(b.entries())
    assert dump(a) == dump(b) == dump(c) == dump(clone)
    assert {"the original's words", "the copy's words"} <= {b.entries()[shared]["content"]} | {
        other for d in (a, b, c, clone) for rid, field, other in d.conflicts() if rid == shared}, "a conflict"
    assert all(d.verify_audit() for d in (a, b, c, clone))
    with a.store() as s1, clone.store() as s2:
        assert s1.meta("device_id") != s2.meta("device_id")


def test_a_device_that_merged_the_overwritten_segment_waits_for_the_copy_then_converges(trio, tmp_path):
    (a, b, c), spot = trio
    shared = a.reflect("before the copy")
    settle(a, b)
    clone = copy_of(a, tmp_path, spot)
    ra, rc = a.reflect("written on the original"), clone.reflect("written on the copy")
    clone.edit(shared, content="the copy's words")
    a._remotes["home"] = RacedBy(a._remotes["home"], clone, b)  # b merges the copy's segment, then it is gone
    a.sync()
    assert rc in b.entries()
    before = dump(b)
    with pytest.raises(VerificationError, match="another copy of that journal") as caught:
        b.sync()  # the remote no longer holds what b merged as that device's: not a rollback, but unexplained yet
    assert "When that copy syncs again" in caught.value.hint
    assert dump(b) == before, "a sync that stops changes nothing"
    clone.sync()  # the copy takes a new id, says where it forked, and publishes its changes again
    assert any("two copies of one journal" in note for note in b.sync(dry_run=True).notes)
    assert dump(b) == before
    assert any("two copies of one journal" in note for note in b.sync().notes)
    settle(a, b, c, clone)
    assert {ra, rc} <= set(b.entries())
    assert dump(a) == dump(b) == dump(c) == dump(clone)
    assert b.entries()[shared]["content"] == clone.entries()[shared]["content"] == "the copy's words"
    assert all(d.verify_audit() for d in (a, b, c, clone))


def copy_of(d: Device, tmp_path, spot) -> Device:
    path = tmp_path / "clone" / "mirror.db"
    path.parent.mkdir()
    shutil.copy(d.path, path)
    clone = Device(path, d.label)
    clone._remotes = {"home": IgnoresConditionalWrites(spot.open())}
    return clone


def test_remote_add_accepts_such_a_store_with_a_warning(cli, tmp_path, monkeypatch, fresh_remote):
    from mirror_cli.remotes import url as remote_url

    spot = fresh_remote()
    env = {"MIRROR_HOME": str(tmp_path / "home-a"), "MIRROR_SYNC_PASSPHRASE": "a long enough sync passphrase 7"}
    plain = cli("remote", "add", "home", spot.url, *spot_options(spot), env=env)
    assert plain.exit_code == 0 and "conditional" not in plain.stderr, plain.stderr
    real = remote_url.open_remote
    monkeypatch.setattr(remote_url, "open_remote", lambda *a, **k: IgnoresConditionalWrites(real(*a, **k)))
    env["MIRROR_HOME"] = str(tmp_path / "home-b")
    r = cli("remote", "add", "home", spot.url, *spot_options(spot), env=env)
    assert r.exit_code == 0, r.stderr
    assert "warning:" in r.stderr and "ignores conditional writes" in r.stderr
    assert not [n for n in spot.snapshot() if n.startswith(access.PROBE_PREFIX)]


def spot_options(spot) -> list[str]:
    return ["--endpoint-url", spot.options["endpoint_url"]] if "endpoint_url" in spot.options else []

"""`mirror remote revoke --wipe-device` and `mirror key change` carrying a remote, as real processes with
a file keyring (SYNC.md "What proves it right" 18 and 19)."""

from __future__ import annotations

import json

import pytest

from helpers import assert_error
from sync_homes import PASSPHRASE, Home, converged, snapshot

pytestmark = pytest.mark.process

NEW = "sync words Pelican-5 velvet orchard"
NO_SYNC_PASSPHRASE = ("MIRROR_SYNC_PASSPHRASE",)


def test_revoke_with_wipe_device_then_the_others_converge(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    a, b, c = (Home(tmp_path, n, shared, keyring=True) for n in ("a", "b", "c"))
    for h, label in ((a, "laptop"), (b, "desktop"), (c, "old-phone")):
        h.add_remote("--label", label)
        h.reflect(f"written on {label}")
    for h in (a, b, c, a, b):
        h.sync()

    r = a.ok("remote", "revoke", "home", "old-phone", "--wipe-device", "--json")
    out = json.loads(r.stdout)
    assert out["generation"] == 2 and out["revoked"][0]["label"] == "old-phone" and out["wipe_device"] is True
    text = a.run("remote", "devices", "home", "--json").stdout
    devices = json.loads(text)
    assert {d["label"]: d["generation"] for d in devices if not d["revoked"]} == {"laptop": 2}
    assert [d["revoked"] for d in devices].count(True) == 1

    # C still obeys mirror: with its cached key alone it learns it was revoked and wipes itself, loudly
    r = c.run("sync", drop=NO_SYNC_PASSPHRASE)
    assert_error(r, 4)
    assert "THIS DEVICE WAS REVOKED" in r.stderr and "deleted" in r.stderr, r.stderr
    assert c.reflections() == []
    assert_error(c.run("sync", "home"), 1)  # the remote is paused there now

    # B: exit 4 once without the passphrase, then it moves with it and works from its keyring
    r = b.run("sync", drop=NO_SYNC_PASSPHRASE)
    assert_error(r, 4)
    assert "rotated on 'laptop'" in r.stderr, r.stderr
    b.reflect("desktop after the revoke")
    b.sync()
    a.sync(drop=NO_SYNC_PASSPHRASE)
    b.sync(drop=NO_SYNC_PASSPHRASE)
    assert len(converged(a, b)) == 4
    a.audit_ok()
    b.audit_ok()


def test_key_change_rewraps_the_remote_only_and_others_ask_once(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    a, b = Home(tmp_path, "a", shared, keyring=True), Home(tmp_path, "b", shared, keyring=True)
    a.reflect("written before the journal was encrypted")
    a.ok("key", "enable", env={"MIRROR_NEW_PASSPHRASE": PASSPHRASE})
    journal = {"MIRROR_PASSPHRASE": PASSPHRASE}
    a.ok("remote", "add", "home", shared, env=journal, drop=NO_SYNC_PASSPHRASE)
    a.ok("reflect", "an encrypted journal's entry", env=journal)
    a.ok("sync", env=journal, drop=NO_SYNC_PASSPHRASE)
    b.add_remote()
    b.sync()
    b.reflect("b's entry")
    b.sync()
    a.ok("sync", env=journal, drop=NO_SYNC_PASSPHRASE)

    data = {n: v for n, v in snapshot(shared).items() if n.startswith(("h/", "s/", "c/"))}
    envelopes = {n for n in snapshot(shared) if n.startswith("k/")}
    r = a.ok("key", "change", "--json", env={**journal, "MIRROR_NEW_PASSPHRASE": NEW}, drop=NO_SYNC_PASSPHRASE)
    assert json.loads(r.stdout)["remotes"] == [{"remote": "home", "rewrapped": True, "reason": None}]
    after = snapshot(shared)
    assert {n: v for n, v in after.items() if n.startswith(("h/", "s/", "c/"))} == data
    new_envelopes = {n for n in after if n.startswith("k/")}
    assert len(new_envelopes) == 1 and not new_envelopes & envelopes

    # A works on with the new passphrase (its keyring holds the new KEK); B asks once, then works
    a.ok("reflect", "after the change", env={"MIRROR_PASSPHRASE": NEW})
    a.ok("sync", env={"MIRROR_PASSPHRASE": NEW}, drop=NO_SYNC_PASSPHRASE)
    r = b.run("sync", drop=NO_SYNC_PASSPHRASE)
    assert_error(r, 4)
    assert "passphrase of remote home was changed" in r.stderr, r.stderr
    assert_error(b.run("sync"), 4)  # the old passphrase opens nothing now
    b.sync(env={"MIRROR_SYNC_PASSPHRASE": NEW})
    b.sync(drop=NO_SYNC_PASSPHRASE)
    assert len(b.reflections()) == 4

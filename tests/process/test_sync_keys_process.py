"""`mirror sync` as real processes with no keyring (the full Argon2id cost each time): a wrong passphrase
changes nothing anywhere, a new device joins with the passphrase alone, no passphrase is ever printed, and
the remote folder holds no plaintext (SYNC.md, "Confidentiality" and "Keys, devices, deletion")."""

from __future__ import annotations

import base64
import json

import pytest

from helpers import assert_error, dump
from mirror_cli.sync.objects import padme
from sync_homes import PASSPHRASE, WRONG, Home, converged, snapshot

pytestmark = pytest.mark.process


def _local_state(h: Home) -> list[str]:
    return dump(h.db)


def test_wrong_passphrase_exit_4_then_the_right_one_joins(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    a = Home(tmp_path, "a", shared)
    a.add_remote()
    a.reflect("written on a #first")
    a.reflect("second on a", "--response", "a reply")
    a.sync()

    # a new device given the wrong passphrase: exit 4, one message, nothing written here or there
    c = Home(tmp_path, "c", shared, passphrase=WRONG)
    c.add_remote()
    c.reflect("c's own entry before joining")
    local, remote = _local_state(c), snapshot(shared)
    r = c.run("sync")
    assert_error(r, 4)
    assert r.stderr.count("mirror:") == 1 and "wrong passphrase" in r.stderr, r.stderr
    r = c.run("sync", "--json", env={"MIRROR_DEBUG": "1"})  # a traceback now, still no secret (checked by run)
    assert r.returncode == 4 and r.stdout == ""
    assert _local_state(c) == local and snapshot(shared) == remote

    # a device that synced before, now given a wrong passphrase (no keyring to fall back on): the same
    a.reflect("a's entry after the first sync")
    local = _local_state(a)
    r = a.run("sync", env={"MIRROR_SYNC_PASSPHRASE": WRONG})
    assert_error(r, 4)
    assert _local_state(a) == local and snapshot(shared) == remote

    # the right passphrase, through the journal's own variable only: c joins and merges its entry
    c.ok("sync", env={"MIRROR_PASSPHRASE": PASSPHRASE}, drop=("MIRROR_SYNC_PASSPHRASE",))
    a.sync()
    c.ok("sync", env={"MIRROR_SYNC_PASSPHRASE": PASSPHRASE})
    entries = converged(a, c)
    assert len(entries) == 4


def test_no_passphrase_in_any_output_also_with_debug_and_on_errors(tmp_path):
    """Every command below is checked by Home.run for both passphrases on stdout and stderr."""
    shared = tmp_path / "shared"
    shared.mkdir()
    debug = {"MIRROR_DEBUG": "1"}
    a = Home(tmp_path, "a", shared)
    a.ok("remote", "add", "home", shared, "--json", env=debug)
    a.reflect("a line to sync")
    json.loads(a.ok("sync", "--json", env=debug).stdout)
    a.ok("sync", "--dry-run", env=debug)
    a.ok("remote", "list", "--json", env=debug)
    a.ok("remote", "devices", "home", "--json", env=debug)
    # errors, with the passphrase in the environment and tracebacks on
    assert a.run("remote", "add", "gone", tmp_path / "no-such-folder", env=debug).returncode == 1
    assert a.run("sync", "home", "--conflict", "nonsense", env=debug).returncode == 2
    assert a.run("sync", env={**debug, "MIRROR_SYNC_PASSPHRASE": WRONG}).returncode == 4
    fresh = Home(tmp_path, "fresh", tmp_path / "fresh-shared", passphrase=WRONG)
    fresh.ok("remote", "add", "home", tmp_path / "fresh-shared", "--mkdir", env=debug)
    assert fresh.run("remote", "add", "home2", tmp_path / "fresh-shared", env=debug).returncode == 0
    # nor is it kept anywhere on disk
    for path in [*shared.rglob("*"), *a.home.rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert PASSPHRASE.encode() not in data and WRONG.encode() not in data, path


CANARIES = ["Zanzibar-Quill", "CANARYWORD-ALPHA", "canarytag-umber", "CANARYMODE-OSPREY", "canary-reply-vellum",
            "CANARY-LAPTOP", "canary-local-only-heron"]


def test_the_remote_holds_no_plaintext_and_every_object_is_padded(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    a = Home(tmp_path, "a", shared)
    b = Home(tmp_path, "b", shared)
    a.add_remote("--label", "CANARY-LAPTOP")
    b.add_remote("--label", "desktop")
    a.reflect("CANARYWORD-ALPHA thoughts near Zanzibar-Quill", "--tag", "canarytag-umber", "--mode",
              "CANARYMODE-OSPREY", "--at", "2019-03-14T09:26:53")
    a.reflect("an older one", "--response", "canary-reply-vellum", "--at", "2017-11-05T22:41:07")
    a.reflect("canary-local-only-heron stays here", "--local-only")
    b.reflect("b's line", "--at", "2016-02-29T13:14:15")
    a.sync()
    b.sync()
    a.sync()
    entries = converged(a, b)
    assert len(entries) == 3
    exported = [r for h in (a, b) for r in json.loads(h.ok("export", "--format", "json").stdout)["reflections"]]
    needles = set(CANARIES) | {PASSPHRASE}
    for r in exported:
        needles |= {r["id"], r["id"].lower()}
        for stamp in (r["created_at"], r["updated_at"]):
            day = stamp[:10]
            needles |= {day, day.replace("-", ""), stamp[:19], stamp[11:19]}
    for h in (a, b):
        for key in ("db_id", "device_id"):
            value = h.sql("SELECT value FROM meta WHERE key = ?", key)[0][0]
            needles |= {value, value.lower(), value.upper()}
            if key == "device_id":
                raw = bytes.fromhex(value)
                needles |= {base64.b32encode(raw).decode().rstrip("="), base64.b32encode(raw).decode().lower()[:26],
                            base64.b64encode(raw).decode().rstrip("="), base64.urlsafe_b64encode(raw).decode()[:22]}
    files = snapshot(shared)
    assert {n.split("/")[0] for n in files} == {"mirror-remote.json", "k", "h", "s"}, sorted(files)
    hits = [(name, needle) for name, data in files.items() for needle in needles
            if needle.encode() in data or needle.lower().encode() in data.lower()]
    assert hits == []
    for name, data in files.items():
        if name.startswith("h/"):
            assert len(data) >= 1024 and padme(len(data)) == len(data), (name, len(data))
        elif name.startswith("s/"):
            assert len(data) >= 4096 and padme(len(data)) == len(data), (name, len(data))
    assert sum(n.startswith("h/") for n in files) == 2

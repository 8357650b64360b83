"""A sync with nothing to do, decided from one listing, and this journal's sync lock.

Most syncs from cron find nothing new: no device wrote, and neither did this one. A full sync then
still opens the remote's key (the keyring, or Argon2id) and checks every head, only to change
nothing. Here such a sync is recognised before any of that is loaded: a full sync that found
nothing to do anywhere remembers a fingerprint of the remote's listing (every object's name and
tag, the same tag meaning the same bytes); the next sync that lists exactly that, while this
journal has not changed since (its change counter still where the last push left it, nothing
staged, no rotation to finish), reports the same devices and stops: one LIST, no GET, no key.

Anything else runs the full sync: any object written, replaced or removed by anyone (a new
segment, a head, a rollback, a rotation, a wipe), any local change, `--rejoin`, `--compact`,
`--only` patterns or tensions. The fingerprint lives in this journal's own meta table; someone who
can write there can already change the journal itself.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from mirror_cli.db.store import Store
from mirror_cli.errors import OperationError
from mirror_cli.ids import now_iso, parse_iso
from mirror_cli.remotes.base import Remote

LOCK_WAIT_S = 30.0
STALE_DAYS = 30
MARK = "sync_quiet:"  # meta key + remote name: {"fp": listing fingerprint, "devices": [...], "rev": clock}
_PENDING = ("sync_rotation_plan:", "sync_head_extras:")  # meta keys + remote name: work left for a full sync


class SyncLock:
    """``<db>.sync.lock`` (flock): a second `mirror sync` of this journal waits, then exit 1."""

    def __init__(self, db_path: Path, wait_s: float = LOCK_WAIT_S) -> None:
        self.path = Path(str(db_path) + ".sync.lock")
        self.wait_s = wait_s
        self.fd: int | None = None

    def __enter__(self) -> SyncLock:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self.fd)
                    self.fd = None
                    raise OperationError("another `mirror sync` of this journal is running; the lock was not "
                                         f"obtained in {self.wait_s:.0f} s.", "Try again when it has finished.") from None
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def fingerprint(listing: dict[str, str]) -> str:
    """SHA-256 of every (name, tag) of a listing, in name order."""
    h = hashlib.sha256()
    for name in sorted(listing):
        h.update(name.encode() + b"\x00" + listing[name].encode() + b"\n")
    return h.hexdigest()


def remember(store: Store, remote: str, listing: dict[str, str] | None, devices: list[dict[str, Any]]) -> None:
    """After a full sync: *listing* (what it listed at the start) when it found nothing to do anywhere
    and wrote nothing, else None (forget). Call inside store.write()."""
    if listing is None:
        store.set_meta(MARK + remote, None)
        return
    store.set_meta(MARK + remote, json.dumps({"fp": fingerprint(listing), "rev": int(store.meta("clock", "0")),
                                              "devices": devices}, sort_keys=True))


def check(store: Store, remote_name: str, remote: Remote, *, dry_run: bool, push: bool, pull: bool) -> dict[str, Any] | None:
    """The report of a sync with nothing to do (``last_sync`` updated unless *dry_run*), or None when the
    full sync must run. Call under the sync lock."""
    raw = store.meta(MARK + remote_name)
    if raw is None:
        return None
    mark = json.loads(raw)
    row = store.conn.execute("SELECT scan_rev, staged FROM sync_self WHERE remote = ?", (remote_name,)).fetchone()
    if (row is None or row[1] is not None
            or store.meta("device_id") is None  # a restored journal: it takes a new id first
            or int(store.meta("clock", "0")) not in (int(row[0]), mark["rev"])  # changed here since
            or any(store.meta(key + remote_name) is not None for key in _PENDING)):
        return None
    listing = {info.name: info.tag or "" for info in remote.list("")}
    if fingerprint(listing) != mark["fp"]:
        return None
    if not dry_run:
        with store.write():
            store.conn.execute("UPDATE sync_remotes SET last_sync = ? WHERE name = ?", (now_iso(), remote_name))
    now = time.time()
    devices = []
    for d in mark["devices"]:
        seen = d.get("last_seen")
        stale = bool(seen) and not d.get("this_device") and (now - parse_iso(seen).timestamp()) / 86400 > STALE_DAYS
        devices.append({**d, "stale": stale if seen else d.get("stale", False)})
    direction = "both" if push and pull else ("push" if push else "pull")
    none = {"reflections": 0}
    return {"remote": remote_name, "direction": direction, "dry_run": dry_run, "pulled": dict(none),
            "pushed": dict(none), "deleted": dict(none), "conflicts": [], "incomplete": False, "waiting_objects": 0,
            "foreign": [], "devices": devices, "bytes_up": 0, "bytes_down": 0, "elapsed_s": 0.0, "notes": []}

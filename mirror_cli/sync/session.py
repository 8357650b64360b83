"""What one sync is given and what it reports, and the fault hook that process tests use to kill a
sync at each step (the per-journal sync lock lives in :mod:`.quiet`, re-exported here)."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mirror_cli.crypto.passphrase import KeyCache
from mirror_cli.sync.merge import LOCAL_WINS
from mirror_cli.db.store import Store
from mirror_cli.remotes.base import Remote
from mirror_cli.sync.config import RemoteConfig
from mirror_cli.sync.keys import RemoteKey
from mirror_cli.sync.objects import Head
from mirror_cli.sync.quiet import SyncLock

__all__ = ["Options", "Peer", "Report", "SyncLock", "SyncState", "fault"]

HEAD_EXTRAS = "sync_head_extras:"  # meta key + remote name: what a rotating device's heads carry (rotate.py)
FORKED = "sync_forked:"  # meta key + remote name: the fork notices this device's heads carry (forks.py)


@dataclass
class Options:
    push: bool = True
    pull: bool = True
    policy: str = LOCAL_WINS
    dry_run: bool = False
    rejoin: bool = False
    interactive: bool = False
    prompt: Callable[[str], str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    cache: KeyCache | None = None
    progress: Callable[[str, int, int], None] | None = None
    kinds: frozenset[str] = frozenset()  # derived kinds that also travel (--only patterns,tensions)
    compact: bool = False              # write a checkpoint now (else when 128 segments are not covered)
    gc_grace_s: float | None = None    # None: 7 days on a folder (objects in transit), 1 hour elsewhere


@dataclass
class Report:
    remote: str
    direction: str
    dry_run: bool
    pulled: dict[str, int] = field(default_factory=lambda: {"reflections": 0})
    pushed: dict[str, int] = field(default_factory=lambda: {"reflections": 0})
    deleted: dict[str, int] = field(default_factory=lambda: {"reflections": 0})
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    incomplete: bool = False
    waiting_objects: int = 0
    foreign: list[str] = field(default_factory=list)
    devices: list[dict[str, Any]] = field(default_factory=list)
    bytes_up: int = 0
    bytes_down: int = 0
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    clocks_ahead: dict[str, int] = field(default_factory=dict)  # device -> how far its clock is ahead (ms)

    def to_dict(self) -> dict[str, Any]:
        return {"remote": self.remote, "direction": self.direction, "dry_run": self.dry_run,
                "pulled": self.pulled, "pushed": self.pushed, "deleted": self.deleted,
                "conflicts": self.conflicts, "incomplete": self.incomplete,
                "waiting_objects": self.waiting_objects, "foreign": self.foreign, "devices": self.devices,
                "bytes_up": self.bytes_up, "bytes_down": self.bytes_down, "elapsed_s": round(self.elapsed_s, 3),
                "notes": self.notes}

    @property
    def changed(self) -> bool:
        return bool(sum(self.pulled.values()) or sum(self.pushed.values()) or sum(self.deleted.values())
                    or self.conflicts)


# -- the lock ------------------------------------------------------------------------------------


def fault(point: str) -> None:
    """Test hook: MIRROR_TEST_FAULT=<point> kills this process there (kill -9 at each step)."""
    if os.environ.get("MIRROR_TEST_FAULT") == point:
        os.kill(os.getpid(), 9)


@dataclass
class Peer:
    """A device's head as read from the remote, with its listing tag and object name."""

    head: Head
    tag: str
    name: str


class SyncState:
    """What one sync knows while it runs (the engine's ``Sync``, read by ``pull`` and ``push``)."""

    def __init__(self, store: Store, cfg: RemoteConfig, remote: Remote, opts: Options) -> None:
        self.store, self.cfg, self.remote, self.opts = store, cfg, remote, opts
        direction = "both" if opts.push and opts.pull else ("push" if opts.push else "pull")
        self.report = Report(cfg.name, direction, opts.dry_run)
        self.key: RemoteKey | None = None
        self.remote_id = ""
        self.dev = ""

    def published_dot(self) -> int:
        row = self.store.conn.execute("SELECT dot FROM sync_self WHERE remote = ?", (self.cfg.name,)).fetchone()
        return int(row[0]) if row else 0

    def _label(self, heads: dict[str, Peer], dev: str) -> str:
        peer = heads.get(dev)
        return peer.head.label if peer is not None else dev[:8]

    def _applied(self, dev: str) -> int:
        row = self.store.conn.execute("SELECT applied FROM sync_peers WHERE remote = ? AND dev = ?",
                                      (self.cfg.name, dev)).fetchone()
        return int(row[0]) if row else 0

    def head_extras(self) -> dict[str, Any]:
        """The rotation fields this device's heads carry on this remote (revoked, wipe_device, retired),
        and its fork notices (forked)."""
        text, forked = self.store.meta(HEAD_EXTRAS + self.cfg.name), self.store.meta(FORKED + self.cfg.name)
        return {**(json.loads(text) if text else {}), **({"forked": json.loads(forked)} if forked else {})}

    def _label_self(self) -> str:
        return self.store.meta("device_label") or socket.gethostname()[:64] or "device"


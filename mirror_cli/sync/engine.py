"""One sync with one remote (docs/formats/sync.md, "One sync, step by step").

LOCK (this journal's sync lock) → OPEN (bootstrap, pinned remote id) → KEY → HEADS (rollback and
fork checks) → fetch and verify every new segment of every peer (nothing local changes before
all of it is authenticated) → STAMP local changes → PULL (one transaction per segment, with the
peer's cursor) → PUSH (stage in the outbox, upload write-once segments, then the head, then
commit) → AUDIT (one event, none when nothing changed) → report.
"""

from __future__ import annotations

import json
import time

from mirror_cli.crypto.passphrase import new_passphrase
from mirror_cli.db.store import Store
from mirror_cli.errors import LockedError, VerificationError
from mirror_cli.ids import hlc_iso, hlc_next, now_iso, parse_iso
from mirror_cli.remotes.base import NotFound, Remote, RemoteError
from mirror_cli.sync import access, config, derived, generations, local, objects
from mirror_cli.sync import pull, push, quiet
from mirror_cli.sync.session import Options, Peer, Report, SyncLock, SyncState

__all__ = ["Options", "Report", "Sync", "SyncLock", "rejoin"]

TEMP_GRACE_S = 600.0  # a folder temp this old is a killed writer's, not one still uploading (objects <= ~4 MiB)
STALE_DAYS = 30
BACKUPS = "backups/"  # `backup create -o REMOTE` keeps backups there (at the top of a folder): not foreign
OWN_FILES = (".backup", ".shard", ".manifest.json")  # backups and shards put beside the sync objects


# -- one sync -------------------------------------------------------------------------------------


class Sync(SyncState):
    """One sync of one journal with one remote (:meth:`run`)."""

    # OPEN + KEY
    def _read(self, name: str, tag: str, cached: dict[str, tuple[str, bytes]]) -> bytes:
        """An object named in this sync's one listing: from the copy kept at the last sync when its tag is
        unchanged (it is verified all the same), else read; either way kept for the next sync."""
        if tag and cached.get(name, ("", b""))[0] == tag:
            data = cached[name][1]
        else:
            data = self.remote.get(name)
            self.report.bytes_down += len(data)
        self._heads_read[name] = (tag, data)
        return data

    def open(self) -> None:
        # One listing serves the whole sync: the bootstrap, the key envelopes and the heads, each read
        # only when its tag changed since the last sync (a no-op sync: one LIST, no GET).
        cached = {name: (tag, bytes(blob)) for name, tag, blob in self.store.conn.execute(
            "SELECT name, tag, blob FROM sync_heads WHERE remote = ?", (self.cfg.name,))}
        self._heads_read: dict[str, tuple[str, bytes]] = {}
        self._listing = {info.name: info.tag or "" for info in self.remote.list("")}
        self._cached = cached
        rid = None
        if access.BOOTSTRAP in self._listing:
            try:
                rid = access.parse_bootstrap(self._read(access.BOOTSTRAP, self._listing[access.BOOTSTRAP], cached))
            except NotFound:
                rid = None
        if rid is None:
            if self.cfg.remote_id is not None and not self.opts.rejoin:
                raise access.RemoteEmpty(
                    f"remote {self.cfg.name} is empty: it was wiped or replaced; nothing was changed here.",
                    f"`mirror sync {self.cfg.name} --rejoin` uploads this journal to it as a new remote.")
            raise access.RemoteEmpty(f"remote {self.cfg.name} has not been set up (no {access.BOOTSTRAP}).",
                                     f"Run `mirror remote add` again, or `mirror sync {self.cfg.name} --rejoin`.")
        if self.cfg.remote_id is not None and rid != self.cfg.remote_id:
            # CONTRACT.md: "an empty, missing or replaced remote never deletes anything locally (exit 1)"
            raise access.RemoteEmpty(f"remote {self.cfg.name} was replaced: it is not the remote this journal "
                                     "synced with (its id changed); nothing was changed here.", "Check its URL; "
                                     f"`mirror sync {self.cfg.name} --rejoin` uploads this journal to it, or remove and "
                                     "add it again if it was replaced on purpose.")
        self.remote_id = rid
        read = {}
        for name, tag in self._listing.items():
            if name.startswith("k/"):
                try:
                    read[name] = self._read(name, tag, cached)
                except NotFound:
                    pass
        try:
            opened = access.open_key(self.remote, rid, self.opts.env, interactive=self.opts.interactive,
                                     prompt=self.opts.prompt, cache=self.opts.cache, read=read)
        except LockedError as exc:
            generations.explain_locked(self, read, exc)  # rotated or re-wrapped elsewhere? (raises)
            raise
        if self.cfg.gen is not None and opened.key.gen > self.cfg.gen:
            generations.move(self, opened.key)  # the key was rotated: republish under the new generation
        if self.cfg.key_id is not None and self.cfg.gen == opened.key.gen and opened.key.key_id != self.cfg.key_id:
            raise VerificationError(f"remote {self.cfg.name} now uses another key than the one this journal pinned.",
                                    "Nothing was changed here; someone replaced the remote's key envelope.")
        self.key = opened.key
        self._opened = opened

    # HEADS
    def heads(self) -> dict[str, Peer]:
        assert self.key is not None
        found: dict[str, Peer] = {}
        failed: list[tuple[str, VerificationError]] = []
        for name, tag in self._listing.items():
            if name.startswith("h/") and len(name) == 28:
                try:
                    blob = self._read(name, tag, self._cached)
                except NotFound:
                    continue
                try:
                    head = objects.open_head(self.key, self.remote_id, name, blob)
                except VerificationError as exc:
                    failed.append((name, exc))
                    continue
                found[head.dev] = Peer(head, tag, name)
            elif not (name == access.BOOTSTRAP or (name[:2] in ("s/", "k/", "c/") and len(name) == 28)
                      or name.startswith(BACKUPS) or ("/" not in name and name.endswith(OWN_FILES))):
                self.report.foreign.append(name)
        if failed and not found and self._opened.kek is None:
            raise LockedError("that recovery code does not open this remote's objects (another remote's code?).",
                              "Use the code printed by `mirror remote add --key-only` for this remote.")
        self.revoked = generations.check_heads(self, found, failed)
        return found

    def check_heads(self, heads: dict[str, Peer]) -> None:
        """Rollback and fork: no head older than one seen before, none older than another head says."""
        for dev, seq, chain in self.store.conn.execute(
                "SELECT dev, seq, chain FROM sync_peers WHERE remote = ?", (self.cfg.name,)).fetchall():
            peer = heads.get(dev)
            if peer is None:
                if seq > 0:
                    raise VerificationError(f"the head of device {dev[:8]} is gone from remote {self.cfg.name} "
                                            "(rolled back or deleted).", "Nothing was changed here.")
                continue
            if peer.head.seq < seq or (peer.head.seq == seq and chain and peer.head.chain != chain):
                raise VerificationError(f"remote {self.cfg.name} serves an older state of device "
                                        f"{peer.head.label!r} ({dev[:8]}: seq {peer.head.seq}, seen {seq}): "
                                        "a rollback.", "Nothing was changed here.")
        for peer in heads.values():
            for dev, seq in peer.head.applied.items():
                other = heads.get(dev)
                if other is None and dev != self.dev:
                    continue
                have = other.head.seq if other is not None else self._own_seq()
                if seq > have and other is not None and getattr(self.remote, "may_lag", False):
                    self.report.incomplete = True  # a synced folder: that device's newer head is in transit
                    self.report.waiting_objects += seq - have
                    continue
                if seq > have:
                    raise VerificationError(f"remote {self.cfg.name} serves device {dev[:8]} at seq {have}, but "
                                            f"{peer.head.label!r} has already merged seq {seq}: a rollback.",
                                            "Nothing was changed here.")

    def _own_seq(self) -> int:
        row = self.store.conn.execute("SELECT seq FROM sync_self WHERE remote = ?", (self.cfg.name,)).fetchone()
        return int(row[0]) if row else 0

    def run(self) -> Report:
        start = time.monotonic()
        if not self.opts.dry_run:
            generations.finish_pending(self.store, self.cfg.name, self.remote)  # a rotation killed half way
        self.open()
        heads = self.heads()  # before anything is written here: a wrong key writes nothing
        if self.opts.dry_run:
            self.dev = self.store.meta("device_id") or ""  # --dry-run writes nothing, not even an id
        else:
            with self.store.write():
                self.dev = local.device_id(self.store)
                former = self.store.conn.execute("SELECT dev FROM sync_self WHERE remote = ?",
                                                 (self.cfg.name,)).fetchone()
            if former is not None and former[0] != self.dev:  # restored from a backup: a new identity
                self.reidentify(former[0])
            with self.store.write():
                if self.store.conn.execute("SELECT 1 FROM sync_self WHERE remote = ?",
                                           (self.cfg.name,)).fetchone() is None:
                    self.store.conn.execute("INSERT INTO sync_self (remote, dev, chain) VALUES (?, ?, ?)",
                                            (self.cfg.name, self.dev, objects.chain_start(self.remote_id, self.dev)))
        self.check_own(heads)
        self.check_heads(heads)
        if self.opts.kinds and self.opts.push:
            derived.check_publishable(self.store)
        fetched = pull.fetch(self, heads) if self.opts.pull else []
        if self.opts.dry_run:
            self.report.pulled["reflections"] = sum(len(recs) for *_, recs in fetched)
            with self.store.read():
                scan = (self.store.conn.execute("SELECT scan_rev FROM sync_self WHERE remote = ?",
                                                (self.cfg.name,)).fetchone() or (0,))[0]
                n = self.store.conn.execute(
                    "SELECT count(*) FROM reflections WHERE rev > ? AND local_only = 0", (scan,)).fetchone()[0]
            self.report.pushed["reflections"] = int(n) if self.opts.push else 0
            self._devices(heads)
            self.report.elapsed_s = time.monotonic() - start
            return self.report
        with self.store.write():
            config.pin(self.store, self.cfg.name, self.remote_id, self.key.key_id, self.key.gen)
            local.stamp_changes(self.store, self.dev)
        access.remember(self.opts.cache, self.remote_id, self._opened)
        pull.apply(self, fetched, heads)
        with self.store.write():
            for dev, peer in heads.items():
                if dev != self.dev:
                    self.store.conn.execute(
                        "INSERT INTO sync_peers (remote, dev, label, seq, chain, head_tag, head_hlc, seen_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (remote, dev) DO UPDATE SET label = excluded.label,"
                        " seq = excluded.seq, chain = excluded.chain, head_tag = excluded.head_tag,"
                        " head_hlc = excluded.head_hlc, seen_at = excluded.seen_at",
                        (self.cfg.name, dev, peer.head.label, peer.head.seq, peer.head.chain, peer.tag,
                         peer.head.hlc, now_iso()))
        if self.opts.push:
            if self.opts.kinds:
                with self.store.write():
                    derived.stamp(self.store, local.StoreClock(self.store, self.dev, self.published_dot()),
                                  self.opts.kinds)
            try:
                push.push(self, heads)
            except push.Forked:
                self.reidentify()
                push.push(self, heads)
            push.compact(self, heads)
        self._devices(heads)
        if self.report.bytes_up:
            self._sweep()
        with self.store.write():
            self.store.conn.execute("UPDATE sync_remotes SET last_sync = ? WHERE name = ?", (now_iso(), self.cfg.name))
            self.store.conn.execute("DELETE FROM sync_heads WHERE remote = ?", (self.cfg.name,))
            self.store.conn.executemany(
                "INSERT INTO sync_heads (remote, name, tag, blob) VALUES (?, ?, ?, ?)",
                [(self.cfg.name, name, tag, blob) for name, (tag, blob) in self._heads_read.items() if tag])
            if self.report.changed:
                data = {"remote": self.cfg.name, "pulled": self.report.pulled["reflections"],
                        "pushed": self.report.pushed["reflections"], "deleted": self.report.deleted["reflections"],
                        "conflicts": len(self.report.conflicts)}
                for word in ("patterns", "tensions"):  # counts only, as every event
                    moved = {k: counts[word] for k, counts in (("pulled", self.report.pulled),
                             ("pushed", self.report.pushed), ("deleted", self.report.deleted)) if counts.get(word)}
                    if moved:
                        data[word] = moved
                self.store.append_event("sync", data)
            r = self.report
            found_nothing = (self.opts.push and self.opts.pull and not self.opts.kinds and not self.opts.compact
                             and not r.changed and not r.incomplete and not r.bytes_up and not r.waiting_objects
                             and not r.notes)
            quiet.remember(self.store, self.cfg.name, self._listing if found_nothing else None, r.devices)
        self.report.elapsed_s = time.monotonic() - start
        return self.report

    def _sweep(self) -> None:
        """After a run that wrote (a killed run's outbox is re-driven by the next one), remove the temp files
        killed writers left in a folder remote once they are older than TEMP_GRACE_S, so that a write still
        in flight on another device is left alone; a no-op sync stays one directory scan."""
        sweep = getattr(self.remote, "sweep_temps", None)
        if sweep is not None:
            try:
                sweep(("", "h", "s", "c", "k"), older_than_s=TEMP_GRACE_S)
            except RemoteError:
                pass  # best effort: the next run tries again

    def check_own(self, heads: dict[str, Peer]) -> None:
        """Our own head must be what we last wrote (or what we staged before a crash)."""
        row = self.store.conn.execute("SELECT seq, chain, staged FROM sync_self WHERE remote = ?",
                                      (self.cfg.name,)).fetchone() or (0, None, None)
        seq, chain, staged = int(row[0]), row[1], row[2]
        mine = heads.get(self.dev)
        if mine is None:
            if seq > 0:
                raise VerificationError(f"this device's head is gone from remote {self.cfg.name} (deleted or "
                                        "rolled back).", "Nothing was changed here.")
            return
        if mine.head.seq == seq and mine.head.chain == chain:
            return
        if staged is not None:
            plan = json.loads(staged)
            if mine.head.seq == plan["seq"] and mine.head.chain == plan["chain"]:
                return  # the head went up before a crash: the outbox re-drive commits it
        if mine.head.seq < seq:
            raise VerificationError(f"remote {self.cfg.name} serves an older head of this device (seq "
                                    f"{mine.head.seq}, last written {seq}): a rollback.", "Nothing was changed here.")
        if self.opts.dry_run:
            self.report.notes.append("another copy of this journal syncs as this device; the next sync gives "
                                     "this one a new identity.")
            return
        self.reidentify()

    def reidentify(self, old: str | None = None) -> None:
        """Another copy of this journal (copied by hand, or this one restored from a backup) syncs
        under the same device id: this copy takes a new id (or has one already: *old* is the id it
        synced as), treats the old one as a peer (whose segments it then pulls), and re-stamps its
        changes that the old id never published."""
        renamed = old is not None
        old = old or self.dev
        with self.store.write():
            if not renamed:
                self.dev = local.new_device_id(self.store)
            rows = self.store.conn.execute(
                "SELECT s.remote, s.seq, s.chain, s.dot, r.remote_id FROM sync_self s JOIN sync_remotes r"
                " ON r.name = s.remote WHERE s.dev = ?", (old,)).fetchall()
            published = max((int(r[3]) for r in rows), default=0)
            for remote, seq, chain, _dot, remote_id in rows:
                self.store.conn.execute(
                    "INSERT INTO sync_peers (remote, dev, seq, chain, applied, applied_chain) VALUES (?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (remote, dev) DO UPDATE SET applied = excluded.applied,"
                    " applied_chain = excluded.applied_chain", (remote, old, seq, chain, seq, chain))
                if remote_id is None:
                    self.store.conn.execute("DELETE FROM sync_self WHERE remote = ?", (remote,))
                    continue
                self.store.conn.execute(
                    "UPDATE sync_self SET dev = ?, seq = 0, chain = ?, dot = 0, scan_rev = 0, staged = NULL, ckpt = NULL,"
                    " head_tag = NULL WHERE remote = ?", (self.dev, objects.chain_start(remote_id, self.dev), remote))
                self.store.conn.execute("DELETE FROM sync_outbox WHERE remote = ?", (remote,))
            local.redot(self.store, old, self.dev, published)
        self.report.notes.append("another copy of this journal was syncing as the same device (a copied or "
                                 "restored file); this copy now syncs as a new device and nothing was lost.")

    def _devices(self, heads: dict[str, Peer]) -> None:
        now = time.time()
        if self.dev and self.dev not in heads and not self.opts.dry_run and self.opts.push:
            heads = {**heads, self.dev: Peer(objects.Head(dev=self.dev, label=self._label_self(), gen=0, seq=0,
                                                          chain="", dot=0, applied={},
                                                          hlc=self.store.meta("hlc") or hlc_next(None)), "", "")}
        for dev, peer in sorted(heads.items(), key=lambda kv: kv[1].head.label):
            when = hlc_iso(peer.head.hlc)
            age_days = (now - parse_iso(when).timestamp()) / 86400
            self.report.devices.append({"label": peer.head.label, "device": dev[:8], "this_device": dev == self.dev,
                                        "last_seen": when, "stale": age_days > STALE_DAYS, "revoked": False,
                                        "generation": peer.head.gen or (self.key.gen if self.key else None)})
        for dev in sorted(getattr(self, "revoked", ())):
            self.report.devices.append({"label": "(revoked)", "device": dev[:8], "this_device": False,
                                        "last_seen": None, "stale": False, "revoked": True, "generation": None})


def rejoin(store: Store, cfg: config.RemoteConfig, remote: Remote, opts: Options) -> None:
    """Upload this journal to an empty or wiped remote as a new remote (or resume a paused one):
    nothing is deleted anywhere; every record is sent again."""
    rid = access.read_bootstrap(remote)
    with store.write():
        config.set_paused(store, cfg.name, False)
        if rid is None or rid != cfg.remote_id:
            config.forget_state(store, cfg.name)
    if rid is None:
        found = access.sync_passphrase(opts.env)
        if found is None and opts.interactive:
            found = new_passphrase(opts.env, True, prompt=opts.prompt)
        if found is None:
            raise LockedError("rejoining an empty remote needs a sync passphrase and none was given.",
                              "Set MIRROR_SYNC_PASSPHRASE_FILE or MIRROR_SYNC_PASSPHRASE.")
        access.initialise(remote, found)

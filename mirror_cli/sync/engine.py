"""One sync with one remote (docs/formats/sync.md, "One sync, step by step").

LOCK (this journal's sync lock) → OPEN (bootstrap, pinned remote id) → KEY → HEADS (rollback and
fork checks) → fetch and verify every new segment of every peer (nothing local changes before
all of it is authenticated) → STAMP local changes → PULL (one transaction per segment, with the
peer's cursor) → PUSH (stage in the outbox, upload write-once segments, then the head, then
commit) → AUDIT (one event, none when nothing changed) → report.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any

from mirror_cli.journal import reflections as journal
from mirror_cli.crypto.passphrase import new_passphrase
from mirror_cli.db.store import Store
from mirror_cli.errors import LockedError, VerificationError
from mirror_cli.ids import hlc_iso, hlc_next, now_iso, parse_iso
from mirror_cli.remotes.base import Exists, NotFound, Remote
from mirror_cli.sync import access, checkpoint, config, local, objects
from mirror_cli.sync.session import Options, Report, SyncLock, fault
from mirror_cli.sync.keys import RemoteKey
from mirror_cli.sync.merge import Conflict, alive, merge

__all__ = ["Options", "Report", "Sync", "SyncLock", "rejoin"]

STALE_DAYS = 30
CLIENT = "mirror-cli"


# -- one sync -------------------------------------------------------------------------------------


@dataclass
class Peer:
    head: objects.Head
    tag: str
    name: str


class Forked(Exception):
    """Another copy of this journal already wrote this device's next segment."""


class Sync:
    def __init__(self, store: Store, cfg: config.RemoteConfig, remote: Remote, opts: Options) -> None:
        self.store, self.cfg, self.remote, self.opts = store, cfg, remote, opts
        direction = "both" if opts.push and opts.pull else ("push" if opts.push else "pull")
        self.report = Report(cfg.name, direction, opts.dry_run)
        self.key: RemoteKey | None = None
        self.remote_id = ""
        self.dev = ""

    # OPEN + KEY
    def open(self) -> None:
        rid = access.read_bootstrap(self.remote)
        if rid is None:
            if self.cfg.remote_id is not None and not self.opts.rejoin:
                raise access.RemoteEmpty(
                    f"remote {self.cfg.name} is empty: it was wiped or replaced; nothing was changed here.",
                    f"`mirror sync {self.cfg.name} --rejoin` uploads this journal to it as a new remote.")
            raise access.RemoteEmpty(f"remote {self.cfg.name} has not been set up (no {access.BOOTSTRAP}).",
                                     f"Run `mirror remote add` again, or `mirror sync {self.cfg.name} --rejoin`.")
        if self.cfg.remote_id is not None and rid != self.cfg.remote_id:
            raise VerificationError(f"remote {self.cfg.name} is not the remote this journal synced with "
                                    "(its id changed).", "Nothing was changed here. Check its URL, or remove and "
                                    "add it again if it was replaced on purpose.")
        self.remote_id = rid
        opened = access.open_key(self.remote, rid, self.opts.env, interactive=self.opts.interactive,
                                 prompt=self.opts.prompt, cache=self.opts.cache)
        if self.cfg.key_id is not None and self.cfg.gen == opened.key.gen and opened.key.key_id != self.cfg.key_id:
            raise VerificationError(f"remote {self.cfg.name} now uses another key than the one this journal pinned.",
                                    "Nothing was changed here; someone replaced the remote's key envelope.")
        self.key = opened.key
        self._opened = opened

    # HEADS
    def heads(self) -> dict[str, Peer]:
        assert self.key is not None
        found: dict[str, Peer] = {}
        failed: list[VerificationError] = []
        cached = {row[0]: row for row in self.store.conn.execute(
            "SELECT head_tag, dev FROM sync_peers WHERE remote = ?", (self.cfg.name,))}
        for info in self.remote.list(""):
            name = info.name
            if name.startswith("h/") and len(name) == 28:
                try:
                    blob = self.remote.get(name)
                except NotFound:
                    continue
                self.report.bytes_down += len(blob)
                try:
                    head = objects.open_head(self.key, self.remote_id, name, blob)
                except VerificationError as exc:
                    failed.append(exc)
                    continue
                found[head.dev] = Peer(head, info.tag, name)
            elif not (name == access.BOOTSTRAP or (name[:2] in ("s/", "k/", "c/") and len(name) == 28)):
                self.report.foreign.append(name)
        del cached
        if failed and not found and self._opened.kek is None:
            raise LockedError("that recovery code does not open this remote's objects (another remote's code?).",
                              "Use the code printed by `mirror remote add --key-only` for this remote.")
        if failed:
            raise failed[0]
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

    # FETCH + VERIFY
    def fetch(self, heads: dict[str, Peer]) -> list[tuple[Any, ...]]:
        """Every new segment of every peer, authenticated and chained, in order (after a peer's
        checkpoint when joining, or when the next segment was collected); nothing applied yet."""
        assert self.key is not None
        out: list[tuple[Any, ...]] = []
        applied = {row[0]: (int(row[1]), row[2]) for row in self.store.conn.execute(
            "SELECT dev, applied, applied_chain FROM sync_peers WHERE remote = ?", (self.cfg.name,))}
        total = sum(max(0, p.head.seq - applied.get(d, (0, None))[0]) for d, p in heads.items() if d != self.dev)
        done = 0
        loaded = False

        def load_checkpoint(dev: str | None = None, need: int = 0) -> bool:
            """Load the peer checkpoint covering most (one that covers *dev* up to *need*, if given)."""
            nonlocal loaded
            options = [(sum(v[0] for v in p.head.ckpt["segs"].values()), d, p) for d, p in heads.items()
                       if d != self.dev and p.head.ckpt is not None
                       and (dev is None or p.head.ckpt["segs"].get(dev, [0])[0] >= need)]
            if loaded or not options:
                return False
            _, writer, peer = max(options)
            try:
                recs, read = checkpoint.load(self.remote, self.key, self.remote_id, writer, peer.head.ckpt,
                                             peer.head.label)
            except checkpoint.ChunkMissing:
                if not getattr(self.remote, "may_lag", False):
                    raise
                self.report.incomplete = True  # still in transit: the segments, or the next sync
                loaded = True
                return False
            self.report.bytes_down += read
            segs = {d: (v[0], v[1]) for d, v in peer.head.ckpt["segs"].items() if d != self.dev}
            out.append(("ckpt", writer, segs, recs))
            for d, (seq, chain) in segs.items():
                if seq > applied.get(d, (0, None))[0]:
                    applied[d] = (seq, chain)
            loaded = True
            return True

        if not any(seq for seq, _ in applied.values()):
            load_checkpoint()  # joining: the newest whole state first, then what came after it
        for dev, peer in sorted(heads.items()):
            if dev == self.dev:
                continue
            seq, chain = applied.get(dev, (0, None))
            chain = chain or objects.chain_start(self.remote_id, dev)
            while seq < peer.head.seq:
                nxt = seq + 1
                name = objects.segment_name(self.key, dev, nxt)
                what = f"segment {nxt} of device {peer.head.label!r} ({dev[:8]})"
                try:
                    blob = self.remote.get(name)
                except NotFound:
                    if load_checkpoint(dev, nxt):
                        seq, chain = applied[dev]
                        continue
                    if getattr(self.remote, "may_lag", False):
                        self.report.incomplete = True
                        self.report.waiting_objects += peer.head.seq - seq
                        break
                    raise VerificationError(f"{what} is missing from remote {self.cfg.name}.",
                                            "Nothing was changed here; the remote lost or withheld an object.") from None
                self.report.bytes_down += len(blob)
                payload = objects.unseal(self.key, self.remote_id, "seg", dev, nxt, blob, what)
                recs = list(objects.decode_segment(payload, dev, nxt, chain, what))
                chain = objects.chain_next(chain, blob)
                seq = nxt
                out.append((dev, seq, chain, recs))
                done += 1
                if self.opts.progress:
                    self.opts.progress("pull", done, total)
            if seq == peer.head.seq and chain != peer.head.chain:
                raise VerificationError(f"the segments of device {peer.head.label!r} ({dev[:8]}) do not end at "
                                        "its head's chain: substituted or forked.", "Nothing was changed here.")
        return out

    # STAMP + PULL
    def published_dot(self) -> int:
        row = self.store.conn.execute("SELECT dot FROM sync_self WHERE remote = ?", (self.cfg.name,)).fetchone()
        return int(row[0]) if row else 0

    def apply(self, fetched: list[tuple[str, int, str, list[dict[str, Any]]]], heads: dict[str, Peer]) -> list:
        vouches: list[tuple[str, str, str | None]] = []
        published = self.published_dot()
        for entry in fetched:
            if entry[0] == "ckpt":
                _, dev, segs, recs = entry
                what = f"the checkpoint of device {dev[:8]}"
            else:
                dev, seq, chain, recs = entry
                segs = {dev: (seq, chain)}
                what = f"segment {seq} of device {dev[:8]}"
            checked = [local.check_record(rec, what) for rec in recs]
            with self.store.write():
                clock = local.StoreClock(self.store, self.dev, published)
                key, _ = local.digest_key(self.store)
                for rid, incoming in checked:
                    self._pending_row(clock, key, rid)
                    state, local_only = local.local_state(self.store, rid)
                    if local_only:
                        self._hold_local_only(rid, state, incoming)
                        continue
                    for entry in incoming["f"].values():
                        clock.observe(entry[1])
                    result = merge(state, incoming, self.opts.policy, clock)
                    if result.conflicts:
                        local.record_conflicts(self.store, rid, result.conflicts, result.state)
                        for c in result.conflicts:
                            self.report.conflicts.append({"kind": "reflection", "id": rid, "field": c.field,
                                                          "kept": "local" if c.other_device != self.dev else "remote",
                                                          "other_device": self._label(heads, c.other_device)})
                    if not result.changed:
                        continue
                    outcome = local.apply_state(self.store, rid, result.state)
                    if local.state_digest(local.without_values(result.state, key)) == \
                            local.state_digest(local.without_values(incoming, key)):
                        self._mark_sent(rid, result.state, key)  # nothing of ours in it: no echo
                    if outcome == "saved":
                        self.report.pulled["reflections"] += 1
                        vouches.append(journal.vouch(self.store, rid))
                    elif outcome == "deleted":
                        self.report.deleted["reflections"] += 1
                        vouches.append(("reflection", rid, None))
                for peer_dev, (seq, chain) in segs.items():
                    self.store.conn.execute(
                        "INSERT INTO sync_peers (remote, dev, applied, applied_chain) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT (remote, dev) DO UPDATE SET applied = excluded.applied,"
                        " applied_chain = excluded.applied_chain WHERE excluded.applied > sync_peers.applied",
                        (self.cfg.name, peer_dev, seq, chain))
            fault("mid-pull")
        return vouches

    def _mark_sent(self, rid: str, state: dict[str, Any], key: bytes) -> None:
        self.store.conn.execute(
            "INSERT INTO sync_sent (remote, kind, id, digest) VALUES (?, 'reflection', ?, ?)"
            " ON CONFLICT (remote, kind, id) DO UPDATE SET digest = excluded.digest",
            (self.cfg.name, rid, local.state_digest(local.without_values(state, key))))

    def _pending_row(self, clock: local.StoreClock, key: bytes, rid: str) -> None:
        """A local change made while this sync ran (not stamped yet) gets its dot before any merge."""
        row = self.store.conn.execute(local._ROW + " WHERE id = ?", (rid,)).fetchone()
        if row is not None:
            local.stamp_row(self.store, clock, key, row)
            return
        tomb = self.store.conn.execute("SELECT rev FROM tombstones WHERE kind = 'reflection' AND id = ?",
                                       (rid,)).fetchone()
        if tomb is not None:
            local.stamp_delete(self.store, clock, rid, int(tomb[0]))

    def _hold_local_only(self, rid: str, state: dict[str, Any] | None, incoming: dict[str, Any]) -> None:
        """An entry local-only here: an incoming edit never replaces it; a differing value is kept as
        a conflict revision."""
        if not alive(incoming) or state is None:
            return
        meta, rev = local.load_meta(self.store, rid)
        if meta is not None and objects and all(meta["vv"].get(d, 0) >= n for d, n in incoming["vv"].items()):
            return
        row = self.store.conn.execute(local._ROW + " WHERE id = ?", (rid,)).fetchone()
        if row is None:
            return
        values = local.row_values(self.store, row)[0]
        conflicts = [Conflict(name, e[0], (e[1], e[2], e[3]), ("local-only", self.dev, 0), e[2])
                     for name, e in incoming["f"].items() if e[0] != values.get(name)]
        local.record_conflicts(self.store, rid, conflicts, {})
        if meta is not None:
            meta["vv"] = {d: max(meta["vv"].get(d, 0), n) for d, n in {**meta["vv"], **incoming["vv"]}.items()}
            local.save_meta(self.store, rid, meta, rev)

    def _label(self, heads: dict[str, Peer], dev: str) -> str:
        peer = heads.get(dev)
        return peer.head.label if peer is not None else dev[:8]

    # PUSH
    def push(self, heads: dict[str, Peer]) -> None:
        assert self.key is not None
        row = self.store.conn.execute("SELECT seq, chain, dot, scan_rev, staged FROM sync_self WHERE remote = ?",
                                      (self.cfg.name,)).fetchone()
        seq, chain, dot, scan_rev, staged = int(row[0]), row[1], int(row[2]), int(row[3]), row[4]
        if staged is not None:
            self._upload(json.loads(staged))
            row = self.store.conn.execute("SELECT seq, chain, dot, scan_rev FROM sync_self WHERE remote = ?",
                                          (self.cfg.name,)).fetchone()
            seq, chain, dot, scan_rev = int(row[0]), row[1], int(row[2]), int(row[3])
        with self.store.write():
            changes = list(local.changed_since(self.store, self.cfg.name, scan_rev))
            top_rev = int(self.store.meta("clock", "0"))
            applied = {d: self._applied(d) for d in heads if d != self.dev}
            own = heads.get(self.dev)
            if not changes and own is not None and own.head.applied == applied and own.head.seq == seq:
                self.store.conn.execute("UPDATE sync_self SET scan_rev = ? WHERE remote = ?", (top_rev, self.cfg.name))
                return
            segments, sent = [], []
            batch: list[dict[str, Any]] = []
            size = 0
            new_dot = max(dot, int(self.store.meta("sync_dot", "0")))
            dkey = local.digest_key(self.store)[0]

            def flush() -> None:
                nonlocal seq, chain, batch, size
                seq += 1
                payload = objects.encode_segment(self.dev, seq, chain, batch)
                blob = objects.seal(self.key, self.remote_id, "seg", self.dev, seq, payload, objects.SEGMENT_MIN)
                name = objects.segment_name(self.key, self.dev, seq)
                chain = objects.chain_next(chain, blob)
                segments.append({"seq": seq, "name": name, "blob": blob.hex()})
                batch, size = [], 0

            for rid, state, _rev in changes:
                rec = {"k": "r", "id": rid, "vv": state["vv"], "f": state["f"], "del": state["del"]}
                batch.append(rec)
                size += len(json.dumps(rec, ensure_ascii=False)) // 3
                sent.append((rid, local.state_digest(local.without_values(state, dkey))))
                if size >= objects.SEGMENT_TARGET:
                    flush()
            if batch:
                flush()
            head = objects.Head(dev=self.dev, label=self._label_self(), gen=self.key.gen, seq=seq, chain=chain,
                                dot=new_dot, applied=applied,
                                hlc=hlc_next(self.store.meta("hlc")), client=CLIENT,
                                ckpt=checkpoint.public(self._ckpt_state()))
            plan = {"segments": segments, "head": objects.seal_head(self.key, self.remote_id, head).hex(),
                    "seq": seq, "chain": chain, "dot": new_dot, "scan_rev": top_rev, "sent": sent}
            self.store.conn.execute("UPDATE sync_self SET staged = ? WHERE remote = ?",
                                    (json.dumps(plan), self.cfg.name))
        self.report.pushed["reflections"] += len(changes)
        self._upload(plan)

    def _ckpt_state(self) -> dict[str, Any] | None:
        row = self.store.conn.execute("SELECT ckpt FROM sync_self WHERE remote = ?", (self.cfg.name,)).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    def compact(self, heads: dict[str, Peer]) -> None:
        """A checkpoint when due (or asked) and this device is caught up; then collect own objects."""
        assert self.key is not None
        row = self.store.conn.execute("SELECT seq, chain, dot FROM sync_self WHERE remote = ?",
                                      (self.cfg.name,)).fetchone()
        seq, chain, dot = int(row[0]), row[1], int(row[2])
        state = self._ckpt_state()
        caught_up = not self.report.incomplete and all(
            p.head.seq <= self._applied(d) for d, p in heads.items() if d != self.dev)
        if caught_up and seq > 0 and (self.opts.compact or checkpoint.due(seq, state, self.dev)):
            segs = {d: [s, c] for d, s, c in self.store.conn.execute(
                "SELECT dev, applied, applied_chain FROM sync_peers WHERE remote = ? AND applied > 0",
                (self.cfg.name,))}
            segs[self.dev] = [seq, chain]
            no = state["no"] + 1 if state else 1
            with self.store.read():
                info, written = checkpoint.write(self.store, self.remote, self.key, self.remote_id, self.dev, no, segs)
            self.report.bytes_up += written
            state = checkpoint.stamp(info, state)
            head = objects.Head(dev=self.dev, label=self._label_self(), gen=self.key.gen, seq=seq, chain=chain,
                                dot=dot, applied={d: self._applied(d) for d in heads if d != self.dev},
                                hlc=hlc_next(self.store.meta("hlc")), client=CLIENT, ckpt=checkpoint.public(state))
            blob = objects.seal_head(self.key, self.remote_id, head)
            self.remote.put(objects.head_name(self.key, self.dev), blob)
            self.report.bytes_up += len(blob)
            self._save_ckpt(state)
        if state is not None:
            grace = self.opts.gc_grace_s
            if grace is None:
                grace = 7 * 86400.0 if getattr(self.remote, "may_lag", False) else 3600.0
            before = json.dumps(state, sort_keys=True)
            state = checkpoint.collect(self.remote, self.key, self.dev, state, grace)
            if json.dumps(state, sort_keys=True) != before:
                self._save_ckpt(state)

    def _save_ckpt(self, state: dict[str, Any]) -> None:
        with self.store.write():
            self.store.conn.execute("UPDATE sync_self SET ckpt = ? WHERE remote = ?",
                                    (json.dumps(state, sort_keys=True), self.cfg.name))

    def _applied(self, dev: str) -> int:
        row = self.store.conn.execute("SELECT applied FROM sync_peers WHERE remote = ? AND dev = ?",
                                      (self.cfg.name, dev)).fetchone()
        return int(row[0]) if row else 0

    def _label_self(self) -> str:
        return self.store.meta("device_label") or socket.gethostname()[:64] or "device"

    def _upload(self, plan: dict[str, Any]) -> None:
        fault("before-upload")
        for seg in plan["segments"]:
            blob = bytes.fromhex(seg["blob"])
            try:
                self.remote.put_new(seg["name"], blob)
            except Exists:
                if self.remote.get(seg["name"]) != blob:
                    raise Forked() from None
            self.report.bytes_up += len(blob)
            fault("after-segment")
        head = bytes.fromhex(plan["head"])
        self.remote.put(objects.head_name(self.key, self.dev), head)
        self.report.bytes_up += len(head)
        fault("after-head")
        with self.store.write():
            self.store.conn.execute(
                "UPDATE sync_self SET seq = ?, chain = ?, dot = ?, scan_rev = ?, staged = NULL WHERE remote = ?",
                (plan["seq"], plan["chain"], plan["dot"], plan["scan_rev"], self.cfg.name))
            self.store.conn.executemany(
                "INSERT INTO sync_sent (remote, kind, id, digest) VALUES (?, 'reflection', ?, ?)"
                " ON CONFLICT (remote, kind, id) DO UPDATE SET digest = excluded.digest",
                [(self.cfg.name, rid, digest) for rid, digest in plan["sent"]])

    # the whole run
    def run(self) -> Report:
        start = time.monotonic()
        self.open()
        heads = self.heads()  # before anything is written here: a wrong key writes nothing
        if self.opts.dry_run:
            self.dev = self.store.meta("device_id") or ""  # --dry-run writes nothing, not even an id
        else:
            with self.store.write():
                self.dev = local.device_id(self.store)
                if self.store.conn.execute("SELECT 1 FROM sync_self WHERE remote = ?",
                                           (self.cfg.name,)).fetchone() is None:
                    self.store.conn.execute("INSERT INTO sync_self (remote, dev, chain) VALUES (?, ?, ?)",
                                            (self.cfg.name, self.dev, objects.chain_start(self.remote_id, self.dev)))
        self.check_own(heads)
        self.check_heads(heads)
        fetched = self.fetch(heads) if self.opts.pull else []
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
        vouches = self.apply(fetched, heads)
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
            try:
                self.push(heads)
            except Forked:
                self.reidentify()
                self.push(heads)
            self.compact(heads)
        self._devices(heads)
        with self.store.write():
            self.store.conn.execute("UPDATE sync_remotes SET last_sync = ? WHERE name = ?", (now_iso(), self.cfg.name))
            if self.report.changed:
                self.store.append_event("sync", {
                    "remote": self.cfg.name, "pulled": self.report.pulled["reflections"],
                    "pushed": self.report.pushed["reflections"], "deleted": self.report.deleted["reflections"],
                    "conflicts": len(self.report.conflicts)},
                    list({v[:2]: v for v in vouches}.values()))  # an entry pulled twice: its last state
        self.report.elapsed_s = time.monotonic() - start
        return self.report

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
        self.reidentify()

    def reidentify(self) -> None:
        """Another copy of this journal (copied by hand, or this one restored from a backup) syncs
        under the same device id: this copy takes a new id, treats the old one as a peer (whose
        segments it then pulls), and re-stamps its changes that the old id never published."""
        old = self.dev
        with self.store.write():
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
            local.redot(self.store, old, self.dev, published)
        self.report.notes.append("another copy of this journal was syncing as the same device (a copied or "
                                 "restored file); this copy now syncs as a new device and nothing was lost.")

    def _devices(self, heads: dict[str, Peer]) -> None:
        now = time.time()
        for dev, peer in sorted(heads.items(), key=lambda kv: kv[1].head.label):
            when = hlc_iso(peer.head.hlc)
            age_days = (now - parse_iso(when).timestamp()) / 86400
            self.report.devices.append({"label": peer.head.label, "device": dev[:8], "this_device": dev == self.dev,
                                        "last_seen": when, "stale": age_days > STALE_DAYS, "revoked": False})


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

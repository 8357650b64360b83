"""PULL: fetch every new segment of every peer (after a checkpoint when joining or when the next
segment was collected), authenticate and chain it before anything changes here, then merge each
segment in one transaction with the peer's cursor and the audit event vouching for its rows."""

from __future__ import annotations

from typing import Any

from mirror_cli.errors import VerificationError
from mirror_cli.ids import hlc_parts, now_ms
from mirror_cli.journal import reflections as journal
from mirror_cli.remotes.base import NotFound
from mirror_cli.sync import checkpoint, derived, local, objects
from mirror_cli.sync.merge import Conflict, alive, join, leq, merge
from mirror_cli.sync.session import Peer, SyncState, fault



def fetch(sync: SyncState, heads: dict[str, Peer]) -> list[tuple[Any, ...]]:
    """Every new segment of every peer, authenticated and chained, in order (after a peer's
    checkpoint when joining, or when the next segment was collected); nothing applied yet."""
    assert sync.key is not None
    out: list[tuple[Any, ...]] = []
    applied = {row[0]: (int(row[1]), row[2]) for row in sync.store.conn.execute(
        "SELECT dev, applied, applied_chain FROM sync_peers WHERE remote = ?", (sync.cfg.name,))}
    total = sum(max(0, p.head.seq - applied.get(d, (0, None))[0]) for d, p in heads.items() if d != sync.dev)
    done = 0
    loaded = False

    def load_checkpoint(dev: str | None = None, need: int = 0) -> bool:
        """Load the peer checkpoint covering most (one that covers *dev* up to *need*, if given)."""
        nonlocal loaded
        options = [(sum(v[0] for v in p.head.ckpt["segs"].values()), d, p) for d, p in heads.items()
                   if d != sync.dev and p.head.ckpt is not None
                   and (dev is None or p.head.ckpt["segs"].get(dev, [0])[0] >= need)]
        if loaded or not options:
            return False
        _, writer, peer = max(options)
        try:
            recs, read = checkpoint.load(sync.remote, sync.key, sync.remote_id, writer, peer.head.ckpt,
                                         peer.head.label)
        except checkpoint.ChunkMissing:
            if not getattr(sync.remote, "may_lag", False):
                raise
            sync.report.incomplete = True  # still in transit: the segments, or the next sync
            loaded = True
            return False
        sync.report.bytes_down += read
        segs = {d: (v[0], v[1]) for d, v in peer.head.ckpt["segs"].items() if d != sync.dev}
        out.append(("ckpt", writer, segs, recs))
        for d, (seq, chain) in segs.items():
            if seq > applied.get(d, (0, None))[0]:
                applied[d] = (seq, chain)
        loaded = True
        return True

    if not any(seq for seq, _ in applied.values()):
        load_checkpoint()  # joining: the newest whole state first, then what came after it
    for dev, peer in sorted(heads.items()):
        if dev == sync.dev:
            continue
        seq, chain = applied.get(dev, (0, None))
        chain = chain or objects.chain_start(sync.remote_id, dev)
        while seq < peer.head.seq:
            nxt = seq + 1
            name = objects.segment_name(sync.key, dev, nxt)
            what = f"segment {nxt} of device {peer.head.label!r} ({dev[:8]})"
            try:
                blob = sync.remote.get(name)
            except NotFound:
                if load_checkpoint(dev, nxt):
                    seq, chain = applied[dev]
                    continue
                if getattr(sync.remote, "may_lag", False):
                    sync.report.incomplete = True
                    sync.report.waiting_objects += peer.head.seq - seq
                    break
                raise VerificationError(f"{what} is missing from remote {sync.cfg.name}.",
                                        "Nothing was changed here; the remote lost or withheld an object.") from None
            sync.report.bytes_down += len(blob)
            payload = objects.unseal(sync.key, sync.remote_id, "seg", dev, nxt, blob, what)
            recs = objects.Batch([])
            recs.add(payload, dev, nxt, chain, what)
            chain = objects.chain_next(chain, blob)
            seq = nxt
            out.append((dev, seq, chain, recs))
            done += 1
            if sync.opts.progress:
                sync.opts.progress("pull", done, total)
        if seq == peer.head.seq and chain != peer.head.chain:
            raise VerificationError(f"the segments of device {peer.head.label!r} ({dev[:8]}) do not end at "
                                    "its head's chain: substituted or forked.", "Nothing was changed here.")
    return out


def apply(sync: SyncState, fetched: list[tuple[str, int, str, list[dict[str, Any]]]], heads: dict[str, Peer]) -> None:
    """Merge each segment in one transaction with the peer's cursor and the audit event that vouches
    for the rows it changed (a sync killed later must not leave rows no event vouches for)."""
    published = sync.published_dot()
    units = []  # (device, records of one payload, the cursors its transaction advances)
    for entry in fetched:
        if entry[0] == "ckpt":
            _, dev, segs, batch = entry
        else:
            dev, seq, chain, batch = entry
            segs = {dev: (seq, chain)}
        for i, part in enumerate(batch.parts):  # a checkpoint's cursors move with its last chunk
            units.append((dev, part, segs if i == len(batch.parts) - 1 else {}))
    for dev, part, segs in units:
        what = part[4]
        checked, others = [], []
        for rec in objects.decode_segment(*part):
            if rec.get("k") in derived.FROM_RECORD:
                others.append(derived.check(rec, what))
            else:
                checked.append(local.check_record(rec, what))
        vouches: list[tuple[str, str, str | None]] = []
        with sync.store.write():
            clock = local.StoreClock(sync.store, sync.dev, published)
            key, _ = local.digest_key(sync.store)
            for rid, incoming in checked:
                _pending_row(sync, clock, key, rid)
                state, local_only = local.local_state(sync.store, rid)
                if local_only:
                    _hold_local_only(sync, rid, incoming)
                    continue
                if incoming["f"]:  # the newest stamp moves the clock as far as all of them would
                    newest = max(incoming["f"].values(), key=lambda e: e[1])
                    clock.observe(newest[1])
                    _note_clock_ahead(sync, heads, newest)
                result = merge(state, incoming, sync.opts.policy, clock)
                if result.conflicts:
                    local.record_conflicts(sync.store, rid, result.conflicts)
                    for c in result.conflicts:
                        sync.report.conflicts.append({"kind": "reflection", "id": rid, "field": c.field,
                                                      "kept": "local" if c.other_device != sync.dev else "remote",
                                                      "other_device": sync._label(heads, c.other_device)})
                if result.delete_beaten:
                    sync.report.notes.append(f"reflection {rid} was deleted on one device while another edited it; "
                                             "the edit wins, so it stays.")
                if not result.changed:
                    continue
                digested = local.without_values(result.state, key)
                outcome = local.apply_state(sync.store, rid, result.state, digested)
                digest = local.state_digest(digested)
                if digest == local.state_digest(local.without_values(incoming, key)):
                    _mark_sent(sync, rid, digest)  # nothing of ours in it: no echo
                if outcome == "saved":
                    sync.report.pulled["reflections"] += 1
                    vouches.append(journal.vouch(sync.store, rid))
                elif outcome == "deleted":
                    sync.report.deleted["reflections"] += 1
                    vouches.append(("reflection", rid, None))
            if others:
                _apply_derived(sync, clock, others)
            for peer_dev, (seq, chain) in segs.items():
                sync.store.conn.execute(
                    "INSERT INTO sync_peers (remote, dev, applied, applied_chain) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (remote, dev) DO UPDATE SET applied = excluded.applied,"
                    " applied_chain = excluded.applied_chain WHERE excluded.applied > sync_peers.applied",
                    (sync.cfg.name, peer_dev, seq, chain))
            if vouches:  # vouched in the same transaction: a sync killed later leaves nothing unvouched
                sync.store.append_event("sync.pulled", {
                    "remote": sync.cfg.name, "device": dev, "seq": part[2],
                    "saved": sum(1 for v in vouches if v[2] is not None),
                    "deleted": sum(1 for v in vouches if v[2] is None)}, vouches)
        fault("mid-pull")


def _apply_derived(sync: SyncState, clock: local.StoreClock, records: list[tuple[str, dict[str, Any]]]) -> None:
    applier = derived.Applier(sync.store, sync.cfg.name, clock)
    for kind, rec in records:
        outcome = applier.apply(kind, rec)
        if outcome is not None:
            counts = sync.report.pulled if outcome == "saved" else sync.report.deleted
            counts[derived.REPORT[kind]] = counts.get(derived.REPORT[kind], 0) + 1


def _mark_sent(sync: SyncState, rid: str, digest: str) -> None:
    sync.store.conn.execute(
        "INSERT INTO sync_sent (remote, kind, id, digest) VALUES (?, 'reflection', ?, ?)"
        " ON CONFLICT (remote, kind, id) DO UPDATE SET digest = excluded.digest",
        (sync.cfg.name, rid, digest))


def _pending_row(sync: SyncState, clock: local.StoreClock, key: bytes, rid: str) -> None:
    """A local change made while this sync ran (not stamped yet) gets its dot before any merge."""
    row = sync.store.conn.execute(local._ROW + " WHERE id = ?", (rid,)).fetchone()
    if row is not None:
        local.stamp_row(sync.store, clock, key, row)
        return
    tomb = sync.store.conn.execute("SELECT rev FROM tombstones WHERE kind = 'reflection' AND id = ?",
                                   (rid,)).fetchone()
    if tomb is not None:
        local.stamp_delete(sync.store, clock, rid, int(tomb[0]))


def _hold_local_only(sync: SyncState, rid: str, incoming: dict[str, Any]) -> None:
    """An entry local-only here: an incoming edit never replaces it; a differing value is kept as
    a conflict revision, and its dots as seen, so that a delete here covers it."""
    if not alive(incoming):
        return
    meta, rev = local.load_meta(sync.store, rid)
    if meta is not None and leq(incoming["vv"], meta["vv"]):
        return
    row = sync.store.conn.execute(local._ROW + " WHERE id = ?", (rid,)).fetchone()
    if row is None:
        return
    values = local.row_values(sync.store, row)[0]
    conflicts = [Conflict(name, e[0], (e[1], e[2], e[3]), ("local-only", sync.dev, 0), e[2])
                 for name, e in incoming["f"].items() if e[0] != values.get(name)]
    local.record_conflicts(sync.store, rid, conflicts)
    if meta is None:  # local-only since before its first sync here (the same import on two devices)
        meta, rev = {"vv": {}, "f": {}, "del": None, "lo": 1}, int(row[8])
    meta["vv"] = join(meta["vv"], incoming["vv"])
    local.save_meta(sync.store, rid, meta, rev)


AHEAD_MS = 10 * 60 * 1000  # a stamp this far past our clock comes from a clock that is wrong


def _note_clock_ahead(sync: SyncState, heads: dict[str, Peer], entry: list[Any]) -> None:
    """Name a device whose clock runs ahead (once per device): its edits are still merged, and a later
    edit that saw them still wins, but among concurrent edits it would win by its clock."""
    ms, _ = hlc_parts(entry[1])
    ahead = ms - now_ms()
    dev = entry[2]
    if ahead <= AHEAD_MS or dev in sync.report.clocks_ahead:
        return
    sync.report.clocks_ahead[dev] = ahead
    days = ahead / 86_400_000
    when = f"{days:.0f} days" if days >= 1 else f"{ahead / 3_600_000:.1f} hours"
    sync.report.notes.append(f"the clock of {sync._label(heads, dev)!r} runs about {when} ahead; set it right "
                             "(its edits are merged, but it wins ties with edits made elsewhere at the same time).")

"""Two copies of one journal syncing as one device (docs/formats/sync.md, "A copied or restored
journal"): where the remote's log of that device id stops being this copy's (the fork point), the
notice a copy that took a new id publishes in its head, and how a device that merged the copy's
overwritten segments uses that notice to go on instead of stopping at a "rollback"."""

from __future__ import annotations

import json

from mirror_cli.errors import VerificationError
from mirror_cli.sync import local, objects
from mirror_cli.sync.session import FORKED, Peer, SyncState

CONFIRMED = "sync_confirmed:"  # meta key + remote name: JSON {dev, gen, seq, chain, dot}: our log as last seen there

Point = tuple[int, str, int]  # (seq, chain, dot) of a device's log


def confirmed(sync: SyncState, own_seq: int) -> Point:
    """Our log as last seen on the remote at the start of a sync: the newest point of it that no
    other copy of this journal can have replaced since (a copy that had not got that far sees our
    head there and takes a new id before it writes)."""
    text = sync.store.meta(CONFIRMED + sync.cfg.name)
    saved = json.loads(text) if text else {}
    if saved.get("dev") == sync.dev and saved.get("gen") == _gen(sync) and saved["seq"] <= own_seq:
        return int(saved["seq"]), saved["chain"], int(saved["dot"])
    return 0, objects.chain_start(sync.remote_id, sync.dev), 0  # unknown: assume nothing is shared


def confirm(sync: SyncState, point: Point) -> None:
    """Call inside write(), at the end of a sync that found its own head on the remote as it wrote
    it (at *point*): remember that point (rewritten once after each push)."""
    if point[0] and confirmed(sync, point[0]) != point:
        sync.store.set_meta(CONFIRMED + sync.cfg.name, json.dumps(
            {"dev": sync.dev, "gen": _gen(sync), "seq": point[0], "chain": point[1], "dot": point[2]}))


def _gen(sync: SyncState) -> int | None:
    return sync.key.gen if sync.key is not None else None  # a new generation starts the log again


def fork_point(sync: SyncState, head: objects.Head, seq: int) -> Point:
    """Where the remote's log of this device id parts from ours, given its head that we did not
    write last. Our heads were written up to the confirmed seq and at *seq* (the last push, perhaps
    never seen on the remote since): a head at or below the confirmed one is ours replayed (a
    rollback); any other is another copy's, whose log holds ours up to the confirmed point, and
    perhaps not one segment more (its writes may have gone over ours)."""
    base = confirmed(sync, seq)
    if head.seq < base[0] or (head.seq == base[0] and head.chain == base[1]):
        raise VerificationError(f"remote {sync.cfg.name} serves an older head of this device (seq "
                                f"{head.seq}, last written {seq}): a rollback.", "Nothing was changed here.")
    if head.seq == base[0]:
        raise VerificationError(
            f"remote {sync.cfg.name} serves a head of this device (seq {head.seq}) that this copy of the "
            "journal did not write, where it had seen its own: another copy wrote over it.",
            "Nothing was changed here. Stop syncing the other copy of this journal (or give it a new "
            "identity with `backup restore`) and sync again.")
    return base


def announce(sync: SyncState, old: str, fork: Point, wrote: tuple[int, str]) -> None:
    """Call inside write(): this copy's heads say that the log of *old* stopped being its own at
    *fork*, where it had written up to *wrote*, so a device that merged those overwritten segments
    can tell this from a rollback (:func:`explain`)."""
    if wrote[0] <= fork[0]:
        return  # nothing this copy wrote was replaced: no device can have merged it
    text = sync.store.meta(FORKED + sync.cfg.name)
    notices = json.loads(text) if text else []
    notices.append({"dev": old, "seq": fork[0], "chain": fork[1], "dot": fork[2], "wrote": list(wrote)})
    sync.store.set_meta(FORKED + sync.cfg.name, json.dumps(notices[-objects.MAX_FORKS:]))


def explain(sync: SyncState, heads: dict[str, Peer], dev: str, seen: tuple[int, str]) -> bool:
    """The remote serves another log of peer *dev* than the head *seen* here: if a head's fork
    notice says *seen* was written by a copy that now syncs under a new id, forget what this journal
    merged of the copy's log as *dev* (its changes become this device's own, pushed again, as the
    copy pushes them again under its new id) and pull *dev* from the fork point on. False when no
    notice explains it (then it may be a rollback)."""
    row = sync.store.conn.execute("SELECT applied, applied_chain FROM sync_peers WHERE remote = ? AND dev = ?",
                                  (sync.cfg.name, dev)).fetchone()
    applied = (int(row[0]), row[1])
    for peer in heads.values():
        for notice in peer.head.forked:
            if notice["dev"] != dev or tuple(notice["wrote"]) != seen or heads[dev].head.seq < notice["seq"]:
                continue
            if applied[0] > notice["seq"] and applied != seen:
                continue  # merged part of the copy's log only: cannot tell which of it was the copy's
            if sync.opts.dry_run:
                sync.report.notes.append(f"device {dev[:8]} was synced by two copies of one journal; the next "
                                         "sync merges it again from where they parted.")
                return True
            with sync.store.write():
                point = (notice["seq"], notice["chain"]) if applied[0] > notice["seq"] else applied
                if applied[0] > notice["seq"]:
                    local.redot(sync.store, dev, sync.dev, notice["dot"])
                sync.store.conn.execute(
                    "UPDATE sync_peers SET seq = ?, chain = ?, applied = ?, applied_chain = ? WHERE remote = ?"
                    " AND dev = ?", (*point, *point, sync.cfg.name, dev))
            sync.report.notes.append(f"device {dev[:8]} was synced by two copies of one journal; what this "
                                     "journal had merged of the copy that moved to a new identity is kept and "
                                     "published again.")
            return True
    return False

"""PUSH: stage this device's changed records as new segments and its new head (in the database,
so a killed push is re-driven by the next run), upload the write-once segments, then the head,
then commit; and compaction: checkpoints and the collection of this device's covered objects."""

from __future__ import annotations

import json
from typing import Any

from mirror_cli.ids import hlc_next
from mirror_cli.remotes.base import Exists
from mirror_cli.sync import checkpoint, derived, local, objects
from mirror_cli.sync.session import Peer, SyncState, fault


CLIENT = "mirror-cli"


class Forked(Exception):
    """Another copy of this journal already wrote this device's next segment."""


def push(sync: SyncState, heads: dict[str, Peer]) -> None:
    assert sync.key is not None
    row = sync.store.conn.execute("SELECT seq, chain, dot, scan_rev, staged FROM sync_self WHERE remote = ?",
                                  (sync.cfg.name,)).fetchone()
    seq, chain, dot, scan_rev, staged = int(row[0]), row[1], int(row[2]), int(row[3]), row[4]
    if staged is not None:
        _upload(sync, json.loads(staged))
        row = sync.store.conn.execute("SELECT seq, chain, dot, scan_rev FROM sync_self WHERE remote = ?",
                                      (sync.cfg.name,)).fetchone()
        seq, chain, dot, scan_rev = int(row[0]), row[1], int(row[2]), int(row[3])
    with sync.store.write():
        top_rev = int(sync.store.meta("clock", "0"))
        applied = {d: sync._applied(d) for d in heads if d != sync.dev}
        own = heads.get(sync.dev)
        segments: list[dict[str, Any]] = []
        sent: list[tuple[str, str, str]] = []  # (kind, id, digest) for sync_sent
        batch: list[bytes] = []
        size = 0
        new_dot = max(dot, int(sync.store.meta("sync_dot", "0")))
        sync.store.conn.execute("DELETE FROM sync_outbox WHERE remote = ?", (sync.cfg.name,))

        def flush() -> None:  # one sealed segment into the outbox (the database), none held in memory
            nonlocal seq, chain, batch, size
            seq += 1
            payload = objects.encode_lines(sync.dev, seq, chain, batch)
            blob = objects.seal(sync.key, sync.remote_id, "seg", sync.dev, seq, payload, objects.SEGMENT_MIN)
            name = objects.segment_name(sync.key, sync.dev, seq)
            chain = objects.chain_next(chain, blob)
            sync.store.conn.execute("INSERT INTO sync_outbox (remote, seq, name, body) VALUES (?, ?, ?, ?)",
                                    (sync.cfg.name, seq, name, blob))
            segments.append({"seq": seq, "name": name})
            batch, size = [], 0
            if sync.opts.progress:
                sync.opts.progress("push", len(sent), 0)

        for rid, state, _rev, digest in local.changed_since(sync.store, sync.cfg.name, scan_rev):
            line = objects.canonical({"k": "r", "id": rid, "vv": state["vv"], "f": state["f"], "del": state["del"]})
            batch.append(line)  # encoded once: its length estimates the compressed size too
            size += len(line) // 3
            sent.append((local.KIND, rid, digest))
            if size >= objects.SEGMENT_TARGET:
                flush()
        for kind, sid, rec, digest in derived.outgoing(sync.store, sync.cfg.name):
            line = objects.canonical(rec)
            batch.append(line)
            size += len(line) // 3
            sent.append((kind, sid, digest))
            if size >= objects.SEGMENT_TARGET:
                flush()
        if not sent and own is not None and own.head.applied == applied and own.head.seq == seq:
            sync.store.conn.execute("UPDATE sync_self SET scan_rev = ? WHERE remote = ?", (top_rev, sync.cfg.name))
            return
        if batch:
            flush()
        head = objects.Head(dev=sync.dev, label=sync._label_self(), gen=sync.key.gen, seq=seq, chain=chain,
                            dot=new_dot, applied=applied,
                            hlc=hlc_next(sync.store.meta("hlc")), client=CLIENT,
                            ckpt=checkpoint.public(_ckpt_state(sync)), **sync.head_extras())
        plan = {"segments": segments, "head": objects.seal_head(sync.key, sync.remote_id, head).hex(),
                "seq": seq, "chain": chain, "dot": new_dot, "scan_rev": top_rev, "sent": sent}
        sync.store.conn.execute("UPDATE sync_self SET staged = ? WHERE remote = ?",
                                (json.dumps(plan), sync.cfg.name))
    for kind, *_ in sent:
        word = derived.REPORT.get(kind, "reflections")
        sync.report.pushed[word] = sync.report.pushed.get(word, 0) + 1
    _upload(sync, plan)


def _ckpt_state(sync: SyncState) -> dict[str, Any] | None:
    row = sync.store.conn.execute("SELECT ckpt FROM sync_self WHERE remote = ?", (sync.cfg.name,)).fetchone()
    return json.loads(row[0]) if row and row[0] else None


def compact(sync: SyncState, heads: dict[str, Peer]) -> None:
    """A checkpoint when due (or asked) and this device is caught up; then collect own objects."""
    assert sync.key is not None
    row = sync.store.conn.execute("SELECT seq, chain, dot FROM sync_self WHERE remote = ?",
                                  (sync.cfg.name,)).fetchone()
    seq, chain, dot = int(row[0]), row[1], int(row[2])
    state = _ckpt_state(sync)
    caught_up = not sync.report.incomplete and all(
        p.head.seq <= sync._applied(d) for d, p in heads.items() if d != sync.dev)
    if caught_up and seq > 0 and (sync.opts.compact or checkpoint.due(seq, state, sync.dev)) \
            and not local.holds_edits_beside_local_only(sync.store):
        segs = {d: [s, c] for d, s, c in sync.store.conn.execute(
            "SELECT dev, applied, applied_chain FROM sync_peers WHERE remote = ? AND applied > 0",
            (sync.cfg.name,))}
        segs[sync.dev] = [seq, chain]
        no = state["no"] + 1 if state else 1
        with sync.store.read():
            info, written = checkpoint.write(sync.store, sync.remote, sync.key, sync.remote_id, sync.dev, no, segs)
        sync.report.bytes_up += written
        state = checkpoint.stamp(info, state)
        head = objects.Head(dev=sync.dev, label=sync._label_self(), gen=sync.key.gen, seq=seq, chain=chain,
                            dot=dot, applied={d: sync._applied(d) for d in heads if d != sync.dev},
                            hlc=hlc_next(sync.store.meta("hlc")), client=CLIENT, ckpt=checkpoint.public(state),
                            **sync.head_extras())
        blob = objects.seal_head(sync.key, sync.remote_id, head)
        name = objects.head_name(sync.key, sync.dev)
        tag = sync.remote.put(name, blob)
        getattr(sync, "_heads_read", {})[name] = (tag or "", blob)
        sync.report.bytes_up += len(blob)
        _save_ckpt(sync, state)
    if state is not None:
        grace = sync.opts.gc_grace_s
        if grace is None:
            grace = 7 * 86400.0 if getattr(sync.remote, "may_lag", False) else 3600.0
        before = json.dumps(state, sort_keys=True)
        state = checkpoint.collect(sync.remote, sync.key, sync.dev, state, grace)
        if json.dumps(state, sort_keys=True) != before:
            _save_ckpt(sync, state)


def _save_ckpt(sync: SyncState, state: dict[str, Any]) -> None:
    with sync.store.write():
        sync.store.conn.execute("UPDATE sync_self SET ckpt = ? WHERE remote = ?",
                                (json.dumps(state, sort_keys=True), sync.cfg.name))


def _upload(sync: SyncState, plan: dict[str, Any]) -> None:
    fault("before-upload")
    with sync.remote.batch():  # PostgreSQL: the segments and the head in one transaction
        _put_segments(sync, plan["segments"])
        head = bytes.fromhex(plan["head"])
        name = objects.head_name(sync.key, sync.dev)
        tag = sync.remote.put(name, head)
    getattr(sync, "_heads_read", {})[name] = (tag or "", head)  # the next sync need not read it back
    sync.report.bytes_up += len(head)
    fault("after-head")
    with sync.store.write():
        sync.store.conn.execute(
            "UPDATE sync_self SET seq = ?, chain = ?, dot = ?, scan_rev = ?, staged = NULL WHERE remote = ?",
            (plan["seq"], plan["chain"], plan["dot"], plan["scan_rev"], sync.cfg.name))
        sync.store.conn.execute("DELETE FROM sync_outbox WHERE remote = ?", (sync.cfg.name,))
        sync.store.conn.executemany(
            "INSERT INTO sync_sent (remote, kind, id, digest) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (remote, kind, id) DO UPDATE SET digest = excluded.digest",
            [(sync.cfg.name, *([local.KIND] if len(item) == 2 else []), *item) for item in plan["sent"]])

def _put_segments(sync: SyncState, segments: list[dict[str, Any]]) -> None:
    """Write-once uploads; a name already taken holds these bytes (a resumed push) or another copy's (a fork)."""
    def body(seq: int) -> bytes:
        return bytes(sync.store.conn.execute("SELECT body FROM sync_outbox WHERE remote = ? AND seq = ?",
                                             (sync.cfg.name, seq)).fetchone()[0])

    many = getattr(sync.remote, "put_new_many", None) if len(segments) > 1 else None
    if many is not None:  # a first push to PostgreSQL: one COPY
        blobs = {seg["name"]: body(seg["seq"]) for seg in segments}
        for taken in many(list(blobs.items())):
            if sync.remote.get(taken) != blobs[taken]:
                raise Forked()
        sync.report.bytes_up += sum(len(blob) for blob in blobs.values())
        fault("after-segment")
        return
    for seg in segments:
        blob = body(seg["seq"])
        try:
            sync.remote.put_new(seg["name"], blob)
        except Exists:
            if sync.remote.get(seg["name"]) != blob:
                raise Forked() from None
        sync.report.bytes_up += len(blob)
        fault("after-segment")


# the whole run

"""Checkpoints and garbage collection (docs/formats/sync.md, "Compaction").

A caught-up device writes the whole merged state (live records and tombstones, which are never
dropped) as write-once chunks ``c/N("ckpt", dev, no, i)``, and names them in its head with their
digest and, per device, the segment (and chain value) they cover. A device joining, or one whose
next segment was collected, loads a checkpoint first and continues with the segments after it.
A device deletes only its own objects: segments its newest checkpoint covers and its previous
checkpoint, once that checkpoint is older than the grace period (objects may still be in
transit to a synced folder, or being read).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from mirror_cli.errors import VerificationError
from mirror_cli.ids import now_iso, parse_iso
from mirror_cli.remotes.base import NotFound, Remote
from mirror_cli.sync import derived, local, objects
from mirror_cli.sync.keys import RemoteKey

CHUNK_TARGET = 4 * 1024 * 1024


class ChunkMissing(VerificationError):
    """A chunk a head names is not on the remote (on a synced folder it may still be in transit)."""
COMPACT_AFTER_SEGMENTS = 128


def chunk_name(key: RemoteKey, dev: str, no: int, i: int) -> str:
    return "c/" + key.name("ckpt", dev, no, i)


def _seal(key: RemoteKey, remote_id: str, dev: str, no: int, i: int, payload: bytes) -> bytes:
    return objects.seal(key, remote_id, "ckpt", dev, no, payload, objects.SEGMENT_MIN, chunk_name(key, dev, no, i))


def write(store, remote: Remote, key: RemoteKey, remote_id: str, dev: str, no: int,
          segs: dict[str, list[Any]]) -> tuple[dict[str, Any], int]:
    """Write checkpoint *no* of *dev*: the head's ``ckpt`` entry, and the bytes written."""
    chunks: list[bytes] = []
    batch: list[dict[str, Any]] = []
    size = 0

    def flush() -> None:
        nonlocal batch, size
        i = len(chunks)
        payload = objects.encode_segment(dev, i, "0" * 64, batch)
        chunks.append(_seal(key, remote_id, dev, no, i, payload))
        batch, size = [], 0

    for rid, state in local.all_states(store):
        rec = {"k": "r", "id": rid, "vv": state["vv"], "f": state["f"], "del": state["del"]}
        batch.append(rec)
        size += len(json.dumps(rec, ensure_ascii=False)) // 3
        if size >= CHUNK_TARGET:
            flush()
    for rec in derived.all_records(store):  # patterns and tensions, once they were synced (--only)
        batch.append(rec)
        size += len(json.dumps(rec, ensure_ascii=False)) // 3
        if size >= CHUNK_TARGET:
            flush()
    if batch or not chunks:
        flush()
    digest = hashlib.sha256()
    written = 0
    for i, blob in enumerate(chunks):
        remote.put_new(chunk_name(key, dev, no, i), blob)
        digest.update(hashlib.sha256(blob).digest())
        written += len(blob)
    return {"no": no, "chunks": len(chunks), "digest": digest.hexdigest(), "segs": segs}, written


def load(remote: Remote, key: RemoteKey, remote_id: str, dev: str, ckpt: dict[str, Any],
         label: str) -> tuple[objects.Batch, int]:
    """The records of a peer's checkpoint, every chunk authenticated and the whole list checked
    against the digest its head names; a missing chunk -> exit 3 (the head names it)."""
    digest = hashlib.sha256()
    batch = objects.Batch([])
    read = 0
    for i in range(ckpt["chunks"]):
        what = f"chunk {i} of checkpoint {ckpt['no']} of device {label!r} ({dev[:8]})"
        try:
            blob = remote.get(chunk_name(key, dev, ckpt["no"], i))
        except NotFound:
            raise ChunkMissing(f"{what} is missing from the remote.", "Nothing was changed here.") from None
        read += len(blob)
        digest.update(hashlib.sha256(blob).digest())
        payload = objects.unseal(key, remote_id, "ckpt", dev, ckpt["no"], blob, what, chunk_name(key, dev, ckpt["no"], i))
        batch.add(payload, dev, i, "0" * 64, what)
    if digest.hexdigest() != ckpt["digest"]:
        raise VerificationError(f"checkpoint {ckpt['no']} of device {label!r} does not match its head.",
                                "Nothing was changed here.")
    return batch, read


def due(own_seq: int, ckpt: dict[str, Any] | None, dev: str) -> bool:
    covered = ckpt["segs"].get(dev, [0])[0] if ckpt else 0
    return own_seq - covered > COMPACT_AFTER_SEGMENTS


def collect(remote: Remote, key: RemoteKey, dev: str, state: dict[str, Any], grace_s: float) -> dict[str, Any]:
    """Delete this device's segments covered by its checkpoint and its previous checkpoint, once the
    checkpoint is older than *grace_s*; returns the updated local record of what was collected."""
    age = _age_s(state.get("at"))
    if age is None or age < grace_s:
        return state
    covered = state["segs"].get(dev, [0])[0]
    start = state.get("gc", 0)
    if covered > start:
        remote.delete([objects.segment_name(key, dev, s) for s in range(start + 1, covered + 1)])
        state["gc"] = covered
    prev = state.get("prev")
    if prev:
        remote.delete([chunk_name(key, dev, prev["no"], i) for i in range(prev["chunks"])])
        state["prev"] = None
    return state


def _age_s(at: str | None) -> float | None:
    if not at:
        return None
    return (datetime.now(timezone.utc) - parse_iso(at)).total_seconds()


def stamp(info: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """The local record of a checkpoint just written (what the head names, plus when and what to collect)."""
    out = dict(info)
    out["at"] = now_iso()
    out["gc"] = previous.get("gc", 0) if previous else 0
    out["prev"] = {"no": previous["no"], "chunks": previous["chunks"]} if previous else None
    return out


def public(state: dict[str, Any] | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {k: state[k] for k in ("no", "chunks", "digest", "segs")}

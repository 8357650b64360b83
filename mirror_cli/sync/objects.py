"""Sealed objects, heads, segments and the per-device chain (docs/formats/sync.md).

Sealed object = ``0x01 ‖ nonce(12) ‖ AES-256-GCM(K_obj, padded payload, AAD)``; the padded
payload is ``payload ‖ 0x80 ‖ 0x00…`` so that the whole object is ``max(minimum, Padmé(size))``
bytes: a head is at least 1 KiB, a segment at least 4 KiB, and above that sizes step by at
most 12 %. The AAD binds the object to its remote, key generation, kind, device and sequence
number (and a head to its own name), so no object can be moved, replayed or swapped unnoticed.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mirror_cli.crypto.kdf import lp
from mirror_cli.errors import VerificationError
from mirror_cli.sync.keys import NONCE_SIZE, RemoteKey

VERSION = 1
OVERHEAD = 1 + NONCE_SIZE + 16
HEAD_MIN = 1024
SEGMENT_MIN = 4096
SEGMENT_TARGET = 4 * 1024 * 1024  # compressed bytes of records per segment before a new one starts
MAX_OBJECT = 256 * 1024 * 1024
MAX_PLAIN = 512 * 1024 * 1024
CHAIN_LABEL = b"mirror chain v1"


def padme(length: int) -> int:
    """Padmé (Nikitin et al., PETS 2019): round up, leaking O(log log L) bits of the length."""
    if length < 2:
        return length
    e = length.bit_length() - 1
    s = e.bit_length()
    mask = (1 << (e - s)) - 1
    return (length + mask) & ~mask


def padded_size(payload: int, minimum: int) -> int:
    return max(minimum, padme(payload + 1 + OVERHEAD))


def _ad(remote_id: str, key: RemoteKey, kind: str, dev: str, seq: int, name: str = "") -> bytes:
    return (lp("mirror sync v1") + lp(remote_id) + struct.pack(">I", key.gen) + lp(kind)
            + bytes.fromhex(dev) + struct.pack(">Q", seq) + lp(name))


def seal(key: RemoteKey, remote_id: str, kind: str, dev: str, seq: int, payload: bytes, minimum: int,
         name: str = "") -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    total = padded_size(len(payload), minimum)
    padded = payload + b"\x80" + bytes(total - OVERHEAD - len(payload) - 1)
    nonce = os.urandom(NONCE_SIZE)
    return b"\x01" + nonce + AESGCM(key.k_obj).encrypt(nonce, padded, _ad(remote_id, key, kind, dev, seq, name))


def unseal(key: RemoteKey, remote_id: str, kind: str, dev: str, seq: int, blob: bytes, what: str,
           name: str = "") -> bytes:
    """The payload of a sealed object; anything changed, moved or truncated -> exit 3 naming it."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if len(blob) < OVERHEAD + 1 or blob[0] != 1 or len(blob) > MAX_OBJECT:
        raise tampered(what)
    try:
        padded = AESGCM(key.k_obj).decrypt(blob[1:1 + NONCE_SIZE], blob[1 + NONCE_SIZE:],
                                           _ad(remote_id, key, kind, dev, seq, name))
    except InvalidTag:
        raise tampered(what) from None
    end = padded.rstrip(b"\x00")
    if not end.endswith(b"\x80"):
        raise tampered(what)
    return end[:-1]


def tampered(what: str) -> VerificationError:
    return VerificationError(f"{what} on the remote fails authentication: it was changed, moved, truncated "
                             "or is not this remote's.", "Nothing was changed here. Check who can write to the "
                             "remote; `mirror sync --rejoin` re-uploads this journal to a fresh remote.")


# Built once: json.dumps with options builds a new encoder per call (same text as json.dumps with them).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(obj: Any) -> bytes:
    return _CANONICAL.encode(obj).encode("utf-8")


# -- the chain -------------------------------------------------------------------------


def chain_start(remote_id: str, dev: str) -> str:
    return hashlib.sha256(CHAIN_LABEL + remote_id.encode() + bytes.fromhex(dev)).hexdigest()


def chain_next(prev: str, sealed: bytes) -> str:
    return hashlib.sha256(CHAIN_LABEL + bytes.fromhex(prev) + hashlib.sha256(sealed).digest()).hexdigest()


# -- heads -----------------------------------------------------------------------------


@dataclass
class Head:
    dev: str
    label: str
    gen: int
    seq: int
    chain: str
    dot: int
    applied: dict[str, int]
    hlc: str
    client: str = ""
    ckpt: dict[str, Any] | None = None  # {"no", "chunks", "digest", "segs": {dev: [seq, chain]}}
    # key rotation (sync/rotate.py): written only when set, so a head without them is unchanged
    moved_to_gen: int | None = None     # this generation is retired: the remote moved to that one
    revoked: list[str] = field(default_factory=list)      # devices no longer trusted (never merged)
    wipe_device: list[str] = field(default_factory=list)  # revoked devices asked to delete their journal
    retired: list[str] = field(default_factory=list)      # head names of an older generation (not tampering)
    # a copy of a journal that found another copy syncing as its old device id (engine.reidentify):
    # [{"dev": old id, "seq", "chain", "dot": where the old id's log stops being this copy's,
    #   "wrote": [seq, chain] of the last head this copy wrote as the old id}], written only when set
    forked: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        body = {"v": VERSION, "dev": self.dev, "label": self.label, "gen": self.gen, "seq": self.seq,
                "chain": self.chain, "dot": self.dot, "applied": self.applied, "hlc": self.hlc,
                "client": self.client, "ckpt": self.ckpt}
        for name in ROTATION_FIELDS + ("forked",):
            if getattr(self, name):
                body[name] = getattr(self, name)
        return body


ROTATION_FIELDS = ("moved_to_gen", "revoked", "wipe_device", "retired")
MAX_LISTED = 256
MAX_FORKS = 16  # fork notices a head carries (the newest)


def head_name(key: RemoteKey, dev: str) -> str:
    return "h/" + key.name("head", dev)


def segment_name(key: RemoteKey, dev: str, seq: int) -> str:
    return "s/" + key.name("seg", dev, seq)


NO_DEV = "00" * 16  # a head's AAD binds its own name (which is N("head", dev)) instead of the id


def seal_head(key: RemoteKey, remote_id: str, head: Head) -> bytes:
    return seal(key, remote_id, "head", NO_DEV, 0, canonical(head.to_json()), HEAD_MIN, head_name(key, head.dev))


def open_head(key: RemoteKey, remote_id: str, name: str, blob: bytes) -> Head:
    """Open the head found under *name*; it must name itself (a head moved to another device's
    slot, or another remote's, fails)."""
    what = f"the head {name}"
    head = _parse_head(unseal(key, remote_id, "head", NO_DEV, 0, blob, what, name), what)
    if head_name(key, head.dev) != name or head.gen != key.gen:
        raise tampered(what)
    return head


def _parse_head(payload: bytes, what: str) -> Head:
    try:
        body = json.loads(payload)
        if not isinstance(body, dict) or body.get("v") != VERSION or not _is_dev(body.get("dev")):
            raise ValueError
        dev = body["dev"]
        applied = body["applied"]
        if not isinstance(applied, dict) or not all(_is_dev(k) and _is_count(v) for k, v in applied.items()):
            raise ValueError
        head = Head(dev=dev, label=str(body["label"])[:64], gen=body["gen"], seq=body["seq"],
                    chain=body["chain"], dot=body["dot"], applied=applied, hlc=body["hlc"],
                    client=str(body.get("client", ""))[:64], ckpt=_checked_ckpt(body.get("ckpt")),
                    forked=_checked_forked(body.get("forked", [])), **_checked_rotation(body))
        if not (_is_count(head.gen) and _is_count(head.seq) and _is_count(head.dot) and _is_hex(head.chain, 64)
                and _is_hex(head.hlc, 16)):
            raise ValueError
    except (ValueError, KeyError, TypeError, RecursionError):
        raise VerificationError(f"{what} on the remote is not a valid head although it is sealed with "
                                "this remote's key.", "A device with the key wrote it wrongly; nothing was "
                                "changed here.") from None
    return head


def _checked_rotation(body: dict[str, Any]) -> dict[str, Any]:
    moved = body.get("moved_to_gen")
    if moved is not None and not (_is_count(moved) and _is_count(body.get("gen")) and moved > body["gen"]):
        raise ValueError
    out: dict[str, Any] = {"moved_to_gen": moved}
    for name, check in (("revoked", _is_dev), ("wipe_device", _is_dev), ("retired", _is_head_name)):
        items = body.get(name, [])
        if not isinstance(items, list) or len(items) > MAX_LISTED or not all(check(v) for v in items):
            raise ValueError
        out[name] = list(items)
    if not set(out["wipe_device"]) <= set(out["revoked"]):
        raise ValueError
    return out


def _checked_forked(items: Any) -> list[dict[str, Any]]:
    if not isinstance(items, list) or len(items) > MAX_FORKS:
        raise ValueError
    out = []
    for item in items:
        wrote = item.get("wrote") if isinstance(item, dict) else None
        if not (_is_dev(item.get("dev")) and _is_count(item.get("seq")) and _is_hex(item.get("chain"), 64)
                and _is_count(item.get("dot")) and isinstance(wrote, list) and len(wrote) == 2
                and _is_count(wrote[0]) and wrote[0] > item["seq"] and _is_hex(wrote[1], 64)):
            raise ValueError
        out.append({k: item[k] for k in ("dev", "seq", "chain", "dot", "wrote")})
    return out


def _is_head_name(v: Any) -> bool:
    return isinstance(v, str) and len(v) == 28 and v.startswith("h/") and all(c in B32_CHARS for c in v[2:])


B32_CHARS = "abcdefghijklmnopqrstuvwxyz234567"


def _checked_ckpt(ckpt: Any) -> dict[str, Any] | None:
    if ckpt is None:
        return None
    if not isinstance(ckpt, dict) or not (_is_count(ckpt.get("no")) and _is_count(ckpt.get("chunks"))
                                          and 1 <= ckpt["chunks"] <= 100_000 and _is_hex(ckpt.get("digest"), 64)):
        raise ValueError
    segs = ckpt.get("segs")
    if not isinstance(segs, dict) or not all(
            _is_dev(d) and isinstance(v, list) and len(v) == 2 and _is_count(v[0]) and _is_hex(v[1], 64)
            for d, v in segs.items()):
        raise ValueError
    return {"no": ckpt["no"], "chunks": ckpt["chunks"], "digest": ckpt["digest"], "segs": segs}


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**62


def _is_hex(v: Any, n: int) -> bool:
    return isinstance(v, str) and len(v) == n and all(c in "0123456789abcdef" for c in v)


def _is_dev(v: Any) -> bool:
    return _is_hex(v, 32)


# -- segments --------------------------------------------------------------------------


def encode_segment(dev: str, seq: int, prev: str, records: list[dict[str, Any]]) -> bytes:
    return encode_lines(dev, seq, prev, [canonical(rec) for rec in records])


def encode_lines(dev: str, seq: int, prev: str, lines: list[bytes]) -> bytes:
    """:func:`encode_segment` of records already encoded by :func:`canonical` (a push encodes each once)."""
    header = {"v": VERSION, "dev": dev, "seq": seq, "prev": prev, "n": len(lines)}
    comp = zlib.compressobj(1)
    parts = [comp.compress(canonical(header) + b"\n")]
    for line in lines:
        parts.append(comp.compress(line + b"\n"))
    parts.append(comp.flush())
    return b"".join(parts)


def _lines(payload: bytes, dev: str, seq: int, prev: str, what: str) -> list[bytes]:
    d = zlib.decompressobj()
    try:
        text = d.decompress(payload, MAX_PLAIN)
        if d.unconsumed_tail or not d.eof:
            raise ValueError
        lines = text.split(b"\n")
        header = json.loads(lines[0])
        if (not isinstance(header, dict) or header.get("v") != VERSION or header.get("dev") != dev
                or header.get("seq") != seq or header.get("prev") != prev or lines[-1] != b""
                or header.get("n") != len(lines) - 2):
            raise ValueError
    except (ValueError, zlib.error, RecursionError, TypeError):
        raise VerificationError(f"{what} does not continue its device's chain (reordered, replayed or "
                                "written wrongly).", "Nothing was changed here.") from None
    return lines[1:-1]


def decode_segment(payload: bytes, dev: str, seq: int, prev: str, what: str) -> Iterator[dict[str, Any]]:
    """The records of a segment payload, after checking its header (device, seq, previous chain)."""
    for line in _lines(payload, dev, seq, prev, what):
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):
            rec = None
        if not isinstance(rec, dict):
            raise VerificationError(f"{what} holds a malformed record.", "Nothing more was changed here.")
        yield rec


@dataclass
class Batch:
    """Authenticated payloads (a segment, or a checkpoint's chunks) whose headers were checked; their
    records are decoded only when merged, one payload at a time, so a big pull never holds them all."""

    parts: list[tuple[bytes, str, int, str, str]]  # payload, device, seq (or chunk index), previous chain, what
    count: int = 0

    def add(self, payload: bytes, dev: str, seq: int, prev: str, what: str) -> None:
        self.count += len(_lines(payload, dev, seq, prev, what))
        self.parts.append((payload, dev, seq, prev, what))

    def __len__(self) -> int:
        return self.count

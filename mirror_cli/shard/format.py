"""The shard file format (version 1): self-describing, every stripe checksummed.

A shard file is a fixed 96-byte header, the shard's blocks one per stripe,
a table of SHA-256 digests (one per stripe) and a SHA-256 of everything
before it. All integers are big-endian.

Header (96 bytes)::

    offset size field
         0    8 magic            b"MIRRSHRD"
         8    2 format version   1
        10    2 header length    96
        12    1 k                data shards (1..255)
        13    1 n                total shards (k..255)
        14    1 index            this shard's index, 0-based (< k: data, >= k: parity)
        15    1 matrix id        1 = normalised Cauchy matrix over GF(2^8), poly 0x11d
        16   16 set id           random; the same in all n shards of one set
        32    8 original size    bytes of the file that was sharded
        40    4 stripe size      block bytes per shard per full stripe (multiple of 8)
        44    4 reserved         0
        48    8 stripe count     ceil(original size / (k * stripe size))
        56    8 data length      total block bytes in this shard
        64   32 header checksum  SHA-256 of bytes 0..63

Body::

        96    D blocks           stripe 0 block, stripe 1 block, ... (D = data length)
    96 + D  32*S stripe hashes   SHA-256 of each block, in stripe order (S = stripe count)
    ... end 32 shard checksum    SHA-256 of every byte before it

Stripe ``s`` covers bytes ``[s*k*B, (s+1)*k*B)`` of the original file
(``B`` = stripe size). Within a stripe, data shard ``i`` holds bytes
``[i*b, (i+1)*b)`` of that span, where ``b`` is the block length: ``B`` for
every stripe but the last, whose block length is ``ceil(rest / k)`` rounded
up to a multiple of 8; the span is zero padded at its end. Parity shard
``k + j`` holds row ``j`` of the Cauchy block times the ``k`` data blocks.

A bit flip in a block is named by its stripe hash; a flip in the table or
trailer by the shard checksum; a flip in the header by the header checksum.
The manifest records the SHA-256 of the whole shard file (as ``sha256sum``
prints it), which ties a shard to its set.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import IO

MAGIC = b"MIRRSHRD"
VERSION = 1
HEADER_SIZE = 96
_FIELDS = struct.Struct(">8sHHBBBB16sQIIQQ")  # 64 bytes
HASH_SIZE = 32
ALIGN = 8
MAX_STRIPE = 1 << 20
MIN_STRIPE = 64 << 10
MAX_STRIPE_SET = 32 << 20  # n * stripe size: what one stripe of the whole set may hold in memory
READ_CHUNK = 1 << 20
MATRIX_ID = 1  # normalised Cauchy over GF(2^8) / 0x11d (gf256.cauchy_parity); header byte 15
MATRIX_NAME = "cauchy-gf256-0x11d-v1"  # the same matrix, as manifests name it


class FormatError(ValueError):
    """A shard file (or a part of one) is not what it claims to be."""


@dataclass(frozen=True)
class Geometry:
    """How a file of ``size`` bytes is cut into stripes for ``k`` data shards."""

    k: int
    size: int
    stripe_size: int

    @property
    def span(self) -> int:
        return self.k * self.stripe_size

    @property
    def stripe_count(self) -> int:
        return -(-self.size // self.span) if self.size else 0

    @property
    def last_block(self) -> int:
        count = self.stripe_count
        if not count:
            return 0
        rest = self.size - (count - 1) * self.span
        per = -(-rest // self.k)
        return -(-per // ALIGN) * ALIGN

    def block_length(self, stripe: int) -> int:
        return self.stripe_size if stripe < self.stripe_count - 1 else self.last_block

    def stripe_bytes(self, stripe: int) -> int:
        """Bytes of the original file in ``stripe``."""
        return min(self.span, self.size - stripe * self.span)

    @property
    def data_length(self) -> int:
        count = self.stripe_count
        return (count - 1) * self.stripe_size + self.last_block if count else 0

    @property
    def shard_bytes(self) -> int:
        return HEADER_SIZE + self.data_length + HASH_SIZE * self.stripe_count + HASH_SIZE


def default_stripe_size(k: int, n: int) -> int:
    """1 MiB per shard per stripe, smaller for very wide sets (memory ~16 MiB per stripe)."""
    size = (16 << 20) // max(n, 1)
    size = max(MIN_STRIPE, min(MAX_STRIPE, size))
    return size // 4096 * 4096


def stripe_problem(stripe_size: int, n: int) -> str | None:
    """Why ``stripe_size`` cannot be used for a set of ``n`` shards (None when it can).

    A stripe is a positive multiple of 8 bytes, at most 1 MiB per shard and at most 32 MiB over
    all n shards, so that encoding, restoring or repairing a set -- including one described by a
    hostile manifest -- holds a bounded amount of memory.
    """
    if stripe_size <= 0 or stripe_size % ALIGN:
        return f"the stripe size must be a positive multiple of {ALIGN} bytes"
    if stripe_size > MAX_STRIPE or n * stripe_size > MAX_STRIPE_SET:
        return f"the stripe size must be at most {MAX_STRIPE} bytes and at most {MAX_STRIPE_SET} bytes over all shards"
    return None


@dataclass(frozen=True)
class ShardHeader:
    k: int
    n: int
    index: int
    matrix_id: int
    set_id: bytes
    size: int
    stripe_size: int
    stripe_count: int
    data_length: int
    version: int = VERSION

    @property
    def geometry(self) -> Geometry:
        return Geometry(self.k, self.size, self.stripe_size)

    def pack(self) -> bytes:
        body = _FIELDS.pack(
            MAGIC, self.version, HEADER_SIZE, self.k, self.n, self.index, self.matrix_id,
            self.set_id, self.size, self.stripe_size, 0, self.stripe_count, self.data_length,
        )
        return body + hashlib.sha256(body).digest()

    @classmethod
    def unpack(cls, raw: bytes) -> ShardHeader:
        if len(raw) < HEADER_SIZE:
            raise FormatError("the file is too short to be a shard")
        body, checksum = raw[:64], raw[64:HEADER_SIZE]
        magic, version, hlen, k, n, index, matrix_id, set_id, size, stripe, _res, count, dlen = _FIELDS.unpack(body)
        if magic != MAGIC:
            raise FormatError("not a mirror shard (bad magic)")
        if hashlib.sha256(body).digest() != checksum:
            raise FormatError("the shard header is damaged (header checksum mismatch)")
        if version != VERSION or hlen != HEADER_SIZE:
            raise FormatError(f"unsupported shard format version {version}")
        header = cls(k, n, index, matrix_id, set_id, size, stripe, count, dlen, version)
        geo = header.geometry
        if not (1 <= k <= n <= 255 and index < n and stripe > 0 and stripe % ALIGN == 0):
            raise FormatError("the shard header holds impossible values")
        if geo.stripe_count != count or geo.data_length != dlen:
            raise FormatError("the shard header is inconsistent")
        return header


class ShardWriter:
    """Stream one shard into an open binary file, hashing as it goes."""

    def __init__(self, fh: IO[bytes], header: ShardHeader) -> None:
        self.fh = fh
        self.header = header
        self._whole = hashlib.sha256()
        self._stripe_hashes: list[bytes] = []
        self._write(header.pack())

    def _write(self, data: bytes | memoryview) -> None:
        self.fh.write(data)
        self._whole.update(data)

    def write_block(self, block) -> None:
        mv = memoryview(block).cast("B")
        self._stripe_hashes.append(hashlib.sha256(mv).digest())
        self._write(mv)

    def finish(self) -> tuple[str, int]:
        """Write the stripe table and trailer; return (sha256 of the whole file, size)."""
        if len(self._stripe_hashes) != self.header.stripe_count:
            raise RuntimeError("wrong number of blocks written")
        self._write(b"".join(self._stripe_hashes))
        trailer = self._whole.copy().digest()
        self._write(trailer)
        return self._whole.hexdigest(), self.header.geometry.shard_bytes


def _sha256_of(fh: IO[bytes]) -> tuple[str, int, bytes]:
    """SHA-256 (hex), size and first HEADER_SIZE bytes of what *fh* holds from its start, in one read."""
    h = hashlib.sha256()
    total = 0
    head = b""
    buf = bytearray(READ_CHUNK)
    mv = memoryview(buf)
    fh.seek(0)
    while got := fh.readinto(buf):
        if len(head) < HEADER_SIZE:
            head += bytes(mv[: HEADER_SIZE - len(head)])
        h.update(mv[:got])
        total += got
    return h.hexdigest(), total, head


@dataclass
class ShardCheck:
    """What :func:`check_shard` found."""

    ok: bool
    problems: list[str]
    bad_stripes: list[int]
    header_ok: bool
    sha256: str | None


def check_shard(fh: IO[bytes], expected: ShardHeader, expected_sha256: str) -> ShardCheck:
    """Check a shard, open for reading (and seeking) as *fh*, against what the manifest says it must be.

    Fast path: one pass computing the SHA-256 of the whole shard; a match with
    the manifest (plus a header that parses and agrees) means intact. On a
    mismatch a second pass checks the header, every stripe hash and the
    trailer, so that the damage can be named.
    """
    problems: list[str] = []
    geo = expected.geometry
    try:
        digest, size, raw_header = _sha256_of(fh)
    except OSError as exc:
        return ShardCheck(False, [f"cannot read: {exc.strerror or exc}"], [], False, None)
    header_ok = True
    try:
        header = ShardHeader.unpack(raw_header)
        if header != expected:
            header_ok = False
            problems.append("header does not match the manifest (shard from another set?)")
    except FormatError as exc:
        header_ok = False
        problems.append(str(exc))
    if digest == expected_sha256 and header_ok and size == geo.shard_bytes:
        return ShardCheck(True, [], [], True, digest)
    if size != geo.shard_bytes:
        problems.append(f"size is {size} bytes, expected {geo.shard_bytes}")
    bad = _damaged_stripes(fh, size, geo)
    if bad:
        shown = ", ".join(str(s) for s in bad[:10]) + (" ..." if len(bad) > 10 else "")
        problems.append(f"damaged stripe(s): {shown}")
    if digest != expected_sha256:
        problems.append("SHA-256 does not match the manifest")
    return ShardCheck(False, problems, bad, header_ok, digest)


MAX_LISTED_STRIPES = 1000


def _damaged_stripes(fh: IO[bytes], size: int, geo: Geometry) -> list[int]:
    """Stripes whose block does not match its recorded hash (all, if the table is unreadable):
    the first MAX_LISTED_STRIPES of them, which is what a report can name. A shard cut short
    has every stripe past its end damaged; those are not read one by one. *size* is the shard's."""
    count = geo.stripe_count
    bad: list[int] = []
    try:
        start = HEADER_SIZE + geo.data_length
        fh.seek(start)
        # never more than the file holds (a hostile manifest may claim any size)
        table = fh.read(max(0, min(HASH_SIZE * count, size - start)))
        fh.seek(HEADER_SIZE)
        buf = bytearray(geo.stripe_size or ALIGN)
        for s in range(count):
            if len(bad) >= MAX_LISTED_STRIPES:
                break
            length = geo.block_length(s)
            mv = memoryview(buf)[:length]
            got = fh.readinto(mv)
            recorded = table[s * HASH_SIZE : (s + 1) * HASH_SIZE]
            if got != length:  # the end of the file: this stripe and all after it
                bad.extend(range(s, min(count, s + MAX_LISTED_STRIPES - len(bad))))
                break
            if hashlib.sha256(mv).digest() != recorded:
                bad.append(s)
    except OSError:
        return list(range(min(count, MAX_LISTED_STRIPES)))
    return bad

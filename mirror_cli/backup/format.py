"""The backup file's bytes (``docs/formats/backup.md``): header, archive (manifest + members), trailer.

::

    backup file  = "MIRRBAK\\x01" | u32 H | clear header JSON (H bytes) | body | u64 body length | SHA-256
    body         = the archive (plain backup) or a MIRRENC container of it (encrypted backup)
    archive      = "MIRRARC\\x01" | u32 M | manifest JSON (M bytes) | SHA-256 of the above | zstd stream
    zstd stream  = one zstd frame: the members' bytes, one after another, in manifest order
    members      = "mirror.db" (the SQLite snapshot, full-text index emptied), "export.json"

:func:`write_file` writes one; :func:`read_header` checks the outer layer (no key needed) and
:func:`unpack_archive` the archive, member by member, bounded whatever the file claims.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import struct
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from mirror_cli import crypto
from mirror_cli.errors import InvalidInputError, LockedError, VerificationError
from mirror_cli.localfs import atomic_write, read_full

MAGIC = b"MIRRBAK\x01"
ARCHIVE_MAGIC = b"MIRRARC\x01"
FORMAT = "mirror-backup"
MANIFEST_FORMAT = "mirror-backup-manifest"
VERSION = 1
MAX_HEADER = 64 * 1024
MAX_MANIFEST = 1024 * 1024
TRAILER = struct.Struct(">Q")  # body length, then the SHA-256
DIGEST = 32
DB_MEMBER = "mirror.db"
EXPORT_MEMBER = "export.json"
MEMBERS = (DB_MEMBER, EXPORT_MEMBER)
COUNT_KINDS = ("reflections", "patterns", "tensions", "audit_events")
COMPRESSION = "zstd"
MAX_WINDOW_LOG = 28  # 256 MiB: the decompressor's memory bound; long-distance matching reaches this far
MAX_RATIO = 1000  # declared uncompressed bytes per compressed byte, beyond a 64 MiB allowance
RATIO_ALLOWANCE = 64 * 1024 * 1024
BLOCK = 1024 * 1024
SUFFIX = ".backup"
NAME_RE = re.compile(r"^mirror-(\d{8}T\d{6}\.\d{3})Z-([0-9a-f]{6})\.backup$")
FIELDS_STORED, FIELDS_OPENED = "stored", "opened"  # manifest "fields": as in the database, or opened
EVENT_CREATED = "backup.created"
EVENT_RESTORED = "backup.restored"

_NOT_BACKUP_HINT = "Give a file made by `mirror backup create` (`mirror backup list` shows them)."
_DAMAGED_HINT = "Use another backup (`mirror backup list`); this one cannot be trusted."


def zstd():
    """The zstandard module (imported here, on first use: it is not needed by `mirror --version`)."""
    import zstandard

    return zstandard


def damaged(what: str) -> VerificationError:
    return VerificationError(f"the backup is damaged: {what}.", _DAMAGED_HINT)


def invalid(what: str) -> InvalidInputError:
    return InvalidInputError(f"this is not a valid mirror backup: {what}; nothing was changed.", _NOT_BACKUP_HINT)


class NoKeyError(LockedError):
    """The backup is encrypted and no key source was available (verify then checks less)."""


PLAIN_IS_UNAUTHENTICATED = ("a plain backup is checksummed, not authenticated: anyone who can write files can "
                            "make one that verifies")


@dataclass
class BackupInfo:
    path: str
    bytes: int
    sha256: str
    encrypted: bool
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        # "authenticated": an encrypted backup's content is authenticated by its key (AEAD chunks); a plain
        # one only carries a SHA-256 that anyone can compute again after changing it.
        return {**asdict(self), "authenticated": self.encrypted}


def counts_of(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows of each kind the manifest counts, in the database *conn* (a snapshot)."""
    return {k: int(conn.execute(f"SELECT count(*) FROM {k}").fetchone()[0]) for k in COUNT_KINDS}  # noqa: S608


def canon(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def backup_name(at: datetime) -> str:
    """``mirror-YYYYmmddTHHMMSS.fffZ-xxxxxx.backup`` (UTC, milliseconds, 24 random bits)."""
    stamp = at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S.") + f"{at.microsecond // 1000:03d}"
    return f"mirror-{stamp}Z-{secrets.token_hex(3)}{SUFFIX}"


def iso_ms(at: datetime) -> str:
    at = at.astimezone(timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


class Bounded:
    """A read-only view of the next *n* bytes of *fh*."""

    def __init__(self, fh: BinaryIO, n: int) -> None:
        self.fh, self.left = fh, n

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        if size is None or size < 0 or size > self.left:
            size = self.left
        data = self.fh.read(size)
        self.left -= len(data)
        return data

    def readable(self) -> bool:
        return True


class Concat:
    """A readable stream of some bytes followed by a file's content."""

    def __init__(self, first: bytes, fh: Any) -> None:
        self.first, self.fh = first, fh

    def read(self, n: int = -1) -> bytes:
        if self.first:
            if n is None or n < 0:
                out, self.first = self.first + self.fh.read(), b""
                return out
            out, self.first = self.first[:n], self.first[n:]
            if len(out) < n:
                out += self.fh.read(n - len(out))
            return out
        return self.fh.read(n)


class _HashingWriter:
    """Writes through to *fh*, hashing and counting the bytes."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.hash, self.count = fh, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.fh.write(data)
        self.hash.update(data)
        self.count += len(data)
        return len(data)


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------


def archive_head(manifest: Mapping[str, Any]) -> bytes:
    body = canon(manifest)
    head = ARCHIVE_MAGIC + struct.pack(">I", len(body)) + body
    return head + hashlib.sha256(head).digest()


def write_file(target: Path, header: Mapping[str, Any], manifest: Mapping[str, Any], stream_path: Path,
               dek: bytes | None, crypto_meta: Mapping[str, Any] | None) -> tuple[str, int]:
    """The backup file (temp file, fsync, rename; 0600): header, body (encrypted when *dek*), trailer.

    Returns (SHA-256 of the whole file, its size).
    """
    head_json = canon(header)
    head = archive_head(manifest)
    with atomic_write(target, "wb") as raw:
        out = _HashingWriter(raw)
        out.write(MAGIC + struct.pack(">I", len(head_json)) + head_json)
        start = out.count
        with open(stream_path, "rb") as zs:
            src = Concat(head, zs)
            if dek is not None:
                assert crypto_meta is not None
                cm = crypto.CryptoMeta.from_dict(crypto_meta)
                crypto.encrypt_stream(src, out, dek=dek, kdf_params=cm.kdf, wrapped_key=cm.wrapped_key,
                                      db_id=header["db_id"], purpose="backup")
            else:
                while chunk := src.read(4 * BLOCK):
                    out.write(chunk)
        out.write(TRAILER.pack(out.count - start))
        digest = out.hash.digest()
        whole = out.hash.copy()
        whole.update(digest)
        raw.write(digest)
        total = out.count + DIGEST
    return whole.hexdigest(), total


# ---------------------------------------------------------------------------
# reading: the outer layer
# ---------------------------------------------------------------------------


@dataclass
class Outer:
    header: dict[str, Any]
    body_offset: int
    body_len: int
    size: int


def read_header(fh: BinaryIO, size: int, *, checksum: bool = True) -> Outer:
    """Check magic, whole-file SHA-256 and clear header; leave *fh* anywhere. No key needed.

    ``checksum=False`` skips the SHA-256 (which reads the whole file) and checks only what
    the first and last bytes say: magic, header, and the trailer's body length against the
    file's size (``list`` and ``prune``, which look at every backup in a folder).
    """
    magic = fh.read(len(MAGIC))
    if magic != MAGIC:
        if magic and MAGIC.startswith(magic) and len(magic) < len(MAGIC):
            raise damaged("it ends inside its first bytes")
        if magic[:7] == MAGIC[:7]:
            raise InvalidInputError(f"this backup has format version {magic[7]}, which this mirror cannot read.",
                                    "Upgrade mirror.")
        raise invalid("it does not start like one")
    raw_len = fh.read(4)
    if len(raw_len) < 4:
        raise damaged("it ends inside the header")
    (hlen,) = struct.unpack(">I", raw_len)
    if not 2 <= hlen <= MAX_HEADER:
        raise damaged("the header length is implausible")
    body_offset = 12 + hlen
    if size < body_offset + TRAILER.size + DIGEST:
        raise damaged("it is truncated")
    if checksum:
        fh.seek(0)
        h = hashlib.sha256()
        left = size - DIGEST
        while left > 0:
            chunk = fh.read(min(BLOCK * 4, left))
            if not chunk:
                raise damaged("it is truncated")
            h.update(chunk)
            left -= len(chunk)
        stored = fh.read(DIGEST)
        if not hmac.compare_digest(h.digest(), stored):
            raise damaged("its checksum does not match (a byte was changed, or the file was cut short)")
    fh.seek(12)
    head_raw = fh.read(hlen)
    fh.seek(size - DIGEST - TRAILER.size)
    (body_len,) = TRAILER.unpack(fh.read(TRAILER.size))
    if body_len != size - body_offset - TRAILER.size - DIGEST:
        raise invalid("its recorded length does not match its size")
    try:
        header = json.loads(head_raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested thousands deep
        raise invalid("its header is not JSON") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("version") != VERSION:
        raise invalid("its header does not name the mirror-backup format, version 1")
    if not isinstance(header.get("encrypted"), bool) or not isinstance(header.get("created_at"), str):
        raise invalid("its header lacks `encrypted` or `created_at`")
    return Outer(header, body_offset, body_len, size)


# ---------------------------------------------------------------------------
# reading: the archive
# ---------------------------------------------------------------------------


def _check_name(name: Any, seen: set[str]) -> str:
    if not isinstance(name, str) or not name:
        raise invalid("a member has no name")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise invalid(f"member {name!r} has an absolute path")
    if ".." in re.split(r"[/\\]", name) or "\x00" in name:
        raise invalid(f"member {name!r} points outside the archive")
    if name in seen:
        raise invalid(f"member {name!r} appears twice")
    if name not in MEMBERS:
        raise invalid(f"unexpected member {name!r}")
    seen.add(name)
    return name


def check_manifest(m: Any) -> dict[str, Any]:
    if not isinstance(m, dict) or m.get("format") != MANIFEST_FORMAT or m.get("version") != VERSION:
        raise invalid("the manifest does not name the mirror-backup-manifest format, version 1")
    if m.get("compression") != COMPRESSION:
        raise invalid(f"unknown compression {m.get('compression')!r}")
    members = m.get("members")
    if not isinstance(members, list) or not members:
        raise invalid("the manifest lists no members")
    seen: set[str] = set()
    for mem in members:
        if not isinstance(mem, dict):
            raise invalid("a manifest entry is not an object")
        name = _check_name(mem.get("name"), seen)
        if mem.get("type", "file") != "file":
            raise invalid(f"member {name!r} is a {mem.get('type')!r}, not a regular file "
                          "(links and devices are refused)")
        size, digest = mem.get("size"), mem.get("sha256")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise invalid(f"member {name!r} has no valid size")
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise invalid(f"member {name!r} has no valid sha256")
    if [mem["name"] for mem in members] != list(MEMBERS):
        missing = [n for n in MEMBERS if n not in seen]
        raise invalid(f"missing member {missing[0]!r}" if missing else "members are out of order")
    if m.get("fields", FIELDS_STORED) not in (FIELDS_STORED, FIELDS_OPENED):
        raise InvalidInputError(f"this backup stores its fields as {m.get('fields')!r}, which this mirror "
                                "cannot read.", "Upgrade mirror.")
    if m.get("fields") == FIELDS_OPENED and m.get("db_encrypted") is not True:
        raise invalid("its manifest says the fields are opened, but not that the database is encrypted")
    counts = m.get("counts")
    if not isinstance(counts, dict) or any(not isinstance(counts.get(k), int) for k in COUNT_KINDS):
        raise invalid("the manifest has no counts")
    if not isinstance(m.get("stream_bytes"), int) or not isinstance(m.get("db_id"), str):
        raise invalid("the manifest lacks stream_bytes or db_id")
    return m


@dataclass
class Unpacked:
    manifest: dict[str, Any]
    export_counts: dict[str, int]
    export_records: int


def _read_manifest(src: Any) -> tuple[dict[str, Any], int]:
    """The archive's manifest, checked (and its length): the bytes up to the zstd stream."""
    magic = read_full(src, len(ARCHIVE_MAGIC))
    if magic != ARCHIVE_MAGIC:
        if len(magic) < len(ARCHIVE_MAGIC):
            raise damaged("it ends before its manifest")
        raise invalid("its content is not a mirror archive")
    raw_len = read_full(src, 4)
    if len(raw_len) < 4:
        raise damaged("it ends before its manifest")
    (mlen,) = struct.unpack(">I", raw_len)
    if not 2 <= mlen <= MAX_MANIFEST:
        raise invalid("its manifest length is implausible")
    body = read_full(src, mlen)
    digest = read_full(src, DIGEST)
    if len(body) < mlen or len(digest) < DIGEST:
        raise damaged("it ends inside its manifest")
    if not hmac.compare_digest(hashlib.sha256(magic + raw_len + body).digest(), digest):
        raise damaged("the manifest does not match its checksum")
    try:
        manifest = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise invalid("its manifest is not JSON") from None
    return check_manifest(manifest), mlen


def unpack_archive(src: Any, body_len: int | None, db_out: Any, checked: list[str],
                   begin: Callable[[int], None] | None = None) -> Unpacked:
    """Read the archive from *src*: manifest, then the members, all checked.

    The snapshot member's bytes go to ``db_out.write`` (when *db_out* is not None), after
    ``begin(its size)``. Never inflates more than the members declare, plus one byte.
    """
    manifest, mlen = _read_manifest(src)
    checked.append("manifest")
    stream_bytes = manifest["stream_bytes"]
    if body_len is not None and stream_bytes != body_len - (12 + mlen + DIGEST):
        raise invalid("the manifest's stream length does not match the file")
    declared = sum(m["size"] for m in manifest["members"])
    if declared > RATIO_ALLOWANCE + MAX_RATIO * stream_bytes:
        raise invalid(f"its members declare {declared} bytes from {stream_bytes} compressed bytes "
                      "(a decompression bomb?)")
    if begin is not None:
        begin(next(m["size"] for m in manifest["members"] if m["name"] == DB_MEMBER))
    z = zstd()
    limited = Bounded(src, stream_bytes)
    first = limited.read(18)
    try:
        params = z.get_frame_parameters(first)
    except z.ZstdError:
        raise damaged("the compressed data does not start with a zstd frame") from None
    if params.window_size > (1 << MAX_WINDOW_LOG):
        raise invalid("its compressed data needs more memory than mirror allows")
    if params.content_size not in (0, declared) and params.content_size != z.CONTENTSIZE_UNKNOWN:
        raise invalid("the compressed data's size does not match the members' sizes")
    dctx = z.ZstdDecompressor(max_window_size=1 << MAX_WINDOW_LOG)
    reader = dctx.stream_reader(Concat(first, limited), read_size=BLOCK, read_across_frames=True)
    inflated = 0

    def inflate() -> bytes:
        nonlocal inflated
        try:
            chunk = reader.read(min(BLOCK, declared + 1 - inflated))
        except z.ZstdError as exc:
            raise damaged(f"the compressed data is corrupt ({exc})") from None
        inflated += len(chunk)
        return chunk

    export_head = b""
    records = 0
    prev = b""
    pending = memoryview(b"")
    for mem in manifest["members"]:
        name, left = mem["name"], mem["size"]
        h = hashlib.sha256()
        while left > 0:
            if not pending:
                pending = memoryview(inflate())
                if not pending:
                    raise invalid(f"member {name!r} is shorter than the {mem['size']} bytes it declares")
            chunk, pending = pending[:left], pending[left:]
            h.update(chunk)
            left -= len(chunk)
            if name == DB_MEMBER:
                if db_out is not None:
                    db_out.write(chunk)
            else:
                data = bytes(chunk)
                if len(export_head) < 1 << 16:
                    export_head += data[: (1 << 16) - len(export_head)]
                records += data.count(b"\n{") + (prev == b"\n" and data[:1] == b"{")
                prev = data[-1:]
        if not hmac.compare_digest(h.hexdigest(), mem["sha256"]):
            raise damaged(f"member {name!r} does not match its SHA-256")
        checked.append(f"{name} sha256")
    if pending or (inflated <= declared and inflate()):
        raise invalid("the members hold more data than they declare (a decompression bomb?)")
    if limited.left > 0 or limited.read(1):
        raise invalid("unexpected data follows the members")
    first_line = export_head.split(b"\n", 1)[0].rstrip(b",")
    try:
        head = json.loads(first_line.decode("utf-8") + "}")
        export_counts = {k: int(v) for k, v in head["counts"].items()}
        if head.get("format") != "mirror-export":
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError, RecursionError):
        raise damaged("the export inside it has no readable header") from None
    return Unpacked(manifest, export_counts, records)

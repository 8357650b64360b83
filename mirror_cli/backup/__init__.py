"""Backups: one self-checking file per snapshot; create, list, verify, restore, prune.

The byte layout is documented in ``docs/formats/backup.md``; in short::

    backup file  = "MIRRBAK\\x01" | u32 H | clear header JSON (H bytes) | body | u64 body length | SHA-256
    body         = the archive (plain backup) or a MIRRENC container of it (encrypted backup)
    archive      = "MIRRARC\\x01" | u32 M | manifest JSON (M bytes) | SHA-256 of the above | zstd stream
    zstd stream  = one zstd frame: the members' bytes, one after another, in manifest order
    members      = "mirror.db" (the SQLite snapshot, full-text index emptied), "export.json"

* **create** copies the live database with SQLite's online backup API (one
  step, so one consistent snapshot while other processes write), empties the
  rebuildable full-text index in the copy, opens its sealed fields when the
  backup will be encrypted (see "opened fields" below), and writes the JSON export from
  that same copy in a thread while the snapshot is compressed; both members
  go through one zstd stream with long-distance matching, so the text the
  export repeats costs little. The file is written under a temp name and
  renamed (``fsutil.atomic_write``), under a lock on the backups folder.
* **verify** checks the whole-file SHA-256 (no key needed), the container's
  header, and with a key: every chunk, the manifest, each member's size and
  SHA-256, ``PRAGMA integrity_check`` on the snapshot, and that the snapshot,
  the manifest and the export agree on the counts.
* **restore** does all of that while unpacking the snapshot next to the
  database, seals opened fields back (checking every tag), rebuilds the
  full-text index (plaintext rows only), keeps the
  replaced database as ``<db>.before-restore-<UTC time>`` and swaps with
  ``os.replace``.
* **list** and **prune** look at each file named like a backup cheaply (clear header and the
  trailer's length) and go by the header's time. **list** reads every file anyway (for the
  SHA-256 it shows) and checks the trailer's checksum in that same read. **prune** applies
  restic's ``--keep-*`` rules (:func:`select_prune`) to those that read, then checks the
  whole-file SHA-256 of the backups it would keep, and only of those: one that fails counts
  for no rule and the selection is made again without it. It never removes a file that
  does not read.

Working files that hold the journal in clear (create's snapshot, export and
stream; verify's and restore's unpacked snapshot) live in a private folder in
RAM or beside the database (:func:`private_work`), never in the backups folder
nor in the shared temp dir.

Nothing here prints; errors are MirrorError subclasses (CONTRACT.md codes):
damaged -> VerificationError (3), not a backup / hostile -> InvalidInputError
(5), no key or wrong passphrase -> LockedError (4).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import sqlite3
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from mirror_cli import __version__
from mirror_cli.crypto import FIELD_MIN_ENVELOPE, FIELD_NONCE_END, FIELD_VERSION, TAG_SIZE
from mirror_cli.errors import (InvalidInputError, LockedError, MirrorError, OperationError, UsageError,
                               VerificationError)
from mirror_cli.localfs import FILE_MODE, atomic_write, ensure_private_dir, io_error, read_full

# -- format constants ------------------------------------------------------
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
ZSTD_LEVEL = 3
ZSTD_LEVEL_SEALED = 1  # an encrypted database's backup: level 1, 8 MiB window, no long-distance matching
ZSTD_THREADS = 1
LDM = True
MAX_WINDOW_LOG = 28  # 256 MiB: the decompressor's memory bound; long-distance matching reaches this far
MAX_RATIO = 1000  # declared uncompressed bytes per compressed byte, beyond a 64 MiB allowance
RATIO_ALLOWANCE = 64 * 1024 * 1024
BLOCK = 1024 * 1024
SUFFIX = ".backup"
NAME_RE = re.compile(r"^mirror-(\d{8}T\d{6}\.\d{3})Z-([0-9a-f]{6})\.backup$")
LOCK_NAME = ".mirror-backup.lock"
TEMP_PREFIX = ".mirror-backup-"
OPENED = 0x81  # first byte of an opened field envelope (only inside an encrypted backup's snapshot)
FIELDS_STORED, FIELDS_OPENED = "stored", "opened"  # manifest "fields": as in the database, or opened
EVENT_CREATED = "backup.created"
EVENT_RESTORED = "backup.restored"

_NOT_BACKUP_HINT = "Give a file made by `mirror backup create` (`mirror backup list` shows them)."
_DAMAGED_HINT = "Use another backup (`mirror backup list`); this one cannot be trusted."

Progress = Callable[[int, "int | None"], None]


def _zstd():
    import zstandard

    return zstandard


def _damaged(what: str) -> VerificationError:
    return VerificationError(f"the backup is damaged: {what}.", _DAMAGED_HINT)


def _invalid(what: str) -> InvalidInputError:
    return InvalidInputError(f"this is not a valid mirror backup: {what}; nothing was changed.", _NOT_BACKUP_HINT)


class NoKeyError(LockedError):
    """The backup is encrypted and no key source was available (verify then checks less)."""


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------


@dataclass
class BackupInfo:
    path: str
    bytes: int
    sha256: str
    encrypted: bool
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CreateResult(BackupInfo):
    counts: dict[str, int] = field(default_factory=dict)
    db_bytes: int = 0
    export_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class VerifyReport:
    ok: bool
    problem: str | None
    path: str
    encrypted: bool | None = None
    complete: bool = False  # False: something could not be checked (no key)
    not_checked: str | None = None
    checked: list[str] = field(default_factory=list)
    created_at: str | None = None
    counts: dict[str, int] | None = None
    exit_code: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("exit_code")
        return d


@dataclass
class RestoreResult:
    database: str
    backup: str
    before: str | None
    encrypted: bool
    counts: dict[str, int]
    created_at: str
    key_cached: bool = False
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Unreadable:
    """A file named like a backup that is not one this mirror can read (not counted, never pruned)."""

    path: str
    bytes: int
    problem: str


@dataclass
class PruneResult:
    kept: list[str]
    removed: list[str]
    dry_run: bool
    unreadable: list[Unreadable] = field(default_factory=list)  # named like backups, not readable ones: left alone

    def to_dict(self) -> dict[str, Any]:
        return {"kept": self.kept, "removed": self.removed, "dry_run": self.dry_run,
                "unreadable": [u.path for u in self.unreadable]}


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def _canon(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def backup_name(at: datetime) -> str:
    """``mirror-YYYYmmddTHHMMSS.fffZ-xxxxxx.backup`` (UTC, milliseconds, 24 random bits)."""
    stamp = at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S.") + f"{at.microsecond // 1000:03d}"
    return f"mirror-{stamp}Z-{secrets.token_hex(3)}{SUFFIX}"


def _iso_ms(at: datetime) -> str:
    at = at.astimezone(timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(BLOCK):
            h.update(chunk)
    return h.hexdigest()


class _HashingWriter:
    """Writes through to *fh*, hashing and counting the bytes."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.hash, self.count = fh, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.fh.write(data)
        self.hash.update(data)
        self.count += len(data)
        return len(data)


class _Bounded:
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


@contextlib.contextmanager
def folder_lock(folder: Path, timeout: float):
    """An exclusive flock on the backups folder's lock file; OperationError after *timeout* s."""
    import fcntl

    ensure_private_dir(folder)
    path = folder / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    except OSError as exc:
        raise io_error("lock", path, exc) from None
    try:
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OperationError(f"another backup is running (lock {path} is held).",
                                         "Wait for it to finish and try again.") from None
                time.sleep(0.05)
        yield path
    finally:
        os.close(fd)


def _remove_stale_temps(folder: Path) -> None:
    """Under the lock no other backup runs, so temp files left by a killed one can go.

    (Backups no longer work in their folder: this also clears the working folders that earlier
    versions left there, which could hold an encrypted database's plaintext.)
    """
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.name.startswith((TEMP_PREFIX, ".mirror-")) and entry.name.endswith(".tmp"):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)


# ---------------------------------------------------------------------------
# private working folders: never the backups folder, never a shared temp dir
# ---------------------------------------------------------------------------
#
# create's snapshot (with an encrypted database's fields opened), export and zstd stream, and
# verify's unpacked snapshot, are plaintext of the journal. They go to a private (0700) folder in
# RAM (/dev/shm) when it has room, else beside the database (a local folder that already holds
# it); never into the backups folder (a USB disk or a synced folder) nor into /tmp. A folder is
# held with flock while in use; one whose lock is free and whose process is gone was left by a
# killed run, and the next run removes it.

RAM_DIR = Path("/dev/shm")
WORK_PREFIX = ".mirror-work-"
RAM_MARGIN = 64 * 1024 * 1024  # free space asked of RAM beyond 1.5 times the expected size


def _ram_has_room(expected: int) -> bool:
    try:
        if not (RAM_DIR.is_dir() and os.access(RAM_DIR, os.W_OK | os.X_OK)):
            return False
        st = os.statvfs(RAM_DIR)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize >= expected + expected // 2 + RAM_MARGIN


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists
        return True
    return True


def _remove_stale_work(parent: Path) -> None:
    """Remove this user's working folders in *parent* whose process is gone and whose lock is free."""
    import fcntl

    uid = os.getuid()
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if not (name.startswith(WORK_PREFIX) and name.endswith(".tmp")):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid != uid:
                continue
            pid = int(name[len(WORK_PREFIX):].split("-", 1)[0])
        except (OSError, ValueError):
            continue
        if _pid_alive(pid):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: its exporter processes still run
            os.close(fd)
            continue
        try:
            shutil.rmtree(entry.path, ignore_errors=True)
        finally:
            os.close(fd)


@contextlib.contextmanager
def private_work(expected: int, local: Path, *, ram: bool = True):
    """A fresh 0700 working folder, removed on exit: in RAM when *ram* and it has room for *expected*
    bytes (with margin), else in *local* (the database's folder). Stale ones of killed runs go first."""
    import fcntl

    local = Path(local).absolute()
    _remove_stale_work(local)  # a killed run may have used either place
    _remove_stale_work(RAM_DIR)
    if ram and _ram_has_room(expected):
        parent = RAM_DIR
    else:
        parent = ensure_private_dir(local)
    try:
        path = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise io_error("create a working folder in", parent, exc) from None
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)


def _default_local() -> Path:
    """The configured database's folder (where working files go when RAM has no room)."""
    from mirror_cli.settings import resolve

    return resolve().db_path.parent


# ---------------------------------------------------------------------------
# the export member (same document as `mirror export`, reflections encoded faster)
# ---------------------------------------------------------------------------


_REFLECTION_JSON_SQL = (
    "SELECT json_object('id', id, 'created_at', created_at, 'updated_at', updated_at, 'content', content,"
    " 'response', response, 'mode', mode, 'tags', json(tags),"
    " 'local_only', json(CASE WHEN local_only THEN 'true' ELSE 'false' END))"
    " FROM reflections{where} ORDER BY created_at ASC, id ASC")

_OPENED_JSON_SQL = (  # the same objects from an opened snapshot: plaintext = bytes [13, -16) of each envelope
    "SELECT json_object('id', id, 'created_at', created_at, 'updated_at', updated_at,"
    " 'content', CAST(substr(content, 14, length(content) - 29) AS TEXT),"
    " 'response', CAST(substr(response, 14, length(response) - 29) AS TEXT), 'mode', mode,"
    " 'tags', json(CAST(substr(tags, 14, length(tags) - 29) AS TEXT)),"
    " 'local_only', json(CASE WHEN local_only THEN 'true' ELSE 'false' END))"
    " FROM reflections{where} ORDER BY created_at ASC, id ASC")

Bound = "tuple[str, str] | None"  # (created_at, id) of a reflection: export ranges [lo, hi)


def _range_sql(lo: Any, hi: Any) -> tuple[str, list[str]]:
    where, params = [], []
    if lo is not None:
        where.append("(created_at, id) >= (?, ?)")
        params += list(lo)
    if hi is not None:
        where.append("(created_at, id) < (?, ?)")
        params += list(hi)
    return (" WHERE " + " AND ".join(where) if where else ""), params


def _reflection_lines(store: Any, lo: Any = None, hi: Any = None) -> Iterable[str]:
    """Each reflection as one compact JSON object (the export shape), oldest first.

    Plaintext rows are encoded by SQLite's json_object (C speed); sealed rows
    are opened with the data key and encoded by Python's json.
    """
    from mirror_cli.exchange.formats.jsondoc import _encode

    conn = store.conn
    where, params = _range_sql(lo, hi)
    opened = isinstance(getattr(store.fields, "cipher", None), _OpenedReader)
    if not store.encrypted or opened:
        sql = _OPENED_JSON_SQL if opened else _REFLECTION_JSON_SQL
        for (line,) in conn.execute(sql.format(where=where), params):
            yield line
        return
    from json.encoder import encode_basestring as quote  # the C encoder: '"' + escaped text + '"'

    op = store.fields.cipher.open
    rows = conn.execute("SELECT id, json_quote(id), json_quote(created_at), json_quote(updated_at), content,"
                        " response, json_quote(mode), tags, local_only"
                        f" FROM reflections{where} ORDER BY created_at ASC, id ASC", params)
    for rid, qid, qcreated, qupdated, content, response, qmode, tags, local in rows:
        tag_text = op("reflections", rid, "tags", tags)
        tag_json = "[]" if tag_text == "[]" else _encode(json.loads(tag_text))
        yield "".join((
            '{"id":', qid, ',"created_at":', qcreated, ',"updated_at":', qupdated,
            ',"content":', quote(op("reflections", rid, "content", content)),
            ',"response":', "null" if response is None else quote(op("reflections", rid, "response", response)),
            ',"mode":', qmode, ',"tags":', tag_json, ',"local_only":', "true" if local else "false", "}"))


def write_export(store: Any, out: Any, *, lo: Any = None, hi: Any = None) -> dict[str, int]:
    """The JSON export of *store* (layout of ``exchange.jsondoc``) to a text stream; returns counts.

    With *lo* / *hi* it writes one piece of the document, so that pieces
    written in parallel and joined in order make the whole: the piece with
    ``lo=None`` starts the document (header, the reflections before *hi*), the
    piece with ``hi=None`` ends it (its reflections, then the other sections).
    Every piece but the first must hold at least one reflection.
    """
    from mirror_cli.exchange import export as ex
    from mirror_cli.exchange.formats.jsondoc import _encode, header_items
    from mirror_cli.exchange.kinds import KINDS

    write = out.write
    first, last = lo is None, hi is None
    if first:
        head = ex.header(store, KINDS)
        write("{" + ",".join(f"{_encode(k)}:{_encode(v)}" for k, v in header_items(head)))
    written: dict[str, int] = {}
    for kind in KINDS if last else KINDS[:1]:
        if kind != "reflections" or first:
            write(f",\n{_encode(kind)}:[")
        if kind == "reflections":
            items: Iterable[str] = _reflection_lines(store, lo, hi)
        else:
            items = (_encode(rec) for rec in ex.sections(store, [kind])[kind])
        lead = "\n" if kind != "reflections" or first else ",\n"
        n = 0
        batch: list[str] = []
        for line in items:
            batch.append(line)
            n += 1
            if len(batch) >= 512:
                write((lead if n == len(batch) else ",\n") + ",\n".join(batch))
                batch.clear()
        if batch:
            write((lead if n == len(batch) else ",\n") + ",\n".join(batch))
        written[kind] = n
        if kind != "reflections" or last:
            write("\n]")
    if last:
        write("}\n")
    return written


# ---------------------------------------------------------------------------
# create
# ---------------------------------------------------------------------------


def _snapshot(store: Any, path: Path) -> None:
    """A consistent copy of the live database (online backup API, all pages in one step)."""
    dst = sqlite3.connect(path, isolation_level=None)
    try:
        store.conn.backup(dst)  # pages=-1: one step, one read transaction on the source
        dst.execute("PRAGMA journal_mode = DELETE")
        dst.execute("PRAGMA secure_delete = ON")  # freed index pages become zeros (compress to nothing)
        has_fts = dst.execute("SELECT 1 FROM sqlite_master WHERE name = 'reflections_fts'").fetchone()
        if has_fts:
            # The index is rebuilt on restore; an encrypted database keeps it empty anyway.
            dst.execute("INSERT INTO reflections_fts (reflections_fts) VALUES ('delete-all')")
    except sqlite3.Error as exc:
        raise OperationError(f"cannot snapshot the database: {exc}.") from None
    finally:
        dst.close()
    os.chmod(path, FILE_MODE)


def _snapshot_store(path: Path, dek: bytes | None, opened: bool = False):
    from mirror_cli.crypto.fields import SealedFields
    from mirror_cli.db.open import install_key
    from mirror_cli.db.store import Store

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA temp_store = MEMORY")  # a sort never spills the snapshot's rows into /tmp
    store = Store(conn, path)
    if dek is not None:
        install_key(store, dek)
        if opened:
            store.set_fields(SealedFields(_OpenedReader()))
    return store


# ---------------------------------------------------------------------------
# opened fields: an encrypted backup's snapshot carries its sealed fields opened
# ---------------------------------------------------------------------------
#
# A sealed field is 0x01 | nonce (12) | AES-256-GCM ciphertext | tag (16) (crypto.FieldCipher). Inside
# an encrypted backup the snapshot holds it "opened": 0x81 | the same nonce | the plaintext | the same
# tag, a blob of the same length. The container already encrypts the whole backup, so nothing is in
# clear in the file; the plaintext compresses, instead of incompressible ciphertext being stored
# beside the plaintext export (98 MB instead of 174 MB for 100,000 reflections). Restore seals each field
# again with its own nonce, which gives back the very same ciphertext, and checks that the tag it
# computes is the stored one (so every field is authenticated again before the swap).

def _field_udf(dek: bytes, make: Callable[..., bytes], errors: list[str]):
    from mirror_cli import crypto

    cipher = crypto.FieldCipher(dek)
    aead, ad = cipher.aead, cipher.associated_data

    def udf(table: str, record_id: str, field_name: str, blob: Any) -> Any:
        if blob is None:
            return None
        try:
            if not isinstance(blob, bytes) or len(blob) < FIELD_MIN_ENVELOPE:
                raise _FieldError(f"{table} {record_id}: field {field_name} is not an envelope")
            return make(aead, ad(table, str(record_id), field_name), blob, table, record_id, field_name)
        except _FieldError as exc:
            errors.append(str(exc))  # SQLite only says "user-defined function raised exception"
            raise

    return udf


class _FieldError(Exception):
    pass


def _open_one(aead: Any, ad: bytes, blob: bytes, table: str, rid: Any, name: str) -> bytes:
    from cryptography.exceptions import InvalidTag

    if blob[0] != FIELD_VERSION:
        raise _FieldError(f"{table} {rid}: field {name} is not sealed")
    try:
        plain = aead.decrypt(blob[1:FIELD_NONCE_END], blob[FIELD_NONCE_END:], ad)
    except InvalidTag:
        raise _FieldError(f"{table} {rid}: field {name} cannot be decrypted") from None
    return bytes([OPENED]) + blob[1:FIELD_NONCE_END] + plain + blob[-TAG_SIZE:]


def _seal_one(aead: Any, ad: bytes, blob: bytes, table: str, rid: Any, name: str) -> bytes:
    if blob[0] != OPENED:
        raise _FieldError(f"{table} {rid}: field {name} is not an opened envelope")
    sealed = aead.encrypt(blob[1:FIELD_NONCE_END], blob[FIELD_NONCE_END:-TAG_SIZE], ad)
    if not hmac.compare_digest(sealed[-TAG_SIZE:], blob[-TAG_SIZE:]):
        raise _FieldError(f"{table} {rid}: field {name} does not match its tag")
    return bytes([FIELD_VERSION]) + blob[1:FIELD_NONCE_END] + sealed


def _map_fields(path: Path, dek: bytes, make: Callable[..., bytes]) -> None:
    """Rewrite every sealed column of the database at *path* through *make* (one transaction)."""
    from mirror_cli.crypto.fields import SEALED_COLUMNS

    conn = sqlite3.connect(path, isolation_level=None)
    errors: list[str] = []
    try:
        # A private temp copy (the snapshot being packed, or the file restore is about to swap in): no
        # rollback journal, no fsyncs; a crash leaves a temp file that is thrown away anyway.
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("PRAGMA secure_delete = ON")  # no freed page keeps opened text (restore's reseal)
        conn.create_function("mirror_field", 4, _field_udf(dek, make, errors), deterministic=True)
        have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        conn.execute("BEGIN IMMEDIATE")
        for table, (rid, cols) in SEALED_COLUMNS.items():
            if table not in have:
                continue
            sets = ", ".join(f"{c} = mirror_field('{table}', {rid}, '{c}', {c})" for c in cols)
            conn.execute(f"UPDATE {table} SET {sets}")  # noqa: S608 - names from SEALED_COLUMNS
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise _FieldError(errors[0] if errors else str(exc)) from None
    finally:
        conn.close()


def _open_fields(path: Path, dek: bytes) -> None:
    try:
        _map_fields(path, dek, _open_one)
    except _FieldError as exc:
        raise VerificationError(f"cannot back up: a sealed field of the database does not open ({exc}).",
                                "Run `mirror audit verify`; the database was changed outside mirror.") from None


def _reseal_fields(path: Path, dek: bytes) -> None:
    try:
        _map_fields(path, dek, _seal_one)
    except _FieldError as exc:
        raise _damaged(f"a field of its snapshot does not seal back to its tag ({exc})") from None


class _OpenedReader:
    """Reads opened envelopes where the field codec expects a cipher (the export of an opened snapshot)."""

    def open(self, table: str, record_id: str, field_name: str, blob: Any) -> str:
        if isinstance(blob, bytes) and len(blob) >= FIELD_MIN_ENVELOPE and blob[0] == OPENED:
            with contextlib.suppress(UnicodeDecodeError):
                return blob[FIELD_NONCE_END:-TAG_SIZE].decode("utf-8")
        raise _damaged(f"{table} {record_id}: field {field_name} of the snapshot is not an opened envelope")


class _TextSink:
    """A text stream that writes UTF-8 to a file descriptor in ~1 MiB blocks."""

    def __init__(self, fd: int, on_flush: Callable[[], None] | None = None) -> None:
        self.fd, self.on_flush = fd, on_flush
        self.parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)
        if self.size >= BLOCK:
            self.flush()

    def flush(self) -> None:
        if self.parts:
            data = memoryview("".join(self.parts).encode("utf-8"))
            self.parts.clear()
            self.size = 0
            while data:
                data = data[os.write(self.fd, data):]
            if self.on_flush is not None:
                self.on_flush()


def _export_to(snap: Path, dek: bytes | None, fd: int, on_flush: Callable[[], None] | None = None,
               lo: Any = None, hi: Any = None, opened: bool = False) -> dict[str, int]:
    store = _snapshot_store(snap, dek, opened)
    try:
        sink = _TextSink(fd, on_flush)
        with store.read():
            counts = write_export(store, sink, lo=lo, hi=hi)
        sink.flush()
        return counts
    finally:
        store.close()


class _Exporter:
    """Writes the export of the snapshot to *out* in a child process (a thread where fork is missing).

    The export is Python-bound (JSON encoding, field decryption) and the
    compressor runs meanwhile; a separate process keeps them off one GIL. The
    parent follows the file as it grows (:attr:`available`) and learns the
    outcome from a pipe when the child exits.
    """

    def __init__(self, snap: Path, dek: bytes | None, out: Path, lo: Any = None, hi: Any = None,
                 opened: bool = False) -> None:
        self.out = out
        self.counts: dict[str, int] = {}
        self.error: BaseException | None = None
        self._fd = os.open(out, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, FILE_MODE)
        self._done = threading.Event()
        self.pid = 0
        if hasattr(os, "fork"):
            r, w = os.pipe()
            parent = os.getpid()
            pid = os.fork()
            if pid == 0:  # child: export, report, exit without running the parent's cleanups
                code = 0
                try:
                    os.close(r)

                    def orphaned() -> None:
                        if os.getppid() != parent:  # the backup was killed: stop too
                            os._exit(3)

                    msg = json.dumps({"counts": _export_to(snap, dek, self._fd, orphaned, lo, hi, opened)})
                except BaseException as exc:  # noqa: BLE001
                    code = 1
                    msg = json.dumps({"error": getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}",
                                      "hint": getattr(exc, "hint", None),
                                      "exit": int(getattr(exc, "exit_code", 1))})
                try:
                    os.write(w, msg.encode("utf-8"))
                finally:
                    os._exit(code)
            os.close(w)
            self.pid, self._r = pid, r
        else:  # pragma: no cover - every supported platform has fork
            def run() -> None:
                try:
                    self.counts = _export_to(snap, dek, self._fd, None, lo, hi, opened)
                except BaseException as exc:  # noqa: BLE001
                    self.error = exc
                finally:
                    self._done.set()

            threading.Thread(target=run, daemon=True).start()

    def finished(self) -> bool:
        if self._done.is_set():
            return True
        if self.pid:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._collect(status)
                return True
        return False

    def _collect(self, status: int) -> None:
        raw = b""
        while chunk := os.read(self._r, 65536):
            raw += chunk
        os.close(self._r)
        self.pid = 0
        try:
            msg = json.loads(raw.decode("utf-8"))
        except ValueError:
            msg = {"error": f"the export process ended unexpectedly (status {status})"}
        if "counts" in msg:
            self.counts = msg["counts"]
        else:
            from mirror_cli.errors import ExitCode, MirrorError

            err = MirrorError(f"cannot write the export for the backup: {msg.get('error')}", msg.get("hint"))
            err.exit_code = ExitCode(msg.get("exit", 1)) if msg.get("exit", 1) in range(1, 6) else ExitCode.FAILED
            self.error = err
        self._done.set()

    def wait(self, timeout: float) -> None:
        if self.pid:
            time.sleep(timeout)
        else:
            self._done.wait(timeout)

    def close(self) -> None:
        if self.pid:  # still running (the parent failed): stop it
            with contextlib.suppress(OSError):
                os.kill(self.pid, 9)
            with contextlib.suppress(OSError):
                os.waitpid(self.pid, 0)
            with contextlib.suppress(OSError):
                os.close(self._r)
            self.pid = 0
        with contextlib.suppress(OSError):
            os.close(self._fd)


EXPORT_SPLIT_MIN = 10_000  # reflections: from here on the export is written by two processes


def _start_exporters(snap: Path, dek: bytes | None, work: Path, n: int, opened: bool = False) -> list[_Exporter]:
    """One exporter, or two writing the halves of the reflections in parallel (joined in order)."""
    if n < EXPORT_SPLIT_MIN or not hasattr(os, "fork"):
        return [_Exporter(snap, dek, work / EXPORT_MEMBER, opened=opened)]
    with sqlite3.connect(f"file:{snap}?mode=ro", uri=True) as c:
        mid = tuple(c.execute("SELECT created_at, id FROM reflections ORDER BY created_at, id LIMIT 1 OFFSET ?",
                              (n // 2,)).fetchone())
    c.close()
    first = _Exporter(snap, dek, work / f"{EXPORT_MEMBER}.0", None, mid, opened)
    try:
        second = _Exporter(snap, dek, work / f"{EXPORT_MEMBER}.1", mid, None, opened)
    except BaseException:
        first.close()
        raise
    return [first, second]


def _window_log(db_bytes: int) -> int:
    return max(20, min(MAX_WINDOW_LOG, (2 * db_bytes + 1).bit_length()))


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {k: int(conn.execute(f"SELECT count(*) FROM {k}").fetchone()[0]) for k in COUNT_KINDS}  # noqa: S608


def create(store: Any, output: Path, *, encrypt: bool | None = None, lock_timeout: float = 60.0,
           progress: Progress | None = None, now: datetime | None = None,
           unlock: Callable[[], Any] | None = None) -> CreateResult:
    """Snapshot *store* into one backup file; *output* is a folder (file name chosen) or a file path.

    *store* must be unlocked when the database is encrypted, unless *unlock* is
    given: a function returning a ``keys.UnlockResult`` without touching
    *store*, run in a thread while the snapshot is taken (the passphrase's key
    derivation and the copy overlap), its key installed before anything else
    needs it. *encrypt* defaults to whether the database is; a plaintext
    database cannot make an encrypted backup (there is no key).
    """
    encrypted_db = store.encrypted
    if encrypt is None:
        encrypt = encrypted_db
    if encrypt and not encrypted_db:
        raise UsageError("this database is not encrypted, so there is no key to encrypt the backup with.",
                         "Run `mirror key enable` first, or leave out --encrypt.")
    deriving = None
    if encrypted_db and store.data_key is None:
        if unlock is None:
            raise LockedError("this database is encrypted and no key is loaded.",
                              "Set MIRROR_PASSPHRASE_FILE or run `mirror key unlock`.")
        deriving = _Background(unlock)
    output = Path(output).absolute()
    at = now or datetime.now(timezone.utc)
    if output.is_dir() or not output.suffix:
        folder, target = output, output / backup_name(at)
    else:
        folder, target = output.parent, output
    zstd = _zstd()
    # The snapshot, the export and the stream are plaintext: a private folder in RAM or beside the
    # database, never the backups folder (see private_work).
    live = Path(store.path).absolute()
    expected = 3 * sum(p.stat().st_size for p in (live, Path(f"{live}-wal")) if p.exists())
    with folder_lock(folder, lock_timeout), private_work(expected, live.parent) as work:
        _remove_stale_temps(folder)
        try:
            snap = work / DB_MEMBER
            _snapshot(store, snap)
            if deriving is not None:  # the snapshot is taken: now the key is needed
                from mirror_cli.db.open import install_key

                found = deriving.result()
                install_key(store, found.dek)
                store.key_source, store.warnings = found.source, tuple(found.warnings)
                deriving = None
            dek = store.data_key if encrypted_db else None
            with sqlite3.connect(f"file:{snap}?mode=ro", uri=True) as c:
                counts = _counts(c)
                schema = int(c.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0])
                db_id = c.execute("SELECT value FROM meta WHERE key = 'db_id'").fetchone()[0]
                crypto_meta = c.execute("SELECT value FROM meta WHERE key = 'crypto'").fetchone()
            c.close()
            if encrypted_db:
                from mirror_cli import crypto

                snap_key = json.loads(crypto_meta[0]).get("key_id") if crypto_meta else None
                if crypto_meta is None or (snap_key is not None and snap_key != crypto.key_id(dek)):
                    raise OperationError("the database's encryption was changed by another mirror process while "
                                         "this backup ran; nothing was written.", "Run the command again.")
            opened = bool(encrypted_db and encrypt)
            if opened:  # the container will encrypt it all: carry the fields opened (compressible)
                _open_fields(snap, dek)
            db_size = snap.stat().st_size
            hashes = {DB_MEMBER: hashlib.sha256(), EXPORT_MEMBER: hashlib.sha256()}
            sizes = {DB_MEMBER: 0, EXPORT_MEMBER: 0}
            exporters = _start_exporters(snap, dek, work, counts["reflections"], opened)
            try:
                stream_path = work / "stream.zst"
                if encrypted_db:  # fast settings: the opening already took its time (and the size stays well
                    # under restic's copy of the database: benchmarks/README.md)
                    params = zstd.ZstdCompressionParameters.from_level(
                        ZSTD_LEVEL_SEALED, window_log=min(_window_log(db_size), 23), threads=ZSTD_THREADS)
                else:
                    params = zstd.ZstdCompressionParameters.from_level(
                        ZSTD_LEVEL, enable_ldm=LDM, window_log=_window_log(db_size), threads=ZSTD_THREADS)
                total_guess = db_size * 2
                done = 0
                with open(stream_path, "wb") as zf:
                    writer = zstd.ZstdCompressor(compression_params=params).stream_writer(zf, closefd=False)
                    with open(snap, "rb") as fh:
                        while chunk := fh.read(BLOCK):
                            writer.write(chunk)
                            hashes[DB_MEMBER].update(chunk)
                            sizes[DB_MEMBER] += len(chunk)
                            done += len(chunk)
                            if progress:
                                progress(done, max(total_guess, done))
                    for exporter in exporters:  # the pieces in order, each followed as it grows
                        with open(exporter.out, "rb") as ef:
                            while True:
                                finished = exporter.finished()
                                chunk = ef.read(4 * BLOCK)
                                if not chunk:
                                    if finished:
                                        break
                                    exporter.wait(0.005)
                                    continue
                                writer.write(chunk)
                                hashes[EXPORT_MEMBER].update(chunk)
                                sizes[EXPORT_MEMBER] += len(chunk)
                                done += len(chunk)
                                if progress:
                                    progress(done, max(total_guess, done))
                        if exporter.error is not None:
                            raise exporter.error
                    writer.flush(zstd.FLUSH_FRAME)
                    writer.close()
            finally:
                for exporter in exporters:
                    exporter.close()
            exported: dict[str, int] = {}
            for exporter in exporters:
                for k, v in exporter.counts.items():
                    exported[k] = exported.get(k, 0) + v
            if exported != counts:
                raise OperationError("the export written for the backup does not match the snapshot's counts.",
                                     "Run `mirror migrate check`, then try again.")
            created_at = _iso_ms(at)
            manifest = {
                "format": MANIFEST_FORMAT, "version": VERSION, "created_at": created_at,
                "tool_version": __version__, "schema_version": schema, "db_id": db_id,
                "db_encrypted": encrypted_db, "fts": "excluded", "compression": COMPRESSION,
                "fields": FIELDS_OPENED if opened else FIELDS_STORED,
                "counts": counts,
                "members": [{"name": n, "type": "file", "size": sizes[n], "sha256": hashes[n].hexdigest()}
                            for n in MEMBERS],
                "stream_bytes": stream_path.stat().st_size,
            }
            header = {"format": FORMAT, "version": VERSION, "created_at": created_at,
                      "tool_version": __version__, "encrypted": bool(encrypt), "db_id": db_id}
            meta = json.loads(crypto_meta[0]) if (encrypt and crypto_meta) else None
            digest, size = _write_file(target, header, manifest, stream_path, dek if encrypt else None, meta)
        finally:
            if deriving is not None:  # the snapshot failed: let the derivation finish, drop its result
                deriving.join()
    result = CreateResult(str(target), size, digest, bool(encrypt), created_at, counts, sizes[DB_MEMBER],
                          sizes[EXPORT_MEMBER])
    if not store.record_if_writable(EVENT_CREATED, {"file": target.name, "sha256": digest, "bytes": size,
                                                     "encrypted": bool(encrypt), "counts": counts}):
        store.warnings = (*store.warnings,  # shown by the CLI
                              "the backup is not recorded in the audit log: the database is read-only.")
    return result


class _Background:
    """Run *fn* in a thread; :meth:`result` returns its value or raises its exception."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._value = fn()
            except BaseException as exc:  # handed to the caller of result()
                self._error = exc

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def join(self) -> None:
        self._thread.join()

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _archive_head(manifest: Mapping[str, Any]) -> bytes:
    body = _canon(manifest)
    head = ARCHIVE_MAGIC + struct.pack(">I", len(body)) + body
    return head + hashlib.sha256(head).digest()


class _Concat:
    """A readable stream of some bytes followed by a file's content."""

    def __init__(self, first: bytes, fh: BinaryIO) -> None:
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


@contextlib.contextmanager
def _publish(target: Path):
    """Write *target* so that no complete file exists under any name until it is in place.

    ``fsutil.atomic_write`` leaves a finished temp file for an instant before
    its rename, and a backup killed then would leave a file that verifies. On
    Linux the file is written unnamed (``O_TMPFILE``), fsynced, and only then
    linked under its final name; a killed backup leaves nothing. Elsewhere,
    ``atomic_write``.
    """
    folder = target.parent
    ensure_private_dir(folder)
    fd = None
    if hasattr(os, "O_TMPFILE") and sys.platform.startswith("linux") and os.path.isdir("/proc/self/fd"):
        try:
            fd = os.open(folder, os.O_TMPFILE | os.O_WRONLY, FILE_MODE)
        except OSError:
            fd = None
    if fd is None:
        with atomic_write(target, "wb") as fh:
            yield fh
        return
    from mirror_cli.localfs import _fsync_dir

    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fchmod(fh.fileno(), FILE_MODE)
            os.fsync(fh.fileno())
            proc = f"/proc/self/fd/{fh.fileno()}"
            try:
                _link_following(proc, target)
            except FileExistsError:  # -o names an existing file: replace it
                tmp = folder / f".{target.name}.{secrets.token_hex(4)}.tmp"
                _link_following(proc, tmp)
                os.replace(tmp, target)
        _fsync_dir(folder)
    except OSError as exc:
        raise io_error("write", target, exc) from None


def _link_following(src: str, dst: Path) -> None:
    """linkat(src, dst, AT_SYMLINK_FOLLOW): os.link() calls link(2), which cannot follow /proc/self/fd."""
    import ctypes
    import errno

    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd, at_symlink_follow = -100, 0x400
    if libc.linkat(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(str(dst)), at_symlink_follow) != 0:
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise FileExistsError(err, os.strerror(err), str(dst))
        raise OSError(err, os.strerror(err), str(dst))


def _write_file(target: Path, header: Mapping[str, Any], manifest: Mapping[str, Any], stream_path: Path,
                dek: bytes | None, crypto_meta: Mapping[str, Any] | None) -> tuple[str, int]:
    """The backup file (atomically, 0600): header, body (encrypted when *dek*), trailer. -> (sha256, bytes)."""
    head_json = _canon(header)
    archive_head = _archive_head(manifest)
    with _publish(target) as raw:
        out = _HashingWriter(raw)
        out.write(MAGIC + struct.pack(">I", len(head_json)) + head_json)
        start = out.count
        with open(stream_path, "rb") as zs:
            src = _Concat(archive_head, zs)
            if dek is not None:
                from mirror_cli import crypto

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
# reading
# ---------------------------------------------------------------------------


@dataclass
class _Outer:
    header: dict[str, Any]
    body_offset: int
    body_len: int
    size: int


def read_header(fh: BinaryIO, size: int, *, checksum: bool = True) -> _Outer:
    """Check magic, whole-file SHA-256 and clear header; leave *fh* anywhere. No key needed.

    ``checksum=False`` skips the SHA-256 (which reads the whole file) and checks only what
    the first and last bytes say: magic, header, and the trailer's body length against the
    file's size (``list`` and ``prune``, which look at every backup in a folder).
    """
    magic = fh.read(len(MAGIC))
    if magic != MAGIC:
        if magic and MAGIC.startswith(magic) and len(magic) < len(MAGIC):
            raise _damaged("it ends inside its first bytes")
        if magic[:7] == MAGIC[:7]:
            raise InvalidInputError(f"this backup has format version {magic[7]}, which this mirror cannot read.",
                                    "Upgrade mirror.")
        raise _invalid("it does not start like one")
    raw_len = fh.read(4)
    if len(raw_len) < 4:
        raise _damaged("it ends inside the header")
    (hlen,) = struct.unpack(">I", raw_len)
    if not 2 <= hlen <= MAX_HEADER:
        raise _damaged("the header length is implausible")
    body_offset = 12 + hlen
    if size < body_offset + TRAILER.size + DIGEST:
        raise _damaged("it is truncated")
    if checksum:
        fh.seek(0)
        h = hashlib.sha256()
        left = size - DIGEST
        while left > 0:
            chunk = fh.read(min(BLOCK * 4, left))
            if not chunk:
                raise _damaged("it is truncated")
            h.update(chunk)
            left -= len(chunk)
        stored = fh.read(DIGEST)
        if not hmac.compare_digest(h.digest(), stored):
            raise _damaged("its checksum does not match (a byte was changed, or the file was cut short)")
    fh.seek(12)
    head_raw = fh.read(hlen)
    fh.seek(size - DIGEST - TRAILER.size)
    (body_len,) = TRAILER.unpack(fh.read(TRAILER.size))
    if body_len != size - body_offset - TRAILER.size - DIGEST:
        raise _invalid("its recorded length does not match its size")
    try:
        header = json.loads(head_raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _invalid("its header is not JSON") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("version") != VERSION:
        raise _invalid("its header does not name the mirror-backup format, version 1")
    if not isinstance(header.get("encrypted"), bool) or not isinstance(header.get("created_at"), str):
        raise _invalid("its header lacks `encrypted` or `created_at`")
    return _Outer(header, body_offset, body_len, size)


def _check_name(name: Any, seen: set[str]) -> str:
    if not isinstance(name, str) or not name:
        raise _invalid("a member has no name")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise _invalid(f"member {name!r} has an absolute path")
    if ".." in re.split(r"[/\\]", name) or "\x00" in name:
        raise _invalid(f"member {name!r} points outside the archive")
    if name in seen:
        raise _invalid(f"member {name!r} appears twice")
    if name not in MEMBERS:
        raise _invalid(f"unexpected member {name!r}")
    seen.add(name)
    return name


def _check_manifest(m: Any) -> dict[str, Any]:
    if not isinstance(m, dict) or m.get("format") != MANIFEST_FORMAT or m.get("version") != VERSION:
        raise _invalid("the manifest does not name the mirror-backup-manifest format, version 1")
    if m.get("compression") != COMPRESSION:
        raise _invalid(f"unknown compression {m.get('compression')!r}")
    members = m.get("members")
    if not isinstance(members, list) or not members:
        raise _invalid("the manifest lists no members")
    seen: set[str] = set()
    for mem in members:
        if not isinstance(mem, dict):
            raise _invalid("a manifest entry is not an object")
        name = _check_name(mem.get("name"), seen)
        if mem.get("type", "file") != "file":
            raise _invalid(f"member {name!r} is a {mem.get('type')!r}, not a regular file "
                           "(links and devices are refused)")
        size, digest = mem.get("size"), mem.get("sha256")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _invalid(f"member {name!r} has no valid size")
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise _invalid(f"member {name!r} has no valid sha256")
    if [mem["name"] for mem in members] != list(MEMBERS):
        missing = [n for n in MEMBERS if n not in seen]
        raise _invalid(f"missing member {missing[0]!r}" if missing else "members are out of order")
    if m.get("fields", FIELDS_STORED) not in (FIELDS_STORED, FIELDS_OPENED):
        raise InvalidInputError(f"this backup stores its fields as {m.get('fields')!r}, which this mirror "
                                "cannot read.", "Upgrade mirror.")
    if m.get("fields") == FIELDS_OPENED and m.get("db_encrypted") is not True:
        raise _invalid("its manifest says the fields are opened, but not that the database is encrypted")
    counts = m.get("counts")
    if not isinstance(counts, dict) or any(not isinstance(counts.get(k), int) for k in COUNT_KINDS):
        raise _invalid("the manifest has no counts")
    if not isinstance(m.get("stream_bytes"), int) or not isinstance(m.get("db_id"), str):
        raise _invalid("the manifest lacks stream_bytes or db_id")
    return m


class _KeyRequest:
    """How to get the data key of an encrypted backup (see :func:`backup_key`)."""

    def __init__(self, env: Mapping[str, str], *, interactive: bool = False, prompt: Any = None,
                 cache: Any = None, dek: bytes | None = None, local_meta: Mapping[str, Any] | None = None,
                 local_db_id: str | None = None) -> None:
        self.env, self.interactive, self.prompt, self.cache = env, interactive, prompt, cache
        self.dek, self.local_meta, self.local_db_id = dek, local_meta, local_db_id
        self.kek: bytes | None = None  # a passphrase-derived key that opens the backup's own key record
        self.local_kek: bytes | None = None  # ... or, instead, the local database's record (a changed passphrase)
        self.source: str | None = None


def backup_key(header: Any, req: _KeyRequest) -> bytes:
    """The data key of an encrypted backup's container *header*.

    Sources: a loaded data key with the same key id; MIRROR_PASSPHRASE_FILE /
    MIRROR_PASSPHRASE; the key cached in the OS keyring for the backup's
    database id; a prompt on a terminal. The passphrase is tried against the
    backup's own key record, then against the local database's record when
    that database is the same one (a passphrase changed since the backup
    re-wrapped the same data key). None available -> NoKeyError; wrong -> LockedError.
    """
    from mirror_cli import crypto
    from mirror_cli.crypto import passphrase as keys

    kid = header.key_id  # None only for a database key record written before key ids existed

    def matches(dek: bytes) -> bool:
        return kid is None or hmac.compare_digest(crypto.key_id(dek), kid)

    if req.dek is not None and kid is not None and matches(req.dek):
        req.source = "loaded key"
        return req.dek
    records = [(header.kdf, header.wrapped_key)]
    if req.local_meta and req.local_db_id == header.db_id:
        with contextlib.suppress(Exception):
            lm = crypto.CryptoMeta.from_dict(req.local_meta)
            if lm.key_id in (None, kid):
                records.append((lm.kdf, lm.wrapped_key))

    def try_passphrase(value: str, source: str) -> bytes | None:
        for i, (kdf, wrapped) in enumerate(records):
            kek = crypto.derive_kek(value, kdf)
            try:
                dek = crypto.unwrap_data_key(kek, wrapped, header.db_id, source=source)
            except LockedError:
                continue
            if not matches(dek):
                raise _damaged("the encrypted header's key id does not match its wrapped key")
            if i == 0:
                req.kek = kek
            else:
                req.local_kek = kek
            req.source = source
            return dek
        return None

    found = keys.passphrase_from_env(req.env)
    if found is not None:
        dek = try_passphrase(found.value, found.source)
        if dek is None:
            raise LockedError(f"wrong passphrase (from {found.source}): it does not open this backup.",
                              "Give the passphrase that was current when the backup was made.")
        return dek
    cache = req.cache if req.cache is not None else keys.KeyCache()
    cached = None
    with contextlib.suppress(keys.KeyringFailure):
        cached = cache.load(header.db_id)
    if cached is not None:
        for i, (_kdf, wrapped) in enumerate(records):
            try:
                dek = crypto.unwrap_data_key(cached, wrapped, header.db_id, source=keys.SOURCE_KEYRING)
            except LockedError:
                continue
            if matches(dek):
                if i == 0:
                    req.kek = cached
                else:
                    req.local_kek = cached
                req.source = keys.SOURCE_KEYRING
                return dek
    if req.interactive:
        for attempt in range(keys.PROMPT_ATTEMPTS):
            answer = keys._ask(req.prompt, "Passphrase for this backup: " if attempt == 0
                               else "Wrong passphrase, try again: ")
            if answer is None:
                break
            dek = try_passphrase(answer, keys.SOURCE_PROMPT)
            if dek is not None:
                return dek
        else:
            raise LockedError("wrong passphrase (from prompt): it does not open this backup.",
                              "Give the passphrase that was current when the backup was made.")
    raise NoKeyError("this backup is encrypted and no passphrase was given.",
                     "Set MIRROR_PASSPHRASE_FILE (a file whose first line is the passphrase) or "
                     "MIRROR_PASSPHRASE, or run the command in a terminal to be asked.")


class _PipeDecrypt:
    """Decrypt a container in a thread into a pipe, so the archive can be read pull-style."""

    def __init__(self, src: BinaryIO, dek: bytes) -> None:
        r, w = os.pipe()
        self.reader = os.fdopen(r, "rb", buffering=BLOCK)
        self._w = os.fdopen(w, "wb", buffering=BLOCK)
        self.error: BaseException | None = None
        self.result = None

        def run() -> None:
            from mirror_cli import crypto

            try:
                self.result = crypto.decrypt_stream(src, self._w, dek=dek, expected_purpose="backup")
            except BrokenPipeError:
                pass
            except BaseException as exc:
                self.error = exc
            finally:
                with contextlib.suppress(OSError):
                    self._w.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            self.reader.close()
        self.thread.join()
        if self.error is not None:
            raise self.error


@dataclass
class _Unpacked:
    manifest: dict[str, Any]
    export_counts: dict[str, int]
    export_records: int


class _Inflater:
    """Decompress in a thread (zstd drops the GIL) while the caller hashes: 1 MiB chunks, bounded queue.

    Never inflates more than *limit* + 1 bytes, whatever the stream says.
    """

    _END = b""

    def __init__(self, reader: Any, limit: int, zstd_error: type[Exception]) -> None:
        import queue

        self.q: Any = queue.Queue(maxsize=8)
        self._stop = threading.Event()
        self._error = zstd_error

        def run() -> None:
            total = 0
            try:
                while not self._stop.is_set():
                    chunk = reader.read(min(BLOCK, limit + 1 - total))
                    total += len(chunk)
                    self._put(chunk)
                    if not chunk or total > limit:
                        if chunk:
                            self._put(self._END)
                        return
            except BaseException as exc:  # handed to the reading thread
                self._put(exc)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def _put(self, item: Any) -> None:
        import queue

        while not self._stop.is_set():
            try:
                self.q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def get(self) -> bytes:
        item = self.q.get()
        if isinstance(item, BaseException):
            if isinstance(item, self._error):
                raise _damaged(f"the compressed data is corrupt ({item})")
            raise item
        return item

    def stop(self) -> None:
        self._stop.set()
        self.thread.join()


def _unpack_archive(src: Any, body_len: int | None, db_out: _DbOut | None, checked: list[str],
                    after_db: Callable[[], None] | None = None) -> _Unpacked:
    """Read the archive from *src*: manifest, then the members (db to *db_out*), all checked."""
    magic = read_full(src, len(ARCHIVE_MAGIC))
    if magic != ARCHIVE_MAGIC:
        if len(magic) < len(ARCHIVE_MAGIC):
            raise _damaged("it ends before its manifest")
        raise _invalid("its content is not a mirror archive")
    raw_len = read_full(src, 4)
    if len(raw_len) < 4:
        raise _damaged("it ends before its manifest")
    (mlen,) = struct.unpack(">I", raw_len)
    if not 2 <= mlen <= MAX_MANIFEST:
        raise _invalid("its manifest length is implausible")
    body = read_full(src, mlen)
    digest = read_full(src, DIGEST)
    if len(body) < mlen or len(digest) < DIGEST:
        raise _damaged("it ends inside its manifest")
    if not hmac.compare_digest(hashlib.sha256(magic + raw_len + body).digest(), digest):
        raise _damaged("the manifest does not match its checksum")
    try:
        manifest = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _invalid("its manifest is not JSON") from None
    manifest = _check_manifest(manifest)
    checked.append("manifest")
    stream_bytes = manifest["stream_bytes"]
    if body_len is not None and stream_bytes != body_len - (12 + mlen + DIGEST):
        raise _invalid("the manifest's stream length does not match the file")
    declared = sum(m["size"] for m in manifest["members"])
    if declared > RATIO_ALLOWANCE + MAX_RATIO * stream_bytes:
        raise _invalid(f"its members declare {declared} bytes from {stream_bytes} compressed bytes "
                       "(a decompression bomb?)")
    if db_out is not None:
        db_out.begin(next(m["size"] for m in manifest["members"] if m["name"] == DB_MEMBER))
    zstd = _zstd()
    limited = _Bounded(src, stream_bytes)
    first = limited.read(18)
    try:
        params = zstd.get_frame_parameters(first)
    except zstd.ZstdError:
        raise _damaged("the compressed data does not start with a zstd frame") from None
    if params.window_size > (1 << MAX_WINDOW_LOG):
        raise _invalid("its compressed data needs more memory than mirror allows")
    if params.content_size not in (0, declared) and params.content_size != zstd.CONTENTSIZE_UNKNOWN:
        raise _invalid("the compressed data's size does not match the members' sizes")
    dctx = zstd.ZstdDecompressor(max_window_size=1 << MAX_WINDOW_LOG)
    reader = dctx.stream_reader(_Concat(first, limited), read_size=BLOCK, read_across_frames=True)
    chunks = _Inflater(reader, declared, zstd.ZstdError)
    export_head = b""
    records = 0
    prev = b""
    pending = memoryview(b"")
    try:
        for mem in manifest["members"]:
            name, left = mem["name"], mem["size"]
            h = hashlib.sha256()
            while left > 0:
                if not pending:
                    pending = memoryview(chunks.get())
                    if not pending:
                        raise _invalid(f"member {name!r} is shorter than the {mem['size']} bytes it declares")
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
                raise _damaged(f"member {name!r} does not match its SHA-256")
            checked.append(f"{name} sha256")
            if name == DB_MEMBER:
                if db_out is not None:
                    db_out.flush()
                if after_db is not None:
                    after_db()
        if pending or chunks.get():
            raise _invalid("the members hold more data than they declare (a decompression bomb?)")
    finally:
        chunks.stop()
    if limited.left > 0 or limited.read(1):
        raise _invalid("unexpected data follows the members")
    first_line = export_head.split(b"\n", 1)[0].rstrip(b",")
    try:
        head = json.loads(first_line.decode("utf-8") + "}")
        export_counts = {k: int(v) for k, v in head["counts"].items()}
        if head.get("format") != "mirror-export":
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        raise _damaged("the export inside it has no readable header") from None
    return _Unpacked(manifest, export_counts, records)


class _DbOut:
    """The file the snapshot member is unpacked to, opened by :meth:`begin` once the manifest gives the
    member's size: *place* is a path, or a function of that size returning one (verify's working folder)."""

    def __init__(self, place: Path | Callable[[int], Path], sync: bool = False) -> None:
        self.place, self.sync = place, sync
        self.path: Path | None = None
        self.fh: BinaryIO | None = None

    def begin(self, size: int) -> None:
        self.path = self.place(size) if callable(self.place) else self.place
        try:
            self.fh = os.fdopen(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE), "wb")
        except OSError as exc:
            raise io_error("write", self.path, exc) from None

    def write(self, data: Any) -> None:
        assert self.fh is not None
        self.fh.write(data)

    def flush(self) -> None:
        if self.fh is not None:
            self.fh.flush()

    def close(self) -> None:
        if self.fh is not None:
            try:
                self.fh.flush()
                if self.sync:
                    os.fsync(self.fh.fileno())
            finally:
                self.fh.close()


class _SnapshotCheck:
    """``PRAGMA integrity_check`` and counts of the unpacked snapshot, in a thread (SQLite drops the GIL)."""

    def __init__(self, out: _DbOut) -> None:
        self.out = out
        self.problem: str | None = None
        self.counts: dict[str, int] = {}
        self.db_id: str | None = None
        self.encrypted: bool | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        try:
            conn = sqlite3.connect(f"file:{self.out.path}?mode=ro", uri=True, check_same_thread=False)
            try:
                conn.execute("PRAGMA temp_store = MEMORY")  # no spill of the snapshot's rows into /tmp
                result = [r[0] for r in conn.execute("PRAGMA integrity_check(20)")]
                if result != ["ok"]:
                    self.problem = f"the database snapshot fails PRAGMA integrity_check ({'; '.join(result[:3])})"
                    return
                self.counts = _counts(conn)
                row = conn.execute("SELECT value FROM meta WHERE key = 'db_id'").fetchone()
                self.db_id = row[0] if row else None
                self.encrypted = conn.execute("SELECT 1 FROM meta WHERE key = 'crypto'").fetchone() is not None
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            self.problem = f"the database snapshot cannot be opened ({exc})"

    def result(self, unpacked: _Unpacked, checked: list[str]) -> None:
        if self.thread is None:
            self.run()
        else:
            self.thread.join()
        if self.problem:
            raise _damaged(self.problem)
        checked.append("integrity_check")
        m = unpacked.manifest
        if self.db_id != m["db_id"]:
            raise _damaged("the snapshot's database id does not match the manifest")
        if self.encrypted != bool(m.get("db_encrypted")):
            raise _damaged("the manifest and the snapshot disagree on whether the database is encrypted")
        want = {k: m["counts"][k] for k in COUNT_KINDS}
        if self.counts != want:
            raise _damaged(f"the snapshot holds {self.counts} but the manifest says {want}")
        exp = {k: unpacked.export_counts.get(k) for k in COUNT_KINDS}
        if exp != want:
            raise _damaged(f"the export's counts {exp} do not match the snapshot's {want}")
        if unpacked.export_records != sum(want.values()):
            raise _damaged(f"the export holds {unpacked.export_records} records, not the {sum(want.values())} "
                           "its header counts")
        checked.append("counts")


def _open_and_check(path: Path, req: _KeyRequest | None, db_out_path: Path | Callable[[int], Path],
                    checked: list[str], *, sync: bool = False) -> tuple[_Outer, _Unpacked, bytes | None]:
    """Every check: file, container, manifest, members, and the snapshot (unpacked to *db_out_path*, or to
    the path that function returns for the snapshot's size).

    Returns (outer header, unpacked archive, data key or None).
    """
    out = _DbOut(db_out_path, sync)
    snap = _SnapshotCheck(out)
    try:
        size = path.stat().st_size
        fh = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise io_error("read", path, exc) from None
    with fh:
        outer = read_header(fh, size)
        checked.append("file sha256")
        fh.seek(outer.body_offset)
        body = _Bounded(fh, outer.body_len)
        dek = None
        if outer.header["encrypted"]:
            from mirror_cli import crypto

            if not crypto.is_container(fh.read(8)):
                raise _invalid("it says it is encrypted but holds no encrypted container")
            fh.seek(outer.body_offset)
            ch = crypto.read_container_header(_Bounded(fh, outer.body_len))
            if ch.purpose != "backup":
                raise _invalid("its encrypted container does not hold a backup")
            checked.append("container header")
            if req is None:
                raise NoKeyError("no key was offered.")
            dek = backup_key(ch, req)
            fh.seek(outer.body_offset)
            pipe = _PipeDecrypt(_Bounded(fh, outer.body_len), dek)
            try:
                try:
                    unpacked = _unpack_archive(pipe.reader, None, out, checked, snap.start)
                    pipe.reader.read()  # drain: the decrypting thread must see the end
                except BaseException:
                    # Only authenticated plaintext reaches the archive reader, so when a chunk fails
                    # (flipped, reordered, dropped) the reader just sees the archive end early.
                    # The decryption's own error names the cause: report that (damaged, exit 3).
                    with contextlib.suppress(BaseException):
                        pipe.finish()
                    if isinstance(pipe.error, MirrorError):
                        raise pipe.error from None
                    raise
                pipe.finish()
                checked.append("decryption")
            finally:
                out.close()
        else:
            try:
                unpacked = _unpack_archive(body, outer.body_len, out, checked, snap.start)
            finally:
                out.close()
        if unpacked.manifest["db_id"] != outer.header.get("db_id", unpacked.manifest["db_id"]):
            raise _damaged("the clear header and the manifest name different databases")
        if unpacked.manifest.get("fields") == FIELDS_OPENED and not outer.header["encrypted"]:
            raise _invalid("it holds opened fields outside an encrypted container")
        if unpacked.manifest.get("created_at") != outer.header["created_at"]:
            raise _damaged("the clear header and the manifest give different creation times")
        snap.result(unpacked, checked)
        return outer, unpacked, dek


# ---------------------------------------------------------------------------
# verify
# ---------------------------------------------------------------------------


def verify(path: Path, req: _KeyRequest | None = None, *, local: Path | None = None) -> VerifyReport:
    """Check a backup as far as possible; never raises for damage (the report says), nor for want of a key.

    A wrong passphrase raises LockedError (exit 4). The snapshot is unpacked into a private working
    folder (:func:`private_work`): RAM when it has room, else *local* (default: the configured
    database's folder); never the system temp dir.
    """
    path = Path(path).absolute()
    report = VerifyReport(ok=False, problem=None, path=str(path))
    checked = report.checked
    work = contextlib.ExitStack()

    def place(size: int) -> Path:
        return work.enter_context(private_work(size, local or _default_local())) / DB_MEMBER

    with work:
        try:
            outer, unpacked, _dek = _open_and_check(path, req, place, checked)
            report.encrypted = outer.header["encrypted"]
            report.created_at = outer.header["created_at"]
            report.counts = dict(unpacked.manifest["counts"])
            report.ok, report.complete = True, True
        except NoKeyError as exc:
            report.ok, report.encrypted, report.complete = True, True, False
            with contextlib.suppress(Exception), open(path, "rb") as fh:
                report.created_at = read_header(fh, path.stat().st_size).header["created_at"]
            report.not_checked = ("the encrypted content (chunks, manifest, members, snapshot): "
                                  f"{exc.message} {exc.hint or ''}".strip())
        except (VerificationError, InvalidInputError) as exc:
            report.problem = exc.message
            report.exit_code = 3
    return report


# ---------------------------------------------------------------------------
# list
# ---------------------------------------------------------------------------


@dataclass
class BackupListing:
    backups: list[BackupInfo]
    unreadable: list[Unreadable]


@dataclass
class _Found:
    path: Path
    created: datetime
    encrypted: bool
    size: int


def _created_from_header(value: Any) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise _invalid("its header's created_at is not a time") from None
    if at.tzinfo is None:
        raise _invalid("its header's created_at has no time zone")
    return at


def _reason(exc: MirrorError) -> str:
    """read_header's reason, without its final stop and "nothing was changed"."""
    return exc.message.removesuffix(".").removesuffix("; nothing was changed")


def _scan(folder: Path) -> tuple[list[_Found], list[Unreadable]]:
    """The files in *folder* named like mirror's backups, each checked cheaply (no full hash).

    A file counts as a backup when its clear header reads (magic, JSON, format and
    version, ``created_at``) and its trailer's body length matches its size; its time
    is the header's ``created_at``, not its name's. The rest are returned as unreadable.
    """
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        raise io_error("read", folder, exc) from None
    found: list[_Found] = []
    bad: list[Unreadable] = []
    for entry in entries:
        if NAME_RE.match(entry.name) is None or not entry.is_file(follow_symlinks=False):
            continue
        p = Path(entry.path)
        size = 0
        try:
            with open(p, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                outer = read_header(fh, size, checksum=False)
            found.append(_Found(p, _created_from_header(outer.header["created_at"]), outer.header["encrypted"],
                                size))
        except FileNotFoundError:  # removed meanwhile
            continue
        except MirrorError as exc:
            bad.append(Unreadable(str(p), size, _reason(exc)))
        except (OSError, struct.error) as exc:
            bad.append(Unreadable(str(p), size, f"it cannot be read ({getattr(exc, 'strerror', None) or exc})"))
    found.sort(key=lambda f: (f.created, str(f.path)))
    bad.sort(key=lambda u: u.path)
    return found, bad


def _listing_sums(path: Path) -> tuple[str, str | None]:
    """One read of *path*: the SHA-256 of the whole file (what ``list`` shows), and the problem
    when the trailer's SHA-256 (of every byte before it) does not match, else None.

    Both come from one hash: its state after all but the last 32 bytes is the trailer's digest.
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        left = max(os.fstat(fh.fileno()).st_size - DIGEST, 0)
        while left > 0 and (chunk := fh.read(min(BLOCK * 4, left))):
            h.update(chunk)
            left -= len(chunk)
        expected = h.copy().digest()
        tail = b""
        while chunk := fh.read(BLOCK):
            tail += chunk[:DIGEST + 1 - len(tail)]
            h.update(chunk)
    if left or len(tail) != DIGEST or not hmac.compare_digest(expected, tail):
        return h.hexdigest(), _reason(_damaged("its checksum does not match (a byte was changed, or the file "
                                               "was cut short)"))
    return h.hexdigest(), None


def scan_backups(folder: Path) -> BackupListing:
    """mirror's backups in *folder*, oldest first (by their header's time), and the files named
    like backups that are not readable ones."""
    folder = Path(folder).absolute()
    found, bad = _scan(folder)
    backups = []
    for f in found:
        try:
            digest, problem = _listing_sums(f.path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            bad.append(Unreadable(str(f.path), f.size, f"it cannot be read ({exc.strerror or exc})"))
            continue
        if problem is not None:
            bad.append(Unreadable(str(f.path), f.size, problem))
            continue
        backups.append(BackupInfo(str(f.path), f.size, digest, f.encrypted, _iso_ms(f.created)))
    bad.sort(key=lambda u: u.path)
    return BackupListing(backups, bad)


def list_backups(folder: Path) -> list[BackupInfo]:
    """mirror's own backups in *folder*, oldest first (files that do not read as backups left out)."""
    return scan_backups(folder).backups


# ---------------------------------------------------------------------------
# restore
# ---------------------------------------------------------------------------


def _rebuild_fts(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'reflections_fts'").fetchone():
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO reflections_fts (reflections_fts) VALUES ('delete-all')")
            conn.execute("INSERT INTO reflections_fts (rowid, content, response, tags)"
                         " SELECT rowid, content, response, tags FROM reflections WHERE typeof(content) = 'text'")
            conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _set_aside(db: Path, stamp: str) -> Path | None:
    """Keep the database about to be replaced as ``<db>.before-restore-<stamp>`` (with its WAL)."""
    if not db.exists():
        return None
    before = db.with_name(f"{db.name}.before-restore-{stamp}")
    n = 1
    while before.exists() or Path(f"{before}-wal").exists():
        n += 1
        before = db.with_name(f"{db.name}.before-restore-{stamp}-{n}")
    with contextlib.suppress(sqlite3.Error):
        c = sqlite3.connect(db, timeout=10)
        try:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            c.close()
    try:
        try:
            os.link(db, before)
        except FileExistsError:
            raise
        except OSError:
            shutil.copy2(db, before)
        wal = Path(f"{db}-wal")
        if wal.exists():
            if wal.stat().st_size:
                os.replace(wal, f"{before}-wal")  # uncheckpointed changes stay with the old copy
            else:
                wal.unlink()
        with contextlib.suppress(FileNotFoundError):
            Path(f"{db}-shm").unlink()
    except OSError as exc:
        raise io_error("set aside", db, exc) from None
    return before


def _snapshot_key(snap: Path, db_id: str, req: _KeyRequest) -> bytes:
    """The data key of an encrypted database inside a plain (``--no-encrypt``) backup, from its own key record.

    Restoring it needs the key to record the restore in its audit chain, so
    it is asked for before the swap: without it nothing changes (exit 4).
    """
    from types import SimpleNamespace

    from mirror_cli import crypto

    conn = sqlite3.connect(f"file:{snap}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'crypto'").fetchone()
    finally:
        conn.close()
    if row is None:
        raise _damaged("the manifest says the database is encrypted but the snapshot holds no key record")
    try:
        meta = crypto.CryptoMeta.from_dict(json.loads(row[0]))
    except ValueError:
        raise _damaged("the snapshot's key record is not JSON") from None
    record = SimpleNamespace(key_id=meta.key_id, kdf=meta.kdf, wrapped_key=meta.wrapped_key, db_id=db_id)
    try:
        return backup_key(record, req)
    except NoKeyError:
        raise LockedError("the database in this backup is encrypted (the backup was made with --no-encrypt), "
                          "and restoring it needs its passphrase; nothing was changed.",
                          "Set MIRROR_PASSPHRASE_FILE (a file whose first line is the passphrase) or "
                          "MIRROR_PASSPHRASE, or run the command in a terminal to be asked.") from None


def restore(path: Path, db: Path, req: _KeyRequest, *, now: datetime | None = None) -> RestoreResult:
    """Verify *path* fully while unpacking it next to *db*, then swap it in (the old one kept beside)."""
    from mirror_cli.db import migrations

    # A database reached through a symlink (kept in a synced folder) is restored where it really is:
    # the link stays a link, and the replaced file is kept beside the real one.
    path, db = Path(path).absolute(), Path(os.path.realpath(db))
    ensure_private_dir(db.parent)
    at = now or datetime.now(timezone.utc)
    checked: list[str] = []
    # Unpacked (an encrypted backup's fields opened until resealed) into a private working folder beside
    # the database, which a killed restore's next run removes; the same file system, for os.replace.
    with private_work(0, db.parent, ram=False) as work:
        tmp = work / db.name
        try:
            outer, unpacked, dek = _open_and_check(path, req, tmp, checked, sync=True)
        except NoKeyError as exc:
            raise LockedError(exc.message, exc.hint) from None
        if dek is None and unpacked.manifest.get("db_encrypted"):
            dek = _snapshot_key(tmp, unpacked.manifest["db_id"], req)  # before anything is swapped
        if unpacked.manifest.get("fields") == FIELDS_OPENED:
            assert dek is not None  # an opened snapshot only comes inside an encrypted container
            _reseal_fields(tmp, dek)
        latest = migrations.latest_shipped()
        if unpacked.manifest.get("schema_version", 0) > latest:
            raise OperationError(f"this backup has schema version {unpacked.manifest['schema_version']}, newer "
                                 f"than this mirror knows ({latest}).", "Upgrade mirror to restore it.")
        _rebuild_fts(tmp)
        stamp = at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        before = _set_aside(db, stamp)
        os.replace(tmp, db)
        from mirror_cli.localfs import _fsync_dir

        _fsync_dir(db.parent)
    result = RestoreResult(str(db), str(path), str(before) if before else None, bool(outer.header["encrypted"]),
                           dict(unpacked.manifest["counts"]), outer.header["created_at"])
    _after_restore(db, dek, req, result)
    return result


def _after_restore(db: Path, dek: bytes | None, req: _KeyRequest, result: RestoreResult) -> None:
    """Record the restore in the restored database; cache the key when a keyring is there."""
    from mirror_cli import crypto
    from mirror_cli.crypto import passphrase as keys
    from mirror_cli.db.open import install_key
    from mirror_cli.db.store import Store

    with Store.open(db, create=False) as store:
        if store.encrypted:
            if dek is None:  # a plaintext backup of an encrypted database cannot happen; be safe
                raise LockedError("the restored database is encrypted and no key is loaded.",
                                  "Run `mirror key unlock`.")
            install_key(store, dek)
        kek = req.kek
        with store.write():
            if store.encrypted and req.local_kek is not None and _same_data_key(store, req):
                # The backup was opened with the passphrase of the database it replaces (changed since
                # the backup): the restored journal keeps that database's key record, which wraps the
                # same data key, so the passphrase in use (cron's file, the keyring) goes on working.
                store.set_meta("crypto", json.dumps(dict(req.local_meta or {}), sort_keys=True, separators=(",", ":")))
                kek = req.local_kek
            elif store.encrypted and req.local_db_id == store.db_id and req.local_meta \
                    and json.loads(store.meta("crypto") or "null") != req.local_meta:
                result.warnings.append("the restored journal opens with the passphrase that was current when the "
                                       "backup was made (the one given), not with the database's later one; "
                                       "`mirror key change` sets a new one.")
            store.append_event(EVENT_RESTORED, {"file": Path(result.backup).name, "created_at": result.created_at,
                                                "counts": result.counts, "before": Path(result.before).name
                                                if result.before else None})
        if store.encrypted and kek is not None:
            meta = crypto.CryptoMeta.from_dict(json.loads(store.meta("crypto")))
            try:
                crypto.unwrap_data_key(kek, meta.wrapped_key, store.db_id)
            except LockedError:
                return
            cache = req.cache if req.cache is not None else keys.KeyCache()
            try:
                result.key_cached = cache.store(store.db_id, kek)
            except keys.KeyringFailure as exc:
                result.warnings.append(str(exc))


def _same_data_key(store: Any, req: _KeyRequest) -> bool:
    """Whether the replaced database's key record, opened by ``req.local_kek``, wraps the restored
    journal's data key (so that it can stand in for the record the backup carried)."""
    from mirror_cli import crypto

    if req.local_db_id != store.db_id or not req.local_meta or req.local_kek is None:
        return False
    try:
        local = crypto.CryptoMeta.from_dict(dict(req.local_meta))
        dek = crypto.unwrap_data_key(req.local_kek, local.wrapped_key, store.db_id)
    except Exception:  # noqa: BLE001 - a record that does not open is simply not used
        return False
    return hmac.compare_digest(dek, store.data_key) if store.data_key is not None else False


# ---------------------------------------------------------------------------
# prune (restic's --keep-* rules)
# ---------------------------------------------------------------------------


def _bucket(kind: str, t: datetime, index: int) -> Any:
    if kind == "last":
        return index
    if kind == "daily":
        return (t.year, t.month, t.day)
    if kind == "weekly":
        y, w, _ = t.isocalendar()
        return (y, w)
    return (t.year, t.month)


def select_prune(snapshots: Sequence[tuple[Any, datetime]], *, last: int = 0, daily: int = 0, weekly: int = 0,
                 monthly: int = 0) -> tuple[list[Any], list[Any]]:
    """restic's policy (``restic forget``, 0.16 and later): (kept, removed) keys, newest first.

    Walk the snapshots newest first; each rule with budget left keeps a
    snapshot whose bucket (itself, its day, ISO week, month) differs from the
    last bucket that rule kept, and spends one. A rule that still has budget
    at the oldest snapshot keeps it too (restic keeps the oldest "to maximize
    the history length kept"; restic 0.14 and earlier did not). A snapshot kept
    by any rule is kept. Times are taken as given (pass local times).
    """
    rules = {"last": last, "daily": daily, "weekly": weekly, "monthly": monthly}
    if any(n < 0 for n in rules.values()):
        raise UsageError("--keep-* values must be 0 or more.")
    ordered = sorted(snapshots, key=lambda s: s[1], reverse=True)
    budget = dict(rules)
    seen: dict[str, Any] = {k: object() for k in rules}
    kept, removed = [], []
    for i, (key, t) in enumerate(ordered):
        keep = False
        for kind in rules:
            if budget[kind] <= 0:
                continue
            b = _bucket(kind, t, i)
            if b != seen[kind] or i == len(ordered) - 1:
                seen[kind] = b
                budget[kind] -= 1
                keep = True
        (kept if keep else removed).append(key)
    return kept, removed


def _first_failing(found: Sequence[_Found], kept: Sequence[str],
                   checked: set[str]) -> tuple[_Found, Unreadable | None] | None:
    """The first of *kept* (newest first) not yet in *checked* whose whole-file SHA-256 fails
    (with why; None when it was removed meanwhile), else None. Each file is hashed once.

    A backup may be the reason others are removed only once this check has passed (the cheap
    look of :func:`_scan` misses a changed byte inside).
    """
    by_path = {str(f.path): f for f in found}
    for p in kept:
        if p in checked:
            continue
        checked.add(p)
        f = by_path[p]
        try:
            with open(f.path, "rb") as fh:
                read_header(fh, os.fstat(fh.fileno()).st_size, checksum=True)
        except FileNotFoundError:
            return f, None
        except MirrorError as exc:
            return f, Unreadable(p, f.size, _reason(exc))
        except (OSError, struct.error) as exc:
            return f, Unreadable(p, f.size, f"it cannot be read ({getattr(exc, 'strerror', None) or exc})")
    return None


def prune(folder: Path, *, last: int = 0, daily: int = 0, weekly: int = 0, monthly: int = 0,
          dry_run: bool = False, lock_timeout: float = 60.0) -> PruneResult:
    """Remove mirror's backups in *folder* that no --keep-* rule keeps (none when *dry_run*)."""
    if not any((last, daily, weekly, monthly)):
        raise UsageError("give at least one --keep-* rule (e.g. --keep-daily 7); pruning without one "
                         "would remove every backup.")
    folder = Path(folder).absolute()
    if not folder.is_dir():
        return PruneResult([], [], dry_run)
    with folder_lock(folder, lock_timeout):
        found, unreadable = _scan(folder)  # unreadable files count for no rule and are never removed
        checked: set[str] = set()
        while True:  # select, then check the kept ones in full; a failure is set aside and we select again
            infos = [(str(f.path), f.created.astimezone()) for f in found]  # local time, like restic
            kept, removed = select_prune(infos, last=last, daily=daily, weekly=weekly, monthly=monthly)
            failed = _first_failing(found, kept, checked)
            if failed is None:
                break
            found = [f for f in found if f is not failed[0]]
            if failed[1] is not None:
                unreadable.append(failed[1])
        unreadable.sort(key=lambda u: u.path)
        if not dry_run:
            for p in removed:
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise io_error("remove", p, exc) from None
    order = {p: i for i, (p, _t) in enumerate(infos)}  # oldest first, as _scan sorted them
    return PruneResult(sorted(kept, key=order.__getitem__), sorted(removed, key=order.__getitem__), dry_run,
                       unreadable)

"""`backup verify` and `backup restore`: every check of ``docs/formats/backup.md``, then the swap.

* **verify** checks the whole-file SHA-256 (no key needed), the container's header, and with a
  key: every chunk, the manifest, each member's size and SHA-256, ``PRAGMA integrity_check`` on
  the snapshot, and that the snapshot, the manifest and the export agree on the counts.
* **restore** does all of that while unpacking the snapshot next to the database, seals opened
  fields back (checking every tag), rebuilds the full-text index (plaintext rows only), keeps
  the replaced database as ``<db>.before-restore-<UTC time>`` and writes the snapshot into the live
  database under its write lock (``backup.swap``: other mirror processes may be using it).

An encrypted backup's container is first decrypted (every chunk authenticated) into the private
working folder, then read like a plain one; the unpacked snapshot goes there too.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, BinaryIO

from mirror_cli import crypto
from mirror_cli.backup.format import (COUNT_KINDS, DB_MEMBER, EVENT_RESTORED, FIELDS_OPENED, PLAIN_IS_UNAUTHENTICATED,
                                      Bounded, NoKeyError, Outer, Unpacked, counts_of, damaged, invalid, read_header,
                                      unpack_archive)
from mirror_cli.backup.keys import KeyRequest, backup_key
from mirror_cli.backup.opened import reseal_fields
from mirror_cli.backup.swap import replace_database
from mirror_cli.backup.workspace import private_work
from mirror_cli.crypto import passphrase as keys
from mirror_cli.db import migrations
from mirror_cli.crypto.unlocked import UnlockedKey
from mirror_cli.db.store import Store
from mirror_cli.errors import InvalidInputError, LockedError, OperationError, VerificationError
from mirror_cli.localfs import FILE_MODE, ensure_private_dir, fsync_file, io_error
from mirror_cli.settings import resolve


@dataclass
class VerifyReport:
    ok: bool
    problem: str | None
    path: str
    encrypted: bool | None = None
    complete: bool = False  # False: something could not be checked (no key)
    authenticated: bool = False  # True only for an encrypted backup whose every chunk was checked with its key
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


# ---------------------------------------------------------------------------
# reading and checking
# ---------------------------------------------------------------------------


class _DbOut:
    """The file the snapshot member is unpacked to, opened by :meth:`begin` once the manifest gives
    the member's size (*place* returns its path for that size)."""

    def __init__(self, place: Callable[[int], Path], sync: bool = False) -> None:
        self.place, self.sync = place, sync
        self.path: Path | None = None
        self.fh: BinaryIO | None = None

    def begin(self, size: int) -> None:
        self.path = self.place(size)
        try:
            self.fh = os.fdopen(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE), "wb")
        except OSError as exc:
            raise io_error("write", self.path, exc) from None

    def write(self, data: Any) -> None:
        assert self.fh is not None
        self.fh.write(data)

    def close(self) -> None:
        if self.fh is not None:
            try:
                self.fh.flush()
                if self.sync:
                    os.fsync(self.fh.fileno())
            finally:
                self.fh.close()
                self.fh = None


def _check_snapshot(path: Path, unpacked: Unpacked, checked: list[str]) -> None:
    """``PRAGMA integrity_check`` of the unpacked snapshot; its id, encryption and counts against the
    manifest and the export."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            conn.execute("PRAGMA temp_store = MEMORY")  # no spill of the snapshot's rows into /tmp
            result = [r[0] for r in conn.execute("PRAGMA integrity_check(20)")]
            if result != ["ok"]:
                raise damaged(f"the database snapshot fails PRAGMA integrity_check ({'; '.join(result[:3])})")
            counts = counts_of(conn)
            row = conn.execute("SELECT value FROM meta WHERE key = 'db_id'").fetchone()
            db_id = row[0] if row else None
            encrypted = conn.execute("SELECT 1 FROM meta WHERE key = 'crypto'").fetchone() is not None
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise damaged(f"the database snapshot cannot be opened ({exc})") from None
    checked.append("integrity_check")
    m = unpacked.manifest
    if db_id != m["db_id"]:
        raise damaged("the snapshot's database id does not match the manifest")
    if encrypted != bool(m.get("db_encrypted")):
        raise damaged("the manifest and the snapshot disagree on whether the database is encrypted")
    want = {k: m["counts"][k] for k in COUNT_KINDS}
    if counts != want:
        raise damaged(f"the snapshot holds {counts} but the manifest says {want}")
    exp = {k: unpacked.export_counts.get(k) for k in COUNT_KINDS}
    if exp != want:
        raise damaged(f"the export's counts {exp} do not match the snapshot's {want}")
    if unpacked.export_records != sum(want.values()):
        raise damaged(f"the export holds {unpacked.export_records} records, not the {sum(want.values())} "
                      "its header counts")
    checked.append("counts")


def _decrypt_body(fh: BinaryIO, outer: Outer, req: KeyRequest | None, work: Callable[[int], Path],
                  checked: list[str]) -> tuple[Path, bytes]:
    """Decrypt an encrypted backup's container (every chunk authenticated) into the working folder:
    (the archive's path, the data key)."""
    if not crypto.is_container(fh.read(8)):
        raise invalid("it says it is encrypted but holds no encrypted container")
    fh.seek(outer.body_offset)
    ch = crypto.read_container_header(Bounded(fh, outer.body_len))
    if ch.purpose != "backup":
        raise invalid("its encrypted container does not hold a backup")
    checked.append("container header")
    if req is None:
        raise NoKeyError("no key was offered.")
    dek = backup_key(ch, req)
    archive = work(4 * outer.body_len) / "archive"
    fh.seek(outer.body_offset)
    try:
        with open(os.open(archive, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE), "wb") as out:
            crypto.decrypt_stream(Bounded(fh, outer.body_len), out, dek=dek, expected_purpose="backup")
    except OSError as exc:
        raise io_error("write", archive, exc) from None
    checked.append("decryption")
    return archive, dek


def _open_and_check(path: Path, req: KeyRequest | None, work: Callable[[int], Path], db_name: str,
                    checked: list[str], *, sync: bool = False) -> tuple[Outer, Unpacked, bytes | None, Path]:
    """Every check: file, container, manifest, members, and the snapshot, unpacked to *db_name* in the
    folder ``work(expected bytes)`` gives. Returns (outer header, unpacked archive, data key or None,
    the unpacked snapshot's path)."""
    out = _DbOut(lambda size: work(size) / db_name, sync)
    try:
        size = path.stat().st_size
        fh = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise io_error("read", path, exc) from None
    with fh:
        outer = read_header(fh, size)
        checked.append("file sha256")
        fh.seek(outer.body_offset)
        dek = None
        try:
            if outer.header["encrypted"]:
                archive, dek = _decrypt_body(fh, outer, req, work, checked)
                with open(archive, "rb") as src:
                    unpacked = unpack_archive(src, None, out, checked, out.begin)
                archive.unlink()
            else:
                unpacked = unpack_archive(Bounded(fh, outer.body_len), outer.body_len, out, checked, out.begin)
        finally:
            out.close()
    if unpacked.manifest["db_id"] != outer.header.get("db_id", unpacked.manifest["db_id"]):
        raise damaged("the clear header and the manifest name different databases")
    if unpacked.manifest.get("fields") == FIELDS_OPENED and not outer.header["encrypted"]:
        raise invalid("it holds opened fields outside an encrypted container")
    if unpacked.manifest.get("created_at") != outer.header["created_at"]:
        raise damaged("the clear header and the manifest give different creation times")
    assert out.path is not None
    _check_snapshot(out.path, unpacked, checked)
    return outer, unpacked, dek, out.path


# ---------------------------------------------------------------------------
# verify
# ---------------------------------------------------------------------------


def verify(path: Path, req: KeyRequest | None = None, *, local: Path | None = None,
           shown: str | None = None) -> VerifyReport:
    """Check a backup as far as possible; never raises for damage (the report says), nor for want of a key.

    *shown* names the backup in the report when *path* is a local copy of it (a remote's object, by its URL).

    A wrong passphrase raises LockedError (exit 4). The snapshot is unpacked into a private working
    folder (``workspace.private_work``): RAM when it has room, else *local* (default: the configured
    database's folder); never the system temp dir.
    """
    path = Path(path).absolute()
    report = VerifyReport(ok=False, problem=None, path=shown or str(path))
    checked = report.checked
    stack = contextlib.ExitStack()
    folder: list[Path] = []

    def work(expected: int) -> Path:
        if not folder:
            folder.append(stack.enter_context(private_work(expected, local or resolve().db_path.parent)))
        return folder[0]

    with stack:
        try:
            outer, unpacked, _dek, _snap = _open_and_check(path, req, work, DB_MEMBER, checked)
            report.encrypted = outer.header["encrypted"]
            report.created_at = outer.header["created_at"]
            report.counts = dict(unpacked.manifest["counts"])
            report.ok, report.complete = True, True
            report.authenticated = bool(report.encrypted)
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
    fsync_file(path)


def _snapshot_key(snap: Path, db_id: str, req: KeyRequest) -> bytes:
    """The data key of an encrypted database inside a plain (``--no-encrypt``) backup, from its own key record.

    Restoring it needs the key to record the restore in its audit chain, so
    it is asked for before the swap: without it nothing changes (exit 4).
    """
    conn = sqlite3.connect(f"file:{snap}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'crypto'").fetchone()
    finally:
        conn.close()
    if row is None:
        raise damaged("the manifest says the database is encrypted but the snapshot holds no key record")
    try:
        meta = crypto.CryptoMeta.from_dict(json.loads(row[0]))
    except ValueError:
        raise damaged("the snapshot's key record is not JSON") from None
    record = SimpleNamespace(key_id=meta.key_id, kdf=meta.kdf, wrapped_key=meta.wrapped_key, db_id=db_id)
    try:
        return backup_key(record, req)
    except NoKeyError:
        raise LockedError("the database in this backup is encrypted (the backup was made with --no-encrypt), "
                          "and restoring it needs its passphrase; nothing was changed.",
                          "Set MIRROR_PASSPHRASE_FILE (a file whose first line is the passphrase) or "
                          "MIRROR_PASSPHRASE, or run the command in a terminal to be asked.") from None


def journal_is_encrypted(db: Path) -> bool:
    """Whether the database at *db* is an encrypted journal: a key record, or any sealed value (a keyless
    writer may have removed the record). False when there is none, or it cannot be read."""
    if not db.is_file():
        return False
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            if conn.execute("SELECT 1 FROM meta WHERE key = 'crypto'").fetchone():
                return True
            return conn.execute("SELECT 1 FROM reflections WHERE typeof(content) = 'blob' LIMIT 1").fetchone() \
                is not None
        finally:
            conn.close()
    except sqlite3.Error:
        return False


def restore(path: Path, db: Path, req: KeyRequest, *, allow_plain: bool = False,
            now: datetime | None = None, shown: str | None = None,
            ask: Callable[[dict[str, int], str], None] | None = None) -> RestoreResult:
    """Verify *path* fully while unpacking it next to *db*, then swap it in (the old one kept beside).
    *shown* names the backup in messages and the result when *path* is a local copy (a remote's object).
    *ask*, when given, is called with the verified backup's counts and creation time just before the swap;
    it raises to stop the restore (nothing is changed then).

    A plain backup (checksummed, not authenticated) is refused over an encrypted journal unless
    *allow_plain* (VerificationError, exit 3), before anything changes.
    """
    # A database reached through a symlink (kept in a synced folder) is restored where it really is:
    # the link stays a link, and the replaced file is kept beside the real one.
    path, db = Path(path).absolute(), Path(os.path.realpath(db))
    ensure_private_dir(db.parent)
    at = now or datetime.now(timezone.utc)
    checked: list[str] = []
    # Unpacked (an encrypted backup's fields opened until resealed) into a private working folder beside
    # the database, which a killed restore's next run removes; the same file system, for a rename when
    # the database is new (or too damaged for SQLite to write into).
    with private_work(0, db.parent, ram=False) as work:
        try:
            outer, unpacked, dek, tmp = _open_and_check(path, req, lambda _size: work, db.name, checked, sync=True)
        except NoKeyError as exc:
            raise LockedError(exc.message, exc.hint) from None
        if not outer.header["encrypted"] and not allow_plain and journal_is_encrypted(db):
            raise VerificationError(f"{shown or path} is a plain backup and {db} is encrypted: {PLAIN_IS_UNAUTHENTICATED}, "
                                    "so it is not restored over an encrypted journal; nothing was changed.",
                                    "If you made this backup yourself (e.g. with --no-encrypt), add --allow-plain.")
        if dek is None and unpacked.manifest.get("db_encrypted"):
            dek = _snapshot_key(tmp, unpacked.manifest["db_id"], req)  # before anything is swapped
        if unpacked.manifest.get("fields") == FIELDS_OPENED:
            assert dek is not None  # an opened snapshot only comes inside an encrypted container
            reseal_fields(tmp, dek)
        latest = migrations.latest_shipped()
        if unpacked.manifest.get("schema_version", 0) > latest:
            raise OperationError(f"this backup has schema version {unpacked.manifest['schema_version']}, newer "
                                 f"than this mirror knows ({latest}).", "Upgrade mirror to restore it.")
        if ask is not None:
            ask(dict(unpacked.manifest["counts"]), outer.header["created_at"])
        _rebuild_fts(tmp)
        was_encrypted = journal_is_encrypted(db)
        before = replace_database(tmp, db, at)
    result = RestoreResult(str(db), shown or str(path), str(before) if before else None, bool(outer.header["encrypted"]),
                           dict(unpacked.manifest["counts"]), outer.header["created_at"])
    if was_encrypted and not unpacked.manifest.get("db_encrypted"):
        result.warnings.append("the restored journal is not encrypted (the backup held a plain one); "
                               "`mirror key enable` encrypts it again.")
    _after_restore(db, dek, req, result)
    return result


def _after_restore(db: Path, dek: bytes | None, req: KeyRequest, result: RestoreResult) -> None:
    """Record the restore in the restored database; cache the key when a keyring is there."""
    with Store.open(db, create=False) as store:
        if store.encrypted:
            if dek is None:  # a plaintext backup of an encrypted database cannot happen; be safe
                raise LockedError("the restored database is encrypted and no key is loaded.",
                                  "Run `mirror key unlock`.")
            store.key = UnlockedKey.from_dek(dek)
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
            # Two copies of one journal must never sync as one device: the restored one gets a new
            # device id at its next sync (sync treats the old id as a peer whose later changes it pulls).
            store.set_meta("device_id", None)
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


def _same_data_key(store: Store, req: KeyRequest) -> bool:
    """Whether the replaced database's key record, opened by ``req.local_kek``, wraps the restored
    journal's data key (so that it can stand in for the record the backup carried)."""
    if req.local_db_id != store.db_id or not req.local_meta or req.local_kek is None:
        return False
    try:
        local = crypto.CryptoMeta.from_dict(dict(req.local_meta))
        dek = crypto.unwrap_data_key(req.local_kek, local.wrapped_key, store.db_id)
    except Exception:  # noqa: BLE001 - a record that does not open is simply not used
        return False
    return hmac.compare_digest(dek, store.key.dek) if store.key is not None else False

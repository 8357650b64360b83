"""`backup create`: snapshot the live database into one backup file, step by step, in one process.

1. Under the backups folder's lock, in a private working folder (``workspace.private_work``),
   copy the live database with SQLite's online backup API (one step, so one consistent snapshot
   while other processes write) and empty the rebuildable full-text index in the copy.
2. Write the JSON export of that snapshot with ``exchange.export`` (the same document, and the
   same errors, as ``mirror export``).
3. When the backup will be encrypted, open the snapshot's sealed fields (``backup.opened``).
4. Compress the snapshot and the export into one zstd stream, then write the file (header,
   archive or its encrypted container, trailer) in the working folder and put it into the backups
   folder through its Remote (``remotes``: temp name, fsync, rename) or onto a remote (``s3://``,
   ``postgresql://``: the object ``backups/<name>``, published whole), or write it straight to the
   file path ``-o`` names (``format.write_file``); record ``backup.created`` in the audit log.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mirror_cli import __version__, crypto
from mirror_cli.backup.format import (BLOCK, COMPRESSION, DB_MEMBER, EVENT_CREATED, EXPORT_MEMBER,
                                      FIELDS_OPENED, FIELDS_STORED, FORMAT, MANIFEST_FORMAT, MAX_WINDOW_LOG, MEMBERS,
                                      VERSION, BackupInfo, backup_name, counts_of, iso_ms, write_file, zstd)
from mirror_cli.backup.location import Shelf, parse
from mirror_cli.backup.opened import open_fields
from mirror_cli.backup.workspace import folder_lock, private_work, remove_stale_temps
from mirror_cli.crypto.unlocked import UnlockedKey
from mirror_cli.db.store import Store
from mirror_cli.errors import LockedError, OperationError, UsageError
from mirror_cli.exchange import export as exchange_export
from mirror_cli.localfs import FILE_MODE
from mirror_cli.remotes.url import open_remote

ZSTD_LEVEL = 3
ZSTD_LEVEL_SEALED = 1  # an encrypted database's backup: level 1, 8 MiB window, no long-distance matching
LDM = True

Progress = Callable[[int, "int | None"], None]


@dataclass
class CreateResult(BackupInfo):
    counts: dict[str, int] = field(default_factory=dict)
    db_bytes: int = 0
    export_bytes: int = 0
    warnings: list[str] = field(default_factory=list)  # for the CLI to show; not part of --json

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("warnings")
        return d


def _snapshot(store: Store, path: Path) -> None:
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


def _write_export(snap: Path, dek: bytes | None, out: Path) -> dict[str, int]:
    """The `mirror export` JSON document of the snapshot at *snap* (fields opened with *dek*) to *out*."""
    conn = sqlite3.connect(f"file:{snap}?mode=ro", uri=True, isolation_level=None)
    conn.execute("PRAGMA temp_store = MEMORY")  # a sort never spills the snapshot's rows into /tmp
    store = Store(conn, snap)
    try:
        if dek is not None:
            store.key = UnlockedKey.from_dek(dek)
        with open(out, "w", encoding="utf-8", newline="", buffering=BLOCK) as fh:
            os.fchmod(fh.fileno(), FILE_MODE)
            return exchange_export.write_stream(store, fh, fmt="json")
    finally:
        store.close()


def _window_log(db_bytes: int) -> int:
    return max(20, min(MAX_WINDOW_LOG, (2 * db_bytes + 1).bit_length()))


def _compress(members: dict[str, Path], out: Path, encrypted_db: bool, progress: Progress | None
              ) -> tuple[dict[str, int], dict[str, str]]:
    """The members' bytes, in manifest order, as one zstd frame in *out*: (sizes, SHA-256s)."""
    z = zstd()
    db_size = members[DB_MEMBER].stat().st_size
    if encrypted_db:  # fast settings: the opening already took its time (and the size stays well under
        # restic's copy of the database: benchmarks/README.md)
        params = z.ZstdCompressionParameters.from_level(ZSTD_LEVEL_SEALED, window_log=min(_window_log(db_size), 23))
    else:
        params = z.ZstdCompressionParameters.from_level(ZSTD_LEVEL, enable_ldm=LDM, window_log=_window_log(db_size))
    total = sum(p.stat().st_size for p in members.values())
    sizes, digests = {}, {}
    done = 0
    with open(out, "wb") as zf:
        writer = z.ZstdCompressor(compression_params=params).stream_writer(zf, closefd=False)
        for name in MEMBERS:
            h, size = hashlib.sha256(), 0
            with open(members[name], "rb") as fh:
                while chunk := fh.read(BLOCK):
                    writer.write(chunk)
                    h.update(chunk)
                    size += len(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, max(total, done))
            sizes[name], digests[name] = size, h.hexdigest()
        writer.flush(z.FLUSH_FRAME)
        writer.close()
    return sizes, digests


def create(store: Store, output: Path | str, *, encrypt: bool | None = None, mkdir: bool = True,
           lock_timeout: float = 60.0, progress: Progress | None = None, now: datetime | None = None,
           options: Mapping[str, object] | None = None) -> CreateResult:
    """Snapshot *store* into one backup file; *output* is a folder (file name chosen), a file path, or a
    remote URL (``s3://``, ``postgresql://``; *options* are its settings, as ``open_remote`` takes them).

    *store* must be unlocked when the database is encrypted. *encrypt* defaults to whether the
    database is; a plaintext database cannot make an encrypted backup (there is no key). A
    destination folder that does not exist is created only when *mkdir* (an unmounted disk's
    mount point must not fill the local disk): otherwise OperationError naming it, before any work.
    The CLI always passes *mkdir* (CONTRACT.md: only with `--mkdir`, or for the default backups folder).
    """
    encrypted_db = store.encrypted
    if encrypt is None:
        encrypt = encrypted_db
    if encrypt and not encrypted_db:
        raise UsageError("this database is not encrypted, so there is no key to encrypt the backup with.",
                         "Run `mirror key enable` first, or leave out --encrypt.")
    if encrypted_db and store.key is None:
        raise LockedError("this database is encrypted and no key is loaded.",
                          "Set MIRROR_PASSPHRASE_FILE or run `mirror key unlock`.")
    dek = store.key.dek if encrypted_db else None
    at = now or datetime.now(timezone.utc)
    where = parse(output)
    if isinstance(where, str):  # opened before any work: a bad URL, a missing extra, a refused password
        with contextlib.closing(open_remote(where, options=options)) as remote:
            return _create(store, Shelf(remote), backup_name(at), encrypt=encrypt, dek=dek, at=at, progress=progress)
    output = where
    to_folder = output.is_dir() or not output.suffix
    if to_folder:
        folder, target = output, output / backup_name(at)
    else:
        folder, target = output.parent, output
    if not mkdir and not os.path.lexists(folder):
        raise OperationError(f"the backup folder {folder} does not exist; nothing was written.",
                             "Mount the disk it is on, or add --mkdir to create it.")
    with folder_lock(folder, lock_timeout):
        remove_stale_temps(folder)
        if not to_folder:
            return _create(store, None, target.name, target=target, encrypt=encrypt, dek=dek, at=at,
                           progress=progress)
        with contextlib.closing(open_remote(str(folder), mkdir=True)) as remote:
            return _create(store, Shelf(remote), target.name, encrypt=encrypt, dek=dek, at=at, progress=progress)


def _create(store: Store, place: Shelf | None, name: str, *, target: Path | None = None, encrypt: bool,
            dek: bytes | None, at: datetime, progress: Progress | None) -> CreateResult:
    """The backup *name* written to *place* (a folder or a remote), or to the file *target* (-o FILE)."""
    encrypted_db = store.encrypted
    # The snapshot, the export and the stream are plaintext: a private folder in RAM or beside the
    # database, never the backups folder nor a remote (see workspace).
    live = Path(store.path).absolute()
    expected = 3 * sum(p.stat().st_size for p in (live, Path(f"{live}-wal")) if p.exists())
    with private_work(expected, live.parent) as work:
        snap = work / DB_MEMBER
        _snapshot(store, snap)
        with sqlite3.connect(f"file:{snap}?mode=ro", uri=True) as c:
            counts = counts_of(c)
            schema = int(c.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0])
            db_id = c.execute("SELECT value FROM meta WHERE key = 'db_id'").fetchone()[0]
            crypto_meta = c.execute("SELECT value FROM meta WHERE key = 'crypto'").fetchone()
        c.close()
        if encrypted_db:
            snap_key = json.loads(crypto_meta[0]).get("key_id") if crypto_meta else None
            if crypto_meta is None or (snap_key is not None and snap_key != crypto.key_id(dek)):
                raise OperationError("the database's encryption was changed by another mirror process while "
                                     "this backup ran; nothing was written.", "Run the command again.")
        exported = _write_export(snap, dek, work / EXPORT_MEMBER)
        if exported != counts:
            raise OperationError("the export written for the backup does not match the snapshot's counts.",
                                 "Run `mirror migrate check`, then try again.")
        opened = bool(encrypted_db and encrypt)
        if opened:  # the container will encrypt it all: carry the fields opened (compressible)
            open_fields(snap, dek)
        stream_path = work / "stream.zst"
        sizes, digests = _compress({DB_MEMBER: snap, EXPORT_MEMBER: work / EXPORT_MEMBER}, stream_path,
                                   encrypted_db, progress)
        created_at = iso_ms(at)
        manifest = {
            "format": MANIFEST_FORMAT, "version": VERSION, "created_at": created_at,
            "tool_version": __version__, "schema_version": schema, "db_id": db_id,
            "db_encrypted": encrypted_db, "fts": "excluded", "compression": COMPRESSION,
            "fields": FIELDS_OPENED if opened else FIELDS_STORED,
            "counts": counts,
            "members": [{"name": n, "type": "file", "size": sizes[n], "sha256": digests[n]} for n in MEMBERS],
            "stream_bytes": stream_path.stat().st_size,
        }
        header = {"format": FORMAT, "version": VERSION, "created_at": created_at,
                  "tool_version": __version__, "encrypted": bool(encrypt), "db_id": db_id}
        meta = json.loads(crypto_meta[0]) if (encrypt and crypto_meta) else None
        if place is not None:  # written whole in the working folder, then put into the folder's Remote (temp,
            # fsync, rename) or onto the remote (published only when whole)
            built = work / name
            digest, size = write_file(built, header, manifest, stream_path, dek if encrypt else None, meta)
            place.put_file(name, built)
            shown = place.where(name)
        else:  # -o FILE: that very path (a symlink written through), temp file, fsync, rename
            assert target is not None
            digest, size = write_file(target, header, manifest, stream_path, dek if encrypt else None, meta)
            shown = str(target)
    result = CreateResult(shown, size, digest, bool(encrypt), created_at, counts, sizes[DB_MEMBER],
                          sizes[EXPORT_MEMBER])
    if not store.record_if_writable(EVENT_CREATED, {"file": name, "sha256": digest, "bytes": size,
                                                     "encrypted": bool(encrypt), "counts": counts}):
        result.warnings.append("the backup is not recorded in the audit log: the database is read-only.")
    return result

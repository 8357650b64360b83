"""`backup list` and `backup prune`: the backups in a folder, and restic's ``--keep-*`` rules.

Both look at each file named like a backup cheaply (clear header and the trailer's length) and go
by the header's time. **list** reads every file anyway (for the SHA-256 it shows) and checks the
trailer's checksum in that same read. **prune** applies restic's ``--keep-*`` rules
(:func:`select_prune`) to those that read, then checks the whole-file SHA-256 of the backups it
would keep, and only of those: one that fails counts for no rule and the selection is made again
without it. It never removes a file that does not read.

Each backup names its journal (the database id in its clear header): both look only at the
current journal's backups, so several journals can share one backups folder (two databases, two
machines with one ``backup.dir``) and ``prune`` of one never removes another's.

A location is a folder or a remote URL (``backup.location``): its backups are listed, read and
pruned ones deleted through its :class:`~.location.Shelf` (a folder's files read in place, regular
files only, no link followed; a remote's objects read from whole local copies in a private working
folder, never straight off the network).

A folder is pruned under its lock (``workspace.folder_lock``). A remote has no lock: two prunes at once
each list, select and delete by name from their own listing. Both delete only backups their rules do
not keep (the same rules select the same ones from the same listing; a backup one of them did not
see, made meanwhile, is never deleted, and a listing without a newer backup keeps at least as many of
the older ones), and deleting an object another prune already deleted is no error (``Remote.delete``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from mirror_cli.backup.format import BLOCK, DIGEST, BackupInfo, damaged, invalid, iso_ms, read_header
from mirror_cli.backup.location import Shelf, parse, shelf
from mirror_cli.backup.workspace import folder_lock
from mirror_cli.errors import MirrorError, UsageError
from mirror_cli.remotes.base import NotFound
from mirror_cli.settings import resolve


@dataclass
class Unreadable:
    """A file named like a backup that is not one this mirror can read (not counted, never pruned)."""

    path: str
    bytes: int
    problem: str


@dataclass
class BackupListing:
    backups: list[BackupInfo]
    unreadable: list[Unreadable]
    others: int = 0  # backups of other journals in the folder (left out of ``backups``)


@dataclass
class PruneResult:
    kept: list[str]
    removed: list[str]
    dry_run: bool
    unreadable: list[Unreadable] = field(default_factory=list)  # named like backups, not readable ones: left alone
    others: int = 0  # backups of other journals in the folder: never counted, never removed

    def to_dict(self) -> dict[str, Any]:
        return {"kept": self.kept, "removed": self.removed, "dry_run": self.dry_run,
                "unreadable": [u.path for u in self.unreadable]}


@dataclass
class _Found:
    name: str
    path: str  # as shown: a folder's absolute path, a remote's URL
    created: datetime
    encrypted: bool
    size: int
    db_id: str | None


def _created_from_header(value: Any) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise invalid("its header's created_at is not a time") from None
    if at.tzinfo is None:
        raise invalid("its header's created_at has no time zone")
    return at


def _reason(exc: MirrorError) -> str:
    """read_header's reason, without its final stop and "nothing was changed"."""
    return exc.message.removesuffix(".").removesuffix("; nothing was changed")


def _scan(place: Shelf) -> tuple[list[_Found], list[Unreadable]]:
    """The files in *place* named like mirror's backups, each checked cheaply (no full hash).

    A file counts as a backup when its clear header reads (magic, JSON, format and
    version, ``created_at``) and its trailer's body length matches its size; its time
    is the header's ``created_at``, not its name's. The rest are returned as unreadable.
    Each is read through the shelf (regular files only, no link followed): its first and last bytes.
    """
    found: list[_Found] = []
    bad: list[Unreadable] = []
    for name in sorted(place.listing()):
        p = place.where(name)
        size = 0
        try:
            with place.open(name) as fh:
                size = _size(fh)
                outer = read_header(fh, size, checksum=False)
            db_id = outer.header.get("db_id")
            found.append(_Found(name, p, _created_from_header(outer.header["created_at"]), outer.header["encrypted"],
                                size, db_id if isinstance(db_id, str) else None))
        except NotFound:  # removed (or replaced by a folder) meanwhile
            continue
        except MirrorError as exc:
            bad.append(Unreadable(p, size, _reason(exc)))
        except (OSError, struct.error) as exc:
            bad.append(Unreadable(p, size, f"it cannot be read ({getattr(exc, 'strerror', None) or exc})"))
    found.sort(key=lambda f: (f.created, f.path))
    bad.sort(key=lambda u: u.path)
    return found, bad


def _size(fh: BinaryIO) -> int:
    """The size of the object open as *fh*, which is left at its start."""
    size = fh.seek(0, os.SEEK_END)
    fh.seek(0)
    return size


def _listing_sums(place: Shelf, name: str) -> tuple[str, str | None]:
    """One read of the backup *name*: the SHA-256 of the whole file (what ``list`` shows), and the
    problem when the trailer's SHA-256 (of every byte before it) does not match, else None.

    Both come from one hash: its state after all but the last 32 bytes is the trailer's digest.
    """
    h = hashlib.sha256()
    with place.open(name) as fh:
        left = max(_size(fh) - DIGEST, 0)
        while left > 0 and (chunk := fh.read(min(BLOCK * 4, left))):
            h.update(chunk)
            left -= len(chunk)
        expected = h.copy().digest()
        tail = b""
        while chunk := fh.read(BLOCK):
            tail += chunk[:DIGEST + 1 - len(tail)]
            h.update(chunk)
    if left or len(tail) != DIGEST or not hmac.compare_digest(expected, tail):
        return h.hexdigest(), _reason(damaged("its checksum does not match (a byte was changed, or the file "
                                              "was cut short)"))
    return h.hexdigest(), None


def _split(found: list[_Found], journal: str | None) -> tuple[list[_Found], int]:
    """The backups of the journal whose id is *journal* (every one when None), and how many others."""
    if journal is None:
        return found, 0
    mine = [f for f in found if f.db_id == journal]
    return mine, len(found) - len(mine)


def _place(location: Path | str, local: Path | None, options: Mapping[str, object] | None):
    """The shelf at *location* (a folder, or a remote URL whose local copies go to RAM or *local*), or
    None for a folder that does not exist (nothing in it)."""
    where = parse(location)
    if isinstance(where, Path):
        return shelf(str(where), local=where) if where.is_dir() else None
    return shelf(where, local=local or resolve().db_path.parent, options=options)


def scan_backups(location: Path | str, journal: str | None = None, *, local: Path | None = None,
                 options: Mapping[str, object] | None = None) -> BackupListing:
    """mirror's backups at *location* (a folder, or a remote URL), oldest first (by their header's
    time), and the files named like backups that are not readable ones. With *journal* (a database
    id), only that journal's backups (its id is in each backup's clear header); the others are only
    counted. A remote's backups are read from copies in a private working folder (RAM, else *local*)."""
    opened = _place(location, local, options)
    if opened is None:
        return BackupListing([], [])
    with opened as place:
        found, bad = _scan(place)
        found, others = _split(found, journal)
        backups = []
        for f in found:
            try:
                digest, problem = _listing_sums(place, f.name)
            except NotFound:
                continue
            except OSError as exc:
                bad.append(Unreadable(f.path, f.size, f"it cannot be read ({exc.strerror or exc})"))
                continue
            if problem is not None:
                bad.append(Unreadable(f.path, f.size, problem))
                continue
            backups.append(BackupInfo(f.path, f.size, digest, f.encrypted, iso_ms(f.created)))
    bad.sort(key=lambda u: u.path)
    return BackupListing(backups, bad, others)


def list_backups(location: Path | str, journal: str | None = None, **kwargs: Any) -> list[BackupInfo]:
    """mirror's own backups at *location* (of the journal *journal* when given), oldest first (files that
    do not read as backups left out)."""
    return scan_backups(location, journal, **kwargs).backups


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


def _first_failing(place: Shelf, found: Sequence[_Found], kept: Sequence[str],
                   checked: set[str]) -> tuple[_Found, Unreadable | None] | None:
    """The first of *kept* (newest first) not yet in *checked* whose whole-file SHA-256 fails
    (with why; None when it was removed meanwhile), else None. Each file is hashed once.

    A backup may be the reason others are removed only once this check has passed (the cheap
    look of :func:`_scan` misses a changed byte inside).
    """
    by_path = {f.path: f for f in found}
    for p in kept:
        if p in checked:
            continue
        checked.add(p)
        f = by_path[p]
        try:
            with place.open(f.name) as fh:
                read_header(fh, _size(fh), checksum=True)
        except NotFound:
            return f, None
        except MirrorError as exc:
            return f, Unreadable(p, f.size, _reason(exc))
        except (OSError, struct.error) as exc:
            return f, Unreadable(p, f.size, f"it cannot be read ({getattr(exc, 'strerror', None) or exc})")
    return None


def prune(location: Path | str, *, journal: str | None = None, last: int = 0, daily: int = 0, weekly: int = 0,
          monthly: int = 0, dry_run: bool = False, lock_timeout: float = 60.0, local: Path | None = None,
          options: Mapping[str, object] | None = None) -> PruneResult:
    """Remove the backups of the journal whose id is *journal* at *location* (a folder, or a remote URL)
    that no --keep-* rule keeps (none when *dry_run*). Backups of other journals (a folder several share)
    are never counted nor removed. ``journal=None`` takes every backup there as one journal's: the CLI
    always passes the id. A folder is pruned under its lock; a remote needs none (module docstring)."""
    if not any((last, daily, weekly, monthly)):
        raise UsageError("give at least one --keep-* rule (e.g. --keep-daily 7); pruning without one "
                         "would remove every backup.")
    opened = _place(location, local, options)
    if opened is None:
        return PruneResult([], [], dry_run)
    where = parse(location)
    lock = folder_lock(where, lock_timeout) if isinstance(where, Path) else contextlib.nullcontext()
    with lock, opened as place:
        found, unreadable = _scan(place)  # unreadable files count for no rule and are never removed
        found, others = _split(found, journal)
        checked: set[str] = set()
        while True:  # select, then check the kept ones in full; a failure is set aside and we select again
            infos = [(f.path, f.created.astimezone()) for f in found]  # local time, like restic
            kept, removed = select_prune(infos, last=last, daily=daily, weekly=weekly, monthly=monthly)
            failed = _first_failing(place, found, kept, checked)
            if failed is None:
                break
            found = [f for f in found if f is not failed[0]]
            if failed[1] is not None:
                unreadable.append(failed[1])
        unreadable.sort(key=lambda u: u.path)
        if not dry_run and removed:
            by_path = {f.path: f.name for f in found}
            place.delete([by_path[p] for p in removed])  # one already gone (another prune) is no error
    order = {p: i for i, (p, _t) in enumerate(infos)}  # oldest first, as _scan sorted them
    return PruneResult(sorted(kept, key=order.__getitem__), sorted(removed, key=order.__getitem__), dry_run,
                       unreadable, others)

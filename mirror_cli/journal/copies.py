"""The copies of a journal that mirror itself made, and that still hold its text.

``delete --all`` and ``key enable`` change the database file; these copies keep what was in it:

* this journal's backups in its backups folder (each backup's clear header names its journal's id,
  so another journal's backups in a shared folder are never counted nor touched);
* ``<db>.before-restore-<time>`` (``backup restore``) and ``<db>.before-replace-<time>``
  (``import --mode replace``) beside the database, with their ``-wal``/``-shm`` files.

:func:`find_copies` names them, :func:`remove_copies` deletes them (the backups under the backups
folder's lock, as ``prune`` does). Backups written elsewhere with ``-o`` or to a remote are not known
here. (Remotes configured for sync are the sync package's to name and wipe.)
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mirror_cli.backup.retention import scan_backups
from mirror_cli.backup.workspace import folder_lock
from mirror_cli.localfs import DATABASE_SIDECARS, io_error

ASIDE_LABELS = ("before-restore", "before-replace")  # see localfs.aside_path


@dataclass
class Copies:
    backups_dir: str
    backups: list[str] = field(default_factory=list)  # this journal's backups in the backups folder
    plain_backups: list[str] = field(default_factory=list)  # those of them that are not encrypted
    asides: list[str] = field(default_factory=list)  # <db>.before-restore-* / .before-replace-* (no sidecars)
    unreadable: list[str] = field(default_factory=list)  # named like backups, unreadable: journal unknown

    def __bool__(self) -> bool:
        return bool(self.backups or self.asides)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self, *, plain_only: bool = False) -> str:
        """"2 backups in /x/backups and 1 copy beside the database (/x/mirror.db.before-restore-...)"."""
        backups = self.plain_backups if plain_only else self.backups
        parts = []
        if backups:
            kind = "unencrypted backup" if plain_only else "backup"
            parts.append(f"{_count(len(backups), kind)} in {self.backups_dir}")
        if self.asides:
            parts.append(f"{_count(len(self.asides), 'copy', 'copies')} beside the database ({', '.join(self.asides)})")
        return " and ".join(parts)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _aside_re(db_name: str) -> re.Pattern[str]:
    labels = "|".join(ASIDE_LABELS)
    return re.compile(rf"^{re.escape(db_name)}\.(?:{labels})-\d{{8}}T\d{{6}}Z(?:-\d+)?$")


def _db_file(db_path: Path | str) -> Path:
    """The database's real file: restore keeps its copies beside it, not beside a symlink to it."""
    return Path(os.path.realpath(db_path))


def aside_copies(db_path: Path | str) -> list[Path]:
    """The ``before-restore``/``before-replace`` copies beside the database (regular files only), oldest name first."""
    db = _db_file(db_path)
    pattern = _aside_re(db.name)
    try:
        entries = list(os.scandir(db.parent))
    except OSError:
        return []
    found = []
    for entry in entries:
        if pattern.match(entry.name):
            with contextlib.suppress(OSError):
                if stat.S_ISREG(entry.stat(follow_symlinks=False).st_mode):
                    found.append(db.parent / entry.name)
    return sorted(found)


def find_copies(db_path: Path | str, backups_dir: Path | str, db_id: str) -> Copies:
    """The copies of the journal whose id is *db_id* (database at *db_path*) that mirror made."""
    listing = scan_backups(Path(backups_dir), db_id)
    return Copies(
        backups_dir=str(Path(backups_dir).absolute()),
        backups=[b.path for b in listing.backups],
        plain_backups=[b.path for b in listing.backups if not b.encrypted],
        asides=[str(p) for p in aside_copies(db_path)],
        unreadable=[u.path for u in listing.unreadable],
    )


def remove_copies(copies: Copies, *, lock_timeout: float) -> list[str]:
    """Delete the backups and aside copies named in *copies* (one already gone is no error); what was removed."""
    removed: list[str] = []
    if copies.backups:
        with folder_lock(Path(copies.backups_dir), lock_timeout):
            for path in copies.backups:
                if _unlink(path):
                    removed.append(path)
    for path in copies.asides:
        if _unlink(path):
            removed.append(path)
        for suffix in DATABASE_SIDECARS:
            _unlink(path + suffix)
    return removed


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise io_error("delete", path, exc) from None
    return True

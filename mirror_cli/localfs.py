"""Small file-system helpers: private folders and atomic writes.

Every file mirror writes for the user (exports, backups, shards, manifests,
config) goes through :func:`atomic_write`: a temp file in the same folder,
fsync, ``os.replace``, and the temp removed on any failure, so a killed
process or a full disk never leaves a half-written file under the final name.

A path the user names with ``-o`` goes through :func:`open_output`, which
does what shell redirection does with the node already there (a symlink is
followed, a FIFO or device is written in place) and :func:`atomic_write`
for a regular file; :func:`refuse_database_target` keeps ``-o`` off the
live database.

Both follow a symlink at the final name only when nobody else could have planted or swapped it
(:func:`refuse_planted_link`): a link owned by another user, or lying in a folder others can write
that is not sticky (``/tmp`` is), is refused (exit 2), so a link planted in a shared folder never
sends mirror's output over another file. Temp files are created with ``O_EXCL | O_NOFOLLOW``
(``tempfile.mkstemp``) and renamed over the final name, which replaces a link there, never follows it.

A temp file is named ``.<name>.mirror-<pid>-<random>.tmp`` and held with flock while it is
written. A process killed with SIGKILL cannot remove its temp, so :func:`open_output` first
sweeps the folder with :func:`remove_stale_temps`: a temp of that pattern, owned by this user,
older than :data:`STALE_AFTER` seconds, whose process is gone and whose lock is free, was left by
a killed run. (When an encrypted journal is exported as plaintext, such a temp holds plaintext
until then: it is 0600, and it lies in the folder the user chose for the plaintext export.)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from mirror_cli.digests import sha256
from mirror_cli.errors import OperationError, UsageError

FILE_MODE = 0o600
DIR_MODE = 0o700

TEMP_MARK = "mirror-"  # a temp file is .<name>.mirror-<pid>-<random>.tmp
STALE_AFTER = 300  # seconds: a younger temp is left alone even when its writer looks gone
_TEMP_RE = re.compile(r"^\..+\.mirror-(\d+)-[A-Za-z0-9_]+\.tmp$")


def ensure_private_dir(path: Path) -> Path:
    """Create *path* (and parents) with mode 0700 if missing; return it."""
    path = Path(path)
    if not path.is_dir():
        missing = []  # Path.mkdir(parents=True) gives only the last folder the mode: make each one
        parent = path
        while not parent.is_dir() and parent != parent.parent:
            missing.append(parent)
            parent = parent.parent
        try:
            for folder in reversed(missing):
                folder.mkdir(mode=DIR_MODE, exist_ok=True)
        except OSError as exc:
            raise OperationError(
                f"cannot create folder {path}: {exc.strerror or exc}.",
                "Check that the parent folder exists and is writable.",
            ) from None
    return path


def aside_path(path: Path | str, label: str, at: datetime) -> Path:
    """The name for a copy kept beside *path* before it is replaced: ``<path>.<label>-<UTC time>``.

    The first free one of ``<name>.<label>-20260102T030405Z``, then ``-2``, ``-3``...: neither the
    file nor its ``-wal`` exists (``backup restore`` keeps ``before-restore`` copies, ``import
    --mode replace`` ``before-replace`` ones).
    """
    path = Path(path)
    stem = f"{path.name}.{label}-{at.astimezone(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}"
    aside, n = path.with_name(stem), 1
    while aside.exists() or Path(f"{aside}-wal").exists():
        n += 1
        aside = path.with_name(f"{stem}-{n}")
    return aside


def io_error(action: str, path: Path | str, exc: OSError) -> OperationError:
    """Turn an OSError into a one-line OperationError that names the path."""
    if exc.errno == errno.ENOSPC:
        return OperationError(f"cannot {action} {path}: the disk is full.", "Free some space and try again.")
    reason = exc.strerror or str(exc)
    return OperationError(f"cannot {action} {path}: {reason}.")


_MAX_LINKS = 40  # as the kernel's ELOOP limit


def refuse_planted_link(path: Path | str) -> None:
    """Raise :class:`UsageError` (exit 2) when *path*, or a link it leads to, is a symlink someone else could
    have planted or swapped: one owned by another user (root aside), or one in a folder that others
    (group or world) can write and that is not sticky. A link of one's own in one's own folder passes.

    Only the final name's chain of links is checked: the folders on the way are the ones the user named.
    """
    path, uid = Path(path), os.getuid()
    for _ in range(_MAX_LINKS):
        try:
            st = os.lstat(path)
        except OSError:  # nothing there yet (or unreadable: the write reports it)
            return
        if not stat.S_ISLNK(st.st_mode):
            return
        try:
            folder = os.stat(path.parent).st_mode
        except OSError:
            return
        shared = folder & (stat.S_IWGRP | stat.S_IWOTH) and not folder & stat.S_ISVTX
        if st.st_uid not in (uid, 0) or shared:
            why = "another user made" if st.st_uid not in (uid, 0) else "in a folder others can write"
            raise UsageError(f"{path} is a symbolic link {why}; mirror does not follow it, nothing was written.",
                             "Give the path of the file itself, or remove the link.")
        try:
            path = path.parent / os.readlink(path)
        except OSError:
            return
    raise UsageError(f"{path}: too many levels of symbolic links; nothing was written.")


@contextlib.contextmanager
def atomic_write(path: Path | str, mode: str = "wb", *, file_mode: int = FILE_MODE) -> Iterator[IO]:
    """Write *path* atomically: temp file in the same folder, fsync, rename.

    A symlink is written through (its target replaced, the link kept) when :func:`refuse_planted_link`
    lets it; a path that holds anything but a regular file (a device, FIFO, socket or folder) is
    refused (UsageError), never replaced.

    Yields an open file object (binary unless *mode* is ``"w"``). On any
    exception the temp file is removed and the destination is untouched.
    """
    import tempfile

    path = Path(path)
    refuse_planted_link(path)
    if path.is_symlink():  # write through the link (a dotfiles repo, a synced folder); the link stays
        path = Path(os.path.realpath(path))
    try:
        mode_now = os.stat(path).st_mode
    except FileNotFoundError:
        mode_now = None
    except OSError as exc:
        raise io_error("write", path, exc) from None
    if mode_now is not None and not stat.S_ISREG(mode_now):
        # Renaming over it would replace a device (/dev/null, /dev/stdout as root), a FIFO or a socket
        # with a regular file; a folder cannot be renamed over at all.
        what = "a folder" if stat.S_ISDIR(mode_now) else "not a regular file"
        raise UsageError(f"{path} is {what}; mirror writes a file there only where a file is or none is.",
                         "Give the path of a file.")
    ensure_private_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{TEMP_MARK}{os.getpid()}-", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise io_error("write", path, exc) from None
    try:
        os.fchmod(fd, file_mode)
        with contextlib.suppress(OSError):  # held while written: a free lock says the writer is gone
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if "b" in mode:
            fh = os.fdopen(fd, mode)
        else:
            fh = os.fdopen(fd, mode, encoding="utf-8", newline="")
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise io_error("write", path, exc) from None
    except BaseException:
        _unlink_quietly(tmp)
        raise


#: Files SQLite keeps beside a database (write-ahead log, shared memory, rollback journal).
DATABASE_SIDECARS = ("-wal", "-shm", "-journal")


def refuse_database_target(path: Path | str, db_path: Path | str, *, option: str = "-o") -> None:
    """Raise :class:`UsageError` (exit 2) when *path* is the database *db_path* or one of its sidecar files.

    *path* is compared after resolving symlinks (``os.path.realpath``) and,
    where both exist, by identity (``os.path.samefile``: a hard link, or a
    ``/proc/self/fd/N`` that names the database). Call it before anything is
    written to *path*.
    """
    path, db_path = os.fspath(path), os.fspath(db_path)
    target = os.path.realpath(path)
    base = os.path.realpath(db_path)
    for suffix in ("", *DATABASE_SIDECARS):
        live = base + suffix
        same = target == live
        if not same:
            with contextlib.suppress(OSError):
                same = os.path.samefile(path, live)
        if same:
            what = "the journal's database" if not suffix else f"the journal database's {suffix[1:]} file"
            shown = path if os.path.abspath(path) == live else f"{path} ({live})"
            raise UsageError(f"{option} {shown} is {what}; writing there would destroy the journal.",
                             "Give another file name; nothing was written.")


@contextlib.contextmanager
def open_output(path: Path | str, mode: str = "wb", *, file_mode: int = FILE_MODE) -> Iterator[IO]:
    """Open a user-named output path for writing the way shell redirection treats what is there.

    * a symlink is followed: its resolved target is written (atomically when
      that is, or will be, a regular file); the link itself stays; a link someone
      else could have planted is refused (:func:`refuse_planted_link`);
    * an existing path that is not a regular file -- a FIFO, a character
      device such as ``/dev/stdout`` or ``/dev/null``, ``/proc/self/fd/1`` --
      is opened and written directly (no temp file, no rename, no fsync);
    * anything else (a regular file, or nothing yet) goes through
      :func:`atomic_write`.

    Yields an open file object (binary unless *mode* is ``"w"``). Callers
    handle ``-`` (stdout) and folders themselves.
    """
    path = Path(path)
    refuse_planted_link(path)
    link = path.is_symlink()
    try:
        st = os.stat(path)  # follows symlinks
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise io_error("write", path, exc) from None
    if st is not None and not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
        # A link (checked above) is opened through; a FIFO or device is opened without following a link
        # that replaced it meanwhile.
        flags = os.O_WRONLY | (0 if link else os.O_NOFOLLOW)
        try:
            fd = os.open(path, flags)
            fh = os.fdopen(fd, mode) if "b" in mode else os.fdopen(fd, mode, encoding="utf-8", newline="")
        except OSError as exc:
            raise io_error("write", path, exc) from None
        try:
            with fh:
                yield fh
        except OSError as exc:
            raise io_error("write", path, exc) from None
        return
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    remove_stale_temps(target.parent)
    with atomic_write(target, mode, file_mode=file_mode) as fh:
        yield fh


def pid_alive(pid: int) -> bool:
    """Whether process *pid* exists (this one counts; one of another user's that exists too)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists
        return True
    return True


def remove_stale_temps(folder: Path | str, *, older_than: float = STALE_AFTER) -> list[str]:
    """Remove the temp files :func:`atomic_write` left in *folder* when its process was killed; their names.

    Only this user's regular files named ``.<name>.mirror-<pid>-<random>.tmp``, last written more than
    *older_than* seconds ago, whose process *pid* is gone and whose flock is free. Errors are ignored
    (a folder that cannot be read has nothing to sweep).
    """
    removed: list[str] = []
    uid, cutoff = os.getuid(), time.time() - older_than
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if m is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_uid != uid or st.st_mtime > cutoff or pid_alive(int(m.group(1))):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(entry.path)
            removed.append(entry.name)
        except OSError:  # held (still being written) or already gone
            pass
        finally:
            os.close(fd)
    return removed


def _unlink_quietly(path: str | Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_file(path: Path | str) -> None:
    """Flush a file that was written by another handle (SQLite's VACUUM INTO, its own connection) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_full(src: IO[bytes], n: int) -> bytes:
    """Read up to *n* bytes, looping over short reads (pipes); fewer only at EOF."""
    data = src.read(n)
    if data is None:
        data = b""
    if len(data) == n or not data:
        return bytes(data)
    parts = [data]
    got = len(data)
    while got < n:
        more = src.read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


# -- "this journal was encrypted here" --------------------------------------------------------
# A mark per journal id, and one per journal file (its real path), outside the journal's folder (in the
# user's state folder), set whenever this user enables or unlocks a journal's key and cleared by
# `key disable`. The file's mark outlives a db_id changed by someone who writes the file. Someone who can write
# the journal file but not this user's home cannot remove it: a journal whose key record is gone
# while its mark stands refuses to write in clear. A file test, not a keyring lookup (which would
# cost every plain `mirror reflect` tens of milliseconds).


def _marks_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "mirror" / "encrypted-journals"


def _mark(db_id: str) -> Path | None:
    if not db_id or not all(c.isalnum() or c in "-_" for c in db_id):
        return None
    return _marks_dir() / db_id


def _path_mark(db_path: str | os.PathLike[str] | None) -> Path | None:
    """The mark of the journal file at *db_path* (its real path's digest): it outlives a changed db_id."""
    if db_path is None:
        return None
    try:
        real = os.path.realpath(db_path)
    except (OSError, ValueError):
        return None
    return _marks_dir() / ("path-" + sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:32])


def mark_encrypted(db_id: str, db_path: str | os.PathLike[str] | None = None) -> None:
    """Remember that *db_id*, and the journal file at *db_path*, are encrypted (best effort: no home folder
    is no error)."""
    for mark in (_mark(db_id), _path_mark(db_path)):
        if mark is None or mark.exists():
            continue
        try:
            ensure_private_dir(mark.parent)
            os.close(os.open(mark, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, FILE_MODE))
        except (OSError, OperationError):
            pass


def unmark_encrypted(db_id: str, db_path: str | os.PathLike[str] | None = None) -> None:
    for mark in (_mark(db_id), _path_mark(db_path)):
        if mark is not None:
            _unlink_quietly(mark)


def marked_encrypted(db_id: str | None) -> bool:
    mark = _mark(db_id or "")
    return mark is not None and os.path.lexists(mark)


def path_marked_encrypted(db_path: str | os.PathLike[str]) -> bool:
    """The journal file at *db_path* was encrypted on this machine once (whatever its db_id says now)."""
    mark = _path_mark(db_path)
    return mark is not None and os.path.lexists(mark)


def unmark_path(db_path: str | os.PathLike[str]) -> None:
    mark = _path_mark(db_path)
    if mark is not None:
        _unlink_quietly(mark)

"""Where backups work: the backups folder's lock, and private working folders for plaintext.

create's snapshot (with an encrypted database's fields opened), export and zstd stream, and
verify's and restore's unpacked snapshot (and decrypted archive), are plaintext of the journal.
They go to a private (0700) folder in RAM (/dev/shm) when it has room, else beside the database
(a local folder that already holds it); never into the backups folder (a USB disk or a synced
folder) nor into /tmp. A folder is held with flock while in use; one whose lock is free and whose
process is gone was left by a killed run, and the next run removes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from pathlib import Path

from mirror_cli.errors import OperationError
from mirror_cli.localfs import FILE_MODE, ensure_private_dir, io_error, pid_alive
from mirror_cli.remotes.folder import TEMP_PREFIX as REMOTE_TEMP_PREFIX

LOCK_NAME = ".mirror-backup.lock"
TEMP_PREFIX = ".mirror-backup-"
RAM_DIR = Path("/dev/shm")
WORK_PREFIX = ".mirror-work-"
RAM_MARGIN = 64 * 1024 * 1024  # free space asked of RAM beyond 1.5 times the expected size


@contextlib.contextmanager
def folder_lock(folder: Path, timeout: float):
    """An exclusive flock on the backups folder's lock file; OperationError after *timeout* s."""
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


def remove_stale_temps(folder: Path) -> None:
    """Under the lock no other backup runs, so temp files left by a killed one can go (the folder
    Remote's ``.~mirror-*.tmp``, a file path's ``.mirror-*.tmp``).

    (Backups no longer work in their folder: this also clears the working folders that earlier
    versions left there, which could hold an encrypted database's plaintext.)
    """
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.name.startswith((TEMP_PREFIX, ".mirror-", REMOTE_TEMP_PREFIX)) and entry.name.endswith(".tmp"):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)


def _ram_has_room(expected: int) -> bool:
    try:
        if not (RAM_DIR.is_dir() and os.access(RAM_DIR, os.W_OK | os.X_OK)):
            return False
        st = os.statvfs(RAM_DIR)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize >= expected + expected // 2 + RAM_MARGIN


def _remove_stale_work(parent: Path) -> None:
    """Remove this user's working folders in *parent* whose process is gone and whose lock is free."""
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
        if pid_alive(pid):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: still in use
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

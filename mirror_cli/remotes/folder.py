"""A folder as a remote: a USB disk, a network share, a Dropbox or Syncthing folder.

An object ``a/b`` is the file ``ROOT/a/b``; :meth:`FolderRemote.open` is that
file opened for reading. Every write (``put_stream`` included: its writer is
the temp file) goes to ``.~mirror-<random>.tmp`` in the object's folder, is
fsynced, then
``os.link``-ed to its name (``put_new``: the link fails if the name exists,
so exactly one of two racing writers wins) or ``os.replace``-d over it
(``put``), and the folder is fsynced. Where the file system has no hard links
(FAT, exFAT, some network shares) ``put_new`` claims the name with
``O_CREAT|O_EXCL`` and renames the complete temp over the empty claim: a
reader never sees half a file, and a crash can leave an empty one, which the
authenticated formats above reject and their owner rewrites.

The root is opened once and every path below it is walked with ``*at`` calls
and ``O_NOFOLLOW``: a symbolic link below the root is never followed, for
reading or writing, and is not an object; a remote cannot redirect a write
outside itself. Folders are created 0700, files 0600. Tag = ``size:mtime_ns``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from mirror_cli.errors import UsageError
from mirror_cli.localfs import DIR_MODE, FILE_MODE, atomic_write, ensure_private_dir, io_error
from mirror_cli.remotes.base import (Exists, InvalidName, NotFound, ObjectInfo, RemoteError, check_name, check_prefix,
                                     chunks)

TEMP_PREFIX = ".~mirror-"
TEMP_SUFFIX = ".tmp"
STALE_TEMP_AGE_S = 24 * 3600  # a temp older than this belongs to a killed process: writes touch its mtime
CHUNK = 1 << 20
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS})
_NOT_A_FOLDER = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP})
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class FolderRemote:
    """The Remote protocol over the folder *root*; a missing root is created only with *mkdir*."""

    # A synced folder (Syncthing, Dropbox) delivers objects late and out of order: a missing
    # object may still be in transit, so sync waits for it instead of calling it tampering.
    may_lag = True

    def __init__(self, root: Path | str, mkdir: bool = False) -> None:
        self.root = Path(os.path.abspath(os.path.expanduser(root)))
        self._fd = -1
        if mkdir and not self.root.exists():
            _check_no_file_in_the_way(self.root, creating=True)
            ensure_private_dir(self.root)
        try:
            self._fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise RemoteError(f"the remote folder {self.root} does not exist.",
                              "If it is on a disk, mount the disk; to create the folder, pass --mkdir.") from None
        except NotADirectoryError:
            _check_no_file_in_the_way(self.root, creating=False)
            raise self._error("open", "", OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))) from None
        except OSError as exc:
            raise self._error("open", "", exc) from None

    @property
    def url(self) -> str:
        return self.root.as_uri()

    def describe(self) -> str:
        return f"folder {self.root}"

    def __repr__(self) -> str:
        return f"FolderRemote({str(self.root)!r})"

    def purge_history(self, owned: Callable[[str], bool]) -> list[str]:
        """After a wipe: nothing to purge here, but a synced folder's provider keeps its own history."""
        left = []
        for folder in (self.root, *self.root.parents):
            if (folder / ".stversions").is_dir():
                left.append(f"Syncthing keeps old versions in {folder / '.stversions'} (on every device that "
                            "shares the folder); delete mirror's files there.")
            if (folder / ".dropbox").exists() or (folder / ".dropbox.cache").exists():
                left.append("Dropbox keeps deleted files for 30 days or more (its version history): purge them "
                            "from dropbox.com under Deleted files.")
        return left or ["if this folder is synced by a provider (Dropbox, Syncthing, OneDrive, iCloud), it may keep "
                        "deleted files in its history (Dropbox: 30 days or more; Syncthing: .stversions)."]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> FolderRemote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(AttributeError, OSError):
            self.close()

    # -- reading -------------------------------------------------------------------------

    def open(self, name: str) -> BinaryIO:
        return self._open_object(name)

    def get(self, name: str) -> bytes:
        with self._open_object(name) as src:
            try:
                return src.read()
            except OSError as exc:
                raise self._error("read", name, exc) from None

    def get_file(self, name: str, path: Path) -> None:
        with self._open_object(name) as src, atomic_write(path) as out:
            _copy(src, out, lambda exc: self._error("read", name, exc))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        check_prefix(prefix)
        folders = prefix.split("/")[:-1]
        try:
            dfd = self._open_folder(folders, create=False)
        except OSError as exc:
            if exc.errno in _NOT_A_FOLDER:
                return iter(())
            raise self._error("list", prefix, exc) from None
        found = []
        for _, rel, entry in self._scan(dfd, "".join(f"{f}/" for f in folders), prefix):
            if entry.name.startswith(".") or not rel.startswith(prefix) or not _is_name(rel):
                continue
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    found.append(ObjectInfo(rel, _tag(st), st.st_size))
        found.sort(key=lambda info: info.name)
        return iter(found)

    # -- writing -------------------------------------------------------------------------

    def put_new(self, name: str, data: bytes) -> str:
        return self._write(name, lambda out: out.write(data), new=True)

    def put(self, name: str, data: bytes) -> str:
        return self._write(name, lambda out: out.write(data), new=False)

    def put_file(self, name: str, path: Path, *, exclusive: bool = False) -> str:
        try:
            src = open(path, "rb")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            raise io_error("read", path, exc) from None
        with src:
            return self._write(name, lambda out: _copy(src, out, lambda exc: io_error("read", path, exc)),
                               new=exclusive)

    def put_stream(self, name: str, *, exclusive: bool = False) -> FolderWriter:
        return FolderWriter(self, name, exclusive=exclusive)

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Each write stands alone here (no transactions): nothing to group."""
        return contextlib.nullcontext()

    def delete(self, names: Iterable[str]) -> None:
        by_folder: dict[tuple[str, ...], list[str]] = {}
        for name in names:
            *folders, leaf = check_name(name).split("/")
            by_folder.setdefault(tuple(folders), []).append(leaf)
        for folders, leaves in by_folder.items():
            try:
                dfd = self._open_folder(list(folders), create=False)
            except OSError as exc:
                if exc.errno in _NOT_A_FOLDER:
                    continue  # nothing of ours is there
                raise self._error("delete", "/".join(folders), exc) from None
            try:
                for leaf in leaves:
                    try:
                        os.unlink(leaf, dir_fd=dfd)
                    except (FileNotFoundError, IsADirectoryError):
                        pass  # absent, or a folder: no object of that name
                    except OSError as exc:
                        raise self._error("delete", "/".join((*folders, leaf)), exc) from None
                _fsync(dfd)
            finally:
                os.close(dfd)

    def sweep_temps(self, folders: Iterable[str] = ("",), older_than_s: float = STALE_TEMP_AGE_S) -> int:
        """Remove the ``.~mirror-*.tmp`` files killed writers left in *folders* ('' is the root; each
        folder alone, not what is below it), older than *older_than_s*; return how many.

        Only the folders a caller writes its objects in are looked at: a remote at ``~`` is not walked.
        """
        removed, cutoff = 0, time.time_ns() - int(older_than_s * 1e9)
        for folder in folders:
            try:
                dfd = self._open_folder(check_name(folder).split("/") if folder else [], create=False)
            except OSError as exc:
                if exc.errno in _NOT_A_FOLDER:
                    continue  # nothing written there yet
                raise self._error("list", folder, exc) from None
            try:
                with os.scandir(dfd) as entries:
                    temps = [e for e in entries if e.name.startswith(TEMP_PREFIX) and e.name.endswith(TEMP_SUFFIX)]
                for entry in temps:
                    with contextlib.suppress(FileNotFoundError):
                        st = entry.stat(follow_symlinks=False)
                        if stat.S_ISREG(st.st_mode) and st.st_mtime_ns < cutoff:
                            os.unlink(entry.name, dir_fd=dfd)
                            removed += 1
            except OSError as exc:
                raise self._error("list", folder, exc) from None
            finally:
                os.close(dfd)
        return removed

    # -- helpers -------------------------------------------------------------------------

    def _write(self, name: str, fill: Callable[[BinaryIO], object], *, new: bool) -> str:
        with FolderWriter(self, name, exclusive=new) as out:
            try:
                fill(out)  # type: ignore[arg-type] - it writes, which is all fill asks
            except OSError as exc:
                raise self._error("write", name, exc) from None
            return out.commit()

    def _folder_for_write(self, name: str, folders: list[str]) -> int:
        try:
            return self._open_folder(folders, create=True)
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.ELOOP):
                raise RemoteError(f"cannot write {name} in {self.describe()}: a part of its path is a file or a "
                                  "symbolic link, not a folder.", "mirror never writes through a link.") from None
            raise self._error("write", name, exc) from None

    def _open_object(self, name: str) -> BinaryIO:
        *folders, leaf = check_name(name).split("/")
        try:
            dfd = self._open_folder(folders, create=False)
            try:  # O_NONBLOCK: a FIFO planted under an object's name must not hang the open
                fd = os.open(leaf, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            if exc.errno in _NOT_A_FOLDER:
                raise NotFound(f"no object {name} in {self.describe()}.") from None
            raise self._error("read", name, exc) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise NotFound(f"no object {name} in {self.describe()}: a folder or special file holds that name.")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")

    def _open_folder(self, folders: list[str], *, create: bool) -> int:
        """A new descriptor of ROOT/folders..., never through a symbolic link; OSError as the kernel says."""
        fd = os.dup(self._check_open())
        try:
            for part in folders:
                try:
                    sub = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, DIR_MODE, dir_fd=fd)
                        _fsync(fd)
                    sub = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = sub
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _scan(self, dfd: int, base: str, prefix: str) -> Iterator[tuple[int, str, os.DirEntry[str]]]:
        """Yield (folder fd, relative name, entry) for each non-folder below *dfd*; closes *dfd*.

        Descends only into real folders (no links, no dot-folders) that can hold names starting with *prefix*.
        """
        try:
            with os.scandir(dfd) as entries:
                for entry in entries:
                    rel = base + entry.name
                    if not entry.is_dir(follow_symlinks=False):
                        yield dfd, rel, entry
                    elif not entry.name.startswith(".") and (rel.startswith(prefix) or prefix.startswith(rel + "/")):
                        try:
                            sub = os.open(entry.name, _DIR_FLAGS, dir_fd=dfd)
                        except OSError:
                            continue  # removed or replaced meanwhile
                        yield from self._scan(sub, rel + "/", prefix)
        except OSError as exc:
            raise self._error("list", base, exc) from None
        finally:
            os.close(dfd)

    def _check_open(self) -> int:
        if self._fd < 0:
            raise RemoteError(f"the remote {self.describe()} is closed.")
        return self._fd

    def _error(self, action: str, name: str, exc: OSError) -> RemoteError:
        where = f"{name} in {self.describe()}" if name else self.describe()
        if exc.errno == errno.ENOSPC:
            return RemoteError(f"cannot {action} {where}: the disk is full.", "Free some space and try again.")
        return RemoteError(f"cannot {action} {where}: {exc.strerror or exc}.")


class FolderWriter:
    """:meth:`FolderRemote.put_stream`: a temp file in the object's folder, published by :meth:`commit`
    (fsync, then ``link`` when exclusive, else ``replace``, then the folder fsynced)."""

    def __init__(self, remote: FolderRemote, name: str, *, exclusive: bool) -> None:
        *folders, self._leaf = check_name(name).split("/")
        self._remote, self._name, self._exclusive = remote, name, exclusive
        self._dfd = remote._folder_for_write(name, folders)
        self._tmp = f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}"
        self._done = False
        try:
            fd = os.open(self._tmp, _NEW_FILE_FLAGS, FILE_MODE, dir_fd=self._dfd)
        except OSError as exc:
            os.close(self._dfd)
            raise remote._error("write", name, exc) from None
        self._fh = os.fdopen(fd, "wb")
        try:
            os.fchmod(fd, FILE_MODE)
        except OSError as exc:
            self.close()
            raise remote._error("write", name, exc) from None

    def write(self, data: bytes | memoryview) -> int:
        try:
            return self._fh.write(data)
        except OSError as exc:
            raise self._remote._error("write", self._name, exc) from None

    def commit(self) -> str:
        if self._done:
            raise RemoteError(f"{self._name} in {self._remote.describe()} was already committed or discarded.")
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            st = os.fstat(self._fh.fileno())  # the final name gets this very inode: its tag
            self._fh.close()
            if self._exclusive:
                self._link_new()
            else:
                os.replace(self._tmp, self._leaf, src_dir_fd=self._dfd, dst_dir_fd=self._dfd)
        except OSError as exc:
            self.close()
            raise self._remote._error("write", self._name, exc) from None
        except BaseException:
            self.close()
            raise
        self.close()  # the temp name, still there after a link
        return _tag(st)

    def close(self) -> None:
        if self._done:
            return
        self._done = True
        with contextlib.suppress(OSError):
            self._fh.close()
        with contextlib.suppress(OSError):
            os.unlink(self._tmp, dir_fd=self._dfd)
        _fsync(self._dfd)
        os.close(self._dfd)

    def __enter__(self) -> FolderWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(AttributeError, OSError):
            self.close()

    def _link_new(self) -> None:
        dfd, tmp, leaf = self._dfd, self._tmp, self._leaf
        exists = Exists(f"{self._name} already exists in {self._remote.describe()}; nothing was written.")
        try:
            os.link(tmp, leaf, src_dir_fd=dfd, dst_dir_fd=dfd)
            return
        except FileExistsError:
            raise exists from None
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
        try:  # no hard links here: claim the name, then rename the complete temp over the empty claim
            os.close(os.open(leaf, _NEW_FILE_FLAGS, FILE_MODE, dir_fd=dfd))
        except FileExistsError:
            raise exists from None
        os.replace(tmp, leaf, src_dir_fd=dfd, dst_dir_fd=dfd)


def _check_no_file_in_the_way(root: Path, *, creating: bool) -> None:
    """Name the file where *root*, or a folder above it, should be: UsageError (exit 2) for a root
    given as it is, RemoteError (exit 1, as any folder that cannot be made) when *creating* it."""
    for path in (root, *root.parents):
        if os.path.isdir(path):
            return
        if not os.path.exists(path):
            continue
        if path == root:
            raise UsageError(f"the remote {root} is a file, not a folder.", "Give the path of a folder.")
        if creating:
            raise RemoteError(f"cannot create the remote folder {root}: {path} is a file.",
                              "Give the path of a folder, or move that file.")
        raise UsageError(f"the remote {root} cannot be a folder: {path} is a file.", "Give the path of a folder.")


def _copy(src: BinaryIO, out: BinaryIO, read_error: Callable[[OSError], Exception]) -> None:
    """Stream *src* into *out* in CHUNK pieces; a read failure is raised as ``read_error(exc)``."""
    for chunk in chunks(src, read_error, CHUNK):
        out.write(chunk)


def _tag(st: os.stat_result) -> str:
    return f"{st.st_size}:{st.st_mtime_ns}"


def _is_name(rel: str) -> bool:
    try:
        check_name(rel)
    except InvalidName:
        return False
    return True


def _fsync(fd: int) -> None:
    with contextlib.suppress(OSError):  # some file systems refuse fsync on a folder
        os.fsync(fd)

"""Where backups live: a folder, or a remote (``s3://``, ``postgresql://``), as one :class:`Shelf`.

A location is what ``-o``, ``backup list [LOCATION]``, ``prune --in`` and ``backup.dir`` take: a
folder path (or ``file://`` URL), whose backups are files at its top as they always were, or a
remote URL, whose backups are the objects ``backups/<name>`` under it (SYNC.md "backup / shard
reuse": a bucket prefix or table that also holds a sync remote keeps them apart). One backup on a
remote is named by its URL: the location's URL with ``/backups/<name>`` added to its path
(``s3://bucket/prefix/backups/mirror-....backup``, ``postgresql://host/db/backups/mirror-....backup?table=t``);
:func:`split_object` reads it back.

Nothing from a remote is parsed off the network: each object is first copied whole into a private
working folder (``workspace.private_work``: RAM when it has room), and only that local copy is read
(:meth:`Shelf.open`, :func:`fetched`). A folder is read in place, through its FolderRemote (regular
files only, no link followed).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from mirror_cli.backup.format import NAME_RE
from mirror_cli.backup.workspace import private_work
from mirror_cli.errors import UsageError
from mirror_cli.remotes.base import NotFound, Remote
from mirror_cli.remotes.folder import FolderRemote
from mirror_cli.remotes.url import is_remote_url, open_remote, redact

PREFIX = "backups/"  # where a remote (not a folder) keeps its backups


def parse(location: str | os.PathLike[str]) -> Path | str:
    """*location* as a local path (a plain path or a ``file://`` URL, ``~`` expanded, absolute), or the
    remote URL it is (``s3://``, ``postgresql://``; ``open_remote`` refuses schemes it does not know)."""
    text = os.fspath(location)
    if not is_remote_url(text):
        return Path(os.path.abspath(os.path.expanduser(text)))
    parts = urlsplit(text)
    if parts.scheme.lower() == "file" and parts.netloc in ("", "localhost") and parts.path \
            and not (parts.query or parts.fragment):
        return Path(os.path.abspath(unquote(parts.path)))
    return text


def is_backup_name(name: str) -> bool:
    return bool(NAME_RE.match(name))


def split_object(url: str) -> tuple[str, str]:
    """(the location's URL, the object's name there) of one backup named by its URL; UsageError
    (exit 2) when the URL does not end in a backup's file name."""
    base, q, query = url.partition("?")
    path = urlsplit(base).path.rstrip("/")
    head, _, last = path.rpartition("/")
    name = unquote(last)
    if not is_backup_name(name):
        raise UsageError(f"{redact(url)} does not name one backup (mirror-....backup).",
                         "Give the URL `mirror backup list LOCATION` shows for it.")
    if head.endswith("/backups"):
        head, name = head[: -len("/backups")], PREFIX + name
    cut = len(path) - len(head)  # the path ends *base* (before any ?query): cut its tail off the text,
    # which keeps an empty host's "//" (postgresql:///db) that urlunsplit would drop
    return base.rstrip("/")[: len(base.rstrip("/")) - cut] + q + query, name


class Shelf:
    """The backups at one location: list them, read them (remotes: from local copies), add, delete.

    Names are backup file names (``mirror-....backup``); a remote keeps them under :data:`PREFIX`.
    *work* is a private folder for the local copies of a remote's objects (None for a folder).
    """

    def __init__(self, remote: Remote, work: Path | None = None) -> None:
        self.remote = remote
        self.is_folder = isinstance(remote, FolderRemote)
        self.prefix = "" if self.is_folder else PREFIX
        self.work = work
        self._copies: dict[str, Path] = {}

    def where(self, name: str) -> str:
        """The backup *name* as shown to people and in ``--json``: a folder's absolute path, else its URL."""
        return where(self.remote, self.prefix + name)

    @property
    def shown(self) -> str:
        """The location itself, for messages."""
        return str(self.remote.root) if isinstance(self.remote, FolderRemote) else self.remote.url

    def listing(self) -> dict[str, int]:
        """The objects named like backups here: name -> size (nothing below a folder's top)."""
        found = {}
        for info in self.remote.list(self.prefix):
            name = info.name[len(self.prefix):]
            if "/" not in name and is_backup_name(name):
                found[name] = info.size
        return found

    def open(self, name: str) -> BinaryIO:
        """The backup's bytes, seekable: a folder's file itself, a remote's object from its local copy
        (fetched whole on first use). :class:`NotFound` when it is gone."""
        if self.work is None:
            return self.remote.open(self.prefix + name)
        return open(self.local_copy(name), "rb")  # noqa: SIM115 - the caller closes it

    def local_copy(self, name: str) -> Path:
        """A remote's object *name* as a local file in the private working folder (fetched once)."""
        assert self.work is not None
        if name not in self._copies:
            path = self.work / name
            self.remote.get_file(self.prefix + name, path)
            self._copies[name] = path
        return self._copies[name]

    def put_file(self, name: str, path: Path) -> str:
        return self.remote.put_file(self.prefix + name, path)

    def delete(self, names: list[str]) -> None:
        """Delete the backups *names*; one already gone (another prune) is no error."""
        self.remote.delete([self.prefix + n for n in names])


def where(remote: Remote, name: str) -> str:
    """Object *name* of *remote* for people and ``--json``: a folder's absolute path + name, else a URL
    that :func:`split_object` reads back (``name`` added to the URL's path, before any ``?query``)."""
    if isinstance(remote, FolderRemote):
        return str(remote.root / name)
    base, q, query = remote.url.partition("?")
    return f"{base.rstrip('/')}/{name}{q}{query}"


@contextlib.contextmanager
def shelf(location: str, *, local: Path, mkdir: bool = False,
          options: Mapping[str, object] | None = None) -> Iterator[Shelf]:
    """The :class:`Shelf` at the remote URL or folder *location*; a remote's local copies go to a
    private working folder (RAM when it has room, else beside the database in *local*), removed after."""
    with contextlib.closing(open_remote(location, mkdir=mkdir, options=options)) as remote:
        if isinstance(remote, FolderRemote):
            yield Shelf(remote)
            return
        with private_work(_expected(remote), local) as work:
            yield Shelf(remote, work)


def _expected(remote: Remote) -> int:
    """The bytes of the backups on *remote* (the room its local copies may take)."""
    return sum(info.size for info in remote.list(PREFIX))


@contextlib.contextmanager
def fetched(url: str, *, local: Path, options: Mapping[str, object] | None = None) -> Iterator[Path]:
    """One backup named by its *url*, copied whole into a private working folder: its local path
    (removed after). NotFound (exit 1) when there is no such object."""
    location, name = split_object(url)
    with contextlib.closing(open_remote(location, options=options)) as remote:
        sizes = [info.size for info in remote.list(name) if info.name == name]
        if not sizes:
            raise NotFound(f"there is no backup {redact(url)}.", "`mirror backup list LOCATION` shows them.")
        with private_work(sizes[0], local) as work:
            path = work / name.rpartition("/")[2]
            remote.get_file(name, path)
            yield path

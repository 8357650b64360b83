"""Where a shard set lives: its locations opened as remotes.

A location is what ``open_remote`` takes: a folder path (a USB disk, a Dropbox folder) or a
URL. Shards and manifests are objects at the top of it, named by their file names. A manifest
records each location as :func:`location_of` gives it: a folder's absolute path (as manifests
always have), another remote's URL; a manifest's location is opened again from that string.

Shards are written into the remotes as they are encoded (``put_stream``, published only when
whole) and checked and decoded from what ``open`` returns. A folder's shard is read in place.
A shard in a bucket or a table is downloaded whole by ``open``, before a byte of it is parsed,
into a private work area (an unlinked temp file; for PostgreSQL memory up to 8 MiB, then one):
what is decoded is the very copy that was checked, and nothing on the remote is touched by
reading it, so a damaged or hostile object is a "damaged" shard, never a half-read stream. The
coding itself keeps one stripe of the set in memory whatever the size of the file. The temp files
a killed write left at the top of a folder location are removed by a later create or repair
once they are a day old (:func:`sweep`); nothing below the top is looked at.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mirror_cli.errors import MirrorError, UsageError
from mirror_cli.remotes.base import Remote, RemoteError
from mirror_cli.remotes.folder import FolderRemote
from mirror_cli.remotes.url import CloudExtraMissing, is_remote_url, open_remote

def location_of(remote: Remote) -> str:
    """The location string a manifest records for *remote*: a folder's absolute path, else its URL."""
    return str(remote.root) if isinstance(remote, FolderRemote) else remote.url


def where(remote: Remote, name: str) -> str:
    """Object *name* of *remote* as shown to people and in ``--json``: a folder's absolute path + name."""
    if isinstance(remote, FolderRemote):
        return str(remote.root / name)
    return f"{remote.url.rstrip('/')}/{name}"


def shown(location: str, name: str) -> str:
    """:func:`where` for a location that could not be opened (the path or URL the manifest names)."""
    return f"{location.rstrip('/')}/{name}" if is_remote_url(location) else str(Path(location) / name)


def local_path(path: str | os.PathLike[str]) -> Path:
    """A local path as typed (a manifest, a file to shard, ``-o``), absolute and with ``~`` expanded."""
    return Path(os.path.abspath(os.path.expanduser(os.fspath(path))))


def sweep(remote: Remote) -> None:
    """Remove the temp files killed writes left in a folder location (a day old: no live writer's).

    Shards and manifests are objects at the top of a location: only that folder is swept."""
    if isinstance(remote, FolderRemote):
        with contextlib.suppress(RemoteError, OSError):
            remote.sweep_temps(("",))


@dataclass(frozen=True)
class Place:
    """An opened location of a set: its remote and the string the manifest records for it."""

    remote: Remote
    location: str

    def where(self, name: str) -> str:
        return where(self.remote, name)


class Remotes:
    """The locations a manifest names, each opened once (never created), closed together."""

    def __init__(self) -> None:
        self._open: dict[str, Remote] = {}
        self.errors: dict[str, str] = {}  # location -> why it could not be opened

    def get(self, location: str) -> Remote | None:
        """The remote at *location*, or None when it cannot be opened (an unplugged disk)."""
        if location in self._open:
            return self._open[location]
        if location in self.errors:
            return None
        try:
            remote = open_remote(location)
        except MirrorError as exc:  # missing, not a folder, not a location mirror can use
            self.errors[location] = exc.message
            return None
        self._open[location] = remote
        return remote

    def close(self) -> None:
        for remote in self._open.values():
            remote.close()
        self._open.clear()

    def __enter__(self) -> Remotes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Locations:
    """The locations of a new set, as given after ``--to``: each checked at once, before any work.

    One that exists is opened now. A folder that does not exist is an error (exit 1, naming it)
    unless *mkdir*; then it is made only by :meth:`open`, when the shards are about to be
    written, so that nothing is created for a command that stops first (no journal to back up).
    """

    def __init__(self, locations: Sequence[str | os.PathLike[str]], *, mkdir: bool = False) -> None:
        self._given = [os.fspath(location) for location in locations]
        self._remotes: dict[str, Remote | None] = {}
        try:
            for location in self._given:
                if location in self._remotes:
                    continue
                try:
                    self._remotes[location] = open_remote(location)
                except (RemoteError, UsageError) as exc:  # missing, or below a file (said again by open())
                    if not mkdir or isinstance(exc, CloudExtraMissing):
                        raise
                    self._remotes[location] = None  # made by open()
        except BaseException:
            self.close()
            raise

    def open(self) -> tuple[list[Place], list[Place]]:
        """(a place per location given, in that order: the shards go round-robin over them;
        the distinct places, one manifest each). Makes the missing folders, sweeps old temps."""
        for location, remote in self._remotes.items():
            if remote is None:
                self._remotes[location] = open_remote(location, mkdir=True)
        distinct: dict[str, Place] = {}
        place_of: dict[str, Place] = {}
        for location, remote in self._remotes.items():
            assert remote is not None
            key = location_of(remote)  # `d` and `./d` are one place
            place_of[location] = distinct.setdefault(key, Place(remote, key))
        for place in distinct.values():
            sweep(place.remote)
        return [place_of[location] for location in self._given], list(distinct.values())

    def close(self) -> None:
        for remote in self._remotes.values():
            if remote is not None:
                remote.close()

    def __enter__(self) -> Locations:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

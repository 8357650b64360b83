"""The Remote protocol, what it lists, how it fails, and which object names it takes.

Object names are ``/``-separated relative paths such as ``h/abc`` or
``backups/2024-05-01.mbk``. Every backend accepts exactly the names
:func:`check_name` accepts, so a name that works on a folder also works on S3
and in PostgreSQL: no empty, ``.`` or ``..`` segment, no leading ``/``, no
backslash, no control character (NUL included), no segment starting with
``.`` (a folder remote keeps its temp files under such names), at most 255
bytes of UTF-8 per segment and 1,024 in all (S3's key limit).

A folder cannot hold both ``a`` and ``a/b`` (S3 can); callers keep their
names at fixed depths (``h/...``, ``s/...``, ``backups/...``), so this never
arises between objects mirror writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from mirror_cli.errors import OperationError, UsageError

MAX_NAME_BYTES = 1024
MAX_SEGMENT_BYTES = 255
_NAME_HINT = "Object names are '/'-separated relative paths of plain segments, such as 'backups/2024.mbk'."


class RemoteError(OperationError):
    """A remote could not be reached, read or written (exit 1)."""


class NotFound(RemoteError):
    """No object of that name on the remote."""


class Exists(RemoteError):
    """``put_new`` found an object of that name already there; nothing was written."""


class CloudExtraMissing(RemoteError):
    """An S3 or PostgreSQL remote without the ``mirror-cli[cloud]`` extra (exit 1)."""

    @classmethod
    def of(cls, kind: str, library: str) -> CloudExtraMissing:
        """The one wording, for every backend: *kind* remotes (``S3``) need the extra that brings *library*."""
        return cls(f"{kind} remotes need the extra mirror-cli[cloud] ({library}).",
                   "Install it: pip install 'mirror-cli[cloud]'.")


class InvalidName(UsageError):
    """An object name or list prefix that no remote accepts (exit 2)."""


@dataclass(frozen=True)
class ObjectInfo:
    """One object as ``list`` sees it. *tag* changes whenever the content may have changed."""

    name: str
    tag: str
    size: int


class ObjectWriter(Protocol):
    """A new object being written, from :meth:`Remote.put_stream`: nobody sees it until :meth:`commit`.

    Use it as a context manager: leaving without a commit (an error, a check that failed)
    discards it, so a failure never leaves half an object under its name.
    """

    def write(self, data: bytes | memoryview) -> int:
        """Append *data*; :class:`RemoteError` when the remote refuses it (a full disk)."""
        ...

    def commit(self) -> str:
        """Publish what was written under the name, atomically; return its tag.

        :class:`Exists` for an exclusive writer whose name was taken meanwhile (nothing published).
        """
        ...

    def close(self) -> None:
        """Discard the object unless committed; calling it twice is harmless."""
        ...

    def __enter__(self) -> ObjectWriter: ...

    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class Remote(Protocol):
    """Put bytes under a name, list names, get the bytes back (SYNC.md section 12).

    Tags are opaque strings (an ETag, ``size:mtime_ns`` on a folder, a SHA-256
    in PostgreSQL): the same tag means the same content. Every put (``put_new``,
    ``put``, ``put_file``, a ``put_stream`` commit) is atomic: a reader sees the
    old object, the new one, or none, never half of one. Use ``contextlib.closing(open_remote(...))`` to close a remote.
    """

    @property
    def url(self) -> str:
        """The location, in a form ``open_remote`` takes again (never with a secret inside)."""
        ...

    def describe(self) -> str:
        """A short phrase for messages, such as ``folder /media/usb/mirror``."""
        ...

    def get(self, name: str) -> bytes:
        """The object's bytes; :class:`NotFound` when there is none."""
        ...

    def open(self, name: str) -> BinaryIO:
        """The object's bytes as a readable, seekable binary file (close it); :class:`NotFound` when there is none.

        Reading it may raise OSError (a disk that went away); the caller names the object.
        """
        ...

    def put_new(self, name: str, data: bytes) -> str:
        """Create the object if absent and return its tag; :class:`Exists` (nothing written) otherwise."""
        ...

    def put(self, name: str, data: bytes) -> str:
        """Create or replace the object; return its tag."""
        ...

    def delete(self, names: Iterable[str]) -> None:
        """Delete the objects; a name already absent is not an error."""
        ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose name starts with *prefix* (a plain string prefix), sorted by name."""
        ...

    def put_file(self, name: str, path: Path, *, exclusive: bool = False) -> str:
        """Create or replace the object from the local file *path*, streamed; return its tag.

        With *exclusive*, create it only if absent, as ``put_new`` does (:class:`Exists` otherwise).
        """
        ...

    def put_stream(self, name: str, *, exclusive: bool = False) -> ObjectWriter:
        """A writer for the object, published whole by its ``commit`` (create-if-absent with *exclusive*).

        For bytes made as they are written (shards, backups): no local copy first.
        """
        ...

    def get_file(self, name: str, path: Path) -> None:
        """Write the object to the local file *path* atomically, streamed; :class:`NotFound` leaves *path* alone."""
        ...

    def batch(self) -> AbstractContextManager[None]:
        """A context in which writes commit together or not at all, where the store can (PostgreSQL: one
        transaction, so a push's segments and head land at once); elsewhere each write stands alone."""
        ...

    def close(self) -> None:
        """Release connections and handles; calling it twice is harmless."""
        ...


class PurgesHistory(Protocol):
    """An optional capability of a remote, used by ``mirror remote wipe`` after it deleted every object:
    remove what the provider still keeps of the objects *owned* says are the caller's (older versions,
    delete markers) where it is allowed, and return sentences naming what the provider may still keep.
    A remote without it is described by a general sentence."""

    def purge_history(self, owned: Callable[[str], bool]) -> list[str]: ...


def check_name(name: str) -> str:
    """Return *name* if every remote accepts it as an object name, else raise :class:`InvalidName`."""
    if not isinstance(name, str):
        raise InvalidName(f"invalid object name {name!r}: not a string.", _NAME_HINT)
    if not name:
        raise InvalidName("invalid object name '': it is empty.", _NAME_HINT)
    _check_chars(name)
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidName(f"invalid object name {name[:60]!r}...: longer than {MAX_NAME_BYTES} bytes.", _NAME_HINT)
    for segment in name.split("/"):
        _check_segment(name, segment)
    return name


def check_prefix(prefix: str) -> str:
    """Return *prefix* if it can start a valid name ('' lists everything), else raise :class:`InvalidName`."""
    if not isinstance(prefix, str):
        raise InvalidName(f"invalid list prefix {prefix!r}: not a string.", _NAME_HINT)
    if prefix:
        _check_chars(prefix)
        *folders, last = prefix.split("/")
        for segment in folders:
            _check_segment(prefix, segment)
        if last:
            _check_segment(prefix, last)
    return prefix


def _check_chars(whole: str) -> None:
    if whole.startswith("/"):
        raise InvalidName(f"invalid object name {whole!r}: it starts with '/'.", _NAME_HINT)
    if "\\" in whole:
        raise InvalidName(f"invalid object name {whole!r}: it holds a backslash.", _NAME_HINT)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in whole):
        raise InvalidName(f"invalid object name {whole!r}: it holds a control character.", _NAME_HINT)
    if any(0xD800 <= ord(c) <= 0xDFFF for c in whole):
        raise InvalidName(f"invalid object name {whole!r}: it is not valid Unicode text.", _NAME_HINT)


def _check_segment(whole: str, segment: str) -> None:
    if not segment:
        raise InvalidName(f"invalid object name {whole!r}: it has an empty segment.", _NAME_HINT)
    if segment in (".", ".."):
        raise InvalidName(f"invalid object name {whole!r}: it has a {segment!r} segment.", _NAME_HINT)
    if segment.startswith("."):
        raise InvalidName(f"invalid object name {whole!r}: a segment starts with '.' (kept for temp files).",
                          _NAME_HINT)
    if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
        raise InvalidName(f"invalid object name {whole[:60]!r}: a segment is longer than {MAX_SEGMENT_BYTES} bytes.",
                          _NAME_HINT)


CHUNK = 1 << 20  # how much of a local source a remote reads at a time when it uploads


def chunks(src: BinaryIO, read_error: Callable[[OSError], Exception], size: int = CHUNK) -> Iterator[bytes]:
    """*src* in pieces of *size* bytes until its end (every remote's upload loop); a failure to read the
    local source is raised as ``read_error(exc)``, not as the remote's own error."""
    while True:
        try:
            chunk = src.read(size)
        except OSError as exc:
            raise read_error(exc) from None
        if not chunk:
            return
        yield chunk

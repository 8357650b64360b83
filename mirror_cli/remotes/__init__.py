"""Remotes: where sync, backups and shards put their bytes (SYNC.md section 12).

A :class:`~.base.Remote` is transport only: it puts bytes under a name (whole,
from a file or streamed), lists names, gets the bytes back (whole, into a
file or as a readable stream) and deletes them. It never looks inside: every
format stored through it (sync objects, backups, shards, manifests) is already
encrypted and authenticated above this layer, so a remote that loses, swaps or
alters an object is caught there, not here.

Modules: :mod:`.base` (the protocol, :class:`~.base.ObjectInfo`, the errors
and the object-name rules), :mod:`.folder` (a local or mounted folder: a USB
disk, a Dropbox or Syncthing folder), :mod:`.s3` (an S3 or S3-compatible
bucket), :mod:`.postgres` (a PostgreSQL table), both with the ``cloud`` extra,
and :mod:`.url` (a location string -> a Remote).

Nothing here prints or imports anything above :mod:`mirror_cli.localfs` and
:mod:`mirror_cli.errors`; the cloud client libraries (boto3, psycopg) are imported only when
such a remote is opened.
"""

from __future__ import annotations

from mirror_cli.remotes.base import Exists, InvalidName, NotFound, ObjectInfo, ObjectWriter, Remote, RemoteError

__all__ = ["Exists", "InvalidName", "NotFound", "ObjectInfo", "ObjectWriter", "Remote", "RemoteError"]

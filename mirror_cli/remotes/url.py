"""From a location the user types (``-o``, ``--to``, ``remote add``) to a :class:`~.base.Remote`.

* a plain path, or a ``file://`` URL: :class:`~.folder.FolderRemote`;
* ``s3://BUCKET/PREFIX``: :class:`~.s3.S3Remote`, with the ``mirror-cli[cloud]``
  extra (boto3; exit 1 naming the extra without it);
* ``postgresql://`` / ``postgres://``: :class:`~.postgres.PostgresRemote`
  (``?table=NAME`` picks the table), with the ``mirror-cli[cloud]`` extra
  (exit 1 naming it without). A URL holding a password is refused first
  (exit 2, CONTRACT.md "Sync"): it would land in shell history and in the config.

:data:`LOADERS` maps a URL scheme to the function that opens it; the S3 and
PostgreSQL backends plug in there, each importing its client library (boto3,
psycopg) only when one of its remotes is opened, so that no other command pays
for it, and raising :class:`CloudExtraMissing` when that import fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from mirror_cli.errors import UsageError
from mirror_cli.remotes import s3
from mirror_cli.remotes.base import CloudExtraMissing, InvalidName, Remote, check_name
from mirror_cli.remotes.folder import FolderRemote
from mirror_cli.remotes.postgres import DEFAULT_TABLE, PostgresRemote, load_psycopg

#: scheme -> loader(parsed URL, mkdir, options without None values) -> Remote
Loader = Callable[[SplitResult, bool, dict[str, object]], Remote]

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_SECRET_QUERY_KEYS = frozenset({"password", "sslpassword"})
_KNOWN = "a folder path, file:///PATH, s3://BUCKET/PREFIX or postgresql://HOST/DB"
_PG_HINT = "Remove it from the URL and use PGPASSWORD, PGPASSFILE or ~/.pgpass."


def is_remote_url(location: str) -> bool:
    """True when *location* is a URL (``scheme://...``), False for a local path.

    Any scheme counts, so that ``-o ftp://host/x`` is refused by :func:`open_remote`
    instead of becoming a local file named ``ftp:``; write ``./ftp://x`` for that.
    """
    return bool(_URL.match(location))


def open_remote(location: str, *, mkdir: bool = False, options: Mapping[str, object] | None = None) -> Remote:
    """Open the remote at *location*; *mkdir* creates a missing folder root, *options* are backend settings.

    *options* (``endpoint_url``, ``region``, ``profile``) apply to ``s3://`` only; a key whose value
    is None is ignored, so a CLI can pass its unset flags through.
    """
    opts = {key: value for key, value in (options or {}).items() if value is not None}
    if not location.strip():
        raise UsageError("the remote location is empty.", f"Give {_KNOWN}.")
    if not is_remote_url(location):
        return _folder(Path(location), mkdir, opts)
    try:
        parts = urlsplit(location)
    except ValueError as exc:
        raise UsageError(f"cannot read the remote URL {redact(location)}: {exc}.", f"Give {_KNOWN}.") from None
    loader = LOADERS.get(parts.scheme.lower())
    if loader is None:
        raise UsageError(f"{redact(location)} is not a remote mirror can use.", f"Give {_KNOWN}.")
    return loader(parts, mkdir, opts)


def redact(location: str) -> str:
    """*location* with any password in it replaced by ``***``: fit for messages and logs."""
    try:
        parts = urlsplit(location)
    except ValueError:
        return re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", location)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    query = "&".join(f"{pair.split('=', 1)[0]}=***" if _query_key(pair) in _SECRET_QUERY_KEYS else pair
                     for pair in parts.query.split("&")) if parts.query else ""
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _query_key(pair: str) -> str:
    return unquote(pair.split("=", 1)[0]).strip().lower()


def _folder(path: Path, mkdir: bool, options: dict[str, object]) -> Remote:
    if options:
        raise UsageError(f"{', '.join(sorted(options))} do not apply to a folder remote ({path}).",
                         "They are for s3:// remotes; leave them out.")
    return FolderRemote(path, mkdir=mkdir)


def _load_file(parts: SplitResult, mkdir: bool, options: dict[str, object]) -> Remote:
    shown = urlunsplit(parts)
    if parts.netloc not in ("", "localhost"):
        raise UsageError(f"{redact(shown)} names another machine; a file:// URL names a folder on this one.",
                         "Write file:///PATH (three slashes), or mount the share and give its path.")
    if parts.query or parts.fragment:
        raise UsageError(f"{redact(shown)}: a file:// URL takes no '?' or '#' part.", "Write file:///PATH.")
    if not parts.path:
        raise UsageError(f"{shown} names no folder.", "Write file:///PATH.")
    return _folder(Path(unquote(parts.path)), mkdir, options)


def _load_s3(parts: SplitResult, mkdir: bool, options: dict[str, object]) -> Remote:
    """*mkdir* is moot: a prefix needs no creating, and mirror never creates a bucket."""
    shown = redact(urlunsplit(parts))
    if not parts.netloc:
        raise UsageError("an s3:// URL needs a bucket.", "Write s3://BUCKET or s3://BUCKET/PREFIX.")
    if any(c in parts.netloc for c in "@:") or parts.query or parts.fragment:
        raise UsageError(f"{shown}: an s3:// URL is s3://BUCKET/PREFIX, nothing more.",
                         "Give the endpoint with --endpoint-url and credentials the AWS way (AWS_PROFILE, "
                         "--profile or the AWS_* variables).")
    unknown = sorted(set(options) - {"endpoint_url", "region", "profile"})
    if unknown:
        raise UsageError(f"{', '.join(unknown)} do not apply to an S3 remote ({shown}).",
                         "An S3 remote takes endpoint_url, region and profile.")
    prefix = unquote(parts.path).strip("/")
    if prefix:
        try:
            check_name(prefix)
        except InvalidName:
            raise UsageError(f"{shown}: the prefix {prefix!r} is not a plain '/'-separated path.",
                             "Write s3://BUCKET/PREFIX with plain segments, such as s3://my-bucket/mirror.") from None
    return s3.S3Remote(parts.netloc, prefix, **{k: str(v) for k, v in options.items()})


def _load_postgres(parts: SplitResult, mkdir: bool, options: dict[str, object]) -> Remote:
    shown = redact(urlunsplit(parts))
    if parts.password or any(_query_key(pair) in _SECRET_QUERY_KEYS for pair in parts.query.split("&")):
        raise UsageError(f"the PostgreSQL URL {shown} holds a password; mirror refuses it there, as it would "
                         "land in shell history and in the config.", _PG_HINT)
    if options:
        raise UsageError(f"{', '.join(sorted(options))} do not apply to a PostgreSQL remote ({shown}).",
                         "They are for s3:// remotes; leave them out.")
    query = parse_qsl(parts.query, keep_blank_values=True)
    tables = [value for key, value in query if key == "table"]
    if len(tables) > 1:
        raise UsageError(f"the PostgreSQL URL {shown} names more than one table.", "Give ?table=NAME once.")
    try:
        load_psycopg()
    except ImportError:
        raise CloudExtraMissing.of("PostgreSQL", "psycopg") from None
    conninfo = urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in query if k != "table"]), fragment=""))
    where = urlunsplit(parts._replace(query="", fragment="")) if parts.netloc.strip("/") else "the local server"
    return PostgresRemote(conninfo, tables[0] if tables else DEFAULT_TABLE, url=urlunsplit(parts), where=where)


LOADERS: dict[str, Loader] = {
    "file": _load_file,
    "s3": _load_s3,
    "postgresql": _load_postgres,
    "postgres": _load_postgres,
}

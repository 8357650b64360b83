"""`mirror backup`: snapshot, list, verify, restore and prune backups (safe to run from cron)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Optional

import typer

from mirror_cli.cli.options import DryRunOpt, JsonOpt, YesOpt, group, state
from mirror_cli.cli.output import counted

app = group("Backups: one self-checking (and, for an encrypted database, encrypted) file per snapshot.")

PROGRESS_MIN_BYTES = 32 * 1024 * 1024
DEFAULT_LOCK_TIMEOUT = 30.0


def _lock_timeout(st) -> float:
    try:
        return float(st.settings.get("backup.lock_timeout", DEFAULT_LOCK_TIMEOUT))
    except (TypeError, ValueError):
        return DEFAULT_LOCK_TIMEOUT


def _warn(st, warnings) -> None:
    for w in warnings:
        st.out.warn(w)


def _default_folder_may_be_made(st, output: Optional[str]) -> bool:
    """The default backups folder (no -o, no `backup.dir`) is made on first use when the folder that
    should hold it (the data dir or MIRROR_HOME, where the journal lives) exists: that disk is mounted.
    A folder the user named (-o, `backup.dir`) is made only with --mkdir; a named journal's own subfolder
    of it (``<backups>/NAME``), whenever that folder is there."""
    from mirror_cli.settings import DEFAULT_JOURNAL, get_dotted

    if output is not None:
        return False
    named = st.settings.journal not in (None, DEFAULT_JOURNAL)
    base = st.settings.backups_dir.parent if named else st.settings.backups_dir
    if get_dotted(st.settings.config, "backup.dir"):
        return named and base.is_dir()
    return base.parent.is_dir()


def _location(st, given: Optional[str]):
    """(where backups go or are: a local Path or a remote URL, that remote's options) from a location the
    user gave (a folder, a file, a URL, or the NAME of one of the journal's remotes), else from config."""
    from mirror_cli.backup.location import parse
    from mirror_cli.remotes.url import is_remote_url
    from mirror_cli.settings import get_dotted

    if given is None:
        configured = get_dotted(st.settings.config, "backup.dir")
        if isinstance(configured, str) and is_remote_url(configured):  # settings made it a path: take the URL
            return parse(configured), {}
        return st.settings.backups_dir, {}
    named = _named_remote(st, given)
    if named is not None:
        return named
    return parse(given), {}


def _named_remote(st, given: str):
    """(URL, options) of the journal's remote named *given*, when it is one and no file or folder of
    that name is here (write ./NAME for the folder); else None."""
    import os
    import sqlite3

    from mirror_cli.backup.location import parse
    from mirror_cli.db.store import Store
    from mirror_cli.errors import MirrorError
    from mirror_cli.sync import config as sync_config

    if not sync_config.NAME.match(given) or os.path.lexists(given) or not st.settings.db_path.is_file():
        return None
    try:
        with Store.open(st.settings.db_path, migrate=False, create=False) as store:
            found = [r for r in sync_config.all_remotes(store) if r.name == given]
    except (MirrorError, OSError, ValueError, sqlite3.Error):  # no remotes table yet: not a remote's name
        return None
    return (parse(found[0].url), dict(found[0].options)) if found else None


def _make(st, output: Optional[str], no_encrypt: bool, mkdir: bool = False):
    import contextlib

    from mirror_cli.backup import create
    from mirror_cli.localfs import refuse_database_target

    target, options = _location(st, output)
    if not isinstance(target, str):  # before anything is opened or written: -o must not name the live database
        refuse_database_target(target, st.settings.db_path, option="-o")
    with st.open_store(create=False) as store:
        size = store.path.stat().st_size if store.path.exists() else 0
        # A bar for large databases; out.progress draws it only on a terminal (stdout and stderr),
        # so none under cron or into a pipe.
        want = size >= PROGRESS_MIN_BYTES
        with st.out.progress("backing up", None) if want else contextlib.nullcontext() as bar:
            progress = bar if bar is not None and bar.enabled else None
            result = create.create(store, target, encrypt=False if no_encrypt else None,
                                   mkdir=mkdir or _default_folder_may_be_made(st, output),
                                   lock_timeout=_lock_timeout(st), progress=progress, options=options)
    _warn(st, result.warnings)
    if isinstance(target, str) and not result.encrypted:
        from mirror_cli.remotes.url import redact

        st.out.note(f"this backup is not encrypted: whoever can read {redact(target)} can read the journal in it "
                    "(`mirror key enable` encrypts the journal and its backups).")
    return result


def fresh_backup(st) -> Path:
    """A backup with the default settings (for `mirror shard create` without FILE); its absolute path."""
    from mirror_cli.errors import UsageError

    target, _options = _location(st, None)
    if isinstance(target, str):
        raise UsageError(f"backup.dir is a remote ({target}); shard create without FILE needs a local backup.",
                         "Make one with `mirror backup create -o FILE` and give FILE.")
    return Path(_make(st, None, False).path).absolute()


def _local_journal(st) -> tuple[str | None, dict | None]:
    """The configured database's id and key record (None, None when there is none or it cannot be read);
    creates nothing."""
    import json
    import sqlite3

    from mirror_cli.db.store import Store
    from mirror_cli.errors import MirrorError

    db = st.settings.db_path
    if not db.is_file():
        return None, None
    try:
        with Store.open(db, migrate=False, create=False) as store:
            raw = store.meta("crypto")
            return store.meta("db_id"), (json.loads(raw) if raw else None)
    except (MirrorError, ValueError, OSError, sqlite3.Error):  # a damaged database must not stop a restore
        return None, None


def _key_request(st, local: tuple[str | None, dict | None] | None = None):
    """Passphrase sources for an encrypted backup, plus the configured database's key record when it has one."""
    from mirror_cli.backup.keys import KeyRequest
    from mirror_cli.cli.output import stdin_is_tty

    local_id, local_meta = local if local is not None else _local_journal(st)
    return KeyRequest(st.settings.env, interactive=stdin_is_tty(), local_meta=local_meta,
                      local_db_id=local_id)


def _backup_journal(file: Path) -> str | None:  # the local copy of a remote's backup, too
    """The journal id in the clear header of the backup *file* (None when it does not read: restore says why)."""
    from mirror_cli.backup.format import read_header
    from mirror_cli.errors import MirrorError

    try:
        with open(file, "rb") as fh:
            db_id = read_header(fh, file.stat().st_size, checksum=False).header.get("db_id")
    except (MirrorError, OSError, ValueError):
        return None
    return db_id if isinstance(db_id, str) else None


def _summary(counts: dict) -> str:
    return ", ".join(counted(counts.get(k, 0), k) for k in ("reflections", "patterns", "tensions", "audit_events"))


def _when(stamp: str) -> str:
    """An ISO UTC time as local time for the prompt (as stored when it does not read)."""
    from mirror_cli.ids import parse_iso

    try:
        return parse_iso(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return stamp


def _journal_now(db: Path) -> tuple[dict, str | None] | None:
    """The counts of the journal at *db* and when a reflection was last written there (None when there is
    none or it cannot be read); creates nothing, needs no key."""
    import sqlite3

    from mirror_cli.db.store import Store
    from mirror_cli.errors import MirrorError

    if not db.is_file():
        return None
    try:
        with Store.open(db, migrate=False, create=False) as store:
            counts = {k: store.count(k) for k in ("reflections", "patterns", "tensions", "audit_events")}
            last = store.conn.execute("SELECT max(updated_at) FROM reflections").fetchone()[0]
            return counts, last
    except (MirrorError, ValueError, OSError, sqlite3.Error):  # a damaged database must not stop a restore
        return None


def _mb(n: int) -> str:
    """A size for people: 19.4 kB, 98.1 MB ("0.0 MB" said nothing of a small backup)."""
    for unit, scale in (("GB", 1_000_000_000), ("MB", 1_000_000), ("kB", 1_000)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


@app.command()
def create(
    ctx: typer.Context,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Folder for the backup (a name is chosen), a file path, a remote (s3://BUCKET/PREFIX, postgresql://HOST/DB) or a remote's NAME. Default: the backups folder (`backup.dir`).")] = None,
    no_encrypt: Annotated[bool, typer.Option("--no-encrypt", help="Write a plaintext backup even though the database is encrypted (it holds the export in clear).")] = False,
    mkdir: Annotated[bool, typer.Option("--mkdir", help="Create a missing destination folder (without it, exit 1: an unmounted disk must not fill the local disk).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Snapshot the database (safe while other mirror commands write) into one verified file."""
    st = state(ctx)
    result = _make(st, output, no_encrypt, mkdir)
    if as_json:
        st.out.json(result.to_dict())
        return
    kind = "encrypted " if result.encrypted else ""
    st.out.result(f"{kind}backup {result.path} ({_mb(result.bytes)}, {result.counts.get('reflections', 0)} "
                  "reflections)")


def _of_others(n: int) -> str:
    return f"{n} backup of another journal" if n == 1 else f"{n} backups of other journals"


@contextlib.contextmanager
def _backup_file(st, given: str):
    """The backup *given* (a file, or a remote's object by its URL) as a local file: (its path, its name
    for messages). A remote's object is copied whole into a private working folder first (removed after)."""
    from mirror_cli.backup.location import fetched, parse
    from mirror_cli.errors import UsageError

    where = parse(given)
    if isinstance(where, str):
        with fetched(where, local=st.settings.db_path.parent) as path:
            yield path, where
        return
    if not where.is_file():
        what = "is a folder, not a backup file" if where.is_dir() else "does not exist"
        raise UsageError(f"{where} {what}.", "Give a file `mirror backup list` shows.")
    yield where, given


@app.command("list")
def list_(
    ctx: typer.Context,
    location: Annotated[Optional[str], typer.Argument(help="A folder, a remote (s3://BUCKET/PREFIX, postgresql://HOST/DB) or a remote's NAME. Default: the backups folder (`backup.dir`).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """mirror's backups in the backups folder (or LOCATION), oldest first."""
    from mirror_cli.backup import retention

    st = state(ctx)
    journal, _meta = _local_journal(st)  # no database: every backup in the folder (e.g. to pick one to restore)
    where, options = _location(st, location)
    listing = retention.scan_backups(where, journal, local=st.settings.db_path.parent, options=options)
    if listing.others:
        st.out.note(f"{_of_others(listing.others)} in {where} not shown.")
    for u in listing.unreadable:  # stderr: --json stays the contract's array of real backups
        st.out.warn(f"{u.path}: {u.problem}; `mirror backup prune` leaves it alone and counts it for no rule.")
    if as_json:
        st.out.json([b.to_dict() for b in listing.backups])
        return
    if not listing.backups:
        st.out.note(f"no backups in {where}; run `mirror backup create`.")
    if any(not b.encrypted for b in listing.backups):
        from mirror_cli.backup.format import PLAIN_IS_UNAUTHENTICATED

        st.out.note(f"encrypted \"no\": {PLAIN_IS_UNAUTHENTICATED}.")
    if st.out.rich:
        st.out.lines(_backup_lines(where, listing), paged=False)
        return
    # Scripts: tab-separated, the full path and the stored ISO UTC time.
    rows = [(b.created_at, _mb(b.bytes), "yes" if b.encrypted else "no", b.path) for b in listing.backups]
    rows += [("UNREADABLE", _mb(u.bytes), "?", u.path) for u in listing.unreadable]
    if rows:
        st.out.table(("created", "size", "encrypted", "path"), rows)


def _backup_lines(where: str, listing):
    """A person's view, a line per backup as `list` has reflections: the folder and the zone named once on
    top, then the local time (``MM-DD HH:MM``, with the year for other years), size, encrypted or not, and
    the file name, whole (what `verify` and `restore` take), never cut: a long one wraps."""
    from datetime import datetime

    from mirror_cli.cli.output import colour_wanted
    from mirror_cli.cli.terminal import colour, for_terminal, short_when, times_in

    on, year = colour_wanted(), datetime.now().year
    name = lambda p: for_terminal(p.rstrip("/").rpartition("/")[2].partition("?")[0])  # noqa: E731
    rows = [(short_when(b.created_at, year), _mb(b.bytes), "yes" if b.encrypted else "no", name(b.path))
            for b in listing.backups]
    rows += [("UNREADABLE", _mb(u.bytes), "?", name(u.path)) for u in listing.unreadable]
    if not rows:
        return
    head = ("created", "size", "encrypted", "file")
    width = [max(len(r[i]) for r in (head, *rows)) for i in range(3)]
    yield colour("2", f"in {for_terminal(str(where))}; {times_in()}", on)
    yield colour("1", f"{head[0]:<{width[0]}}  {head[1]:>{width[1]}}  {head[2]:<{width[2]}}  {head[3]}", on)
    for when, size, enc, file in rows:
        yield f"{when:<{width[0]}}  {size:>{width[1]}}  {enc:<{width[2]}}  {file}"


@app.command()
def verify(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="A backup file, or a backup's URL on a remote (as `backup list` shows it).")],
    as_json: JsonOpt = False,
) -> None:
    """Check a backup: checksums, decryption, the snapshot's integrity and counts (exit 3 when it is not intact).

    Without a key, an encrypted backup's checksum and header are checked and the rest is reported as not checked.
    """
    from mirror_cli.backup import restore as restoring
    from mirror_cli.errors import VerificationError

    st = state(ctx)
    with _backup_file(st, file) as (path, file):
        report = restoring.verify(path, _key_request(st), local=st.settings.db_path.parent, shown=file)
    if as_json:
        st.out.json(report.to_dict())
        if not report.ok:
            raise typer.Exit(3)
        return
    if not report.ok:
        raise VerificationError(f"{file}: {report.problem}", "Use another backup (`mirror backup list`).")
    if report.complete:
        from mirror_cli.backup.format import PLAIN_IS_UNAUTHENTICATED

        counts = report.counts or {}
        st.out.result(f"ok: {file} is intact ({counted(counts.get('reflections', 0), 'reflections')}, "
                      f"{counted(counts.get('audit_events', 0), 'audit_events')}, made {report.created_at})")
        if not report.authenticated:
            st.out.result(f"note: {PLAIN_IS_UNAUTHENTICATED}.")
    else:
        st.out.result(f"ok so far: {file} matches its checksum and its encrypted header is intact")
        st.out.note(f"not checked: {report.not_checked}")


@app.command()
def restore(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="A backup file, or a backup's URL on a remote (as `backup list` shows it).")],
    yes: YesOpt = False,
    allow_plain: Annotated[bool, typer.Option("--allow-plain", help="Restore a plain (unencrypted) backup over an encrypted journal: it is checksummed, not authenticated, so only one you made yourself.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Replace the database with a backup (verified first; the replaced one is kept beside it)."""
    st = state(ctx)
    with _backup_file(st, file) as (path, file):
        _restore(st, path, file, yes, allow_plain, as_json)


def _restore(st, path: Path, file: str, yes: bool, allow_plain: bool, as_json: bool) -> None:
    from mirror_cli.backup import restore as restoring
    from mirror_cli.cli.output import confirm, stdin_is_tty
    from mirror_cli.errors import UsageError

    db = st.settings.db_path
    local = _local_journal(st)
    theirs = _backup_journal(path)
    other = (f"{file} is a backup of another journal (id {theirs}) than {db} (id {local[0]})"
             if local[0] is not None and theirs is not None and theirs != local[0] else None)
    ask = None
    if not yes:
        if not stdin_is_tty():
            raise UsageError(f"{other}: restore replaces the database and needs confirmation." if other else
                             "restore replaces the database and needs confirmation.",
                             "Add --yes to restore without being asked.")

        def ask(counts: dict, created_at: str) -> None:
            """Asked once the backup is verified: what it holds beside what the journal holds now."""
            backup_line = f"  backup:  made {_when(created_at)}, {_summary(counts)}"
            mine = _journal_now(db)
            here = f"  journal: last written {_when(mine[1]) if mine[1] else 'never'}, {_summary(mine[0])}" \
                if mine else None
            if other:
                what = f"{other}. Replace that journal with it? (the current one is kept beside it)"
            elif db.exists():
                what = f"Replace {db} with {file}? (the current one is kept beside it)"
            else:
                what = f"Restore {file} into {db}?"
            if not confirm("\n".join(x for x in (backup_line, here, what) if x)):
                raise UsageError("restore cancelled; nothing was changed.")
    result = restoring.restore(path, db, _key_request(st, local), allow_plain=allow_plain, shown=file, ask=ask)
    if other:
        st.out.warn(f"{other}: it replaced that journal, as asked.")
    _warn(st, result.warnings)
    if result.before:  # on stderr, so that --json stays one value; -q silences it like every note
        st.out.note(f"the replaced database is kept as {result.before}")
    if as_json:
        st.out.json(result.to_dict())
        return
    st.out.result(f"restored {result.database} from {file} ({counted(result.counts.get('reflections', 0), 'reflections')}, "
                  f"made {result.created_at})")


@app.command()
def prune(
    ctx: typer.Context,
    keep_last: Annotated[int, typer.Option("--keep-last", min=0, help="Keep the N newest backups.")] = 0,
    keep_daily: Annotated[int, typer.Option("--keep-daily", min=0, help="Keep the newest backup of each of the last N days that have one.")] = 0,
    keep_weekly: Annotated[int, typer.Option("--keep-weekly", min=0, help="Keep the newest of each of the last N ISO weeks that have one.")] = 0,
    keep_monthly: Annotated[int, typer.Option("--keep-monthly", min=0, help="Keep the newest of each of the last N months that have one.")] = 0,
    location: Annotated[Optional[str], typer.Option("--in", help="Prune there: a folder, a remote (s3://BUCKET/PREFIX, postgresql://HOST/DB) or a remote's NAME. Default: the backups folder (`backup.dir`).")] = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove old backups by restic's rules (a backup kept by any rule stays; local time)."""
    from mirror_cli.backup import retention

    from mirror_cli.errors import UsageError

    st = state(ctx)
    journal, _meta = _local_journal(st)
    if journal is None:
        raise UsageError(f"there is no readable journal at {st.settings.db_path}, so no backup is its own; "
                         "nothing was removed.", "Check --db / MIRROR_DB (prune removes only a journal's own backups).")
    where, options = _location(st, location)
    result = retention.prune(where, journal=journal, last=keep_last, daily=keep_daily, weekly=keep_weekly,
                             monthly=keep_monthly, dry_run=dry_run, lock_timeout=_lock_timeout(st),
                             local=st.settings.db_path.parent, options=options)
    for u in result.unreadable:
        st.out.warn(f"{u.path}: {u.problem}; left in place and counted for no --keep-* rule.")
    if result.others:
        st.out.note(f"{_of_others(result.others)} left alone.")
    if as_json:
        st.out.json(result.to_dict())
        return
    verb = "would remove" if dry_run else "removed"
    for p in result.removed:
        st.out.result(f"{verb} {p}")
    tail = "would be removed" if dry_run else "removed"
    st.out.result(f"{len(result.kept)} kept, {len(result.removed)} {tail}")

"""Export: the database's records, in the export shape, streamed into a format writer.

Every iterator here streams rows (memory stays flat as the journal grows)
and turns each one into its export dict with the record codec
(:mod:`mirror_cli.exchange.records`, decrypting through ``crypto.fields.codec(store)``), so
an encrypted database exports plaintext with its key. Reflections come
oldest first, patterns by confidence, tensions by time, audit events by
sequence. A time window (``--since``/``--until``) limits every kind by its own
time (see "the time window" below).

Entry points: :func:`write_stream` (one document to a text stream, in its own
read transaction), :func:`write_export` (the same inside the caller's
transaction: what ``backup create`` embeds), :func:`export_text` (the json or
jsonl document as pieces of text), :func:`write_folder` (markdown or csv
files), and for ``--encrypt`` :func:`write_sealed`, which seals the document
into the streaming container of :mod:`mirror_cli.crypto` as it is produced (no
plaintext on disk), with the keys :func:`container_keys` makes: a key of its own for each
file, never the journal's.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from mirror_cli import __version__, audit, crypto
from mirror_cli.crypto import passphrase
from mirror_cli.db.store import ReadOnlyDatabase, Store
from mirror_cli.errors import LockedError
from mirror_cli.exchange import records
from mirror_cli.exchange.formats.csvfmt import write_csv_folder, write_reflections_csv
from mirror_cli.exchange.formats.jrnltext import write_jrnl_text
from mirror_cli.exchange.formats.jsondoc import json_text
from mirror_cli.exchange.formats.jsonl import jsonl_text
from mirror_cli.exchange.formats.markdown import write_markdown, write_markdown_folder
from mirror_cli.exchange.kinds import KINDS
from mirror_cli.ids import iso, now_iso
from mirror_cli.journal import reflections as journal
from mirror_cli.crypto.fields import codec as field_codec

FORMATS = ("json", "jsonl", "markdown", "csv", "jrnl")
TEXT_FORMATS = {"json": json_text, "jsonl": jsonl_text}  # the formats --encrypt seals (what import reads)


def iter_reflections(store: Store, since: datetime | None = None, until: datetime | None = None) -> Iterator[dict]:
    """Reflections oldest first, as export dicts (the shape of ``journal.Reflection.to_dict``)."""
    where, params = journal.time_window(since, until)
    sql = (f"SELECT {records.REFLECTION_COLUMNS} FROM reflections" + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY created_at ASC, id ASC")
    return map(partial(records.reflection, field_codec(store)), store.conn.execute(sql, params))


# --------------------------------------------------------------------------- the time window
#
# --since/--until bound every kind, each by its own time, in [since, until):
# reflections by created_at; a pattern occurrence only when its reflection is
# in the window, and a pattern only when it keeps one (its own fields --
# confidence, first_seen, last_seen -- are those of the whole journal); a
# tension by detected_at, and one tied to a reflection only when that
# reflection is in the window too; audit events by timestamp. So a windowed
# export names no reflection it does not hold, and imports cleanly. Without
# a window every record is exported, as it is stored.


def _window(column: str, since: datetime | None, until: datetime | None) -> tuple[str, list[str]]:
    """An SQL condition (and its parameters) for a text time *column* in [since, until)."""
    where, params = ["typeof(" + column + ") = 'text'"], []
    if since is not None:
        where.append(f"{column} >= ?")
        params.append(iso(since))
    if until is not None:
        where.append(f"{column} < ?")
        params.append(iso(until))
    return " AND ".join(where), params


def _windowed(since: datetime | None, until: datetime | None) -> bool:
    return since is not None or until is not None


_OCCURRENCE_COLUMNS = "o.pattern_id, o.reflection_id, o.evidence, o.confidence"
_OCCURRENCE_ORDER = " ORDER BY o.pattern_id, o.confidence DESC, o.reflection_id"


def _occurrence_query(since: datetime | None, until: datetime | None) -> tuple[str, list[str]]:
    if not _windowed(since, until):
        return f"SELECT {_OCCURRENCE_COLUMNS} FROM pattern_occurrences o" + _OCCURRENCE_ORDER, []
    cond, params = _window("r.created_at", since, until)
    return (f"SELECT {_OCCURRENCE_COLUMNS} FROM pattern_occurrences o JOIN reflections r ON r.id = o.reflection_id"
            f" WHERE {cond}" + _OCCURRENCE_ORDER), params


def _tension_filter(since: datetime | None, until: datetime | None) -> tuple[str, list[str]]:
    """The WHERE clause (with its leading space, or empty) of the tensions in the window."""
    if not _windowed(since, until):
        return "", []
    own, own_params = _window("t.detected_at", since, until)
    refl, refl_params = _window("r.created_at", since, until)
    return (f" WHERE {own} AND (t.reflection_id IS NULL OR EXISTS"
            f" (SELECT 1 FROM reflections r WHERE r.id = t.reflection_id AND {refl}))"), own_params + refl_params


def iter_patterns(store: Store, since: datetime | None = None, until: datetime | None = None) -> Iterator[dict]:
    """Patterns by confidence, each with its occurrences (only those of reflections in the window)."""
    f = field_codec(store)
    occurrences: dict[str, list[dict]] = {}
    sql, params = _occurrence_query(since, until)
    for pid, *row in store.conn.execute(sql, params):
        occurrences.setdefault(pid, []).append(records.occurrence(f, pid, row))
    windowed = _windowed(since, until)
    rows = store.conn.execute(
        "SELECT id, pattern_type, name, confidence, first_seen, last_seen FROM patterns"
        " ORDER BY confidence DESC, id").fetchall()
    for row in rows:
        kept = occurrences.get(row[0], [])
        if windowed and not kept:
            continue
        yield records.pattern(f, row, kept)


def iter_tensions(store: Store, since: datetime | None = None, until: datetime | None = None) -> Iterator[dict]:
    f = field_codec(store)
    where, params = _tension_filter(since, until)
    for row in store.conn.execute(
            f"SELECT t.id, t.reflection_id, t.detected_at, t.data FROM tensions t{where}"
            " ORDER BY t.detected_at, t.id", params):
        yield records.tension(f, row)


def iter_audit_events(store: Store, since: datetime | None = None, until: datetime | None = None) -> Iterator[dict]:
    lo = iso(since) if since is not None else None
    hi = iso(until) if until is not None else None
    windowed = _windowed(since, until)
    for event in audit.events(store.conn):
        ts = event.timestamp
        if windowed and not (type(ts) is str and (lo is None or ts >= lo) and (hi is None or ts < hi)):
            continue
        yield records.audit_event(event)


def counts(store: Store, kinds: Sequence[str], since: datetime | None = None,
           until: datetime | None = None) -> dict[str, int]:
    """Records per kind that an export with this window holds (the header's ``counts``)."""
    conn = store.conn
    windowed = _windowed(since, until)
    out: dict[str, int] = {}
    for kind in kinds:
        if kind == "reflections":
            out[kind] = journal.count_reflections(store, since, until)
        elif not windowed:
            out[kind] = store.count(kind)
        elif kind == "patterns":
            cond, params = _window("r.created_at", since, until)
            out[kind] = int(conn.execute(
                "SELECT count(*) FROM patterns p WHERE EXISTS (SELECT 1 FROM pattern_occurrences o"
                f" JOIN reflections r ON r.id = o.reflection_id WHERE o.pattern_id = p.id AND {cond})",
                params).fetchone()[0])
        elif kind == "tensions":
            where, params = _tension_filter(since, until)
            out[kind] = int(conn.execute(f"SELECT count(*) FROM tensions t{where}", params).fetchone()[0])
        elif kind == "audit_events":
            cond, params = _window("timestamp", since, until)
            out[kind] = int(conn.execute(f"SELECT count(*) FROM audit_events WHERE {cond}", params).fetchone()[0])
        else:
            out[kind] = store.count(kind)
    return out


def header(store: Store, kinds: Sequence[str], since: datetime | None = None,
           until: datetime | None = None) -> dict[str, Any]:
    h: dict[str, Any] = {"format": "mirror-export", "version": 1, "exported_at": now_iso(),
                         "tool_version": __version__, "schema_version": store.schema_version,
                         "counts": counts(store, kinds, since, until)}
    if since is not None:
        h["since"] = iso(since)
    if until is not None:
        h["until"] = iso(until)
    return h


def sections(store: Store, kinds: Sequence[str], since: datetime | None = None,
             until: datetime | None = None) -> dict[str, Iterable[dict]]:
    """The record iterators (export dicts) of the given kinds, in export order, each limited to the window."""
    makers = {"reflections": iter_reflections, "patterns": iter_patterns, "tensions": iter_tensions,
              "audit_events": iter_audit_events}
    return {k: makers[k](store, since, until) for k in KINDS if k in kinds}


class _Tally:
    """Counts the records drawn from each section and reports the running total."""

    def __init__(self, progress: Callable[[int], None] | None, every: int = 1000) -> None:
        self.counts: dict[str, int] = {}
        self.done = 0
        self.progress = progress
        self.every = every

    def wrap(self, secs: Mapping[str, Iterable[Any]]) -> dict[str, Iterable[Any]]:
        return {kind: self._count(kind, it) for kind, it in secs.items()}

    def _count(self, kind: str, records: Iterable[Any]) -> Iterator[Any]:
        progress, every, start = self.progress, self.every, self.done
        n = 0
        try:
            for rec in records:
                yield rec
                n += 1
                if progress is not None and (start + n) % every == 0:
                    self.counts[kind], self.done = n, start + n
                    progress(self.done)
        finally:
            self.counts[kind], self.done = n, start + n
        if progress is not None:
            progress(self.done)


def export_text(store: Store, *, fmt: str = "json", kinds: Sequence[str] = KINDS, since: datetime | None = None,
                until: datetime | None = None, progress: Callable[[int], None] | None = None,
                written: dict[str, int] | None = None) -> Iterator[str]:
    """The json or jsonl export document as pieces of text (consume it inside a read transaction).

    *written*, when given, receives the records written per kind; *progress*
    gets the running total of records.
    """
    if fmt not in TEXT_FORMATS:
        raise ValueError(f"{fmt!r} is not a json export format")
    head = header(store, kinds, since, until)
    return TEXT_FORMATS[fmt](head, _Tally(progress).wrap(sections(store, kinds, since, until)), written)


def write_export(store: Store, out: TextIO, *, fmt: str = "json", kinds: Sequence[str] = KINDS,
                 since: datetime | None = None, until: datetime | None = None,
                 progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Write one export document (json, jsonl, markdown, csv = reflections.csv, or jrnl's text journal of the
    reflections) to a text stream.

    Call it inside a read transaction (``store.read()``: the document is then
    one consistent snapshot). Returns the records written per kind.
    """
    if fmt in TEXT_FORMATS:
        written: dict[str, int] = {}
        write = out.write
        for piece in export_text(store, fmt=fmt, kinds=kinds, since=since, until=until, progress=progress,
                                 written=written):
            write(piece)
        return written
    head = header(store, kinds, since, until)
    secs = _Tally(progress).wrap(sections(store, kinds, since, until))
    if fmt == "markdown":
        return write_markdown(out, head, secs)
    if fmt == "csv":
        return {"reflections": write_reflections_csv(out, secs.get("reflections", iter(())))}
    if fmt == "jrnl":
        return {"reflections": write_jrnl_text(out, secs.get("reflections", iter(())))}
    raise ValueError(f"unknown export format {fmt!r}")


def write_stream(store: Store, out: TextIO, *, fmt: str = "json", kinds: Sequence[str] = KINDS,
                 since: datetime | None = None, until: datetime | None = None,
                 progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """:func:`write_export` inside its own read transaction, so the document is a consistent snapshot
    even while other processes write."""
    with store.read():
        return write_export(store, out, fmt=fmt, kinds=kinds, since=since, until=until, progress=progress)


def write_folder(store: Store, folder: Path, *, fmt: str, kinds: Sequence[str] = KINDS,
                 since: datetime | None = None, until: datetime | None = None,
                 progress: Callable[[int], None] | None = None,
                 counts_out: dict[str, int] | None = None) -> list[Path]:
    """Markdown or CSV into a folder (created 0700 if missing), each file written atomically.

    Returns the files written; *counts_out*, when given, receives the records
    written per kind.
    """
    tally = _Tally(progress)
    try:
        with store.read():
            head = header(store, kinds, since, until)
            secs = tally.wrap(sections(store, kinds, since, until))
            if fmt == "markdown":
                return write_markdown_folder(folder, head, secs)
            if fmt == "csv":
                return write_csv_folder(folder, head, secs)
        raise ValueError(f"format {fmt!r} does not write folders")
    finally:
        if counts_out is not None:
            counts_out.update(tally.counts)


# --------------------------------------------------------------------------- --encrypt

@dataclass(frozen=True)
class ContainerKeys:
    """What ``--encrypt`` seals an export with: the file's own data key and how its passphrase opens it."""

    dek: bytes
    kdf_params: Any  # crypto.KdfParams
    wrapped_key: str
    db_id: str
    from_database: bool  # the database's own key: only files made before each export had its own key

    def __repr__(self) -> str:
        return f"ContainerKeys(db_id={self.db_id!r}, from_database={self.from_database})"


def container_keys(store: Store, env: Mapping[str, str], *, interactive: bool, prompt: Any = None,
                   kdf_params: Any = None) -> ContainerKeys:
    """Key material for ``export --encrypt``: a new random data key for this one file.

    It is wrapped under Argon2id of a passphrase for the file with the file's
    own salt (``crypto.passphrase.export_passphrase``: MIRROR_EXPORT_PASSPHRASE[_FILE],
    MIRROR_NEW_PASSPHRASE[_FILE], MIRROR_PASSPHRASE[_FILE] or a prompt asked twice), never
    the journal's data key: whoever gets the file and its passphrase can open this export
    and nothing else. An encrypted journal must be unlocked to be read at all.
    """
    if store.encrypted and store.key is None:
        raise LockedError("this database is encrypted and no key is loaded.",
                          "Set MIRROR_PASSPHRASE_FILE or run `mirror key unlock`.")
    found = passphrase.export_passphrase(env, interactive, prompt=prompt)
    record = crypto.new_key_record(found.value, store.db_id, kdf_params=kdf_params)
    meta = crypto.CryptoMeta.from_dict(record.meta)
    return ContainerKeys(record.dek, meta.kdf, meta.wrapped_key, store.db_id, False)


class _Utf8Source(io.RawIOBase):
    """A readable binary stream of the UTF-8 of *pieces*, drawn one piece at a time as it is read."""

    def __init__(self, pieces: Iterable[str]) -> None:
        self._pieces = iter(pieces)
        self._buf = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._buf = memoryview(piece.encode("utf-8"))
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def write_encrypted(pieces: Iterable[str], dst: BinaryIO, keys: ContainerKeys,
                    progress: Callable[[int], None] | None = None) -> int:
    """Seal the text *pieces* (UTF-8) into *dst* as an export container; returns the bytes written.

    The container's encryptor reads the text as it is produced, so memory
    stays at about two chunks and no plaintext reaches the disk. If producing
    fails, the error propagates and the container is left without its last
    chunk (callers write *dst* through ``atomic_write``, which then discards it).
    """
    src = io.BufferedReader(_Utf8Source(pieces), 1 << 20)
    result = crypto.encrypt_stream(src, dst, dek=keys.dek, kdf_params=keys.kdf_params, wrapped_key=keys.wrapped_key,
                                   db_id=keys.db_id, purpose="export", progress=progress)
    return result.container_bytes


def write_sealed(store: Store, dst: BinaryIO, keys: ContainerKeys, *, fmt: str = "json",
                 kinds: Sequence[str] = KINDS, since: datetime | None = None, until: datetime | None = None,
                 progress: Callable[[int], None] | None = None) -> tuple[dict[str, int], int]:
    """``export --encrypt``: the json or jsonl document, in one read transaction, sealed into *dst*.

    Returns (records written per kind, container bytes written).
    """
    written: dict[str, int] = {}
    with store.read():
        size = write_encrypted(export_text(store, fmt=fmt, kinds=kinds, since=since, until=until,
                                           progress=progress, written=written), dst, keys)
    return written, size


@dataclass
class ExportDone:
    """What one ``mirror export`` wrote: records per kind, container bytes (``--encrypt``), and
    whether the audit chain recorded it (False: the database is read-only)."""

    counts: dict[str, int]
    sealed_bytes: int | None
    recorded: bool


def run(store: Store, *, fmt: str, destination: str, out: Any = None, folder: Path | None = None,
        keys: ContainerKeys | None = None, kinds: Sequence[str] = KINDS, since: datetime | None = None,
        until: datetime | None = None, progress: Callable[[int], None] | None = None) -> ExportDone:
    """``mirror export``: write one export and record it as one ``export.completed`` audit event.

    *folder* (markdown or csv) writes one file per kind; otherwise the document goes to the open
    stream *out* ("file" or "stdout" as *destination*), sealed with *keys* when given. The event
    holds the format, kinds and counts, never content; a read-only database exports unrecorded.
    """
    event: dict[str, Any] = {"format": fmt, "kinds": list(kinds), "encrypted": keys is not None,
                             "destination": destination}
    if _windowed(since, until):
        event["filtered"] = True
    if destination == "stdout":
        return _run_to_stdout(store, out, fmt, keys, kinds, since, until, progress, event)
    sealed_bytes = None
    if folder is not None:
        counts: dict[str, int] = {}
        write_folder(store, folder, fmt=fmt, kinds=kinds, since=since, until=until, progress=progress,
                     counts_out=counts)
    elif keys is not None:
        counts, sealed_bytes = write_sealed(store, out, keys, fmt=fmt, kinds=kinds, since=since, until=until,
                                            progress=progress)
    else:
        counts = write_stream(store, out, fmt=fmt, kinds=kinds, since=since, until=until, progress=progress)
    event["counts"] = counts
    return ExportDone(counts, sealed_bytes, store.record_if_writable("export.completed", event))


def _run_to_stdout(store: Store, out: Any, fmt: str, keys: ContainerKeys | None, kinds: Sequence[str],
                   since: datetime | None, until: datetime | None, progress: Callable[[int], None] | None,
                   event: dict[str, Any]) -> ExportDone:
    """The export to stdout, recorded BEFORE its first byte: what went to stdout cannot be taken back,
    so a failure to record it (the database locked, the disk full) must come first, with stdout empty."""
    # The kinds each format writes (markdown leaves audit events out, csv holds reflections only).
    held = ("reflections",) if fmt == "csv" else [k for k in kinds if fmt != "markdown" or k != "audit_events"]
    with _recorded_snapshot(store, "export.completed", event, held, since, until) as recorded:
        if keys is not None:
            written: dict[str, int] = {}
            size = write_encrypted(export_text(store, fmt=fmt, kinds=kinds, since=since, until=until,
                                               progress=progress, written=written), out, keys)
            return ExportDone(written, size, recorded)
        return ExportDone(write_export(store, out, fmt=fmt, kinds=kinds, since=since, until=until,
                                       progress=progress), None, recorded)


@contextlib.contextmanager
def _recorded_snapshot(store: Store, event_type: str, event: dict[str, Any], kinds: Sequence[str],
                       since: datetime | None, until: datetime | None) -> Iterator[bool]:
    """A read snapshot of *store* whose export is already recorded: yields whether it was (False: the
    database is read-only).

    A second connection takes the write lock first; then this store's read
    transaction begins, so its snapshot is the last commit, which nobody can
    change while the lock is held. The counts are taken in that snapshot and
    the event (with them) is committed by the second connection; the caller
    then reads the snapshot, which does not hold the event, exactly as an
    export read before its event was appended.
    """
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(Store.open(store.path, migrate=False, create=False))
        writer.key = store.key
        try:
            with writer.write():
                stack.enter_context(store.read())
                writer.append_event(event_type, {**event, "counts": counts(store, kinds, since, until)})
            recorded = True
        except ReadOnlyDatabase:
            if not store.conn.in_transaction:
                stack.enter_context(store.read())
            recorded = False
        writer.close()
        yield recorded

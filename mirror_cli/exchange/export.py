"""Export: the database's records, in the export shape, streamed into a format writer.

Every iterator here streams rows (memory stays flat as the journal grows) and
decrypts through ``store.fields``, so an encrypted database exports plaintext
with its key. Reflections come oldest first, patterns by confidence, tensions
by time, audit events by sequence. A time window (``--since``/``--until``)
limits every kind by its own time (see "the time window" below).

:func:`write_stream` and :func:`write_folder` take an optional *progress*
callback (records written so far) and report the records written per kind;
:func:`write_encrypted` seals whatever a writer produces into the streaming
container of :mod:`mirror_cli.crypto` through a pipe (no plaintext on disk),
and :func:`container_keys` picks the key material for ``--encrypt``.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TextIO, TypeVar

from mirror_cli import __version__, audit
from mirror_cli.journal import reflections as journal
from mirror_cli.exchange.kinds import KINDS
from mirror_cli.ids import iso, now_iso
from mirror_cli.db.store import Store

FORMATS = ("json", "jsonl", "markdown", "csv")


_REFLECTION_COLUMNS = "id, created_at, updated_at, content, response, mode, tags, local_only"

# One reflection as the JSON object Python's encoder writes for its export dict (same keys, same
# order, same escapes), built by SQLite for a plaintext row. json_quote escapes text exactly as
# the encoder does (tests/core/test_exchange_export.py checks every code point), but json(tags)
# copies string escapes as stored ("\u00e9" stays so), so tags take this path only when they are
# an array of strings without a backslash (mirror stores them so: json.dumps, ensure_ascii=False).
# Other rows -- a BLOB (ciphertext in a plain database), tags that are not such an array --
# give NULL and take the Python path, which reports or re-encodes them as before.
_REFLECTION_JSON = (
    "CASE WHEN typeof(content) = 'text' AND typeof(response) IN ('text', 'null')"
    " AND typeof(tags) = 'text' AND (tags = '[]' OR (instr(tags, '\\') = 0 AND json_valid(tags)"
    " AND json_type(tags) = 'array' AND NOT EXISTS (SELECT 1 FROM json_each(tags) WHERE type <> 'text')))"
    " AND 'blob' NOT IN (typeof(id), typeof(created_at), typeof(updated_at), typeof(mode))"
    " THEN json_object('id', id, 'created_at', created_at, 'updated_at', updated_at, 'content', content,"
    " 'response', response, 'mode', mode, 'tags', json(tags),"
    " 'local_only', json(CASE WHEN local_only THEN 'true' ELSE 'false' END)) END")


def _reflection_query(columns: str, since: datetime | None, until: datetime | None) -> tuple[str, list[str]]:
    where, params = journal.time_window(since, until)
    return (f"SELECT {columns} FROM reflections" + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY created_at ASC, id ASC"), params


def _reflection_dicts(store: Store, rows: Iterable[Sequence[Any]]) -> Iterator[dict]:
    f = store.fields
    fopen, open_tags = f.open, f.open_tags
    for rid, created, updated, content, response, mode, tags, local_only in rows:
        if not (str is type(rid) is type(created) is type(updated) is type(mode)):
            _foreign_value(rid, created, updated, mode)
        yield {"id": rid, "created_at": created, "updated_at": updated,
               "content": fopen("reflections", rid, "content", content),
               "response": None if response is None else fopen("reflections", rid, "response", response),
               "mode": mode, "tags": open_tags("reflections", rid, tags), "local_only": bool(local_only)}


def _foreign_value(rid: Any, created: Any, updated: Any, mode: Any) -> None:
    """A clear column that mirror never writes as anything but text: exit 3, naming the record and field."""
    from mirror_cli.errors import VerificationError

    for field, value in (("id", rid), ("created_at", created), ("updated_at", updated), ("mode", mode)):
        if type(value) is not str:
            kind = "binary" if isinstance(value, bytes) else "null" if value is None else type(value).__name__
            who = rid if type(rid) is str else "with a non-text id"
            raise VerificationError(
                f"reflection {who} holds a {kind} value in its {field} field, which mirror never writes: "
                "the database was changed outside mirror.",
                "Run `mirror audit verify`; restore from a backup (`mirror backup list`) if you did not make "
                "this change.")


def iter_reflections(store: Store, since: datetime | None = None, until: datetime | None = None) -> Iterator[dict]:
    """Reflections oldest first, as export dicts (the shape of ``journal.Reflection.to_dict``).

    The field codec is looked up once (``store.fields`` reads the key record
    on every access), and rows go straight to dicts.
    """
    sql, params = _reflection_query(_REFLECTION_COLUMNS, since, until)
    return _reflection_dicts(store, store.conn.execute(sql, params))


def iter_reflection_json(store: Store, since: datetime | None = None,
                         until: datetime | None = None) -> Iterator[str]:
    """The records of :func:`iter_reflections`, each as its compact JSON object text.

    A plaintext database has SQLite build the text (no Python objects per
    field); an encrypted one opens each row and encodes the dict.
    """
    from mirror_cli.exchange.formats.jsondoc import _encode

    if store.encrypted:
        yield from _sealed_reflection_json(store, since, until)
        return
    sql, params = _reflection_query(f"{_REFLECTION_JSON}, rowid", since, until)
    conn = store.conn
    for text, rowid in conn.execute(sql, params):
        if text is None:
            row = conn.execute(f"SELECT {_REFLECTION_COLUMNS} FROM reflections WHERE rowid = ?", (rowid,))
            text = _encode(next(_reflection_dicts(store, row)))
        yield text


def _sealed_reflection_json(store: Store, since: datetime | None, until: datetime | None) -> Iterator[str]:
    """The text ``_encode`` gives for each sealed row, built without a dict per row (``mirror_cli.sealedrows``).

    Each row is opened in one call and its strings escaped by the C string
    encoder. A large window is built on two cores (``mirror_cli.exportsplit``:
    a helper process builds the later half from the same state of the
    database, or this process does), with the same text.
    """
    from mirror_cli import exportsplit, sealedrows

    where, params = journal.time_window(since, until)
    return exportsplit.reflection_json(store, where, params,
                                       lambda rows: sealedrows.export_rows_json(rows, store.fields))


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
    f = store.fields
    occurrences: dict[str, list[dict]] = {}
    sql, params = _occurrence_query(since, until)
    for pid, rid, evidence, confidence in store.conn.execute(sql, params):
        occurrences.setdefault(pid, []).append({
            "reflection_id": rid,
            "evidence": None if evidence is None else f.open("pattern_occurrences", f"{pid}:{rid}", "evidence", evidence),
            "confidence": confidence})
    windowed = _windowed(since, until)
    rows = store.conn.execute(
        "SELECT id, pattern_type, name, confidence, first_seen, last_seen FROM patterns"
        " ORDER BY confidence DESC, id").fetchall()
    for pid, ptype, name, confidence, first, last in rows:
        kept = occurrences.get(pid, [])
        if windowed and not kept:
            continue
        yield {"id": pid, "pattern_type": ptype, "name": f.open("patterns", pid, "name", name),
               "confidence": confidence, "first_seen": first, "last_seen": last,
               "occurrences": kept}


def iter_tensions(store: Store, since: datetime | None = None, until: datetime | None = None) -> Iterator[dict]:
    f = store.fields
    where, params = _tension_filter(since, until)
    for tid, rid, detected_at, data in store.conn.execute(
            f"SELECT t.id, t.reflection_id, t.detected_at, t.data FROM tensions t{where}"
            " ORDER BY t.detected_at, t.id", params):
        d = json.loads(f.open("tensions", tid, "data", data))
        yield {"id": tid, "name": d.get("name"), "axis_a": d.get("axis_a"), "axis_b": d.get("axis_b"),
               "position": d.get("position"), "intensity": d.get("intensity"), "reflection_id": rid,
               "detected_at": detected_at}


def iter_audit_events(store: Store, since: datetime | None = None, until: datetime | None = None) -> Iterator[dict]:
    lo = iso(since) if since is not None else None
    hi = iso(until) if until is not None else None
    windowed = _windowed(since, until)
    for event in audit.events(store.conn):
        ts = event.timestamp
        if windowed and not (type(ts) is str and (lo is None or ts >= lo) and (hi is None or ts < hi)):
            continue
        yield event.to_dict()


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
             until: datetime | None = None, *, encoded: bool = False) -> dict[str, Iterable[dict]]:
    """The record iterators of the given kinds, in export order, each limited to the time window.

    *encoded*: reflections come as a :class:`~mirror_cli.exchange.formats.jsondoc.Encoded`
    section (JSON texts, for the JSON writers) instead of dicts.
    """
    def reflections() -> Iterable[Any]:
        if encoded:
            from mirror_cli.exchange.formats.jsondoc import Encoded

            return Encoded(iter_reflection_json(store, since, until))
        return iter_reflections(store, since, until)

    makers = {"reflections": reflections, "patterns": lambda: iter_patterns(store, since, until),
              "tensions": lambda: iter_tensions(store, since, until),
              "audit_events": lambda: iter_audit_events(store, since, until)}
    return {k: makers[k]() for k in KINDS if k in kinds}


class _Tally:
    """Counts the records drawn from each section and reports the running total."""

    def __init__(self, progress: Callable[[int], None] | None, every: int = 1000) -> None:
        self.counts: dict[str, int] = {}
        self.done = 0
        self.progress = progress
        self.every = every

    def wrap(self, secs: Mapping[str, Iterable[Any]]) -> dict[str, Iterable[Any]]:
        from mirror_cli.exchange.formats.jsondoc import Encoded

        return {kind: Encoded(self._count(kind, it)) if isinstance(it, Encoded) else self._count(kind, it)
                for kind, it in secs.items()}

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


def write_stream(store: Store, out: TextIO, *, fmt: str = "json", kinds: Sequence[str] = KINDS,
                 since: datetime | None = None, until: datetime | None = None,
                 progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Write one export document to a text stream (json, jsonl, markdown, or csv = reflections.csv).

    Runs inside one read transaction, so the document is a consistent snapshot
    even while other processes write. Returns the records written per kind;
    *progress* gets the running total of records.
    """
    with store.read():
        head = header(store, kinds, since, until)
        tally = _Tally(progress)
        secs = tally.wrap(sections(store, kinds, since, until, encoded=fmt in ("json", "jsonl")))
        if fmt == "json":
            from mirror_cli.exchange.formats.jsondoc import write_json

            return write_json(out, head, secs)
        if fmt == "jsonl":
            from mirror_cli.exchange.formats.jsonl import write_jsonl

            return write_jsonl(out, head, secs)
        if fmt == "markdown":
            from mirror_cli.exchange.formats.markdown import write_markdown

            return write_markdown(out, head, secs)
        if fmt == "csv":
            from mirror_cli.exchange.formats.csvfmt import write_reflections_csv

            n = write_reflections_csv(out, secs.get("reflections", iter(())))
            return {"reflections": n}
    raise ValueError(f"unknown export format {fmt!r}")


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
        return _write_folder(store, folder, fmt, kinds, since, until, tally)
    finally:
        if counts_out is not None:
            counts_out.update(tally.counts)


def _write_folder(store: Store, folder: Path, fmt: str, kinds: Sequence[str], since: datetime | None,
                  until: datetime | None, tally: _Tally) -> list[Path]:
    with store.read():
        head = header(store, kinds, since, until)
        secs = tally.wrap(sections(store, kinds, since, until))
        if fmt == "markdown":
            from mirror_cli.exchange.formats.markdown import write_markdown_folder

            return write_markdown_folder(folder, head, secs)
        if fmt == "csv":
            from mirror_cli.exchange.formats.csvfmt import write_csv_folder

            return write_csv_folder(folder, head, secs)
    raise ValueError(f"format {fmt!r} does not write folders")


# --------------------------------------------------------------------------- --encrypt

T = TypeVar("T")


@dataclass(frozen=True)
class ContainerKeys:
    """What ``--encrypt`` seals an export with: a data key and how the passphrase opens it."""

    dek: bytes
    kdf_params: Any  # crypto.KdfParams
    wrapped_key: str
    db_id: str
    from_database: bool  # the database's own key (else a fresh one wrapped by a new passphrase)

    def __repr__(self) -> str:
        return f"ContainerKeys(db_id={self.db_id!r}, from_database={self.from_database})"


def container_keys(store: Store, env: Mapping[str, str], *, interactive: bool, prompt: Any = None,
                   kdf_params: Any = None) -> ContainerKeys:
    """Key material for ``export --encrypt``.

    An encrypted database uses its data key and its key record (KDF parameters
    and wrapped key), so the passphrase that opens the database opens the
    export. A plain database takes a passphrase from MIRROR_NEW_PASSPHRASE[_FILE],
    MIRROR_PASSPHRASE[_FILE] or a prompt asked twice, and wraps a fresh data key with it.
    """
    from mirror_cli import crypto
    from mirror_cli.crypto import passphrase as keys

    if store.encrypted:
        meta = crypto.CryptoMeta.from_dict(json.loads(store.meta("crypto") or "null"))
        if store.data_key is None:
            from mirror_cli.errors import LockedError

            raise LockedError("this database is encrypted and no key is loaded.",
                              "Set MIRROR_PASSPHRASE_FILE or run `mirror key unlock`.")
        return ContainerKeys(store.data_key, meta.kdf, meta.wrapped_key, store.db_id, True)
    found = keys.new_passphrase(env, interactive, prompt=prompt, allow_current=True)
    record = crypto.new_key_record(found.value, store.db_id, kdf_params=kdf_params)
    meta = crypto.CryptoMeta.from_dict(record.meta)
    return ContainerKeys(record.dek, meta.kdf, meta.wrapped_key, store.db_id, False)


def write_encrypted(produce: Callable[[TextIO], T], dst: BinaryIO, keys: ContainerKeys,
                    progress: Callable[[int], None] | None = None) -> tuple[T, int]:
    """Run ``produce(text_stream)`` and seal everything it writes into *dst*; returns (its result, bytes written).

    The writer runs in this thread and writes UTF-8 into a pipe; a second
    thread reads the other end and encrypts it chunk by chunk into *dst*, so
    memory stays at about two chunks and no plaintext reaches the disk. If
    the writer fails, the error is raised after the container is closed
    (callers write *dst* through ``atomic_write``, which then discards it).
    """
    from mirror_cli import crypto

    rfd, wfd = os.pipe()
    reader = os.fdopen(rfd, "rb", buffering=0)
    sink = os.fdopen(wfd, "wb", buffering=1 << 16)
    text = io.TextIOWrapper(sink, encoding="utf-8", newline="", write_through=False)
    outcome: dict[str, Any] = {}

    def encrypt() -> None:
        try:
            outcome["result"] = crypto.encrypt_stream(
                reader, dst, dek=keys.dek, kdf_params=keys.kdf_params, wrapped_key=keys.wrapped_key,
                db_id=keys.db_id, purpose="export", progress=progress)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            outcome["error"] = exc
        finally:
            reader.close()  # a writer still writing now gets EPIPE instead of blocking

    thread = threading.Thread(target=encrypt, name="mirror-export-encrypt", daemon=True)
    thread.start()
    produced: Any = None
    failure: BaseException | None = None
    try:
        produced = produce(text)
        text.flush()
    except BaseException as exc:  # noqa: BLE001 - decided below
        failure = exc
    finally:
        try:
            text.close()
        except OSError:
            pass
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    if failure is not None:
        raise failure
    return produced, outcome["result"].container_bytes

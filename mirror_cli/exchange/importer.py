"""Import: plan and apply a validated document, all or nothing (CONTRACT.md, "Your data, out and in").

Reading (:func:`read_document`) turns bytes or a binary stream -- plain, or
a ``mirror export --encrypt`` container -- into a validated
:class:`~mirror_cli.exchange.document.ImportDocument`; every record is checked
before anything is written (phase-1 ``validate``). :func:`apply_import` then
plans what each record does and, unless it is a dry run, writes everything
in ONE ``store.write()`` transaction together with ONE audit event
(``data.imported``, counts only) that vouches for the stored digest of every
reflection it added, updated or (``replace``) removed. Nothing is written
when anything fails.

Rules
-----

``merge`` (the default) is idempotent:

* reflections: an id not in the database is added; an id that is, is
  replaced when the file's ``updated_at`` is newer, else skipped. An id
  deleted here (its tombstone) stays deleted -- skipped and counted in
  ``stay_deleted`` -- unless the file's copy was changed after the deletion;
* patterns: matched by id; replaced when the file's ``last_seen`` is newer,
  else skipped. A pattern whose type and name the database already holds
  under another id is skipped (the analysis keys patterns by type and name);
* tensions: matched by id; replaced when ``detected_at`` is newer, else skipped.

``replace`` first removes every stored record of the kinds being imported
(all three by default; ``--only`` narrows it) -- reflections leave
tombstones, as ``mirror delete`` does -- then adds every record of the file.
Before it changes anything it keeps the database as it was beside it, as
``<db>.before-replace-<UTC time>`` (as ``backup restore`` keeps
``before-restore`` copies). A file exported with ``--since``/``--until``
(its header names the window) holds only part of a journal: ``replace``
refuses it (exit 2) rather than delete everything outside the window.

Either way: imported ids are kept; audit events in a file are never copied
into the local chain (they are counted as skipped); a pattern occurrence
whose reflection is not in the database after the import is dropped (an
export made with ``--only patterns``), and so is a tension tied to such a reflection
(counted as skipped). The reflections after the import are the file's (with
``replace``) or the stored ones and the file's (``merge``) when reflections
are imported, and the stored ones when they are not (``--only patterns``). When patterns or tensions are written, the pattern
engine's caches (``analysis_state``, ``pattern_stats``, meta ``analysis``)
are reset so the next ``mirror patterns analyze`` starts from scratch;
imported patterns get provisional stats (their occurrences) so that
``patterns list`` shows them until then.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from mirror_cli import audit, crypto
from mirror_cli.db.scrub import forget_deleted_words
from mirror_cli.db.store import Store
from mirror_cli.errors import InvalidInputError, OperationError, UsageError
from mirror_cli.exchange import jrnlids, records
from mirror_cli.exchange.detect import Prefixed, load_document
from mirror_cli.exchange.document import ImportDocument
from mirror_cli.exchange.kinds import KINDS
from mirror_cli.exchange.validate import normalize_time
from mirror_cli.ids import now_iso
from mirror_cli.journal import reflections as journal
from mirror_cli.localfs import FILE_MODE, aside_path, fsync_file, io_error, read_full
from mirror_cli.patterns.detect import STRONG_CONFIDENCE
from mirror_cli.crypto.fields import codec as field_codec

MODES = ("merge", "replace")
DATA_KINDS = ("reflections", "patterns", "tensions")
_SCALE = 10_000
_ENGINE_META = "analysis"


@dataclass
class ImportResult:
    """What an import did (or, for a dry run, would do), per kind."""

    dry_run: bool
    mode: str
    source_format: str
    added: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})
    updated: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})
    skipped: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})
    deleted: dict[str, int] = field(default_factory=lambda: {k: 0 for k in DATA_KINDS})
    dropped_occurrences: int = 0
    encrypted_source: bool = False
    before: str | None = None  # replace: the copy of the database kept before anything was removed
    stay_deleted: int = 0  # merge: reflections of the file deleted here after their last change (in skipped)

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "mode": self.mode, "format": self.source_format,
                "added": dict(self.added), "updated": dict(self.updated), "skipped": dict(self.skipped),
                "deleted": dict(self.deleted), "dropped_occurrences": self.dropped_occurrences,
                "encrypted": self.encrypted_source, "before": self.before,
                "stay_deleted": self.stay_deleted}

    @property
    def changed(self) -> int:
        return sum(self.added.values()) + sum(self.updated.values()) + sum(self.deleted.values())


# --------------------------------------------------------------------------- reading


class _Recorder:
    """Reads from *fh* and remembers what it read (to replay a container header)."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self.seen = bytearray()

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n) or b""
        self.seen += data
        return data


def _position(fh: IO[bytes]) -> int | None:
    """Where a seekable stream stands (None for a pipe or anything that cannot seek back)."""
    try:
        return fh.tell() if fh.seekable() else None
    except (AttributeError, OSError, ValueError):
        return None


def _rewound(fh: IO[bytes], position: int) -> bool:
    try:
        return fh.seek(position) == position
    except (AttributeError, OSError, ValueError):
        return False


def read_document(source: bytes | IO[bytes], fmt: str = "auto", *, dek: bytes | None = None,
                  passphrase: Callable[[], str] | None = None) -> tuple[ImportDocument, bool]:
    """Load and validate an import from bytes or a binary stream; returns (document, was_encrypted).

    A ``mirror export --encrypt`` container is opened with *dek* when it is
    the right key (the same database), else with the passphrase from the
    *passphrase* callable (asked only then). It is decrypted whole, in memory
    (the plaintext never touches the disk), before the format reader sees a
    byte: a damaged container is exit 3 whatever its verified prefix holds.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not crypto.is_container(data[:8]):
            return load_document(data, fmt), False  # read as it is, no copy through a stream
        source = io.BytesIO(data)
    start = _position(source)
    head = read_full(source, 8)
    if not crypto.is_container(head) and start is not None and _rewound(source, start):
        return load_document(source, fmt), False  # a regular file: read directly, without the replay layer
    stream = io.BufferedReader(Prefixed(head, source), 1 << 20)
    if not crypto.is_container(head):
        return load_document(stream, fmt), False

    recorder = _Recorder(stream)
    header = crypto.read_container_header(recorder)  # type: ignore[arg-type]
    if header.purpose != "export":
        raise InvalidInputError("this encrypted file holds a mirror backup, not an export.",
                                "Restore it with `mirror backup restore FILE`; nothing was changed.")
    key = crypto.container_key(header, dek=dek, passphrase=passphrase)
    replay = io.BufferedReader(Prefixed(bytes(recorder.seen), stream), 1 << 20)
    plain = io.BytesIO()
    crypto.decrypt_stream(replay, plain, dek=key, expected_purpose="export")
    return load_document(plain.getvalue(), fmt), True


# --------------------------------------------------------------------------- planning


def window(doc: ImportDocument) -> str | None:
    """The time window a windowed export's header records (``since ... until ...``), or None."""
    parts = [f"{key} {doc.header[key]}" for key in ("since", "until") if doc.header.get(key) is not None]
    return " and ".join(parts) or None


def check_mode(doc: ImportDocument, mode: str) -> None:
    """Refuse (exit 2) ``replace`` with a file that holds only a time window of a journal."""
    if mode == "replace" and (span := window(doc)) is not None:
        raise UsageError(f"this file was exported with a time window ({span}): replacing the journal with it "
                         "would delete everything outside that window; nothing was changed.",
                         "Import it with --mode merge, or replace from an export made without --since/--until.")


@dataclass
class _Plan:
    result: ImportResult
    reflections: list[tuple[dict, bool]] = field(default_factory=list)  # (record, is_update)
    patterns: list[tuple[dict, list[dict]]] = field(default_factory=list)  # (record, kept occurrences)
    tensions: list[dict] = field(default_factory=list)
    removed_reflections: list[str] = field(default_factory=list)  # replace: ids removed and not re-added


def _newer(file_value: str | None, local_value: str | None) -> bool:
    if file_value is None:
        return False
    if local_value is None:
        return True
    return file_value > (normalize_time(local_value) or local_value)


def _plan(store: Store, doc: ImportDocument, mode: str, kinds: tuple[str, ...], dry_run: bool) -> _Plan:
    conn = store.conn
    f = field_codec(store)
    result = ImportResult(dry_run=dry_run, mode=mode, source_format=doc.source_format)
    plan = _Plan(result)
    result.skipped["audit_events"] = len(doc.records.get("audit_events", ()))
    replace = mode == "replace"

    # Always read: occurrences and tensions are checked against the reflections the database holds
    # after the import, which are the stored ones whenever reflections are not imported (even with
    # replace, which removes only the kinds being imported).
    local_refl: dict[str, str] = dict(conn.execute("SELECT id, updated_at FROM reflections"))
    # Reflections: decide per record.
    file_refl = doc.records["reflections"] if "reflections" in kinds else []
    if replace and "reflections" in kinds:
        result.deleted["reflections"] = len(local_refl)
        incoming = {r["id"] for r in file_refl}
        plan.removed_reflections = [rid for rid in local_refl if rid not in incoming]
        plan.reflections = [(r, False) for r in file_refl]
        result.added["reflections"] = len(file_refl)
        present = set(incoming)
    else:
        # A reflection deleted here stays deleted unless the file's copy was changed after the deletion.
        deleted_here: dict[str, str] = dict(conn.execute(
            "SELECT id, deleted_at FROM tombstones WHERE kind = 'reflection'")) if file_refl else {}
        if doc.source_format == "jrnl":
            jrnlids.adopt(store, file_refl, doc.legacy_ids, doc.jrnl_slots, set(local_refl) | set(deleted_here))
        for r in file_refl:
            local = local_refl.get(r["id"])
            gone = deleted_here.get(r["id"]) if local is None else None
            if gone is not None and not _newer(r["updated_at"], gone):
                result.skipped["reflections"] += 1
                result.stay_deleted += 1
            elif local is None:
                plan.reflections.append((r, False))
                result.added["reflections"] += 1
            elif _newer(r["updated_at"], local) or (doc.source_format == "jrnl" and jrnlids.edited_in_jrnl(store, r)):
                plan.reflections.append((r, True))
                result.updated["reflections"] += 1
            else:
                result.skipped["reflections"] += 1
        present = set(local_refl) | {r["id"] for r, _ in plan.reflections}

    # Patterns.
    if "patterns" in kinds:
        local_pat: dict[str, tuple[str, str | None]] = {}
        by_key: dict[tuple[str, str], str] = {}
        rows = conn.execute("SELECT id, pattern_type, name, last_seen FROM patterns").fetchall()
        if replace:
            result.deleted["patterns"] = len(rows)
        else:
            for pid, ptype, name, last_seen in rows:
                local_pat[pid] = (ptype, last_seen)
                by_key[(ptype, f.open("patterns", pid, "name", name))] = pid
        for p in doc.records["patterns"]:
            key = (p["pattern_type"], p["name"])
            owner = by_key.get(key)
            if p["id"] in local_pat:
                if owner not in (None, p["id"]) or not _newer(p["last_seen"], local_pat[p["id"]][1]):
                    result.skipped["patterns"] += 1
                    continue
                result.updated["patterns"] += 1
            elif owner is not None:
                result.skipped["patterns"] += 1  # same type and name under another id (or twice in the file)
                continue
            else:
                result.added["patterns"] += 1
            by_key[key] = p["id"]
            kept = [o for o in p["occurrences"] if o["reflection_id"] in present]
            result.dropped_occurrences += len(p["occurrences"]) - len(kept)
            plan.patterns.append((p, kept))

    # Tensions.
    if "tensions" in kinds:
        local_ten: dict[str, str] = {}
        if replace:
            result.deleted["tensions"] = store.count("tensions")
        else:
            local_ten = dict(conn.execute("SELECT id, detected_at FROM tensions"))
        for t in doc.records["tensions"]:
            if t["reflection_id"] is not None and t["reflection_id"] not in present:
                result.skipped["tensions"] += 1
                continue
            if t["id"] in local_ten:
                if not _newer(t["detected_at"], local_ten[t["id"]]):
                    result.skipped["tensions"] += 1
                    continue
                result.updated["tensions"] += 1
            else:
                result.added["tensions"] += 1
            plan.tensions.append(t)
    return plan


# --------------------------------------------------------------------------- applying


IMPORT_CACHE_KIB = 256 * 1024  # page cache for a large import (PRAGMA cache_size, KiB)
_FTS_INSERT_TRIGGER = "reflections_fts_insert"
BULK_MIN = 500  # from this many new reflections, the full-text index is filled in one statement


# journal.insert_row's statement, run with executemany (one call per chunk, not per row).
_CHUNK = 2048


def _write_reflections(store: Store, plan: _Plan, rev: int, vouches: list, progress) -> audit.DigestedVouches:
    """Write the planned reflections as ``journal.insert_row`` does and vouch for each stored row.

    Returns *vouches* (extended with the written rows' digests) as the list
    the import event vouches for, its digest computed.

    Rows (``records.reflection_row``, sealed by the store's field codec when it
    is encrypted) go in with ``executemany`` in chunks. For a large import the
    full-text index is filled in one ``INSERT ... SELECT`` after the rows
    (about 3x faster than its per-row trigger): the insert trigger is dropped
    for the duration and re-created from its own stored SQL, all inside the
    import's transaction, so a failure rolls the schema back too. The digests
    the import event vouches for are computed from the values just stored
    (the columns' affinities keep them as given, so ``audit.row_digest`` of
    them is the digest of the stored row; ``mirror audit verify`` checks exactly that).
    """
    conn = store.conn
    f = field_codec(store)
    trigger = None
    if sum(1 for _, update in plan.reflections if not update) >= BULK_MIN:
        row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?",
                           (_FTS_INSERT_TRIGGER,)).fetchone()
        trigger = row[0] if row else None
    first_new = int(conn.execute("SELECT coalesce(max(rowid), 0) FROM reflections").fetchone()[0])
    tombstones = conn.execute("SELECT 1 FROM tombstones WHERE kind = 'reflection' LIMIT 1").fetchone() is not None
    if trigger is not None:
        conn.execute(f"DROP TRIGGER {_FTS_INSERT_TRIGGER}")
    stored: list[tuple] = []
    recs = plan.reflections
    for start in range(0, len(recs), _CHUNK):
        chunk = recs[start:start + _CHUNK]
        rows = [records.reflection_row(f, rec, rev) for rec, _ in chunk]
        conn.executemany(journal.UPSERT_SQL, rows)
        if tombstones:  # an imported reflection is alive again (as journal.insert_row does)
            conn.executemany("DELETE FROM tombstones WHERE kind = 'reflection' AND id = ?", [(r[0],) for r in rows])
        for rec, _ in chunk:
            if "visibility" in rec:
                conn.execute("UPDATE reflections SET visibility = ? WHERE id = ?", (rec["visibility"], rec["id"]))
        stored.extend(rows)
        if progress is not None and len(chunk) == _CHUNK:
            progress(start + _CHUNK)
    if trigger is not None:
        # Same rows and condition as the trigger (and migration 0004's rebuild).
        conn.execute("INSERT INTO reflections_fts (rowid, content, response, tags)"
                     " SELECT rowid, content, response, tags FROM reflections"
                     " WHERE rowid > ? AND typeof(content) = 'text'", (first_new,))
        conn.execute(trigger)
    digest, key = audit.row_digest, (store.key.vouch_key if store.key is not None else None)
    vouches.extend([("reflection", r[0], digest(r[:8], key)) for r in stored])
    return audit.DigestedVouches(vouches)


def _write_patterns(store: Store, plan: _Plan, rev: int) -> None:
    conn = store.conn
    f = field_codec(store)
    now = now_iso()
    created = {}
    for p, kept in plan.patterns:
        pid = p["id"]
        conn.execute(
            "INSERT INTO patterns (id, pattern_type, name, confidence, first_seen, last_seen, created_at,"
            " updated_at, rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
            " pattern_type = excluded.pattern_type, name = excluded.name, confidence = excluded.confidence,"
            " first_seen = excluded.first_seen, last_seen = excluded.last_seen, updated_at = excluded.updated_at,"
            " rev = excluded.rev",
            (*records.pattern_row(f, p), now, now, rev))
        conn.execute("DELETE FROM pattern_occurrences WHERE pattern_id = ?", (pid,))
        days: dict[str, list[int]] = {}
        units = strong = 0
        for o in kept:
            rid = o["reflection_id"]
            conn.execute(
                "INSERT INTO pattern_occurrences (pattern_id, reflection_id, evidence, confidence, intensity)"
                " VALUES (?, ?, ?, ?, ?)", records.occurrence_row(f, pid, o))
            u = int(round(o["confidence"] * _SCALE))
            units += u
            strong += o["confidence"] >= STRONG_CONFIDENCE
            at = created.get(rid)
            if at is None:
                row = conn.execute("SELECT created_at FROM reflections WHERE id = ?", (rid,)).fetchone()
                at = created[rid] = row[0] if row else now
            d = days.setdefault(at[:10], [0, 0])
            d[0] += 1
            d[1] += u
        # Provisional stats (a cache; the next analysis rebuilds them) so `patterns list` shows it.
        timeline = json.dumps(days, separators=(",", ":"))
        conn.execute("INSERT OR REPLACE INTO pattern_stats (pattern_id, support, evidence_units, strong, timeline)"
                     " VALUES (?, ?, ?, ?, ?)",
                     (pid, len(kept), units, strong, f.seal("pattern_stats", pid, "timeline", timeline)))


def _write_tensions(store: Store, plan: _Plan, rev: int) -> None:
    conn = store.conn
    f = field_codec(store)
    for t in plan.tensions:
        extra = None
        if t["reflection_id"] is None:
            # The engine's aggregate shape, so `tensions list` shows it until the next analysis.
            extra = {"count": 1, "first_seen": t["detected_at"], "last_seen": t["detected_at"],
                     "days": {t["detected_at"][:10]: [1, int(round(t["position"] * _SCALE)),
                                                      int(round(t["intensity"] * _SCALE))]}}
        conn.execute(
            "INSERT INTO tensions (id, reflection_id, detected_at, data, rev) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET reflection_id = excluded.reflection_id,"
            " detected_at = excluded.detected_at, data = excluded.data, rev = excluded.rev",
            (*records.tension_row(f, t, extra), rev))


def _reset_engine_cache(store: Store) -> None:
    """Forget the pattern engine's incremental state: the next analysis starts from scratch."""
    conn = store.conn
    tables = {r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('analysis_state', 'pattern_stats')")}
    if "analysis_state" in tables:
        conn.execute("DELETE FROM analysis_state")
    store.set_meta(_ENGINE_META, None)


def apply_import(store: Store, doc: ImportDocument, *, mode: str = "merge", kinds: tuple[str, ...] | None = None,
                 dry_run: bool = False, progress: Callable[[int], None] | None = None,
                 source: str | None = None) -> ImportResult:
    """Import *doc* into *store* (all or nothing, one transaction and one audit event).

    *kinds*: the data kinds to import (``--only``; audit events never are).
    A dry run plans inside a read transaction and writes nothing.
    """
    if mode not in MODES:
        raise UsageError(f"unknown import mode {mode!r}.", "Use merge or replace.")
    check_mode(doc, mode)
    chosen = tuple(k for k in DATA_KINDS if kinds is None or k in kinds)
    if dry_run:
        with store.read():
            return _plan(store, doc, mode, chosen, True).result
    with _page_cache(store, len(doc.records["reflections"]) if "reflections" in chosen else 0):
        return _apply(store, doc, mode, chosen, progress, source)


@contextlib.contextmanager
def _page_cache(store: Store, reflections: int) -> Iterator[None]:
    """A larger SQLite page cache while a large import is written (then the previous size again).

    With the default 2 MB the transaction's pages spill to the WAL and are
    read back while the full-text index and the audit vouches are written;
    a cache of up to :data:`IMPORT_CACHE_KIB` (allocated only as pages are
    used) keeps them in memory: about a fifth less CPU for 100,000 reflections
    with 128 MB, and about 0.4 s less again with 256 MB, which holds the whole
    transaction of 100,000 (about 200 MB of pages; peak RSS 25-60 MB more).
    """
    if reflections < BULK_MIN:
        yield
        return
    conn = store.conn
    before = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA cache_size = {int(before)}")


def _keep_copy(store: Store) -> Path:
    """Copy the database as it is before a replace to ``<db>.before-replace-<UTC time>`` (mode 0600).

    Called inside the import's write transaction before it changes anything:
    a second connection reads the last commit, which no other process can
    change while this one holds the write lock, so the copy is exactly what
    the import replaces. ``VACUUM INTO`` writes it whole and compact.
    """
    db = Path(os.path.realpath(store.path))
    before = aside_path(db, "before-replace", datetime.now(timezone.utc))
    try:
        os.close(os.open(before, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))  # VACUUM INTO fills it
    except OSError as exc:
        raise io_error("keep a copy of the database as", before, exc) from None
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
        try:
            conn.execute("VACUUM INTO ?", (str(before),))
        finally:
            conn.close()
        fsync_file(before)
    except OSError as exc:
        with contextlib.suppress(OSError):
            before.unlink()
        raise io_error("keep a copy of the database as", before, exc) from None
    except sqlite3.Error as exc:
        with contextlib.suppress(OSError):
            before.unlink()
        raise OperationError(f"cannot keep a copy of the database as {before}: {exc}; nothing was changed.",
                             "Free some space (the copy is as large as the journal) and try again.") from None
    return before


def _apply(store: Store, doc: ImportDocument, mode: str, chosen: tuple[str, ...],
           progress: Callable[[int], None] | None, source: str | None) -> ImportResult:
    with store.write() as conn:
        plan = _plan(store, doc, mode, chosen, False)
        result = plan.result
        rev = store.tick()
        vouches: list[tuple[str, str, str | None]] = []
        replace = mode == "replace"
        if replace and any(result.deleted.values()):
            result.before = str(_keep_copy(store))
        if replace:
            if "reflections" in chosen:
                when = now_iso()
                conn.executemany(
                    "INSERT INTO tombstones (kind, id, deleted_at, rev) VALUES ('reflection', ?, ?, ?)"
                    " ON CONFLICT (kind, id) DO UPDATE SET deleted_at = excluded.deleted_at, rev = excluded.rev",
                    [(rid, when, rev) for rid in plan.removed_reflections])
                conn.execute("DELETE FROM reflections")
                vouches.extend(("reflection", rid, None) for rid in plan.removed_reflections)
            if "patterns" in chosen:
                conn.execute("DELETE FROM patterns")
            if "tensions" in chosen:
                conn.execute("DELETE FROM tensions")
        vouched = _write_reflections(store, plan, rev, vouches, progress)
        if result.deleted["reflections"] or result.updated["reflections"]:
            forget_deleted_words(conn)  # as delete and edit: no word of a removed or rewritten text stays indexed
        if plan.patterns:
            _write_patterns(store, plan, rev)
        if plan.tensions:
            _write_tensions(store, plan, rev)
        if plan.patterns or plan.tensions or (replace and (result.deleted["patterns"] or result.deleted["tensions"])):
            _reset_engine_cache(store)
        data: dict[str, Any] = {"mode": mode, "format": doc.source_format,
                                "added": {k: result.added[k] for k in DATA_KINDS},
                                "updated": {k: result.updated[k] for k in DATA_KINDS},
                                "skipped": dict(result.skipped)}
        if replace:
            data["deleted"] = dict(result.deleted)
        if source is not None:
            data["source"] = source
        store.append_event("data.imported", data, vouched)
    return result

"""Export: the database's records, in the export shape, streamed into a format writer.

Every iterator here streams rows (memory stays flat as the journal grows) and
decrypts through ``store.fields``, so an encrypted database exports plaintext
with its key. Reflections come oldest first, patterns by confidence, tensions
by time, audit events by sequence.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from mirror_cli import __version__, audit, journal
from mirror_cli.exchange.kinds import KINDS
from mirror_cli.ids import iso, now_iso
from mirror_cli.store import Store

FORMATS = ("json", "jsonl", "markdown", "csv")


def iter_reflections(store: Store, since: datetime | None = None, until: datetime | None = None) -> Iterator[dict]:
    for r in journal.iter_reflections(store, since=since, until=until, oldest_first=True):
        yield r.to_dict()


def iter_patterns(store: Store) -> Iterator[dict]:
    f = store.fields
    occurrences: dict[str, list[dict]] = {}
    for pid, rid, evidence, confidence in store.conn.execute(
            "SELECT pattern_id, reflection_id, evidence, confidence FROM pattern_occurrences"
            " ORDER BY pattern_id, confidence DESC, reflection_id"):
        occurrences.setdefault(pid, []).append({
            "reflection_id": rid,
            "evidence": None if evidence is None else f.open("pattern_occurrences", f"{pid}:{rid}", "evidence", evidence),
            "confidence": confidence})
    rows = store.conn.execute(
        "SELECT id, pattern_type, name, confidence, first_seen, last_seen FROM patterns"
        " ORDER BY confidence DESC, id").fetchall()
    for pid, ptype, name, confidence, first, last in rows:
        yield {"id": pid, "pattern_type": ptype, "name": f.open("patterns", pid, "name", name),
               "confidence": confidence, "first_seen": first, "last_seen": last,
               "occurrences": occurrences.get(pid, [])}


def iter_tensions(store: Store) -> Iterator[dict]:
    f = store.fields
    for tid, rid, detected_at, data in store.conn.execute(
            "SELECT id, reflection_id, detected_at, data FROM tensions ORDER BY detected_at, id"):
        d = json.loads(f.open("tensions", tid, "data", data))
        yield {"id": tid, "name": d.get("name"), "axis_a": d.get("axis_a"), "axis_b": d.get("axis_b"),
               "position": d.get("position"), "intensity": d.get("intensity"), "reflection_id": rid,
               "detected_at": detected_at}


def iter_audit_events(store: Store) -> Iterator[dict]:
    for event in audit.events(store.conn):
        yield event.to_dict()


def counts(store: Store, kinds: Sequence[str], since: datetime | None = None,
           until: datetime | None = None) -> dict[str, int]:
    out: dict[str, int] = {}
    for kind in kinds:
        if kind == "reflections":
            out[kind] = journal.count_reflections(store, since, until)
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
             until: datetime | None = None) -> dict[str, Iterator[dict]]:
    makers = {"reflections": lambda: iter_reflections(store, since, until), "patterns": lambda: iter_patterns(store),
              "tensions": lambda: iter_tensions(store), "audit_events": lambda: iter_audit_events(store)}
    return {k: makers[k]() for k in KINDS if k in kinds}


def write_stream(store: Store, out: TextIO, *, fmt: str = "json", kinds: Sequence[str] = KINDS,
                 since: datetime | None = None, until: datetime | None = None) -> dict[str, int]:
    """Write one export document to a text stream (json, jsonl, markdown, or csv = reflections.csv).

    Runs inside one read transaction, so the document is a consistent snapshot
    even while other processes write.
    """
    with store.read():
        head = header(store, kinds, since, until)
        secs = sections(store, kinds, since, until)
        if fmt == "json":
            from mirror_cli.exchange.jsondoc import write_json

            return write_json(out, head, secs)
        if fmt == "jsonl":
            from mirror_cli.exchange.jsonl import write_jsonl

            return write_jsonl(out, head, secs)
        if fmt == "markdown":
            from mirror_cli.exchange.markdown import write_markdown

            return write_markdown(out, head, secs)
        if fmt == "csv":
            from mirror_cli.exchange.csvfmt import write_reflections_csv

            n = write_reflections_csv(out, secs.get("reflections", iter(())))
            return {"reflections": n}
    raise ValueError(f"unknown export format {fmt!r}")


def write_folder(store: Store, folder: Path, *, fmt: str, kinds: Sequence[str] = KINDS,
                 since: datetime | None = None, until: datetime | None = None) -> list[Path]:
    """Markdown or CSV into a folder (created 0700 if missing), each file written atomically."""
    with store.read():
        head = header(store, kinds, since, until)
        secs = sections(store, kinds, since, until)
        if fmt == "markdown":
            from mirror_cli.exchange.markdown import write_markdown_folder

            return write_markdown_folder(folder, head, secs)
        if fmt == "csv":
            from mirror_cli.exchange.csvfmt import write_csv_folder

            return write_csv_folder(folder, head, secs)
    raise ValueError(f"format {fmt!r} does not write folders")

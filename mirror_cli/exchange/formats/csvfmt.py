"""CSV export: one file per kind, for spreadsheets, csvkit, pandas and friends.

Decisions (documented for users in the README of phase 2):

- **Files.** ``reflections.csv``, ``patterns.csv`` + ``pattern_occurrences.csv``
  (relational: one row per pattern, one row per occurrence keyed by
  ``pattern_id``; ``patterns.csv`` also has an ``occurrences`` count),
  ``tensions.csv``, ``audit_events.csv``. Only the kinds asked for are
  written. Without a folder, only the reflections CSV goes to the stream.
- **Dialect.** RFC 4180 as written by Python's ``csv`` module: a header
  row, comma separated, fields quoted when needed, ``\\r\\n`` row ends; a
  newline inside a text is kept inside its quoted field.
- **Encoding.** UTF-8 *without* a byte-order mark by default (what jq,
  csvkit, pandas and ``cut`` expect); ``bom=True`` adds one for old Excel.
- **Lists and nulls.** ``tags`` is a JSON array cell (``["work","idea"]``):
  lossless even for tags holding commas or semicolons. Audit ``data`` is its
  JSON text. ``null`` (no response, no evidence, no reflection) is an empty
  cell, as is an empty string (the two read back alike); booleans are ``true``/``false``; numbers as Python writes them.
- **Formula injection guard.** A text cell that starts with ``=``, ``+``,
  ``-``, ``@``, a tab or a carriage return would be run as a formula by
  spreadsheets; such a cell is written with a leading ``'`` (the OWASP
  advice). So that the guard stays reversible, a cell that already starts
  with ``'`` also gets one more. :func:`unguard` undoes it: strip one
  leading ``'`` if present.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from mirror_cli.exchange import records
from mirror_cli.exchange.kinds import KINDS
from mirror_cli.localfs import atomic_write, ensure_private_dir

REFLECTION_COLUMNS = ["id", "created_at", "updated_at", "mode", "tags", "local_only", "content", "response"]
PATTERN_COLUMNS = ["id", "pattern_type", "name", "confidence", "first_seen", "last_seen", "occurrences"]
OCCURRENCE_COLUMNS = ["pattern_id", "reflection_id", "confidence", "evidence"]
TENSION_COLUMNS = ["id", "name", "axis_a", "axis_b", "position", "intensity", "reflection_id", "detected_at"]
AUDIT_COLUMNS = ["seq", "id", "event_type", "timestamp", "data", "previous_hash", "event_hash"]

#: kind -> file names written for it in folder mode
FILES = {
    "reflections": ["reflections.csv"],
    "patterns": ["patterns.csv", "pattern_occurrences.csv"],
    "tensions": ["tensions.csv"],
    "audit_events": ["audit_events.csv"],
}

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")


def guard(text: str) -> str:
    """Neutralise a would-be spreadsheet formula (reversibly, see :func:`unguard`)."""
    return "'" + text if text.startswith(_TRIGGERS) else text


def unguard(cell: str) -> str:
    """Undo :func:`guard` on a cell read back from one of these files."""
    return cell[1:] if cell.startswith("'") else cell


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return guard(value)
    if isinstance(value, (int, float)):
        return value
    return guard(records.encode(value))


def _tags(tags: Any) -> str:
    return records.encode(list(tags)) if tags else "[]"


def _reflection_row(r: Mapping[str, Any]) -> list:
    """The cells of one reflection, all text (ids, times and mode are strings in a valid record)."""
    return [_cell(r.get("id")), _cell(r.get("created_at")), _cell(r.get("updated_at") or r.get("created_at")),
            _cell(r.get("mode")), _tags(r.get("tags")), _cell(bool(r.get("local_only"))),
            _cell(r.get("content")), _cell(r.get("response"))]


def _pattern_row(p: Mapping[str, Any]) -> list:
    return [_cell(p.get("id")), _cell(p.get("pattern_type")), _cell(p.get("name")), _cell(p.get("confidence")),
            _cell(p.get("first_seen")), _cell(p.get("last_seen")), len(p.get("occurrences") or ())]


def _occurrence_rows(p: Mapping[str, Any]) -> list[list]:
    pid = _cell(p.get("id"))
    return [[pid, _cell(o.get("reflection_id")), _cell(o.get("confidence")), _cell(o.get("evidence"))]
            for o in p.get("occurrences") or ()]


def _tension_row(t: Mapping[str, Any]) -> list:
    return [_cell(t.get(c)) for c in TENSION_COLUMNS]


def _audit_row(e: Mapping[str, Any]) -> list:
    row = [_cell(e.get(c)) for c in AUDIT_COLUMNS]
    # data is always JSON text in the file (an object, or a string holding JSON, or null)
    row[4] = guard(records.encode(e.get("data")))
    return row


def _write_reflections(out: TextIO, reflections: Iterable[Mapping[str, Any]]) -> int:
    writer = csv.writer(out)
    writer.writerow(REFLECTION_COLUMNS)
    n = 0
    for r in reflections:
        writer.writerow(_reflection_row(r))
        n += 1
    return n


def write_reflections_csv(out: TextIO, reflections: Iterable[Mapping[str, Any]], *, bom: bool = False) -> int:
    """Write reflections.csv to a text stream (open it with ``newline=""``); return the row count."""
    if bom:
        out.write("\ufeff")
    return _write_reflections(out, reflections)


def write_csv(out: TextIO, header: Mapping[str, Any], sections: Mapping[str, Iterable[dict]], *, bom: bool = False) -> dict[str, int]:
    """Stream mode: reflections.csv content only (the other kinds need a folder)."""
    return {"reflections": write_reflections_csv(out, sections.get("reflections", ()), bom=bom)}


def write_csv_streams(outs: Mapping[str, TextIO], sections: Mapping[str, Iterable[dict]],
                      *, bom: bool = False) -> dict[str, int]:
    """Write each kind of *sections* to the open text streams named in :data:`FILES`.

    *outs* maps file names (``reflections.csv``, ``patterns.csv``, ...) to
    streams opened with ``newline=""``; returns the records written per kind.
    """
    written: dict[str, int] = {}
    for kind in KINDS:
        if kind not in sections:
            continue
        writers = []
        for name in FILES[kind]:
            if bom:
                outs[name].write("\ufeff")
            writers.append(csv.writer(outs[name]))
        n = 0
        if kind == "reflections":
            n = _write_reflections(outs[FILES[kind][0]], sections[kind])
        elif kind == "patterns":
            writers[0].writerow(PATTERN_COLUMNS)
            writers[1].writerow(OCCURRENCE_COLUMNS)
            for p in sections[kind]:
                writers[0].writerow(_pattern_row(p))
                writers[1].writerows(_occurrence_rows(p))
                n += 1
        elif kind == "tensions":
            writers[0].writerow(TENSION_COLUMNS)
            for t in sections[kind]:
                writers[0].writerow(_tension_row(t))
                n += 1
        else:
            writers[0].writerow(AUDIT_COLUMNS)
            for e in sections[kind]:
                writers[0].writerow(_audit_row(e))
                n += 1
        written[kind] = n
    return written


def write_csv_folder(folder: Path | str, header: Mapping[str, Any], sections: Mapping[str, Iterable[dict]],
                     *, bom: bool = False) -> list[Path]:
    """Write one CSV file per kind in *sections* into *folder* (created 0700 if missing).

    Every file goes through :func:`mirror_cli.localfs.atomic_write` (all of a
    kind's files are replaced together, after its records were all written).
    Returns the paths written.
    """
    folder = ensure_private_dir(Path(folder))
    written: list[Path] = []
    for kind in KINDS:
        if kind not in sections:
            continue
        paths = [folder / name for name in FILES[kind]]
        with contextlib.ExitStack() as stack:
            outs = {p.name: stack.enter_context(atomic_write(p, "w")) for p in paths}
            write_csv_streams(outs, {kind: sections[kind]}, bom=bom)
        written.extend(paths)
    return written

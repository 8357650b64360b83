"""Import validation: all or nothing, the first problem named with its record and field.

The rules are CONTRACT.md's ("Your data, out and in"): the top level needs
``format == "mirror-export"`` and ``version == 1``; every record needs the
fields of its kind, except that ``response`` may be absent or null, ``tags``
absent means no tags, ``local_only`` absent means false and ``updated_at``
absent means ``created_at``.

Beyond that, so that nothing the store cannot hold gets past this module:

- ids match ``[A-Za-z0-9_-]{1,64}`` and are unique within their kind in a file;
- times are ISO-8601 with a time zone (``Z`` or an offset; a time without
  one is rejected as ambiguous) and are normalised to UTC
  ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (sub-millisecond digits are truncated);
- types are strict: a boolean is ``true``/``false`` (not 0/1), numbers are
  not booleans, ``confidence``/``position``/``intensity`` are finite numbers
  in [0, 1], tags are non-empty strings;
- no string anywhere may hold a NUL character or a lone UTF-16 surrogate
  (:func:`mirror_cli.exchange.records.text_problem`);
- when the header has ``counts``, each count of a kind the file holds must
  match the number of records (a truncated or edited file is refused);
- a reflection, pattern or tension must fit on one JSON Lines line that
  mirror can read back (:data:`mirror_cli.exchange.records.MAX_LINE` bytes as
  ``export --format jsonl`` writes it), so whatever an import stores, an
  export of it can be imported again (:func:`mirror_cli.exchange.records.check_size`).

Audit events are checked for shape only and kept verbatim (their timestamp
is not rewritten): they are evidence from another chain, never copied into
the local one. Unknown fields are dropped, except the schema's optional
``visibility`` (``private``/``shared``) on reflections and ``intensity`` on
pattern occurrences, which are checked and kept when present.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from mirror_cli.errors import InvalidInputError
from mirror_cli.exchange import records as codec
from mirror_cli.exchange.document import ImportDocument
from mirror_cli.exchange.kinds import KINDS

FORMAT_NAME = "mirror-export"
FORMAT_VERSION = 1
HINT = "Nothing was changed; fix the file and try again."

_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
_TIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)",
    re.ASCII,
)
_CANONICAL_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", re.ASCII)
_COUNT_KEYS = {"reflections": "reflections", "patterns": "patterns", "tensions": "tensions",
               "audit_events": "audit_events", "audit": "audit_events"}


def problem(where: str, field: str | None, text: str) -> InvalidInputError:
    """An :class:`InvalidInputError` ``<where>: "<field>" <text>`` with the standard hint."""
    if field is None:
        return InvalidInputError(f"{where}: {text}", HINT)
    return InvalidInputError(f'{where}: "{field}" {text}', HINT)


def describe(value: Any) -> str:
    """A JSON-flavoured name for the type of *value* ("a string", "null", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# --------------------------------------------------------------------------- scalars


def normalize_time(value: str) -> str | None:
    """Return *value* as UTC ``YYYY-MM-DDTHH:MM:SS.mmmZ``, or None if it is not an ISO-8601 time with a zone."""
    if _CANONICAL_RE.fullmatch(value):  # fast path: already normalised; only the ranges need checking
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return None
        return value
    m = _TIME_RE.fullmatch(value)
    if m is None:
        return None
    y, mo, d, h, mi, s, frac, z, sign, oh, om = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        if z:
            tz = timezone.utc
        else:
            off = timedelta(hours=int(oh), minutes=int(om or 0))
            if off >= timedelta(hours=24):
                return None
            tz = timezone(-off if sign == "-" else off)
        dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), micro, tzinfo=tz)
        if tz is not timezone.utc:
            dt = dt.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None
    return (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:"
            f"{dt.second:02d}.{dt.microsecond // 1000:03d}Z")


def _text(value: Any, where: str, field: str, *, nullable: bool = False, nonempty: bool = False) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        want = "a string or null" if nullable else "a string"
        raise problem(where, field, f"must be {want}, not {describe(value)}.")
    bad = codec.text_problem(value)
    if bad is not None:
        raise problem(where, field, f"contains {bad}.")
    if nonempty and not value.strip():
        raise problem(where, field, "is empty.")
    return value


def _ident(value: Any, where: str, field: str, *, nullable: bool = False) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        want = "an id (a string) or null" if nullable else "an id (a string)"
        raise problem(where, field, f"must be {want}, not {describe(value)}.")
    if not _ID_RE.fullmatch(value):
        raise problem(where, field, "is not a valid id (1 to 64 characters from A-Z, a-z, 0-9, _ and -).")
    return value


def _time(value: Any, where: str, field: str, *, nullable: bool = False, keep: bool = False) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise problem(where, field, f"must be an ISO-8601 time (a string), not {describe(value)}.")
    norm = normalize_time(value)
    if norm is None:
        raise problem(where, field, "is not an ISO-8601 time with a time zone (e.g. 2024-05-01T09:30:00Z).")
    return value if keep else norm


def _unit(value: Any, where: str, field: str, *, nullable: bool = False) -> float | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise problem(where, field, f"must be a number between 0 and 1, not {describe(value)}.")
    # An int is compared as it is: float() of one beyond ~1.8e308 (JSON allows any) raises OverflowError.
    if not (0 <= value <= 1 if isinstance(value, int) else math.isfinite(value) and 0 <= value <= 1):
        shown = repr(value)
        raise problem(where, field, f"must be between 0 and 1, not "
                                    f"{shown if len(shown) <= 24 else f'a number of {len(shown)} characters'}.")
    return float(value)


def _bool(value: Any, where: str, field: str) -> bool:
    if not isinstance(value, bool):
        raise problem(where, field, f"must be true or false, not {describe(value)}.")
    return value


def _need(rec: dict, key: str, where: str) -> Any:
    try:
        return rec[key]
    except KeyError:
        raise problem(where, key, "is missing.") from None


def _check_tree(value: Any, where: str, field: str) -> None:
    """Reject NUL characters and lone surrogates anywhere inside a JSON value (iteratively)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            _text(v, where, field)
        elif isinstance(v, dict):
            for k, item in v.items():
                _text(k, where, field)
                stack.append(item)
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, float) and not math.isfinite(v):
            raise problem(where, field, "holds a number that is not finite.")


# --------------------------------------------------------------------------- records


def _reflection(rec: dict, where: str) -> dict:
    created = _time(_need(rec, "created_at", where), where, "created_at")
    updated = rec.get("updated_at")
    updated = created if updated is None else _time(updated, where, "updated_at")
    tags = rec.get("tags")
    if tags is None:
        tags = []
    elif not isinstance(tags, list):
        raise problem(where, "tags", f"must be a list of strings, not {describe(tags)}.")
    else:
        for i, tag in enumerate(tags):
            _text(tag, where, f"tags[{i}]", nonempty=True)
    local_only = rec.get("local_only")
    out = {
        "id": rec["id"],
        "created_at": created,
        "updated_at": updated,
        "content": _text(_need(rec, "content", where), where, "content"),
        "response": _text(rec.get("response"), where, "response", nullable=True),
        "mode": _text(_need(rec, "mode", where), where, "mode", nonempty=True),
        "tags": list(tags),
        "local_only": False if local_only is None else _bool(local_only, where, "local_only"),
    }
    if "visibility" in rec:
        vis = rec["visibility"]
        if vis not in ("private", "shared"):
            raise problem(where, "visibility", 'must be "private" or "shared".')
        out["visibility"] = vis
    return out


def _pattern(rec: dict, where: str) -> dict:
    occurrences = _need(rec, "occurrences", where)
    if not isinstance(occurrences, list):
        raise problem(where, "occurrences", f"must be a list, not {describe(occurrences)}.")
    occ_out = []
    seen: dict[str, int] = {}
    for i, occ in enumerate(occurrences):
        f = f"occurrences[{i}]"
        if not isinstance(occ, dict):
            raise problem(where, f, f"must be an object, not {describe(occ)}.")
        rid = _ident(_need_sub(occ, "reflection_id", where, f), where, f"{f}.reflection_id")
        if rid in seen:
            raise problem(where, f"{f}.reflection_id", f"repeats occurrences[{seen[rid]}] (reflection {rid}).")
        seen[rid] = i
        item = {
            "reflection_id": rid,
            "evidence": _text(_need_sub(occ, "evidence", where, f), where, f"{f}.evidence", nullable=True),
            "confidence": _unit(_need_sub(occ, "confidence", where, f), where, f"{f}.confidence"),
        }
        if "intensity" in occ:
            item["intensity"] = _unit(occ["intensity"], where, f"{f}.intensity", nullable=True)
        occ_out.append(item)
    return {
        "id": rec["id"],
        "pattern_type": _text(_need(rec, "pattern_type", where), where, "pattern_type", nonempty=True),
        "name": _text(_need(rec, "name", where), where, "name", nonempty=True),
        "confidence": _unit(_need(rec, "confidence", where), where, "confidence"),
        "first_seen": _time(_need(rec, "first_seen", where), where, "first_seen", nullable=True),
        "last_seen": _time(_need(rec, "last_seen", where), where, "last_seen", nullable=True),
        "occurrences": occ_out,
    }


def _need_sub(obj: dict, key: str, where: str, prefix: str) -> Any:
    try:
        return obj[key]
    except KeyError:
        raise problem(where, f"{prefix}.{key}", "is missing.") from None


def _tension(rec: dict, where: str) -> dict:
    return {
        "id": rec["id"],
        "name": _text(_need(rec, "name", where), where, "name", nonempty=True),
        "axis_a": _text(_need(rec, "axis_a", where), where, "axis_a", nonempty=True),
        "axis_b": _text(_need(rec, "axis_b", where), where, "axis_b", nonempty=True),
        "position": _unit(_need(rec, "position", where), where, "position"),
        "intensity": _unit(_need(rec, "intensity", where), where, "intensity"),
        "reflection_id": _ident(_need(rec, "reflection_id", where), where, "reflection_id", nullable=True),
        "detected_at": _time(_need(rec, "detected_at", where), where, "detected_at"),
    }


def _audit_event(rec: dict, where: str) -> dict:
    seq = _need(rec, "seq", where)
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise problem(where, "seq", f"must be a whole number, not {describe(seq)}.")
    if not 0 <= seq < 2**63:
        raise problem(where, "seq", f"must be between 0 and 2**63 - 1, not {seq}.")
    data = _need(rec, "data", where)
    _check_tree(data, where, "data")
    return {
        "seq": seq,
        "id": rec["id"],
        "event_type": _text(_need(rec, "event_type", where), where, "event_type", nonempty=True),
        "timestamp": _time(_need(rec, "timestamp", where), where, "timestamp", keep=True),
        "data": data,
        "previous_hash": _text(_need(rec, "previous_hash", where), where, "previous_hash"),
        "event_hash": _text(_need(rec, "event_hash", where), where, "event_hash"),
    }


_VALIDATORS = {
    "reflections": _reflection,
    "patterns": _pattern,
    "tensions": _tension,
    "audit_events": _audit_event,
}


class _Where:
    """Names a record in messages (``line 7: reflections[3] (id r1)``); the text is built only for an error."""

    __slots__ = ("kind", "index", "line", "rid")

    def __init__(self, kind: str, index: int, line: int | None) -> None:
        self.kind, self.index, self.line, self.rid = kind, index, line, None

    def __str__(self) -> str:
        where = f"{self.kind}[{self.index}]"
        if self.line is not None:
            where = f"line {self.line}: {where}"
        return where if self.rid is None else f"{where} (id {self.rid})"

    def __format__(self, spec: str) -> str:  # f"{where}" in messages
        return format(str(self), spec)


def validate_records(kind: str, records: Iterable[Any], *, lines: Sequence[int] | None = None) -> list[dict]:
    """Validate and normalise the records of one kind; raise on the first problem.

    *lines*, when given, holds each record's line number in the file (JSON
    Lines) and is named in messages.
    """
    check = _VALIDATORS[kind]
    limit = codec.MAX_LINE if kind != "audit_events" else None  # audit events are never imported
    out: list[dict] = []
    seen: dict[str, int] = {}
    seqs: dict[int, int] = {}
    for index, rec in enumerate(records):
        where = _Where(kind, index, None if lines is None else lines[index])
        if not isinstance(rec, dict):
            raise problem(where, None, f"must be an object, not {describe(rec)}.")
        rid = _ident(_need(rec, "id", where), where, "id")
        where.rid = rid
        if rid in seen:
            raise problem(where, "id", f"repeats {kind}[{seen[rid]}]; ids must be unique.")
        seen[rid] = index
        norm = check(rec, where)
        if limit is not None:
            codec.check_size(kind, norm, where, limit)
        if kind == "audit_events":
            if norm["seq"] in seqs:
                raise problem(where, "seq", f"repeats {kind}[{seqs[norm['seq']]}].")
            seqs[norm["seq"]] = index
        out.append(norm)
    return out


# --------------------------------------------------------------------------- header / document


def check_header(header: Any) -> dict:
    """Check ``format`` and ``version`` of a parsed top level; return the header fields."""
    if not isinstance(header, dict):
        raise InvalidInputError(
            f"the file is not a mirror export: its top level is {describe(header)}, not an object.", HINT)
    fmt = header.get("format")
    if fmt != FORMAT_NAME:
        if "format" not in header and "entries" in header:
            raise InvalidInputError(
                "the file is not a mirror export; it looks like a jrnl export.",
                "Import it with --format jrnl.")
        if "format" not in header:
            raise InvalidInputError('the file is not a mirror export: "format" is missing.', HINT)
        raise InvalidInputError(
            f'the file is not a mirror export: "format" is {fmt!r}, not "{FORMAT_NAME}".'
            if isinstance(fmt, str) else
            f'the file is not a mirror export: "format" is {describe(fmt)}, not "{FORMAT_NAME}".', HINT)
    if "version" not in header:
        raise InvalidInputError('the export has no "version".', HINT)
    version = header["version"]
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidInputError(f'the export\'s "version" must be a whole number, not {describe(version)}.', HINT)
    if version > FORMAT_VERSION:
        raise InvalidInputError(
            f"the file was made by a newer mirror (export format version {version}; "
            f"this mirror reads version {FORMAT_VERSION}).",
            "Upgrade mirror and import it again; nothing was changed.")
    if version < FORMAT_VERSION:
        raise InvalidInputError(f"unknown export format version {version}.", HINT)
    return {k: v for k, v in header.items() if k not in KINDS}


def check_counts(header: dict, records: dict[str, list], present: Iterable[str]) -> None:
    """Refuse a file whose header ``counts`` disagree with the records of the kinds it holds."""
    counts = header.get("counts")
    if counts is None:
        return
    if not isinstance(counts, dict):
        raise InvalidInputError(f'the export\'s "counts" must be an object, not {describe(counts)}.', HINT)
    present = set(present)
    for key, expected in counts.items():
        kind = _COUNT_KEYS.get(key)
        if kind is None or kind not in present:
            continue
        if isinstance(expected, bool) or not isinstance(expected, int) or expected < 0:
            raise InvalidInputError(f'the export\'s "counts.{key}" must be a whole number, not {describe(expected)}.', HINT)
        actual = len(records[kind])
        if actual != expected:
            raise InvalidInputError(
                f"the export's header counts {expected} {kind} but the file holds {actual}; "
                "it may be truncated or edited.",
                "Nothing was changed; export again or fix the counts.")


def validate_document(obj: Any) -> ImportDocument:
    """Validate a parsed JSON export document (the top-level object) all or nothing."""
    header = check_header(obj)
    records: dict[str, list[dict]] = {}
    present = []
    for kind in KINDS:
        if kind not in obj:
            records[kind] = []
            continue
        section = obj[kind]
        if not isinstance(section, list):
            raise InvalidInputError(f'the export\'s "{kind}" must be a list, not {describe(section)}.', HINT)
        records[kind] = validate_records(kind, section)
        present.append(kind)
    check_counts(header, records, present)
    return ImportDocument(header=header, records=records, source_format="json")

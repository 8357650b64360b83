"""The record codec: stored row <-> export dict <-> JSON text, for every kind, with the limits.

One record of the export format (CONTRACT.md, "Your data, out and in") has
three forms, and this module is the only place that converts between them:

- the **stored row**: the columns of its table, user text sealed by the
  store's field codec (``crypto.fields.codec(store)``: plaintext, or envelopes opened with
  the data key; see ``mirror_cli.crypto.fields`` for the sealed columns);
- the **export dict**: the record in the export shape, plain Python values,
  keys in the order of :data:`FIELDS`;
- the **JSON text**: :func:`encode` of the dict (compact, UTF-8 unescaped,
  no NaN), one object per record; a JSON Lines line is :func:`to_line`.

Export (every format), backup's embedded export and the importer's checks
go through it. The limits live here too: :data:`MAX_LINE`, the bytes of one
JSON Lines line, bounds every record that mirror stores or imports (so that
whatever it holds, an export of it can be imported again: :func:`check_size`),
the text on ``mirror reflect``'s stdin and the lines the JSON Lines reader
takes; :func:`text_problem` is the character rule of every imported string.

A stored value mirror never writes (a BLOB in a clear column, ciphertext in
a plain database, an envelope that does not open) is a
:class:`~mirror_cli.errors.VerificationError` (exit 3) naming the record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from mirror_cli.crypto.fields import occurrence_record_id, tags_text
from mirror_cli.errors import InvalidInputError, VerificationError
from mirror_cli.exchange.kinds import RECORD_TYPES

#: Bytes of one JSON Lines line (without its newline): the most one record may take as
#: ``export --format jsonl`` writes it, which is what ``mirror import`` reads back.
MAX_LINE = 64 * 1024 * 1024

#: Keys of each kind's export dict, in the order they are written.
FIELDS: dict[str, tuple[str, ...]] = {
    "reflections": ("id", "created_at", "updated_at", "content", "response", "mode", "tags", "local_only"),
    "patterns": ("id", "pattern_type", "name", "confidence", "first_seen", "last_seen", "occurrences"),
    "occurrences": ("reflection_id", "evidence", "confidence"),
    "tensions": ("id", "name", "axis_a", "axis_b", "position", "intensity", "reflection_id", "detected_at"),
    "audit_events": ("seq", "id", "event_type", "timestamp", "data", "previous_hash", "event_hash"),
}

#: The stored columns of a reflection row, in the order of :data:`FIELDS` (``journal.UPSERT_SQL`` adds ``rev``).
REFLECTION_COLUMNS = "id, created_at, updated_at, content, response, mode, tags, local_only"
_SEALED = ("content", "response", "tags")

#: The JSON text of a value: compact, UTF-8 unescaped, no NaN or Infinity.
encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False, allow_nan=False).encode


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def decode(text: str | bytes) -> Any:
    """The value of a JSON text; NaN and Infinity refused (json's own errors: ValueError, RecursionError)."""
    return json.loads(text, parse_constant=_reject_constant)


def to_line(kind: str, rec: Mapping[str, Any]) -> str:
    """The JSON Lines line of a record of *kind* (no newline): its JSON text with ``"type"`` first."""
    if "type" in rec:
        raise ValueError("record key 'type' is reserved in JSON Lines")
    body = encode(rec)
    head = '{"type":' + encode(RECORD_TYPES[kind])
    return head + ("," + body[1:] if len(body) > 2 else "}")


# --------------------------------------------------------------------------- stored row -> export dict


def _foreign(kind: str, rid: Any, field: str, value: Any) -> VerificationError:
    what = "binary" if isinstance(value, bytes) else "null" if value is None else type(value).__name__
    who = rid if type(rid) is str else "with a non-text id"
    return VerificationError(
        f"{kind} {who} holds a {what} value in its {field} field, which mirror never writes: "
        "the database was changed outside mirror.",
        "Run `mirror audit verify`; restore from a backup (`mirror backup list`) if you did not make this change.")


def reflection(fields: Any, row: Sequence[Any]) -> dict[str, Any]:
    """A stored reflection row (:data:`REFLECTION_COLUMNS`) as its export dict; opened by *fields*."""
    rid, created, updated, content, response, mode, tags, local_only = row
    if not (str is type(rid) is type(created) is type(updated) is type(mode)):
        for field, value in (("id", rid), ("created_at", created), ("updated_at", updated), ("mode", mode)):
            if type(value) is not str:
                raise _foreign("reflection", rid, field, value)
    content, response, tags = fields.open_row("reflections", rid, _SEALED, (content, response, tags))
    return {"id": rid, "created_at": created, "updated_at": updated, "content": content, "response": response,
            "mode": mode, "tags": json.loads(tags), "local_only": bool(local_only)}


def occurrence(fields: Any, pattern_id: str, row: Sequence[Any]) -> dict[str, Any]:
    """A stored ``pattern_occurrences`` row ``(reflection_id, evidence, confidence)`` as its export dict."""
    rid, evidence, confidence = row
    if evidence is not None:
        evidence = fields.open("pattern_occurrences", occurrence_record_id(pattern_id, rid), "evidence", evidence)
    return {"reflection_id": rid, "evidence": evidence, "confidence": confidence}


def pattern(fields: Any, row: Sequence[Any], occurrences: list[dict[str, Any]]) -> dict[str, Any]:
    """A stored pattern row ``(id, pattern_type, name, confidence, first_seen, last_seen)`` and its
    occurrences' dicts as its export dict."""
    pid, ptype, name, confidence, first, last = row
    return {"id": pid, "pattern_type": ptype, "name": fields.open("patterns", pid, "name", name),
            "confidence": confidence, "first_seen": first, "last_seen": last, "occurrences": occurrences}


def tension(fields: Any, row: Sequence[Any]) -> dict[str, Any]:
    """A stored tension row ``(id, reflection_id, detected_at, data)`` as its export dict."""
    tid, rid, detected_at, data = row
    d = json.loads(fields.open("tensions", tid, "data", data))
    return {"id": tid, "name": d.get("name"), "axis_a": d.get("axis_a"), "axis_b": d.get("axis_b"),
            "position": d.get("position"), "intensity": d.get("intensity"), "reflection_id": rid,
            "detected_at": detected_at}


def audit_event(event: Any) -> dict[str, Any]:
    """An ``audit.Event`` (read from its row by ``audit.events``) as its export dict."""
    return event.to_dict()


# --------------------------------------------------------------------------- export dict -> stored row


def reflection_row(fields: Any, rec: Mapping[str, Any], rev: int) -> tuple[Any, ...]:
    """The values of ``journal.UPSERT_SQL`` (:data:`REFLECTION_COLUMNS` and ``rev``) for a validated record."""
    rid, response, tags = rec["id"], rec["response"], rec["tags"]
    seal = fields.seal
    return (rid, rec["created_at"], rec["updated_at"], seal("reflections", rid, "content", rec["content"]),
            None if response is None else seal("reflections", rid, "response", response), rec["mode"],
            seal("reflections", rid, "tags", tags_text(list(tags)) if tags else "[]"), int(rec["local_only"]), rev)


def pattern_row(fields: Any, rec: Mapping[str, Any]) -> tuple[Any, ...]:
    """``(id, pattern_type, name, confidence, first_seen, last_seen)`` of a validated pattern."""
    pid = rec["id"]
    return (pid, rec["pattern_type"], fields.seal("patterns", pid, "name", rec["name"]), rec["confidence"],
            rec["first_seen"], rec["last_seen"])


def occurrence_row(fields: Any, pattern_id: str, rec: Mapping[str, Any]) -> tuple[Any, ...]:
    """``(pattern_id, reflection_id, evidence, confidence, intensity)`` of a validated occurrence."""
    rid, evidence = rec["reflection_id"], rec["evidence"]
    if evidence is not None:
        evidence = fields.seal("pattern_occurrences", occurrence_record_id(pattern_id, rid), "evidence", evidence)
    return pattern_id, rid, evidence, rec["confidence"], rec.get("intensity")


def tension_row(fields: Any, rec: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> tuple[Any, ...]:
    """``(id, reflection_id, detected_at, data)`` of a validated tension; *extra* joins the data object."""
    tid = rec["id"]
    data: dict[str, Any] = {"name": rec["name"], "axis_a": rec["axis_a"], "axis_b": rec["axis_b"],
                            "position": rec["position"], "intensity": rec["intensity"]}
    if extra:
        data.update(extra)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return tid, rec["reflection_id"], rec["detected_at"], fields.seal("tensions", tid, "data", text)


# --------------------------------------------------------------------------- limits


def text_problem(value: str) -> str | None:
    """What makes *value* unfit for a text field of a record, or None.

    A NUL character is refused (SQLite leaves text holding one undefined in
    its functions, the full-text index among them), and so is a lone UTF-16
    surrogate (not encodable as UTF-8, so it cannot be stored).
    """
    if "\x00" in value:
        return "a NUL character"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "an invalid character (a lone UTF-16 surrogate)"
    return None


_LINE_SLACK = 512  # bytes of a line outside its text fields: keys, id, times, numbers, the "type"
_OCCURRENCE_SLACK = 160  # the same for one pattern occurrence
_ESCAPE = 6  # most bytes one character can take in the JSON text (\u001f); UTF-8 takes at most 4


def _text_chars(kind: str, rec: Mapping[str, Any]) -> tuple[int, int]:
    """(characters in the record's text fields, fixed bytes around them): a cheap bound of its line."""
    if kind == "reflections":
        tags = rec["tags"]
        return (len(rec["content"]) + len(rec["response"] or "") + len(rec["mode"]) + sum(map(len, tags)),
                _LINE_SLACK + 3 * len(tags))
    if kind == "patterns":
        occ = rec["occurrences"]
        return (len(rec["pattern_type"]) + len(rec["name"]) + sum(len(o["evidence"] or "") for o in occ),
                _LINE_SLACK + _OCCURRENCE_SLACK * len(occ))
    return len(rec["name"]) + len(rec["axis_a"]) + len(rec["axis_b"]), _LINE_SLACK


def fits(kind: str, rec: Mapping[str, Any], limit: int | None = None) -> bool:
    """True when *rec* surely fits the line limit without measuring it (every character at 6 bytes)."""
    chars, fixed = _text_chars(kind, rec)
    return _ESCAPE * chars + fixed <= (MAX_LINE if limit is None else limit)


def line_bytes(kind: str, rec: Mapping[str, Any]) -> int:
    """Bytes of the JSON Lines line (without its newline) that ``export --format jsonl`` writes for *rec*.

    The fields an export does not carry (a reflection's ``visibility``, an
    occurrence's ``intensity``) are left out, as the export leaves them.
    """
    if kind == "reflections":
        rec = {k: rec[k] for k in FIELDS["reflections"]}
    elif kind == "patterns":
        rec = {**rec, "occurrences": [{k: o[k] for k in FIELDS["occurrences"]} for o in rec["occurrences"]]}
    return len(to_line(kind, rec).encode("utf-8"))


def check_size(kind: str, rec: Mapping[str, Any], where: Any, limit: int | None = None) -> None:
    """Refuse (exit 5) a record whose JSON Lines line would be longer than *limit* (:data:`MAX_LINE`) bytes.

    The exact size is computed only when the cheap bound (:func:`fits`) does
    not already show that the record fits.
    """
    limit = MAX_LINE if limit is None else limit
    if fits(kind, rec, limit):
        return
    size = line_bytes(kind, rec)
    if size > limit:
        raise InvalidInputError(
            f"{where} is too large: exported as JSON Lines it would take {size:,} bytes on one line, over the "
            f"{size_text(limit)} that `mirror import` reads back.",
            "Nothing was changed; split the text into smaller records and try again.")


def size_text(n: int) -> str:
    """*n* bytes as "64 MiB" when a whole number of MiB, else "1,234 bytes"."""
    mib = 1024 * 1024
    return f"{n // mib} MiB" if n % mib == 0 else f"{n:,} bytes"

"""Import from jrnl's JSON export (``jrnl --export json``) or its text journal file.

jrnl writes ``{"tags": {...}, "entries": [{"title", "body", "date", "time",
"tags", "starred"}]}`` with ``date`` ``YYYY-MM-DD`` and ``time`` ``HH:MM``
in the journal's local wall time. Per CONTRACT.md each entry becomes a
reflection:

- ``created_at`` = ``updated_at``: date and time read as local time of the
  importing process (its ``TZ``), stored as UTC;
- ``content``: the title, a newline and the body (just the title when the
  body is empty), trailing whitespace removed;
- ``tags``: jrnl's tags without their leading ``@``/``#``, in order, without
  repeats; ``starred`` adds the tag ``starred``;
- ``mode`` ``REFLECTION``, no response, not local-only;
- ``id``: ``jrnl-`` + the first 26 characters of the base32 (lower case)
  HMAC-SHA256, under a fixed label, of the date, the time and the entry's
  place among the entries of the same date and time (0, 1, ... in file
  order): no text goes in, so an id reveals nothing of it, and importing the
  same export again (in any time zone) adds nothing, while an entry edited in
  jrnl keeps its id. Older mirrors derived ids from the text
  (:func:`legacy_jrnl_id`); the document names each entry's older id so that
  a journal holding it finds the entry under it.

jrnl's plain-text journal file is first read into the same shape by
:mod:`mirror_cli.exchange.formats.jrnltext`, so both give the same ids.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from mirror_cli.errors import InvalidInputError
from mirror_cli.exchange import records
from mirror_cli.exchange.formats.jrnltext import is_text, parse_text
from mirror_cli.exchange.formats.jsondoc import decode_utf8, parse_json_text
from mirror_cli.exchange.document import ImportDocument
from mirror_cli.exchange.kinds import KINDS
from mirror_cli.exchange.validate import validate_records

_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_TIME = re.compile(r"(\d{2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp][Mm]))?", re.ASCII)
_HINT = "Nothing was changed; export again with `jrnl --export json`."


ID_LABEL = b"mirror jrnl entry id v2"


def jrnl_id(date: str, time: str, place: int) -> str:
    """The reflection id of the jrnl entry at *place* among those dated *date* *time* (no text in it)."""
    digest = hmac.new(ID_LABEL, f"{date}\x00{time}\x00{int(place)}".encode("utf-8", "surrogatepass"),
                      hashlib.sha256).digest()
    return "jrnl-" + base64.b32encode(digest).decode("ascii")[:26].lower()


def legacy_jrnl_id(date: str, time: str, content: str) -> str:
    """The id older mirrors gave a jrnl entry: a digest of its text (see ``mirror_cli.crypto.textids``)."""
    digest = hashlib.sha256(f"jrnl\x00{date}\x00{time}\x00{content}".encode("utf-8", "surrogatepass")).digest()
    return "jrnl-" + base64.b32encode(digest).decode("ascii")[:26]


def _fail(where: str, field: str, text: str) -> InvalidInputError:
    return InvalidInputError(f'{where}: "{field}" {text}', _HINT)


def _local_to_utc(date: str, time: str, where: str) -> str:
    dm = _DATE.fullmatch(date)
    if not dm:
        raise _fail(where, "date", "is not a date (YYYY-MM-DD).")
    tm = _TIME.fullmatch(time.strip())
    if not tm:
        raise _fail(where, "time", "is not a time (HH:MM).")
    hour, minute, second = int(tm.group(1)), int(tm.group(2)), int(tm.group(3) or 0)
    if tm.group(4):
        if not 1 <= hour <= 12:
            raise _fail(where, "time", "is not a time (HH:MM).")
        hour = hour % 12 + (12 if tm.group(4).lower() == "pm" else 0)
    try:
        naive = datetime(int(dm.group(1)), int(dm.group(2)), int(dm.group(3)), hour, minute, second)
    except ValueError:
        raise _fail(where, "date", f"and \"time\" are not a valid local time ({date} {time}).") from None
    try:
        utc = naive.astimezone(timezone.utc)  # naive = local time of this process (TZ)
    except (OverflowError, OSError, ValueError):
        raise _fail(where, "date", f"is out of range ({date}).") from None
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _string(entry: dict, key: str, where: str, default: str | None = None) -> str:
    value = entry.get(key, default)
    if value is None and default is not None:
        value = default
    if not isinstance(value, str):
        if key not in entry:
            raise _fail(where, key, "is missing.")
        raise _fail(where, key, "must be a string.")
    return value


def iter_jrnl_reflections(obj: Any) -> Iterator[tuple[dict, str, tuple[str, str, int]]]:
    """Convert a parsed jrnl export to (reflection record, its legacy id, the (date, time, place) its id is
    made of); not yet validated."""
    if not isinstance(obj, dict) or not isinstance(obj.get("entries"), list):
        if isinstance(obj, dict) and obj.get("format") == "mirror-export":
            raise InvalidInputError("the file is a mirror export, not a jrnl export.",
                                    "Import it with --format json (or auto).")
        raise InvalidInputError('the file is not a jrnl JSON export: it has no "entries" list.', _HINT)
    places: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(obj["entries"]):
        where = f"entries[{i}]"
        if not isinstance(entry, dict):
            raise InvalidInputError(f"{where} must be an object.", _HINT)
        date = _string(entry, "date", where)
        time = _string(entry, "time", where)
        title = _string(entry, "title", where, "")
        body = _string(entry, "body", where, "")
        content = (f"{title}\n{body}" if body.strip() else title).rstrip()
        for field, value in (("title", title), ("body", body)):
            bad = records.text_problem(value)
            if bad is not None:
                raise _fail(where, field, f"contains {bad}.")
        raw_tags = entry.get("tags") or []
        if (not isinstance(raw_tags, list) or not all(isinstance(t, str) for t in raw_tags)
                or any(records.text_problem(t) is not None for t in raw_tags)):
            raise _fail(where, "tags", "must be a list of strings (without NUL characters).")
        starred = entry.get("starred", False)
        if not isinstance(starred, bool):
            raise _fail(where, "starred", "must be true or false.")
        tags: list[str] = []
        for t in raw_tags:
            name = t.strip().lstrip("@#").strip()
            if name and name not in tags:
                tags.append(name)
        if starred and "starred" not in tags:
            tags.append("starred")
        created = _local_to_utc(date, time, where)
        when = (date.strip(), time.strip())
        place = places[when] = places.get(when, -1) + 1
        yield {
            "id": jrnl_id(*when, place),
            "created_at": created,
            "updated_at": created,
            "content": content,
            "response": None,
            "mode": "REFLECTION",
            "tags": tags,
            "local_only": False,
        }, legacy_jrnl_id(*when, content), (*when, place)


def jrnl_to_reflections(obj: Any) -> list[dict]:
    """Converted and validated reflection records."""
    return _jrnl_records(obj)[0]


def _jrnl_records(obj: Any) -> tuple[list[dict], dict[str, str], dict[str, tuple[str, str, int]]]:
    """The records of :func:`jrnl_to_reflections`, id -> legacy id (the first entry of each legacy id:
    older mirrors folded identical entries into one), and id -> the (date, time, place) it is made of."""
    recs: list[dict] = []
    legacy: dict[str, str] = {}
    slots: dict[str, tuple[str, str, int]] = {}
    seen: set[str] = set()
    for rec, old, slot in iter_jrnl_reflections(obj):
        recs.append(rec)
        slots[rec["id"]] = slot
        if old not in seen:
            seen.add(old)
            legacy[rec["id"]] = old
    return validate_records("reflections", recs), legacy, slots


def read_jrnl(raw: bytes) -> ImportDocument:
    """Parse, convert and validate a jrnl JSON export or text journal (all or nothing)."""
    text = decode_utf8(raw)
    obj = parse_text(text) if is_text(text) else parse_json_text(text)
    records = {k: [] for k in KINDS}
    records["reflections"], legacy, slots = _jrnl_records(obj)
    header = {"format": "jrnl", "counts": {"reflections": len(records["reflections"])}}
    return ImportDocument(header=header, records=records, source_format="jrnl", legacy_ids=legacy,
                          jrnl_slots=slots)

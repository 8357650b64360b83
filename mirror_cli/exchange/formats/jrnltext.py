"""jrnl's plain-text journal file, read for import and written by ``mirror export --format jrnl``.

jrnl keeps a journal as entries ``[DATE TIME] Title text...``, each starting a
line, with a blank line between entries; a ``*`` at the end of the first line
stars the entry, and words starting with ``@`` or ``#`` are its tags. jrnl's
``timeformat`` decides how DATE TIME looks; this module reads the forms jrnl
has used by default: ``YYYY-MM-DD HH:MM`` (jrnl 1-3), ``YYYY-MM-DD HH:MM:SS AM``
(jrnl 4's ``%F %r``), with or without seconds and AM/PM. A file in another
time format, or an encrypted jrnl journal, is refused with the command that
exports it as JSON.

Reading turns each entry into the fields of jrnl's JSON export (title and
body split as jrnl splits them, tags lower-cased as jrnl does, the time as
``HH:MM``), so :mod:`mirror_cli.exchange.formats.jrnl` converts both the same
way and gives an entry the same id from either file.

Writing gives each reflection (oldest first, local time of this process) as
``[YYYY-MM-DD HH:MM] content``, `` *`` after the first line when it has the
tag ``starred``, and its other tags that its text does not already carry on a
last line as ``@tag`` (characters jrnl does not allow in a tag become ``-``).
A line of the text that would read as the start of an entry gets one space
in front of it. The response and local-only flag have no place in jrnl's
format and are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, TextIO

from mirror_cli.errors import InvalidInputError

HINT = ("Nothing was changed; export it from jrnl as JSON and import that: "
        "`jrnl --export json > journal.json`, then `mirror import journal.json`.")

# An entry starts a line: "[" date time "] " (jrnl's own pattern is "(?:^|\n)\[([^\]]+)\] ").
_BLOB = re.compile(r"(?:^|\n)\[([^\]\n]+)\] ")
_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp][Mm]))?", re.ASCII)
# jrnl's split_title: the first line when there is a newline, else the first sentence.
_SENTENCE = re.compile(r"([.!?\u2026\u203C\u203D\u2047\u2048\u2049\u22EF\uFE52\uFE57]['\u2019\"\u201D]?[\]\)]*\s+)"
                       r"|[\uFF01\uFF0E\uFF1F\uFF61\u3002]")  # jrnl 4.6's SENTENCE_SPLITTER
_TAG = re.compile(r"(?<!\S)([#@][-+*#/\w]+)")
_NOT_TAG_CHAR = re.compile(r"[^-+*#/\w]")
_ENTRY_START = re.compile(r"^\[[^\]\n]+\] ")


def looks_like_text(head: bytes) -> bool:
    """Whether the first bytes of a file are a jrnl text journal: it starts with a dated entry."""
    data = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    m = _BLOB.match(data.lstrip(b" \t\r\n").decode("utf-8", "replace"))
    return bool(m and _STAMP.fullmatch(m.group(1).strip()))


def is_text(text: str) -> bool:
    """Whether decoded *text* given as jrnl's is its text journal rather than its JSON export: it does not
    start as JSON does, or starts with a bracketed date in any time format (``[Jun 03 2024 09:15] ``)."""
    start = text.lstrip()
    return start[:1] not in ("{", "[") or _ENTRY_START.match(start) is not None


def _stamp(blob: str) -> tuple[str, str] | None:
    """(date, ``HH:MM`` in 24 hours) of an entry's date blob, or None when it is not one."""
    m = _STAMP.fullmatch(blob.strip())
    if not m:
        return None
    hour, minute = int(m.group(2)), int(m.group(3))
    if m.group(5):
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if m.group(5).lower() == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return m.group(1), f"{hour:02d}:{minute:02d}"


def _split_title(text: str) -> tuple[str, str]:
    sep = re.search("\n", text.lstrip())
    if not sep:
        sep = _SENTENCE.search(text)
        if not sep:
            return text.strip(), ""  # jrnl keeps it as is; the JSON export then strips it
    return text[: sep.end()].strip(), text[sep.end():].strip()


def _entry(date: str, time: str, text: str) -> dict[str, Any]:
    lines = text.splitlines()
    starred = bool(lines) and lines[0].strip().endswith("*")
    raw = lines[0].strip("\n *") + "\n" + "\n".join(lines[1:]) if starred else text
    title, body = _split_title(raw)
    tags: list[str] = []
    for tag in _TAG.findall(text):
        if tag.lower() not in tags:
            tags.append(tag.lower())
    return {"date": date, "time": time, "title": title, "body": body, "tags": tags, "starred": starred}


def parse_text(text: str) -> dict[str, Any]:
    """jrnl's text journal as the document jrnl's JSON export would be (``{"tags", "entries"}``)."""
    text = (text[1:] if text.startswith("\ufeff") else text).replace("\r\n", "\n")  # CRLF: kept on Windows
    starts = [(m, s) for m in _BLOB.finditer(text) if (s := _stamp(m.group(1))) is not None]
    if not starts:
        if text.lstrip().startswith("gAAAAA"):
            raise InvalidInputError("the file looks like an encrypted jrnl journal, which only jrnl can open.",
                                    HINT)
        raise InvalidInputError("the file is not a jrnl journal: no entry starts with [YYYY-MM-DD HH:MM].", HINT)
    if text[: starts[0][0].start()].strip():
        raise InvalidInputError("the file is not a jrnl journal: text comes before its first [YYYY-MM-DD HH:MM] "
                                "entry (a time format other than jrnl's default?).", HINT)
    entries = []
    for i, (m, (date, time)) in enumerate(starts):
        end = starts[i + 1][0].start() if i + 1 < len(starts) else len(text)
        entries.append(_entry(date, time, text[m.end():end]))
    return {"tags": {}, "entries": entries}


# --------------------------------------------------------------------------- writing


def _local(created_at: str) -> datetime:
    when = datetime.strptime(created_at[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return when.astimezone()


def entry_text(reflection: Mapping[str, Any]) -> str:
    """One reflection as a jrnl entry (ending with a newline)."""
    lines = [(" " + line if _ENTRY_START.match(line) else line)
             for line in str(reflection["content"]).strip().splitlines()] or [""]
    tags = list(reflection.get("tags") or [])
    starred = "starred" in tags
    present = {t.lower()[1:] for t in _TAG.findall("\n".join(lines))}
    extra = []
    for tag in tags:
        name = _NOT_TAG_CHAR.sub("-", tag.strip().lstrip("@#"))
        if tag == "starred" or not name or name.lower() in present:
            continue
        present.add(name.lower())
        extra.append("@" + name)
    if extra:
        lines.append(" ".join(extra))
    stamp = _local(reflection["created_at"]).strftime("%Y-%m-%d %H:%M")
    first = f"[{stamp}] {lines[0]}".rstrip() + (" *" if starred else "")
    return "\n".join([first, *lines[1:]]) + "\n"


def write_jrnl_text(out: TextIO, reflections: Iterable[Mapping[str, Any]]) -> int:
    """Write reflections as a jrnl text journal (a blank line between entries); return how many."""
    n = 0
    for n, reflection in enumerate(reflections, 1):
        out.write(("\n" if n > 1 else "") + entry_text(reflection))
    return n


"""Why a reflection matched a search: the part of its text around the match, the matched words marked.

The same on both kinds of journal: the words are found by the scan's matcher (``journal.search``),
which finds them where SQLite FTS5 does, in the text of the few hits shown (decrypted in memory on an
encrypted journal, as the scan does; nothing is written). A snippet is cut from the content when the
query matches there, else from the response, else from the tags (as ``#tag`` words); about
:data:`WIDTH` terminal cells long (a Chinese or Japanese character takes two), starting a little
before the first match, at a word's start where there is one near, with ``…`` where the text was cut.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mirror_cli.journal.search import Groups, Matcher

WIDTH = 100  # terminal cells
_LEAD = WIDTH // 4  # cells before the first match
_SNAP = 12  # characters a cut moves at most to fall between words
_BLANKS = str.maketrans("\n\r\t\v\f", "     ")


@dataclass(frozen=True)
class Snippet:
    text: str
    marks: tuple[tuple[int, int], ...]  # (start, end) of each match in text, in order
    field: str  # content, response or tags


def _cells(c: str) -> int:
    return 2 if unicodedata.east_asian_width(c) in "WF" else 1


def cut(text: str, spans: Sequence[tuple[int, int]], field: str = "content", width: int = WIDTH) -> Snippet:
    """The part of *text* around the first of *spans*, those of *spans* inside it marked."""
    at, first_end = spans[0] if spans else (0, 0)
    if sum(map(_cells, text[:width + 1])) <= width:  # all of it
        at = 0
    start, cells = at, 0
    while start > 0 and cells + _cells(text[start - 1]) <= min(_LEAD, width // 2):
        start -= 1
        cells += _cells(text[start])
    if start > 0 and not text[start - 1].isspace():
        blank = next((i for i in range(start, min(at, start + _SNAP)) if text[i].isspace()), None)
        if blank is not None:
            start = blank + 1
    end, cells = start, 0
    while end < len(text) and cells + _cells(text[end]) <= width:
        cells += _cells(text[end])
        end += 1
    if end < len(text) and not text[end].isspace():
        blank = next((i for i in range(end - 1, max(first_end, end - _SNAP), -1) if text[i].isspace()), None)
        if blank is not None:
            end = blank
    head = "…" if start > 0 else ""
    shift = len(head) - start
    marks = tuple((max(s, start) + shift, min(e, end) + shift) for s, e in spans if s < end and e > start)
    return Snippet(head + text[start:end].translate(_BLANKS) + ("…" if end < len(text) else ""), marks, field)


def snippets(groups: Groups, hits: Sequence[Any]) -> list[Snippet]:
    """A snippet of each of *hits* (reflections: content, response, tags) for the query of *groups*."""
    matcher = Matcher(groups)
    try:
        out = []
        for r in hits:
            for field, text in (("content", r.content), ("response", r.response or ""),
                                ("tags", " ".join("#" + t for t in r.tags))):
                spans = matcher.spans(text) if matcher.possible and text else []
                if spans:
                    out.append(cut(text, spans, field))
                    break
            else:
                out.append(cut(r.content, [], "content"))
        return out
    finally:
        matcher.close()

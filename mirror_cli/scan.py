"""Search on an encrypted database: decrypt every row and rank it, with no plaintext index on disk.

:func:`best_hits` returns the ``limit`` best ``(score, created_at, id)`` of
the reflections that hold every term (a list of lower-case word sequences from
``journal.parse_query``), best first. A term matches where its first word
starts a word and the next ones follow it across non-word characters ("walk"
finds "walking", not "sidewalk"); the score is the term's substring count over
the text length, summed over the terms. Each row is opened in one call
(``fields.open_row``, so a damaged or moved envelope fails the search with
exit 3 naming the record, as elsewhere) and lower-cased once; the tags are
searched as their stored JSON text (quotes and commas are not word
characters).

Two cores
---------
Decrypting is most of the time and holds the GIL, so a journal of at least
:data:`PARALLEL_MIN_ROWS` reflections is scanned in two halves at once: this
process takes the lower half of the rowids, a helper process (``python -m
mirror_cli.scan``) the upper half (only when this process may use two CPUs or more). The helper gets the database path, the data
key, the terms and the bounds as JSON on its stdin (never in argv or the
environment), opens the file read-only, and answers one JSON object on stdout:
``{"hits": [[score, created_at, id], ...]}`` or, for a row that fails to
open, ``{"error": message, "hint": hint}``, raised here as the same
:class:`VerificationError`. When the helper cannot start, dies, or answers
anything else, this process scans the upper half itself: the results never
depend on it. The halves are read in separate transactions, so a write that
lands between them may show in one half only (a search is a snapshot of about
the same moment, like ``grep`` over a changing folder).
"""

from __future__ import annotations

import heapq
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from mirror_cli import helperproc
from mirror_cli.errors import VerificationError
from mirror_cli.helperproc import cores as _cores

PARALLEL_MIN_ROWS = 20_000
FIELDS = ("content", "response", "tags")
_SELECT = "SELECT id, created_at, content, response, tags FROM reflections"

Hit = tuple[float, str, str]


def word_start(words: Sequence[str]) -> re.Pattern[str]:
    """``\\bw1\\W+w2...`` written so the regex engine can jump to the literal first word.

    ``w1(?<!\\ww1)`` matches where ``\\bw1`` does (every word is made of word
    characters), but starts with a literal, which ``re`` finds with a fast scan.
    """
    first = re.escape(words[0])
    return re.compile(first + r"(?<!\w" + first + ")" + "".join(r"\W+" + re.escape(w) for w in words[1:]))


def scan_rows(rows: Iterable[Sequence[Any]], open_row: Callable[..., list[Any]], terms: list[list[str]],
              limit: int) -> list[Hit]:
    """The best *limit* hits among *rows* of ``(id, created_at, content, response, tags)``, unordered."""
    needles = [" ".join(words) for words in terms]
    firsts = [words[0] for words in terms]
    patterns = [word_start(words) for words in terms]
    best: list[Hit] = []  # min-heap
    for rid, created_at, *stored in rows:
        content, response, tags = open_row("reflections", rid, FIELDS, stored)
        text = content + "\n" + tags if response is None else "\n".join((content, response, tags))
        low = text.lower()
        for first in firsts:
            if first not in low:
                break
        else:
            score = 0.0
            for needle, pat in zip(needles, patterns):
                # the substring count is a cheap stand-in for the term frequency
                if not pat.search(low):
                    break
                score += max(low.count(needle), 1) / (1.0 + len(text) / 2000.0)
            else:
                item = (score, created_at, rid)
                if len(best) < limit:
                    heapq.heappush(best, item)
                elif item > best[0]:
                    heapq.heapreplace(best, item)
    return best


def best_hits(store: Any, terms: list[list[str]], limit: int, *,
              parallel_min_rows: int = PARALLEL_MIN_ROWS) -> list[Hit]:
    """The *limit* best hits of an encrypted *store*, best first (see the module docstring)."""
    conn = store.conn
    open_row = store.fields.open_row
    n = conn.execute("SELECT count(*) FROM reflections").fetchone()[0]
    helper = None
    if n >= max(parallel_min_rows, 2) and limit > 0 and _cores() >= 2:
        (mid,) = conn.execute("SELECT rowid FROM reflections ORDER BY rowid LIMIT 1 OFFSET ?", (n // 2,)).fetchone()
        helper = _Helper.start(store, terms, limit, mid)
    if helper is None:
        return sorted(scan_rows(conn.execute(_SELECT), open_row, terms, limit), reverse=True)
    try:
        best = scan_rows(conn.execute(_SELECT + " WHERE rowid < ?", (mid,)), open_row, terms, limit)
    except BaseException:
        helper.kill()
        raise
    upper = helper.finish()
    if upper is None:  # no answer from the helper: scan its half here
        upper = scan_rows(conn.execute(_SELECT + " WHERE rowid >= ?", (mid,)), open_row, terms, limit)
    return heapq.nlargest(limit, best + upper)


class _Helper:
    """The helper process scanning rowids >= *lo*."""

    def __init__(self, proc: Any) -> None:
        self.proc = proc

    @classmethod
    def start(cls, store: Any, terms: list[list[str]], limit: int, lo: int) -> _Helper | None:
        dek = getattr(store, "data_key", None)
        if dek is None:
            return None
        proc = helperproc.start("mirror_cli.scan", {"db": os.path.abspath(str(store.path)), "key": dek.hex(),
                                                    "terms": terms, "limit": limit, "lo": lo})
        return None if proc is None else cls(proc)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.communicate()

    def finish(self, timeout: float = 120.0) -> list[Hit] | None:
        """The helper's hits; None when it gave no usable answer. A damaged row -> VerificationError."""
        import subprocess

        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        except BaseException:
            self.kill()
            raise
        try:
            answer = json.loads(out)
        except ValueError:
            return None
        if isinstance(answer, dict) and isinstance(answer.get("error"), str):
            raise VerificationError(answer["error"], answer.get("hint") if isinstance(answer.get("hint"), str) else None)
        hits = answer.get("hits") if isinstance(answer, dict) and self.proc.returncode == 0 else None
        if not isinstance(hits, list):
            return None
        try:
            return [(float(score), str(created), str(rid)) for score, created, rid in hits]
        except (TypeError, ValueError):
            return None


def _main() -> int:
    """The helper: read the request on stdin, scan rowids >= lo, answer on stdout."""
    import sqlite3
    from pathlib import Path

    from mirror_cli import crypto
    from mirror_cli.errors import MirrorError
    from mirror_cli.fields import SealedFields

    request = json.loads(sys.stdin.buffer.read())
    open_row = SealedFields(crypto.FieldCipher(bytes.fromhex(request["key"]))).open_row
    conn = sqlite3.connect(Path(request["db"]).as_uri() + "?mode=ro", uri=True)
    try:
        rows = conn.execute(_SELECT + " WHERE rowid >= ?", (request["lo"],))
        hits = scan_rows(rows, open_row, request["terms"], request["limit"])
        answer: dict[str, Any] = {"hits": hits}
    except MirrorError as exc:
        answer = {"error": exc.message, "hint": exc.hint}
    finally:
        conn.close()
    sys.stdout.write(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(_main())

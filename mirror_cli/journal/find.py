"""Search: the best reflections for a query, with the part of each that matched.

A plaintext journal ranks inside its FTS5 index (bm25) and reads only the winners' rows; an
encrypted one, or a query FTS5 cannot answer alone (a script written without spaces), goes
through the scan of :mod:`.search`. The query language is :mod:`.query`'s, the snippets
:mod:`.snippets`'. Its own module, so that ``reflect`` and ``list`` load none of these.
"""

from __future__ import annotations

from typing import NamedTuple

from mirror_cli.db.store import Store
from mirror_cli.journal import query as search_query
from mirror_cli.journal import search as scan
from mirror_cli.journal import snippets
from mirror_cli.journal.reflections import COLUMNS, Reflection, decode


class Found(NamedTuple):
    """A reflection a search found, and the part of its text that matched."""

    reflection: Reflection
    snippet: snippets.Snippet


def search(store: Store, query: str, *, limit: int = 20) -> list[Reflection]:
    return [f.reflection for f in find(store, query, limit=limit)]


def find(store: Store, text: str, *, limit: int = 20) -> list[Found]:
    """The *limit* best matches of the query *text* (``journal.query``), best first, with snippets."""
    query = search_query.parse(text)
    if not store.encrypted and not query.literal:
        # Rank inside the index first and read only the winners' rows: joining every match to
        # its (large) reflection row before the sort cost as much as the ranking itself.
        # Equal scores go newest first (rowid order is only a proxy for that, hence the outer sort).
        rows = store.conn.execute(
            f"SELECT {', '.join('r.' + c.strip() for c in COLUMNS.split(','))} FROM"
            " (SELECT rowid, bm25(reflections_fts, 10.0, 3.0, 5.0) AS score FROM reflections_fts"
            "  WHERE reflections_fts MATCH ? ORDER BY score, rowid DESC LIMIT ?) AS hit"
            " JOIN reflections AS r ON r.rowid = hit.rowid ORDER BY hit.score, r.created_at DESC",
            (search_query.fts_expression(query), limit),
        ).fetchall()
        found = [decode(store, row) for row in rows]
    else:
        found = _scan_search(store, query, limit)
    return [Found(r, snip) for r, snip in zip(found, snippets.snippets(query.groups, found))]


def _scan_search(store: Store, query: search_query.Query, limit: int) -> list[Reflection]:
    """Encrypted databases keep no plaintext index: ``mirror_cli.journal.search`` decrypts every row and
    ranks it. A plaintext one does the same for a query FTS5 cannot answer alone (a script written
    without spaces), over the rows ``query.plain_filter`` selects. Whole Reflection objects are built
    only for the best hits.
    """
    if store.encrypted:
        ranked = scan.best_hits(store, query.groups, limit)
    else:
        where, params = search_query.plain_filter(query)
        rows = store.conn.execute("SELECT r.id, r.created_at, r.content, r.response, r.tags FROM reflections AS r"
                                  f" WHERE {where}", params)  # noqa: S608
        ranked = sorted(scan.scan_rows(rows, scan.plain_row, query.groups, limit), reverse=True)
    if not ranked:
        return []
    by_id = {}
    for rid in (r for _, _, r in ranked):
        row = store.conn.execute(f"SELECT {COLUMNS} FROM reflections WHERE id = ?", (rid,)).fetchone()
        by_id[rid] = decode(store, row)
    return [by_id[rid] for _, _, rid in ranked]

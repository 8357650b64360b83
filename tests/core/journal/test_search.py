"""mirror_cli.journal.search: search on an encrypted database (every row opened and ranked, one process)."""

from __future__ import annotations

import sqlite3

import pytest

from mirror_cli import crypto
from mirror_cli.journal import reflections as journal
from mirror_cli.crypto import manage as keyops
from mirror_cli.journal import search as scan
from mirror_cli.journal.query import QueryTerm, parse
from mirror_cli.errors import VerificationError
from mirror_cli.db.store import Store

PW = "scan test passphrase"
WORDS = "sea walk mountain trust river letter quiet storm garden".split()
QUERIES = ["sea", "walk mountain", '"quiet storm"', "letter garden river", "zebra"]


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "scan.db")
    for i in range(40):
        words = [WORDS[(i * k) % len(WORDS)] for k in range(1, 2 + i % 7)]
        journal.add(s, " ".join(words) + f" entry{i}", tags=[WORDS[i % len(WORDS)]] if i % 3 else [],
                    response="a quiet storm" if i % 5 == 0 else None)
    keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False,
                  kdf_params=crypto.new_kdf_params(iterations=1, lanes=1, memory_cost=8))
    yield s
    s.close()


def terms(query):
    return parse(query).groups


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("limit", [1, 5, 50])
def test_hits_are_the_best_first_and_at_most_limit(store, query, limit):
    hits = scan.best_hits(store, terms(query), limit)
    assert hits == sorted(hits, reverse=True) and len(hits) <= limit
    if query != "zebra":
        assert hits
    more = scan.best_hits(store, terms(query), 50)
    assert hits == more[:limit]


def test_a_damaged_row_is_reported_by_record_and_field(store):
    last = store.conn.execute("SELECT id, content FROM reflections ORDER BY rowid DESC LIMIT 1").fetchone()
    blob = bytearray(last[1])
    blob[-3] ^= 0x10
    con = sqlite3.connect(store.path)
    con.execute("UPDATE reflections SET content = ? WHERE id = ?", (bytes(blob), last[0]))
    con.commit()
    con.close()
    with pytest.raises(VerificationError) as info:
        scan.best_hits(store, terms("entry39"), 5)
    assert last[0] in info.value.message and "content" in info.value.message


def count(query, text):
    matcher = scan.Matcher(terms(query))
    try:
        return [t.count(*matcher.prepare(text)) for t in matcher.terms]
    finally:
        matcher.close()


@pytest.mark.parametrize("query, text, expected", [
    ("cat", "the cat, the cats", [2]), ("cat", "category", [0]), ("walk", "sidewalk", [0]),
    ("walk", "walking, Walked", [2]), ("cafe", "un Café, CAFE\u0301S", [2]), ("CAFÉ", "cafe", [1]),
    ('"p1 n1"', "p1 n10; p1-n1", [1]), ("p1 n1", "n1 p1", [1, 1]), ("x_y", "x y", [1]),
    ("hope", "hoping, hopping", [1]), ("naive", "naïve", [1]), ("a", "e\u0301a", [0]),
])
def test_words_are_cut_folded_and_stemmed_as_in_the_index(query, text, expected):
    assert count(query, text) == expected


def test_a_term_without_an_indexed_word_matches_nothing(store):
    """FTS5 finds nothing for an empty phrase (``"_"``): neither does the scan, which then reads no row.
    (``journal.query`` leaves such a term out of a query: punctuation is not searched.)"""
    assert scan.best_hits(store, [((QueryTerm("_"), QueryTerm("sea")), ())], 5) == []
    assert scan.best_hits(store, [((QueryTerm("sea"),), (QueryTerm("_"),))], 5)
    assert scan.best_hits(store, terms("_ sea"), 5) == scan.best_hits(store, terms("sea"), 5) != []


def test_damaged_tags_are_reported_too(store):
    first = store.conn.execute("SELECT id, tags FROM reflections ORDER BY rowid LIMIT 1").fetchone()
    con = sqlite3.connect(store.path)
    con.execute("UPDATE reflections SET tags = ? WHERE id = ?", (first[1][:-1] + bytes([first[1][-1] ^ 1]), first[0]))
    con.commit()
    con.close()
    with pytest.raises(VerificationError, match=f"{first[0]}: field tags"):
        scan.best_hits(store, terms("sea"), 5)

"""`mirror search` finds the same reflections before and after `mirror key enable`.

A plaintext journal is searched by SQLite FTS5 (``reflections_fts``, migration 0001); an encrypted
one by ``mirror_cli.journal.search``, which must cut, fold and stem words exactly as that index does.
"""

from __future__ import annotations

import re
import sqlite3
import uuid

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mirror_cli import crypto
from mirror_cli.journal import reflections as journal
from mirror_cli.journal import find as finder
from mirror_cli.crypto import manage as keyops
from mirror_cli.journal import search as scan
from mirror_cli.errors import UsageError
from mirror_cli.db.store import Store

PW = "parity test passphrase"
VOCAB = ("walk walking walked walks sidewalk cat cats category café Café CAFE cafés cafe\u0301 crème "
         "hope hoping hopping happy happiness possibility possibly fluency p1 n1 n10 P1 ies i I y "
         "naïve NAÏVE über uber straße STRASSE ſun µm ñandú øre İstanbul 2024 x_y foo-bar "
         "don't don’t l'été").split()
LETTERS = "aceilnpsty01éÉèçÇñüøßİſµ\u0301_"
SEPARATORS = [" ", "  ", ", ", ". ", "-", "\n", "’", "'", "\"", "#", "😀", "/", "\u0301 "]


def word():
    return st.sampled_from(VOCAB) | st.text(alphabet=LETTERS, min_size=1, max_size=6)


def text(max_words=8):
    return st.lists(st.tuples(word(), st.sampled_from(SEPARATORS)), min_size=1, max_size=max_words).map(
        lambda parts: "".join(w + s for w, s in parts))


def query(words):
    phrase = st.lists(words, min_size=1, max_size=3).map(lambda ws: '"' + " ".join(ws) + '"')
    return st.lists(words | phrase, min_size=1, max_size=3).map(" ".join)


def _pair(tmp_path, rows):
    """The same reflections in a plaintext and an encrypted journal; ``row_names``: id -> "r<index>"."""
    stores = []
    for kind in ("plain", "sealed"):
        s = Store.open(tmp_path / f"{kind}-{uuid.uuid4().hex}.db")
        s.row_names = {journal.add(s, content, response=response, tags=tags).id: f"r{i}"
                       for i, (content, response, tags) in enumerate(rows)}
        stores.append(s)
    keyops.enable(stores[1], {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False,
                  kdf_params=crypto.new_kdf_params(iterations=1, lanes=1, memory_cost=8))
    assert not stores[0].encrypted and stores[1].encrypted
    return stores


def _ids(store, q):
    try:
        return {store.row_names[r.id] for r in finder.search(store, q, limit=1000)}
    except UsageError:
        return "usage error"


@pytest.fixture
def pair(tmp_path):
    made = []

    def make(rows):
        made.extend(_pair(tmp_path, rows))
        return made[-2:]

    yield make
    for s in made:
        s.close()


def test_the_reported_cases(pair):
    plain, sealed = pair([("un café crème", None, []), ("the category", None, []), ("a cat", None, []),
                          ("p1 n10", None, []), ("p1, n1.", None, []), ("We went walking", None, []),
                          ("the sidewalk", None, [])])
    for q, expected in [("cafe", {"r0"}), ("CAFÉ", {"r0"}), ("cat", {"r2"}), ('"p1 n1"', {"r4"}),
                        ("p1", {"r3", "r4"}), ("walk", {"r5"}), ("category", {"r1"})]:
        assert _ids(plain, q) == expected, q  # what FTS5 finds ...
        assert _ids(sealed, q) == expected, q  # ... the scan finds


TRICKY = [
    ([("un café crème", None, []), ("Cafe\u0301s", "CAFÉ", [])], ["cafe", '"crème"', "cafes"]),
    ([("category", None, ["cat"]), ("cats, cat.", None, [])], ["cat", "cats", "category"]),
    ([("p1 n10", None, []), ("P1-n1", "p1", []), ("p1", "n1", [])], ['"p1 n1"', "p1 n1"]),
    ([("a \u0301 b", None, []), ("a\u0301b", None, []), ("\u0301a b", None, [])], ['"a b"', "ab"]),
    ([("x_y foo-bar", None, []), ("don’t l'été", None, [])], ['"x y"', "x_y", '"t l"', "ete", "don", "_"]),
    ([("hoping happiness possibility", None, []), ("hopping happy possibly", None, [])],
     ["hope", "happy", "possible", "hop", "happiness"]),
    ([("naïve İstanbul straße ſun µm", None, []), ("NAIVE istanbul STRASSE sun μm", None, [])],
     ["naive", "istanbul", "straße", "strasse", "sun", "µm", "μm"]),
    ([("end of one", "two starts", ["three"]), ("one two", None, [])], ['"one two"', '"two three"', "one three"]),
    ([("I’m “fine” — really…", None, []), ("Im fine", None, []), ("m fine 😀 really", None, [])],
     ["m", "im", '"m fine"', '"fine really"', "really"]),
]


@pytest.mark.parametrize("rows, queries", TRICKY)
def test_tricky_cases(pair, rows, queries):
    plain, sealed = pair(rows)
    for q in queries:
        assert _ids(sealed, q) == _ids(plain, q), q


@given(rows=st.lists(st.tuples(text(), st.none() | text(4), st.lists(word(), max_size=2)), min_size=1, max_size=5),
       data=st.data())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_encrypted_search_finds_what_fts5_finds(pair, rows, data):
    rows = [(c if c.strip() else "x" + c, r, t) for c, r, t in rows]
    plain, sealed = pair(rows)
    seen = sorted({w for c, r, t in rows for w in re.findall(r"\w+", " ".join([c, r or "", *t]))})
    queries = data.draw(st.lists(query(st.sampled_from(seen) | word() if seen else word()), min_size=1, max_size=4))
    for q in queries:
        found = _ids(plain, q)
        event("usage error" if isinstance(found, str) else "query finds some" if found else "query finds nothing")
        assert _ids(sealed, q) == found, q


SUFFIXES = ("s es ies sses ed eed ing y ly bly ably ational tional enci anci izer bli alli entli eli ousli ization "
            "ation ator alism iveness fulness ousness aliti iviti biliti logi icate ative alize iciti ical ful ness "
            "al ance ence er ic able ible ant ement ment ent ion ism ate iti ous ive ize e ll at bl iz").split()
STEMMABLE = st.tuples(st.text(alphabet="abcdeilnorstuy", max_size=5), st.lists(st.sampled_from(SUFFIXES), max_size=3))


@given(w=st.text(alphabet=LETTERS + "abdgkmoruvz", min_size=1, max_size=8)
       | STEMMABLE.map(lambda parts: parts[0] + "".join(parts[1])))
@settings(max_examples=400, deadline=None)
def test_every_word_is_a_candidate_for_its_own_stem(w):
    """The stemmer rewrites no more than the letters a term's regex leaves open (Term.head)."""
    words = scan.Fts5Words()
    try:
        stems = words.tokens(w)
        if len(stems) != 1:
            return  # not one word
        term = scan.Term(stems, words.stem)
        assert term.count(*scan.Matcher.prepare(w)) == 1
        has_dropped = any(c in w for c in scan._chars().dropped)
        assert term.count(w, None, has_dropped) == 1  # the class regexes, as for a text with an accent elsewhere
        assert term.count(w, None, True) == 1  # ... and with a combining accent elsewhere
    finally:
        words.close()


def test_the_tokenizer_is_the_one_of_the_index(tmp_path):
    with Store.open(tmp_path / "t.db") as s:
        (sql,) = s.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'reflections_fts'").fetchone()
    assert f"tokenize = '{scan.TOKENIZE}'" in sql


def _probe(codes):
    """{code point: what unicode61 (remove_diacritics 2) makes of it inside a word, or None (a separator)}."""
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize = '{scan.TOKENIZE.removeprefix('porter ')}')")
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    codes = [c for c in codes if not 0xD800 <= c <= 0xDFFF]
    conn.execute("INSERT INTO t (rowid, x) VALUES (1, ?)", (" ".join(f"q{chr(c)}q" for c in codes),))
    terms = iter([t for (t,) in conn.execute("SELECT term FROM v ORDER BY offset")])
    out = {}
    for c in codes:
        term = next(terms)
        if term == "q":  # cut in two: a separator
            assert next(terms) == "q"
            out[c] = None
        else:
            out[c] = term[1:-1]
    assert next(terms, None) is None
    conn.close()
    return out


def test_the_character_tables_are_sqlites():
    """The separators and the fold blocks in scan.py agree with the SQLite that runs the search."""
    chars = scan._chars()
    table_bounds = [int(b, 16) + d for item in scan._SEPARATORS.split()
                    for b in item.split("-") for d in (-1, 0, 1)]
    codes = set(range(0x20000)) | set(range(0x20000, 0x110000, 251)) | {c for c in table_bounds if 0 <= c < 0x110000}
    for c, folded in _probe(sorted(codes)).items():
        ch = chr(c)
        assert (folded is None) == bool(chars.separator.match(ch)), hex(c)
        if folded is None:
            continue
        assert re.match(chars.word, ch), hex(c)
        assert bool(re.match(chars.start, ch)) == (ch not in chars.dropped), hex(c)
        if ch in chars.in_blocks:
            assert (folded == "" and ch in chars.dropped) or ch in chars.preimages.get(folded, ""), hex(c)
        else:
            assert folded == ch, hex(c)  # outside the blocks nothing folds

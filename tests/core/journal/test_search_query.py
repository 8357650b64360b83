"""`mirror search` queries: OR, NOT/-word, "phrases", prefix*, scripts without spaces, snippets.

Each query means the same on a plaintext journal (SQLite FTS5, or a substring test for Chinese and
Japanese) and on an encrypted one (the scan): both find the same reflections and cut the same snippets.
"""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mirror_cli import crypto
from mirror_cli.crypto import manage as keyops
from mirror_cli.db.store import Store
from mirror_cli.errors import UsageError
from mirror_cli.journal import reflections as journal
from mirror_cli.journal import find as finder
from mirror_cli.journal.query import QueryTerm, fts_expression, parse
from mirror_cli.journal.snippets import cut

PW = "query test passphrase"

ROWS = [
    ("We went walking by the river today", None, []),  # r0
    ("rain again, walking home in the rain", None, ["weather"]),  # r1
    ("happiness is a warm cup of coffee", "and a walk", []),  # r2
    ("東京タワーに行った。とても楽しかった", None, ["旅行"]),  # r3
    ("我住在东京都，天气很好", None, []),  # r4
    ("iPhone用ケースを買った", None, []),  # r5
    ("a long walk by the sea, then coffee", None, ["walk"]),  # r6
    ("京", "東", []),  # r7
    ("สวัสดีครับ วันนี้อากาศดี", None, []),  # r8 (Thai)
    ('quotes " and NEAR(x) and col:on * stars ^ 東京', None, []),  # r9
]


def _pair(tmp_path, rows):
    """The same reflections in a plaintext and an encrypted journal; ``names``: id -> "r<index>"."""
    stores = []
    for kind in ("plain", "sealed"):
        s = Store.open(tmp_path / f"{kind}-{uuid.uuid4().hex}.db")
        s.names = {journal.add(s, c, response=r, tags=t).id: f"r{i}" for i, (c, r, t) in enumerate(rows)}
        stores.append(s)
    keyops.enable(stores[1], {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False,
                  kdf_params=crypto.new_kdf_params(iterations=1, lanes=1, memory_cost=8))
    assert not stores[0].encrypted and stores[1].encrypted
    return stores


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    stores = _pair(tmp_path_factory.mktemp("query"), ROWS)
    yield stores
    for s in stores:
        s.close()


def found(store, q, limit=100):
    try:
        return [(store.names[f.reflection.id], f.snippet) for f in finder.find(store, q, limit=limit)]
    except UsageError:
        return "usage error"


def ids(store, q):
    got = found(store, q)
    return got if isinstance(got, str) else {name for name, _ in got}


@pytest.mark.parametrize("q, expected", [
    ("walk", {"r0", "r1", "r2", "r6"}),
    ("walk OR coffee", {"r0", "r1", "r2", "r6"}),
    ("river OR sea", {"r0", "r6"}),
    ("walk -rain", {"r0", "r2", "r6"}),
    ("walk NOT rain", {"r0", "r2", "r6"}),
    ("walk NOT rain NOT coffee", {"r0"}),
    ("walk -rain OR weather", {"r0", "r1", "r2", "r6"}),
    ("coffee -walk OR river", {"r0"}),
    ('"long walk"', {"r6"}),
    ('-"long walk" walk', {"r0", "r1", "r2"}),
    ("hap*", {"r2"}),
    ("happy*", {"r2"}),  # the prefix is stemmed, as FTS5's porter tokenizer does
    ("walki*", set()),  # the index holds stems ("walk"): a prefix longer than the stem finds nothing
    ('"warm cup"*', {"r2"}),
    ('"warm cu"*', {"r2"}),
    ("wal* -rain", {"r0", "r2", "r6"}),
    ("or", set()), ('"OR"', set()), ("and", {"r2", "r9"}), ("AND", {"r2", "r9"}),
    ("content:river", set()), ("NEAR(", {"r9"}), ("col:on", {"r9"}), ("stars ^", {"r9"}),
])
def test_each_operator_finds_the_same_on_both_paths(pair, q, expected):
    plain, sealed = pair
    assert ids(plain, q) == expected, q
    assert ids(sealed, q) == expected, q


@pytest.mark.parametrize("q, expected", [
    ("京", {"r3", "r4", "r7", "r9"}), ("東", {"r3", "r7", "r9"}), ("东", {"r4"}),  # one character
    ("東京", {"r3", "r9"}), ("东京", {"r4"}), ("天气", {"r4"}), ("旅行", {"r3"}),  # two (r3's is a tag)
    ("東京タワー", {"r3"}), ("楽しかった", {"r3"}), ("东京都", {"r4"}),  # three and more
    ("「東京」", {"r3", "r9"}), ("東京。", {"r3", "r9"}), ('"行った。とても"', {"r3"}),
    ("iphone用", {"r5"}), ("IPHONE用ケース", {"r5"}), ("ケース", {"r5"}),
    ("東京 OR 东京", {"r3", "r4", "r9"}), ("東京 -quotes", {"r3"}), ("東京 -タワー", {"r9"}),
    ("東京 stars", {"r9"}), ("京 -东 -quotes", {"r3", "r7"}), ("東京*", {"r3", "r9"}),
    ("大阪", set()), ("วันนี้", {"r8"}), ("อากาศ", {"r8"}),
])
def test_scripts_without_spaces_are_found_inside_words_on_both_paths(pair, q, expected):
    plain, sealed = pair
    assert ids(plain, q) == expected, q
    assert ids(sealed, q) == expected, q


HOSTILE = ['"', "*", "NEAR(", "^", "content:x", "col:on", "OR", "NOT", "-", "--", "a OR", "OR a", "a NOT",
           "-walk", "NOT walk", "(walk", "walk)", "()", '" OR "', '""', "'", "***", "NEAR(a, b)", "walk OR OR sea",
           "{content}: walk", "walk AND", "^walk", "walk^2", "\\", "%", "_", "東京 OR", "-東京", '"東京', "。",
           "* OR *", "NOT NOT walk", "a:b:c", "walk - rain", "\x00"]


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_queries_are_a_usage_error_or_a_literal_search(pair, q):
    plain, sealed = pair
    assert ids(plain, q) == ids(sealed, q), q  # never an FTS5 syntax error (that would raise sqlite3 errors)


@pytest.mark.parametrize("q, message", [
    ("^", "no words"), ('"', "no words"), ("*", "no words"), ("。", "no words"),
    ("OR", "OR needs a word on each side"), ("walk OR", "OR needs a word on each side"),
    ("OR walk", "OR needs a word on each side"), ("walk NOT", "NOT needs a word after it"),
    ("-walk", "not only words to leave out"), ("walk OR -rain", "not only words to leave out"),
    ("(walk OR run) rain", "parentheses"),
])
def test_what_a_query_cannot_mean_is_said(q, message):
    with pytest.raises(UsageError, match=message) as info:
        parse(q)
    assert info.value.exit_code == 2


def test_parse():
    assert parse('one "two three" four').groups == (((QueryTerm("one"), QueryTerm("two three"), QueryTerm("four")), ()),)
    assert parse('"unclosed phrase').groups == (((QueryTerm("unclosed phrase"),), ()),)
    assert parse("a OR b -c NOT d e*").groups == (
        ((QueryTerm("a"),), ()), ((QueryTerm("b"), QueryTerm("e", prefix=True)), (QueryTerm("c"), QueryTerm("d"))))
    assert parse("「東京」 京*").groups == (((QueryTerm("東京", literal=True), QueryTerm("京", literal=True)), ()),)
    assert parse("^ walk .").groups == (((QueryTerm("walk"),), ()),)  # punctuation alone is not a term
    assert fts_expression(parse('a OR b"c -d e*')) == '(("a")) OR (("b""c" AND "e"*) NOT "d")'


def test_snippets_show_the_match_the_same_on_both_paths(pair):
    plain, sealed = pair
    for q in ["river", "walk OR coffee", "東京", "京", "旅行", '"long walk"', "hap*", "sea -rain"]:
        got = found(plain, q)
        assert got == found(sealed, q), q
        for name, snippet in got:
            assert snippet.marks, (q, name)
            for start, end in snippet.marks:
                assert 0 <= start < end <= len(snippet.text)
    (name, snippet), = found(plain, "旅行")
    assert (name, snippet.field, snippet.text, snippet.marks) == ("r3", "tags", "#旅行", ((1, 3),))
    (name, snippet), = found(plain, "walk -rain -river -sea")
    assert (snippet.field, snippet.text[slice(*snippet.marks[0])]) == ("response", "walk")


def test_a_long_text_is_cut_around_the_first_match():
    text = " ".join(f"w{i}" for i in range(200)) + " needle " + " ".join(f"v{i}" for i in range(200))
    at = text.index("needle")
    s = cut(text, [(at, at + 6)])
    assert s.text.startswith("…") and s.text.endswith("…") and len(s.text) <= 102
    assert s.text[slice(*s.marks[0])] == "needle" and s.text[1] != " " and s.text[-2] != " "
    assert s.text.index("needle") > 10  # some words before it
    cjk = "天" * 300 + "東京" + "地" * 300
    s = cut(cjk, [(300, 302)])
    assert s.text[slice(*s.marks[0])] == "東京" and len(s.text) <= 52  # wide characters: two cells each
    short = cut("tiny\ntext", [(5, 9)])
    assert (short.text, short.marks) == ("tiny text", ((5, 9),))


# -- every word of an entry finds it ----------------------------------------------------------
LATIN = "aceilnpsty01éÉçñüß'-_ "
CJK = "東京都大阪天气很好我的ありがとうカタカナ一二三々ー"
WORD_RE = re.compile(r"[^\W_]+")


def _words(text):
    """Words as people would copy them out of the text: runs of letters and digits."""
    return WORD_RE.findall(text)


@given(rows=st.lists(st.tuples(st.text(alphabet=LATIN + CJK + "。、「」 .,", min_size=1, max_size=30),
                               st.none() | st.text(alphabet=LATIN + CJK, max_size=10)), min_size=1, max_size=4),
       data=st.data())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_word_taken_from_an_entry_finds_it_on_both_paths(tmp_path, rows, data):
    rows = [(c if _words(c) else c + " x", r, []) for c, r in rows]
    plain, sealed = _pair(tmp_path, rows)
    try:
        i = data.draw(st.integers(0, len(rows) - 1))
        content, response, _ = rows[i]
        w = data.draw(st.sampled_from(_words(content) + _words(response or "")))
        q = f'"{w}"' if w in ("OR", "NOT") else w
        want = f"r{i}"
        assert want in ids(plain, q), (q, rows)
        assert ids(sealed, q) == ids(plain, q), (q, rows)
    finally:
        plain.close()
        sealed.close()


# -- any query means the same on both paths --------------------------------------------------
VOCAB = "walk walking walked sidewalk cat category happy happiness hope hoping café CAFE naïve p1 n1 東京 京 东京都 タワー".split()


def _query_part(words):
    word = st.sampled_from(words)
    term = (word | word.map(lambda w: w[:3] + "*") | st.lists(word, min_size=2, max_size=3).map(
        lambda ws: '"' + " ".join(ws) + '"'))
    return st.tuples(st.sampled_from(["", "", "", "", "-", "NOT "]), term).map("".join)


@given(rows=st.lists(st.lists(st.sampled_from(VOCAB + [",", "。"]), min_size=1, max_size=8).map(" ".join),
                     min_size=1, max_size=5),
       data=st.data())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_query_finds_the_same_on_both_paths(tmp_path, rows, data):
    plain, sealed = _pair(tmp_path, [(c, None, []) for c in rows])
    try:
        for _ in range(3):
            seen = sorted({w for c in rows for w in c.split() if w not in (",", "。")} or {"walk"})
            groups = data.draw(st.lists(st.lists(_query_part(seen), min_size=1, max_size=3).map(" ".join),
                                        min_size=1, max_size=3))
            q = " OR ".join(groups)
            got = ids(plain, q)
            event("usage error" if isinstance(got, str) else "finds some" if got else "finds nothing")
            assert ids(sealed, q) == got, (q, rows)
    finally:
        plain.close()
        sealed.close()

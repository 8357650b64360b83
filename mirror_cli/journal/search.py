"""Search on an encrypted database: decrypt every row and rank it, with no plaintext index on disk.

:func:`best_hits` returns the ``limit`` best ``(score, created_at, id)`` of
the reflections that match a query (its groups, from ``journal.query.parse``:
an OR of groups, each holding every one of its included terms and none of its
excluded ones), best first. It finds what the plaintext search finds
(``reflections_fts MATCH``, SQLite FTS5 with the tokenizer :data:`TOKENIZE`):

- a word is a run of word characters; every other character separates
  (``cat`` is not found in ``category``, nor ``walk`` in ``sidewalk``);
- case and diacritics fold away (``cafe`` finds ``Café``), and words are
  compared by their Porter stem (``walk`` finds ``walking``, ``hope`` finds
  ``hoping`` but not ``hopping``); a prefix term (``walk*``) finds the words
  whose stem starts with the query word's stem, as FTS5 does;
- a quoted phrase is that many consecutive words, inside one field
  (``"p1 n1"`` is not found in ``p1 n10``);
- a literal term (a script written without spaces, see ``journal.query``) is
  found as written anywhere in a field (:class:`Literal`); a plaintext
  database answers such queries with this module too (:func:`scan_rows` over
  the rows ``journal.query.plain_filter`` selects, :func:`plain_row`).

Which code points are word characters is a table taken from SQLite
(:data:`_SEPARATORS`); folding and stemming are asked of SQLite's own
tokenizer on an in-memory table, once per distinct word (:class:`Fts5Words`).
Regexes computed once per query find the candidate words fast (see
:class:`Term`). The score is the number of times the terms occur over the text
length, summed over the terms. Each row is opened in one call
(``fields.open_row``, so a damaged or moved envelope fails the search with
exit 3 naming the record, as elsewhere); the tags are searched as their stored
JSON text, as the index holds them.
"""

from __future__ import annotations

import functools
import heapq
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple, Protocol

from mirror_cli.crypto.fields import codec as field_codec

FIELDS = ("content", "response", "tags")
_SELECT = "SELECT id, created_at, content, response, tags FROM reflections"

#: The tokenizer of ``reflections_fts`` (migration 0001); the scan cuts, folds and stems words as it does.
TOKENIZE = "porter unicode61 remove_diacritics 2"
_FOLD_TOKENIZE = TOKENIZE.removeprefix("porter ")

#: The code points unicode61 treats as separators, as hexadecimal ranges: SQLite's own character
#: tables, which follow an older Unicode than Python's (there, newer emoji and code points unassigned
#: then are word characters, and a few letters are not). Every other code point is a word character.
#: ``tests/core/test_search_parity.py`` checks this list against the SQLite that runs the tests.
_SEPARATORS = (
    "0-2f 3a-40 5b-60 7b-a9 ab-b1 b4 b6-b8 bb bf d7 f7 2c2-2c5 2d2-2df 2e5-2eb 2ed 2ef-2ff 305 "
    "30d-30e 310 312-31a 31c-322 329-32c 32f 332-36f 375 37e 384-385 387 3f6 482-489 55a-55f "
    "589-58a 58f 591-5c7 5f3-5f4 600-604 606-61b 61e-61f 64b-65f 66a-66d 670 6d4 6d6-6e4 6e7-6ed "
    "6fd-6fe 700-70d 70f 711 730-74a 7a6-7b0 7eb-7f3 7f6-7f9 816-819 81b-823 825-827 829-82d "
    "830-83e 859-85b 85e 8e4-8fe 900-903 93a-93c 93e-94f 951-957 962-965 970 981-983 9bc 9be-9c4 "
    "9c7-9c8 9cb-9cd 9d7 9e2-9e3 9f2-9f3 9fa-9fb a01-a03 a3c a3e-a42 a47-a48 a4b-a4d a51 a70-a71 "
    "a75 a81-a83 abc abe-ac5 ac7-ac9 acb-acd ae2-ae3 af0-af1 b01-b03 b3c b3e-b44 b47-b48 b4b-b4d "
    "b56-b57 b62-b63 b70 b82 bbe-bc2 bc6-bc8 bca-bcd bd7 bf3-bfa c01-c03 c3e-c44 c46-c48 c4a-c4d "
    "c55-c56 c62-c63 c7f c82-c83 cbc cbe-cc4 cc6-cc8 cca-ccd cd5-cd6 ce2-ce3 d02-d03 d3e-d44 "
    "d46-d48 d4a-d4d d57 d62-d63 d79 d82-d83 dca dcf-dd4 dd6 dd8-ddf df2-df4 e31 e34-e3a e3f "
    "e47-e4f e5a-e5b eb1 eb4-eb9 ebb-ebc ec8-ecd f01-f1f f34-f3f f71-f87 f8d-f97 f99-fbc fbe-fcc "
    "fce-fda 102b-103e 104a-104f 1056-1059 105e-1060 1062-1064 1067-106d 1071-1074 1082-108d 108f "
    "109a-109f 10fb 135d-1368 1390-1399 1400 166d-166e 1680 169b-169c 16eb-16ed 1712-1714 "
    "1732-1736 1752-1753 1772-1773 17b4-17d6 17d8-17db 17dd 1800-180e 18a9 1920-192b 1930-193b "
    "1940 1944-1945 19b0-19c0 19c8-19c9 19de-19ff 1a17-1a1b 1a1e-1a1f 1a55-1a5e 1a60-1a7c 1a7f "
    "1aa0-1aa6 1aa8-1aad 1b00-1b04 1b34-1b44 1b5a-1b7c 1b80-1b82 1ba1-1bad 1be6-1bf3 1bfc-1bff "
    "1c24-1c37 1c3b-1c3f 1c7e-1c7f 1cc0-1cc7 1cd0-1ce8 1ced 1cf2-1cf4 1dc0-1de6 1dfc-1dff 1fbd "
    "1fbf-1fc1 1fcd-1fcf 1fdd-1fdf 1fed-1fef 1ffd-1ffe 2000-2064 206a-206f 207a-207e 208a-208e "
    "20a0-20b9 20d0-20f0 2100-2101 2103-2106 2108-2109 2114 2116-2118 211e-2123 2125 2127 2129 "
    "212e 213a-213b 2140-2144 214a-214d 214f 2190-23f3 2400-2426 2440-244a 249c-24e9 2500-26ff "
    "2701-2775 2794-2b4c 2b50-2b59 2ce5-2cea 2cef-2cf1 2cf9-2cfc 2cfe-2cff 2d70 2d7f 2de0-2e2e "
    "2e30-2e3b 2e80-2e99 2e9b-2ef3 2f00-2fd5 2ff0-2ffb 3000-3004 3008-3020 302a-3030 3036-3037 "
    "303d-303f 3099-309c 30a0 30fb 3190-3191 3196-319f 31c0-31e3 3200-321e 322a-3247 3250 "
    "3260-327f 328a-32b0 32c0-32fe 3300-33ff 4dc0-4dff a490-a4c6 a4fe-a4ff a60d-a60f a66f-a67e "
    "a69f a6f0-a6f7 a700-a716 a720-a721 a789-a78a a802 a806 a80b a823-a82b a836-a839 a874-a877 "
    "a880-a881 a8b4-a8c4 a8ce-a8cf a8e0-a8f1 a8f8-a8fa a926-a92f a947-a953 a95f a980-a983 "
    "a9b3-a9cd a9de-a9df aa29-aa36 aa43 aa4c-aa4d aa5c-aa5f aa77-aa79 aa7b aab0 aab2-aab4 "
    "aab7-aab8 aabe-aabf aac1 aade-aadf aaeb-aaf1 aaf5-aaf6 abe3-abed fb1e fb29 fbb2-fbc1 "
    "fd3e-fd3f fdfc-fdfd fe00-fe19 fe20-fe26 fe30-fe52 fe54-fe66 fe68-fe6b feff ff01-ff0f "
    "ff1a-ff20 ff3b-ff40 ff5b-ff65 ffe0-ffe6 ffe8-ffee fff9-ffff 10100-10102 10137-1013f "
    "10179-10189 10190-1019b 101d0-101fd 1039f 103d0 10857 1091f 1093f 10a01-10a03 10a05-10a06 "
    "10a0c-10a0f 10a38-10a3a 10a3f 10a50-10a58 10a7f 10b39-10b3f 11000-11002 11038-1104d "
    "11080-11082 110b0-110c1 11100-11102 11127-11134 11140-11143 11180-11182 111b3-111c0 "
    "111c5-111c8 116ab-116b7 12470-12473 16f51-16f7e 16f8f-16f92 1d000-1d0f5 1d100-1d126 "
    "1d129-1d1dd 1d200-1d245 1d300-1d356 1d6c1 1d6db 1d6fb 1d715 1d735 1d74f 1d76f 1d789 1d7a9 "
    "1d7c3 1eef0-1eef1 1f000-1f02b 1f030-1f093 1f0a0-1f0ae 1f0b1-1f0be 1f0c1-1f0cf 1f0d1-1f0df "
    "1f110-1f12e 1f130-1f16b 1f170-1f19a 1f1e6-1f202 1f210-1f23a 1f240-1f248 1f250-1f251 "
    "1f300-1f320 1f330-1f335 1f337-1f37c 1f380-1f393 1f3a0-1f3c4 1f3c6-1f3ca 1f3e0-1f3f0 "
    "1f400-1f43e 1f440 1f442-1f4f7 1f4f9-1f4fc 1f500-1f53d 1f540-1f543 1f550-1f567 1f5fb-1f640 "
    "1f645-1f64f 1f680-1f6c5 1f700-1f773 e0001 e0020-e007f e0100-e01ef "
)

#: The blocks that hold every code point unicode61 folds to another one (case, diacritics) or to
#: nothing (the combining accents U+0300..U+0331); what each folds to is asked of SQLite itself.
_FOLD_BLOCKS = ((0x41, 0x5A), (0xB5, 0x24E), (0x300, 0x556), (0x10A0, 0x10CD), (0x1E00, 0x1FFC),
                (0x2126, 0x2183), (0x2C00, 0x2CF2), (0xA640, 0xA696), (0xA722, 0xA7AA),
                (0xFF21, 0xFF3A), (0x10400, 0x10427))

Hit = tuple[float, str, str]


class _Chars(NamedTuple):
    """How unicode61 sees code points, as regex pieces for any text (see :func:`_chars`)."""

    word: str  # a class of the word characters (every code point but the separators)
    start: str  # a class of the word characters a word can start with (not a dropped one)
    dropped: str  # the code points folded to nothing (combining accents): inside a word they count for nothing
    preimages: dict[str, str]  # letter -> every code point of _FOLD_BLOCKS that folds to it
    in_blocks: frozenset[str]  # the code points of _FOLD_BLOCKS; every other one folds to itself
    separator: re.Pattern[str]  # one separator
    word_run: re.Pattern[str]  # a word, in a text without dropped code points
    word_run_dropped: re.Pattern[str]  # a word in any text (a run of dropped code points alone is none)

    def letter(self, folded: str) -> str:
        """A regex class of every code point that folds to the letter *folded*."""
        return _class(self.preimages.get(folded, "") + ("" if folded in self.in_blocks else folded))


def _class(chars: str) -> str:
    return "[" + "".join(re.escape(c) for c in sorted(set(chars))) + "]"


def _range_class(ranges: Iterable[tuple[int, int]]) -> str:
    return "[" + "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in ranges) + "]"


def _complement(taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The code point ranges outside the sorted ranges *taken*."""
    out, free = [], 0
    for lo, hi in taken + [(0x110000, 0x110000)]:
        if lo > free:
            out.append((free, lo - 1))
        free = max(free, hi + 1)
    return out


@functools.cache
def _chars() -> _Chars:
    """The separators of :data:`_SEPARATORS`, and SQLite's fold of each code point of
    :data:`_FOLD_BLOCKS` (asked once per process, a few milliseconds, in an in-memory table)."""
    separators = []
    for item in _SEPARATORS.split():
        lo, _, hi = item.partition("-")
        separators.append((int(lo, 16), int(hi or lo, 16)))
    separator = re.compile(_range_class(separators))
    codes = [chr(c) for lo, hi in _FOLD_BLOCKS for c in range(lo, hi + 1)]
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(f"CREATE VIRTUAL TABLE folded USING fts5(text, tokenize = '{_FOLD_TOKENIZE}')")
        conn.execute("CREATE VIRTUAL TABLE folded_terms USING fts5vocab(folded, 'instance')")
        conn.executemany("INSERT INTO folded (rowid, text) VALUES (?, ?)",
                         ((ord(c), f"q{c}q") for c in codes if not separator.match(c)))
        terms: dict[int, list[str]] = {}
        for doc, term in conn.execute("SELECT doc, term FROM folded_terms"):
            terms.setdefault(doc, []).append(term)
    finally:
        conn.close()
    preimages: dict[str, str] = {}
    dropped = ""
    for doc, found in terms.items():
        if len(found) != 1 or not 2 <= len(found[0]) <= 3:  # not one word: a separator after all
            continue
        folded = found[0][1:-1]
        if folded:
            preimages[folded] = preimages.get(folded, "") + chr(doc)
        else:
            dropped += chr(doc)
    # positive classes: re tests a character below U+10000 against one bitmap first, so it finds a
    # word character at once (a negated class would compare it with every range above U+FFFF too)
    word = _range_class(_complement(separators))
    start = _range_class(_complement(sorted(separators + [(ord(c), ord(c)) for c in dropped])))
    skip = _class(dropped) + "*" if dropped else ""
    return _Chars(word, start, dropped, preimages, frozenset(codes), separator,
                  re.compile(word + "+"), re.compile(skip + start + word + "*"))


def separator() -> re.Pattern[str]:
    """A pattern of one code point unicode61 treats as a separator."""
    return _chars().separator


_ASCII_WORD = re.compile("[0-9a-z]+")  # a word in a lower-cased ASCII text


class Fts5Words:
    """Words as ``reflections_fts`` indexes them, cut, folded and stemmed by SQLite's own tokenizer.

    The tokenizer runs on an in-memory table (nothing touches a file), once per distinct word:
    :meth:`stem` remembers its answers.
    """

    def __init__(self) -> None:
        self._conn = sqlite3.connect(":memory:")
        self._conn.execute(f"CREATE VIRTUAL TABLE words USING fts5(text, tokenize = '{TOKENIZE}')")
        self._conn.execute("CREATE VIRTUAL TABLE words_terms USING fts5vocab(words, 'instance')")
        self._stems: dict[str, str | None] = {}

    def tokens(self, text: str) -> list[str]:
        """The indexed terms of *text*, in order."""
        conn = self._conn
        conn.execute("INSERT INTO words (rowid, text) VALUES (1, ?)", (text,))
        try:
            return [term for (term,) in conn.execute("SELECT term FROM words_terms ORDER BY offset")]
        finally:
            conn.execute("DELETE FROM words")

    def stem(self, word: str) -> str | None:
        """The indexed term of *word* (one run of word characters); None when SQLite cuts it otherwise."""
        try:
            return self._stems[word]
        except KeyError:
            pass
        found = self.tokens(word)
        self._stems[word] = stem = found[0] if len(found) == 1 else None
        return stem

    def close(self) -> None:
        self._conn.close()


def _head(stem: str) -> str:
    """The letters every word indexed as *stem* starts with (see :class:`Term`)."""
    rewritten = 2 if stem.endswith("le") else 1 if stem.endswith(("e", "i", "bl")) else 0
    return stem[:max(1, len(stem) - rewritten)]


def _prefix_head(stem: str) -> str:
    """The letters every word indexed as a term that starts with *stem* starts with: a word starts
    with its own term but for at most the last two letters (see :func:`_head`)."""
    return stem[:max(1, len(stem) - 2)]


class _Verdicts(dict):  # type: ignore[type-arg]
    """word -> whether it is indexed as *stem* (*prefix*: as a term that starts with *stem*), asked of
    the tokenizer once per word (an ASCII word that does not start with the stem's head is not, without asking)."""

    def __init__(self, stem_of: Callable[[str], str | None], stem: str, prefix: bool = False) -> None:
        super().__init__()
        self._stem_of, self._stem, self._prefix = stem_of, stem, prefix
        self._head = _prefix_head(stem) if prefix else _head(stem)

    def __missing__(self, word: str) -> bool:
        if word.isascii() and not word.lower().startswith(self._head):
            verdict = self[word] = False
        elif self._prefix:
            stem = self._stem_of(word)
            verdict = self[word] = stem is not None and stem.startswith(self._stem)
        else:
            verdict = self[word] = self._stem_of(word) == self._stem
        return verdict


class Term:
    """One term of a query (a word or a quoted phrase): its indexed terms and the regexes that find it.

    The regexes find the candidates for the first word fast: where a word starts, its letters,
    matched through classes of every code point that folds to them (``cafe`` finds ``Café``,
    ``CAFE`` and ``cafe`` with a combining accent), then any word characters up to the word's end.
    The letters stop before the ones the stemmer may have rewritten (``hoping`` -> ``hope``,
    ``happy`` -> ``happi``, ``ability`` -> ``abl``; never the first): an ``i``, an ``e``, ``le``, or
    the ``l`` of ``bl``. An ASCII text is lower-cased once and searched for the letters
    themselves, which ``in`` and ``re`` find much faster than classes. Each candidate is then
    judged by :class:`Fts5Words`, once per distinct word.
    """

    def __init__(self, stems: list[str], stem: Callable[[str], str | None], prefix: bool = False) -> None:
        self.stems = stems
        last = len(stems) - 1
        self.judges = [_Verdicts(stem, s, prefix and i == last).__getitem__ for i, s in enumerate(stems)]
        self.head = head = _prefix_head(stems[0]) if prefix and not last else _head(stems[0])
        literal = re.escape(head)
        self.ascii = re.compile(f"{literal}(?<![0-9a-z]{literal})[0-9a-z]*") if head.isascii() else None
        self._anywhere: list[re.Pattern[str] | None] = [None, None]  # without, with dropped code points

    def anywhere(self, dropped: bool) -> re.Pattern[str]:
        """The candidates in any text; *dropped*: one that holds dropped code points (combining accents)."""
        pattern = self._anywhere[dropped]
        if pattern is None:
            chars = _chars()
            first = chars.letter(self.head[0])
            skip = _class(chars.dropped) + "*" if dropped and chars.dropped else ""
            # "[c](?<!X[c])": where a word starts, written to begin with the class (re scans for it fast)
            pattern = self._anywhere[dropped] = re.compile(
                f"{first}(?<!{chars.start if dropped else chars.word}{first})"
                + "".join(skip + chars.letter(c) for c in self.head[1:]) + chars.word + "*")
        return pattern

    def count(self, text: str, low: str | None, dropped: bool) -> int:
        """How many times the term occurs in *text*. *low* is ``text.lower()`` when *text* is ASCII;
        *dropped*: whether *text* holds dropped code points."""
        if low is not None:
            if self.ascii is None or self.head not in low:
                return 0
            text, candidates, word = low, self.ascii, _ASCII_WORD
        else:
            candidates = self.anywhere(dropped)
            word = _chars().word_run_dropped if dropped else _chars().word_run
        if len(self.judges) == 1 and not dropped:  # the common case, without match objects
            return sum(map(self.judges[0], candidates.findall(text)))
        return sum(1 for _ in self._spans(text, candidates, word, _chars() if dropped else None))

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where the term occurs in *text*: (start, end) of each occurrence."""
        text, low, dropped = Matcher.prepare(text)
        if low is not None:
            if self.ascii is None or self.head not in low:
                return []
            return list(self._spans(low, self.ascii, _ASCII_WORD, None))
        word = _chars().word_run_dropped if dropped else _chars().word_run
        return list(self._spans(text, self.anywhere(dropped), word, _chars() if dropped else None))

    def _spans(self, text: str, candidates: re.Pattern[str], word: re.Pattern[str],
               chars: _Chars | None) -> Iterator[tuple[int, int]]:
        first, *rest = self.judges
        for m in candidates.finditer(text):
            at = m.start()
            if chars is not None and at and text[at - 1] in chars.dropped:
                before = at - 1  # a word starts here only if the accents before it follow a separator
                while before >= 0 and text[before] in chars.dropped:
                    before -= 1
                if before >= 0 and not chars.separator.match(text, before):
                    continue
            if not first(m.group()):
                continue
            end = m.end()
            for judge in rest:
                nxt = word.search(text, end)
                if nxt is None or not judge(nxt.group()):
                    break
                end = nxt.end()
            else:
                yield at, end


class Literal:
    """A term of a script written without spaces (see ``journal.query``): found as written, wherever
    it occurs in a field, ASCII letters in it in either case (as SQLite's ``lower()`` folds; a
    regex with ``re.IGNORECASE | re.ASCII`` folds exactly those, ``str.translate`` was 10x slower)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._cased = re.compile(re.escape(text), re.IGNORECASE | re.ASCII) if re.search("[A-Za-z]", text) else None

    def count(self, text: str, low: str | None, dropped: bool) -> int:
        if low is not None:  # an ASCII text cannot hold it
            return 0
        return text.count(self.text) if self._cased is None else len(self._cased.findall(text))

    def spans(self, text: str) -> list[tuple[int, int]]:
        pattern = self._cased or re.compile(re.escape(self.text))
        return [m.span() for m in pattern.finditer(text)]


class Spec(Protocol):
    """A term of a query as ``journal.query`` parses it."""

    text: str  # its words as typed
    prefix: bool  # the last word is a prefix (``walk*``)
    literal: bool  # a script written without spaces: found as written


Groups = Sequence[tuple[Sequence[Spec], Sequence[Spec]]]  # OR of (every term of the first, none of the second)


class Matcher:
    """Finds a query in texts where ``reflections_fts MATCH`` finds it.

    A query is an OR of groups; a group holds every one of its first terms and none of its second.
    A term is the sequence of indexed terms SQLite's tokenizer makes of its words; one that makes
    none matches nothing, as in FTS5. A text holds a term where that many consecutive words of it
    are indexed as those terms (the last one only starting so, for a prefix). The fields of a
    reflection are separate columns there: a phrase never runs from one into the next. A literal
    term (a script written without spaces) is found as written (:class:`Literal`).
    """

    def __init__(self, groups: Groups) -> None:
        self.words = Fts5Words()
        self.terms: list[Term | Literal] = []
        index: dict[tuple[str, bool, bool], int] = {}

        def term(spec: Spec) -> int | None:
            key = (spec.text, spec.prefix, spec.literal)
            if key not in index:
                if spec.literal:
                    index[key] = len(self.terms)
                    self.terms.append(Literal(spec.text))
                else:
                    stems = self.words.tokens(spec.text)
                    index[key] = len(self.terms) if stems else -1
                    if stems:
                        self.terms.append(Term(stems, self.words.stem, spec.prefix))
            return None if index[key] < 0 else index[key]

        self.groups: list[tuple[list[int], list[int]]] = []
        for include, exclude in groups:
            needed = [term(t) for t in include]
            if needed and None not in needed:  # a term without an indexed word matches nothing
                self.groups.append(([i for i in needed if i is not None],
                                    [i for i in (term(t) for t in exclude) if i is not None]))
        self.possible = bool(self.groups)

    @staticmethod
    def prepare(text: str) -> tuple[str, str | None, bool]:
        """The arguments of :meth:`Term.count` for *text*."""
        if text.isascii():
            return text, text.lower(), False
        return text, None, any(c in text for c in _chars().dropped)

    def score(self, texts: list[tuple[str, str | None, bool]]) -> int:
        """How many times the included terms of the groups *texts* matches occur in them; 0 when none matches."""
        counts: dict[int, int] = {}

        def n(i: int) -> int:
            if i not in counts:
                term = self.terms[i]
                counts[i] = sum(term.count(text, low, dropped) for text, low, dropped in texts)
            return counts[i]

        found: set[int] = set()
        for include, exclude in self.groups:
            if all(n(i) for i in include) and not any(n(i) for i in exclude):
                found.update(include)
        return sum(counts[i] for i in found)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where the included terms occur in *text*, in order (overlaps merged)."""
        wanted = sorted({i for include, _ in self.groups for i in include})
        found = sorted(span for i in wanted for span in self.terms[i].spans(text))
        merged: list[tuple[int, int]] = []
        for start, end in found:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def close(self) -> None:
        self.words.close()


def scan_rows(rows: Iterable[Sequence[Any]], open_row: Callable[..., list[Any]], groups: Groups,
              limit: int) -> list[Hit]:
    """The best *limit* hits among *rows* of ``(id, created_at, content, response, tags)``, unordered.

    The score is the number of times the terms occur over the text length, summed over the terms.
    """
    matcher = Matcher(groups)
    try:
        if not matcher.possible:
            return []
        prepare, score_of = matcher.prepare, matcher.score
        best: list[Hit] = []  # min-heap
        for rid, created_at, *stored in rows:
            texts = [prepare(t) for t in open_row("reflections", rid, FIELDS, stored) if t is not None]
            score = score_of(texts)
            if score:
                item = (score / (1.0 + sum(len(t) for t, _, _ in texts) / 2000.0), created_at, rid)
                if len(best) < limit:
                    heapq.heappush(best, item)
                elif item > best[0]:
                    heapq.heapreplace(best, item)
        return best
    finally:
        matcher.close()


def plain_row(table: str, rid: str, fields: Sequence[str], stored: Sequence[Any]) -> list[Any]:
    """``open_row`` of a plaintext database: the stored values are the text."""
    return list(stored)


def best_hits(store: Any, groups: Groups, limit: int) -> list[Hit]:
    """The *limit* best hits of an encrypted *store*, best first (see the module docstring)."""
    return sorted(scan_rows(store.conn.execute(_SELECT), field_codec(store).open_row, groups, limit), reverse=True)

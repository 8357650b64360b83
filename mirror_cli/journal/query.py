"""What a search query means, the same on a plaintext journal (SQLite FTS5) and an encrypted one (the scan).

:func:`parse` turns what people type into a :class:`Query`: an OR of groups, each holding every one
of its included terms and none of its excluded ones.

- Words separated by spaces must all appear (``AND`` is the word "and", as before: it needs no operator).
- ``OR`` between words: either side. ``NOT word`` or ``-word``: the group must not hold it.
- ``"a phrase"``: those words in a row; ``walk*`` and ``"long walk"*``: the (last) word starts so.
- Operators are written in capitals; lower-case or in quotes they are words (``"OR"``).
- Words are cut, folded and stemmed as the index does (``search.TOKENIZE``): punctuation separates
  words and is otherwise ignored, so ``content:x``, ``NEAR(``, ``^`` are searched as the words they
  hold, and nothing a person types reaches FTS5 as syntax (:func:`fts_expression` quotes every term).
- A query without a word, a lone ``OR`` or ``NOT``, parentheses, and a group of only excluded words
  are usage errors (exit 2), with a message.
- A term holding a character of a script written without spaces (Chinese, Japanese, Thai, Lao,
  Khmer, Myanmar) is found as written wherever it occurs in a field, ASCII letters in it in either
  case (``search.Literal``): the index's tokenizer makes one word of a whole clause in those scripts,
  so ``東京`` would not find ``東京に行った``. Such queries select their rows by a substring test in
  SQL on a plaintext journal (:func:`plain_filter`) and are ranked by the scan's score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mirror_cli.errors import UsageError
from mirror_cli.journal.search import Fts5Words, separator

#: Scripts written without spaces between words: Thai, Lao, Myanmar, Khmer, CJK radicals, the
#: ideographic iteration marks and numerals, kana, CJK ideographs (and their extensions and
#: compatibility forms), half-width katakana.
_SPACELESS = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3031-\u3035"
    "\u303b\u303c\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
    "\U00020000-\U0003ffff]")
_SPACELESS_RUN = re.compile(_SPACELESS.pattern + "+")
_TOKEN = re.compile(r'(-?)"([^"]*)(?:"|$)(\*?)|(\S+)')
_HINT = 'Try `mirror search walk`, `mirror search "long walk"`, `mirror search walk OR run NOT rain`.'


@dataclass(frozen=True)
class QueryTerm:
    text: str  # its words as typed (a phrase without its quotes, a word without its operator)
    prefix: bool = False  # the last word is a prefix (walk*)
    literal: bool = False  # a script written without spaces: found as written


Group = tuple[tuple[QueryTerm, ...], tuple[QueryTerm, ...]]  # (every one of these, none of those)


@dataclass(frozen=True)
class Query:
    groups: tuple[Group, ...]  # any of them

    @property
    def literal(self) -> bool:
        return any(t.literal for include, exclude in self.groups for t in include + exclude)


def parse(text: str) -> Query:
    """The :class:`Query` *text* means (see the module docstring); UsageError when it means none."""
    words = Fts5Words()
    try:
        return _parse(text, words)
    finally:
        words.close()


def _parse(text: str, words: Fts5Words) -> Query:
    groups: list[tuple[list[QueryTerm], list[QueryTerm]]] = [([], [])]
    negate = saw_word = False
    for m in _TOKEN.finditer(text):
        minus, phrase, star, bare = m.groups()
        if bare is not None:
            if bare in ("OR", "NOT"):
                if negate:
                    raise UsageError("NOT needs a word after it.", _HINT)
                if bare == "NOT":
                    negate = True
                    continue
                if not any(groups[-1]):
                    raise UsageError(f"{bare} needs a word on each side in a search.", _HINT)
                if bare == "OR":
                    groups.append(([], []))
                continue
            if bare.startswith("(") or bare.endswith(")"):
                raise UsageError("parentheses do not group words in a search.",
                                 'Write each alternative in full: `a b OR a c`; quote them to find them: `"(a)"`.')
            if bare.startswith("-") and len(bare) > 1:
                minus, bare = "-", bare[1:]
            star, phrase = ("*", bare[:-1]) if bare.endswith("*") else ("", bare)
        term = _term(phrase, bool(star), words)
        saw_word = saw_word or term is not None
        if term is not None:
            groups[-1][1 if negate or minus else 0].append(term)
        negate = False
    if negate:
        raise UsageError("NOT needs a word after it.", _HINT)
    if not saw_word:
        raise UsageError("the search query has no words.", _HINT)
    if len(groups) > 1 and not any(groups[-1]):
        raise UsageError("OR needs a word on each side in a search.", _HINT)
    for include, _exclude in groups:
        if not include:
            raise UsageError("a search needs a word to find, not only words to leave out.",
                             "Add one: `mirror search walk NOT rain`.")
    return Query(tuple((tuple(i), tuple(e)) for i, e in groups))


def _term(text: str, prefix: bool, words: Fts5Words) -> QueryTerm | None:
    """The term of *text*, or None when it holds no word (punctuation only)."""
    if _SPACELESS.search(text):
        sep, start, end = separator(), 0, len(text)
        while start < end and sep.match(text, start):
            start += 1
        while end > start and sep.match(text, end - 1):
            end -= 1
        if _SPACELESS.search(text, start, end):
            return QueryTerm(text[start:end], literal=True)
    return QueryTerm(text, prefix) if words.tokens(text) else None


def _fts(term: QueryTerm) -> str:
    return '"' + term.text.replace('"', '""') + '"' + ("*" if term.prefix else "")


def fts_expression(query: Query) -> str:
    """The query as an FTS5 expression (a query without literal terms): every term quoted."""
    out = []
    for include, exclude in query.groups:
        out.append("((" + " AND ".join(map(_fts, include)) + ")" + "".join(" NOT " + _fts(t) for t in exclude) + ")")
    return " OR ".join(out)


_HOLDS = "(instr(r.content, ?) > 0 OR instr(r.response, ?) > 0 OR instr(r.tags, ?) > 0)"
_FTS_ROWS = "r.rowid {} (SELECT rowid FROM reflections_fts WHERE reflections_fts MATCH ?)"


def plain_filter(query: Query) -> tuple[str, list[str]]:
    """An SQL condition on ``reflections AS r`` (and its parameters) that every row a query with
    literal terms finds meets, on a plaintext database; the scan's matcher then decides (and ranks).

    A literal term is looked for by its longest run of a script without spaces (which has no case).
    The excluded literal terms are left to the matcher, so the condition never drops a row it finds.
    """
    conditions, params = [], []
    for include, exclude in query.groups:
        parts = []
        words, literals = [t for t in include if not t.literal], [t for t in include if t.literal]
        if words:
            parts.append(_FTS_ROWS.format("IN"))
            params.append(" AND ".join(map(_fts, words)))
        left_out = [t for t in exclude if not t.literal]
        if left_out:
            parts.append(_FTS_ROWS.format("NOT IN"))
            params.append(" OR ".join(map(_fts, left_out)))
        for term in literals:
            parts.append(_HOLDS)
            params.extend([max(_SPACELESS_RUN.findall(term.text), key=len)] * 3)
        conditions.append("(" + " AND ".join(parts) + ")")
    return " OR ".join(conditions), params

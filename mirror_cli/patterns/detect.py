"""Local, explainable pattern detection: emotions, themes and tags.

Everything runs on the standard library and the word lists in
:mod:`mirror_cli.patterns.lexicon`; nothing leaves the machine. Results are
observations with the words that support them ("sadness" because the text says
"sad", "tears"), never diagnoses.

Per reflection (:func:`analyze_reflection`)
    The text is lowercased and cut into words (contractions such as "isn't" stay
    one word, hyphenated words such as "self-care" too; curly apostrophes count as
    straight ones). Every word is looked up once in a single precompiled table.

    * Negation: a negator ("not", "never", "no", "without", "hardly", any "-n't"
      form...) cancels emotion and tension-pole words up to three words later. Its
      reach ends at punctuation and at a contrast or double negative ("but",
      "though", "can't *stop* worrying"), so "I'm not anxious, but I am tired" is
      tired only. Intensifiers and softeners do not use up the reach, so "not very
      anxious" is cancelled too, and an "or" inside the reach carries it on: "I'm not
      feeling sad or angry" cancels both. "not only", "not just" and "not merely" add
      rather than negate: "not only tired but also anxious" is tired and anxious.
      Cancelled words are listed in ``ReflectionFindings.negated``. Themes are topics
      and ignore negation: "no work today" is still about work.
    * Whose feeling: an emotion word is the writer's unless it belongs to someone
      else or to a story, and then it is listed in ``ReflectionFindings.others``
      instead of counting. Someone else's: a person (he, she, they, her, my sister,
      mom, a friend, the hero...: :data:`lexicon.OTHERS`) followed only by linking
      words ("is", "was so", "feels", "seems to be": :data:`lexicon.LINKING`), as in
      "my sister is anxious", "he was so angry", "mom feels lonely", "her anxiety";
      an emotion word joined to one of theirs by "and"/"or" is theirs too ("he was
      angry and sad"). A story's: the rest of a sentence after a story noun (movie,
      book, song...: :data:`lexicon.STORIES`, not "my story"), as in "a movie about a
      sad man", until the writer speaks of themselves ("the movie made me sad") or a
      new clause starts ("I watched a movie and felt sad"), and an emotion word
      describing one ("a sad song"). Themes still count ("my sister is anxious" is
      about family); tension poles keep only the negation rule. These are word
      rules, not grammar: a name ("Anna was sad") is not recognised as a person.
    * ``confidence`` of a finding = 1 - 0.5 ** m, where m adds 1 for each clear cue
      word and 0.5 for each ambiguous one (``~word`` in the lexicon): one clear word
      gives 0.5, two give 0.75, three 0.875. It says how sure we are the pattern is
      present in this reflection.
    * ``intensity`` says how strongly it is expressed: 0.5 for a plain mention, 0.75
      after one intensifier ("very sad"), 1.0 after two ("so very sad"), 0.25 after a
      softener ("a bit sad"); the strongest mention counts, plus 0.1 for each further
      mention, capped at 1.
    * Tags become findings of type "tag" with confidence 1 (the writer said so) and
      intensity 0.5.

Across reflections (the rules; :mod:`.aggregate` keeps them in memory, :mod:`.analysis`
in the database)
    **Confidence of a pattern** (:mod:`.confidence`) = A x P: A = S / (S + 2), where S
    is the sum of the per-reflection confidences of every reflection in which it
    appears (the amount of evidence, with diminishing returns), and P grows with S / N,
    the weighted share of the N reflections analysed that show it (0.525 at 5 %, 0.79 at
    15 %, 1 for every reflection). It stays strictly between 0 and 1, reads like the
    amount of evidence in a young journal, and still separates patterns in a journal of
    50,000 reflections, where the amount alone would put every pattern at 1.00.

    A pattern is *reported* once it appears in at least two reflections, or once in
    a single reflection with confidence >= 0.75 (two or more clear cue words).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import compress
from dataclasses import dataclass, field
from typing import NamedTuple

from mirror_cli.patterns import lexicon
from mirror_cli.patterns.confidence import SUPPORT_K

__all__ = [
    "EMOTION", "THEME", "TAG", "PATTERN_TYPES", "Finding", "ReflectionFindings", "Scan", "tokenize", "scan",
    "analyze_reflection", "findings_from_scan", "normalize_tag", "distinct_tags", "SUPPORT_K",
    "STRONG_CONFIDENCE", "MIN_SUPPORT", "NEGATION_WINDOW", "EVIDENCE_WORDS", "TAG_CONFIDENCE", "TAG_INTENSITY",
    "CHAIN_REACH",
    "cue_confidence", "cue_intensity", "evidence_text",
]

EMOTION = "emotion"
THEME = "theme"
TAG = "tag"
PATTERN_TYPES = (EMOTION, THEME, TAG)

NEGATION_WINDOW = 3  # words after a negator that it cancels
BOOST_REACH = 2  # words after an intensifier/softener that it reaches
CHAIN_REACH = 6  # at most this many linking words between a person and their emotion word
STRONG_CONFIDENCE = 0.75  # one reflection this sure is enough to report a pattern
MIN_SUPPORT = 2  # otherwise: this many reflections
EVIDENCE_WORDS = 8  # at most this many distinct words in an occurrence's evidence string
TAG_CONFIDENCE = 1.0  # the writer said so
TAG_INTENSITY = 0.5


# Hit kinds in the lookup table. The first nine are handled hit by hit; a word whose first hit
# is of a later kind (punctuation, a phrase, an intensifier or softener) is handled first as such.
(_THEME, _EMO, _POLE, _NEG, _BREAK, _OTHER, _STORY, _OR, _KEEP,
 _INT, _DOWN, _PUNCT, _PHRASE, _BPHRASE) = range(14)
_LAST_PLAIN = _KEEP

# A phrase is looked up from its first word ("let" -> "go"), except when the first word
# is this common: then from its second word, looking back ("control" <- "in"), so
# that "my", "in", "for"... are not visited at all (they are 5-10 % of all words).
_COMMON_FIRST = frozenset("my for at on in by do day their other keep said say best cold "
                          "looking failed".split())

# Tokenizing is a chain of str.replace calls and one split (C speed, about 4x faster
# than a regular expression here): sentence punctuation becomes the token ".",
# quotes become spaces, curly apostrophes straight ones, a trailing "'s" goes.
_REPLACEMENTS = tuple((c, " . ") for c in (".", ",", ";", ":", "!", "?", "(", ")", "--",
                                           "\u2014", "\u2013", "\u2026")) + (
    ('"', " "), ("\u201c", " "), ("\u201d", " "), ("\u2019", "'"), ("\u2018", "'"),
    ("'s ", " "))  # possessive / "it's": "dad's" -> "dad"


def _entries(words: str) -> Iterator[tuple[str, float]]:
    for raw in words.split():
        weight = 1.0
        if raw.startswith("~"):
            raw, weight = raw[1:], 0.5
        yield raw, weight


def _build() -> dict[str, tuple]:
    """One table: word -> tuple of hits. A phrase "a_b" adds a _PHRASE hit on "a"
    carrying {"b": hits}; the phrase's hits replace those of both its words."""
    single: dict[str, list] = {}
    phrases: dict[str, dict[str, list]] = {}
    back_phrases: dict[str, dict[str, list]] = {}

    def add(word: str, hit: tuple) -> None:
        if "_" in word:
            first, second = word.split("_")
            if first in _COMMON_FIRST:
                back_phrases.setdefault(second, {}).setdefault(first, []).append(hit)
            else:
                phrases.setdefault(first, {}).setdefault(second, []).append(hit)
        else:
            single.setdefault(word, []).append(hit)

    for name, words in lexicon.EMOTIONS.items():
        for word, weight in _entries(words):
            add(word, (_EMO, (EMOTION, name), weight))
    for name, words in lexicon.THEMES.items():
        for word, weight in _entries(words):
            add(word, (_THEME, (THEME, name), weight))
    for index, (_name, _a, _b, words_a, words_b) in enumerate(lexicon.TENSIONS):
        for pole, words in ((0, words_a), (1, words_b)):
            for word, weight in _entries(words):
                add(word, (_POLE, (index, pole), weight))
    for kind, words in ((_NEG, lexicon.NEGATORS), (_INT, lexicon.INTENSIFIERS),
                        (_DOWN, lexicon.DOWNTONERS), (_BREAK, lexicon.SCOPE_BREAKERS),
                        (_OTHER, lexicon.OTHERS), (_STORY, lexicon.STORIES), (_OR, lexicon.ALTERNATIVES),
                        (_KEEP, lexicon.NOT_NEGATORS)):
        for word, _weight in _entries(words):
            add(word, (kind, None, 0.0))
    table: dict[str, tuple] = {word: tuple(hits) for word, hits in single.items()}
    for kind, index in ((_PHRASE, phrases), (_BPHRASE, back_phrases)):
        for word, others in index.items():
            frozen = {other: tuple(hits) for other, hits in others.items()}
            table[word] = table.get(word, ()) + ((kind, frozen, 0.0),)
    # Phrase hits first (backward, then forward), so the scanner tries them before
    # the single-word hits; punctuation maps to one shared tuple, tested by identity.
    for word, hits in table.items():
        table[word] = tuple(sorted(hits, key=lambda hit: (hit[0] != _BPHRASE, hit[0] != _PHRASE)))
    for word in lexicon.PUNCTUATION.split():
        table[word] = _PUNCT_HITS
    return table


_PUNCT_HITS = ((_PUNCT, None, 0.0),)


def _words(text: str) -> frozenset[str]:
    return frozenset(w for word in text.split() for w in word.split("_"))


_LINKING = _words(lexicon.LINKING + lexicon.INTENSIFIERS + lexicon.DOWNTONERS)
_JOINING = frozenset(("and", "or", "nor"))
_COORDINATED = _LINKING | _JOINING  # between two emotion words of the same person
_SELF = _words(lexicon.SELF)
_STORY_ENDS = _SELF | _words(lexicon.CLAUSE_WORDS)  # the writer again, or another clause
_STORY_NOUNS = _words(lexicon.STORIES)
_BEFORE_DESCRIBING = _words(lexicon.DETERMINERS) | _words(lexicon.INTENSIFIERS + lexicon.DOWNTONERS)


def _someone_elses(tokens: list[str], i: int, other_at: int, other_emotion: bool, in_story: bool) -> bool:
    """Whether the emotion word at ``i`` belongs to someone else or to a story (the module
    docstring's rules). ``other_at``: the last person word, or emotion word of theirs, in this
    sentence (-1: none), ``other_emotion``: it is an emotion word; ``in_story``: a story noun
    reaches this word."""
    if other_at >= 0 and i - other_at <= CHAIN_REACH:
        between = tokens[other_at + 1:i]
        if other_emotion:  # "angry and sad", not "anxiety worries"
            if all(t in _COORDINATED for t in between) and any(t in _JOINING for t in between):
                return True
        elif all(t in _LINKING for t in between):
            return True
    if in_story:
        return True
    return i + 1 < len(tokens) and tokens[i + 1] in _STORY_NOUNS and i > 0 and tokens[i - 1] in _BEFORE_DESCRIBING


_TABLE = _build()
_MULT = {-1: 0.5, 1: 1.5}  # modifier level -> strength multiplier (>= 2: 2.0)


def tokenize(text: str) -> list[str]:
    """Lowercase words (contractions and hyphenated words kept whole) and punctuation."""
    text = text.lower() + " "
    for old, new in _REPLACEMENTS:
        text = text.replace(old, new)
    return text.split()


@dataclass(slots=True)
class Scan:
    """Raw cue counts of one text, shared by pattern and tension detection.

    ``cues`` maps (pattern type, name) to [weight sum, mentions, strongest mention, words];
    ``poles`` maps a tension index to [weight a, weight b, words a, words b, strength];
    ``negated`` lists cue words cancelled by a negation, ``others`` emotion words that are
    someone else's or a story's.
    """

    cues: dict
    poles: dict
    negated: list
    word_count: int
    others: list = field(default_factory=list)


def scan(text: str) -> Scan:
    """One pass over the words of ``text`` (see the module docstring for the rules).

    Only the words found in the table are visited in Python (``itertools.compress``
    skips the others in C); negation and intensifier reach are tracked by position.
    """
    tokens = tokenize(text)
    table_hits = list(map(_TABLE.get, tokens))
    n = len(tokens)
    cues: dict = {}
    poles: dict = {}
    negated: list = []
    others: list = []
    other_at = story_at = -1  # last person word (or emotion word of theirs) / story noun in this sentence
    story_seen = 0  # tokens before this position are known to keep the story's reach
    other_emotion = False  # other_at is an emotion word (then "and"/"or" may join the next one)
    neg_end = -1  # last position a negator still reaches
    boost_end = -1  # last position an intensifier/softener still reaches
    level = 0  # number of stacked intensifiers, -1 for a softener
    skip = -1
    punct = 0
    for i in compress(range(n), table_hits):
        if i == skip:  # the second word of a phrase already counted
            continue
        hits = table_hits[i]
        tok = tokens[i]
        if hits[0][0] > _LAST_PLAIN:  # punctuation, a phrase's word, an intensifier or softener
            if hits is _PUNCT_HITS:
                punct += 1
                neg_end = boost_end = other_at = story_at = -1
                continue
            if hits[0][0] == _BPHRASE:
                phrase_hits = hits[0][1].get(tokens[i - 1]) if i else None
                if phrase_hits is not None:
                    tok = tokens[i - 1] + " " + tok
                    hits = phrase_hits
                else:
                    hits = hits[1:]
                    if not hits:
                        continue
            if hits[0][0] == _PHRASE:
                phrase_hits = hits[0][1].get(tokens[i + 1]) if i + 1 < n else None
                if phrase_hits is not None:
                    tok = tok + " " + tokens[i + 1]
                    hits = phrase_hits
                    skip = i + 1
                else:
                    hits = hits[1:]
                    if not hits:
                        continue
            kind0 = hits[0][0]
            if kind0 == _INT or kind0 == _DOWN:
                if i <= neg_end:
                    neg_end += 1 + (skip == i + 1)  # modifiers do not use up a negator's reach
                if kind0 == _DOWN:
                    level = -1
                else:
                    level = level + 1 if (i <= boost_end and level > 0) else 1
                boost_end = i + BOOST_REACH + (skip == i + 1)
                continue
        mult = _MULT.get(level, 2.0) if i <= boost_end else 1.0
        for kind, name, weight in hits:
            if kind == _THEME:  # themes are topics: no negation, no intensifier
                entry = cues.get(name)
                if entry is None:
                    cues[name] = [weight, 1, 0.5, [tok]]
                else:
                    entry[0] += weight
                    entry[1] += 1
                    entry[3].append(tok)
            elif kind == _EMO or kind == _POLE:
                if i <= neg_end:
                    negated.append(tok)
                    continue
                if kind == _EMO:
                    if story_at >= 0:  # each word after a story noun is looked at once
                        if any(t in _STORY_ENDS for t in tokens[story_seen:i]):
                            story_at = -1
                        else:
                            story_seen = i
                    if (other_at >= 0 or story_at >= 0 or (i + 1 < n and tokens[i + 1] in _STORY_NOUNS)) \
                            and _someone_elses(tokens, i, other_at, other_emotion, story_at >= 0):
                        others.append(tok)
                        other_at, other_emotion = i + (skip == i + 1), True
                        continue
                    strength = 0.5 * mult
                    entry = cues.get(name)
                    if entry is None:
                        cues[name] = [weight, 1, strength, [tok]]
                    else:
                        entry[0] += weight
                        entry[1] += 1
                        if strength > entry[2]:
                            entry[2] = strength
                        entry[3].append(tok)
                else:
                    index, pole = name
                    entry = poles.get(index)
                    if entry is None:
                        entry = poles[index] = [0.0, 0.0, [], [], 0.0]
                    entry[pole] += weight
                    entry[2 + pole].append(tok)
                    entry[4] += weight * mult
                boost_end = -1  # an intensifier applies to the next cue word only
            elif kind == _NEG:
                neg_end = i + NEGATION_WINDOW + (skip == i + 1)
            elif kind == _BREAK:
                neg_end = -1
            elif kind == _OTHER:
                other_at, other_emotion = i + (skip == i + 1), False
            elif kind == _STORY:
                if not (i and tokens[i - 1] in _SELF):  # "my story" is the writer's
                    story_at, story_seen = i, i + 1
            elif kind == _OR:
                if i <= neg_end:
                    neg_end = i + NEGATION_WINDOW
    return Scan(cues, poles, negated, n - punct, others)


class Finding(NamedTuple):
    """One pattern in one reflection, with the words that show it (immutable)."""

    pattern_type: str  # "emotion" | "theme" | "tag"
    name: str
    evidence_words: tuple[str, ...]  # distinct words of the text, in order of appearance
    confidence: float  # 0..1: how sure the pattern is present here
    intensity: float  # 0..1: how strongly it is expressed
    mentions: int = 1

    @property
    def key(self) -> tuple[str, str]:
        return (self.pattern_type, self.name)

    @property
    def evidence(self) -> str:
        return ", ".join(self.evidence_words[:EVIDENCE_WORDS])


@dataclass(frozen=True, slots=True)
class ReflectionFindings:
    """All pattern findings of one reflection (in order of first appearance, then tags)."""

    findings: tuple[Finding, ...] = ()
    negated: tuple[str, ...] = ()  # cue words a negation cancelled ("anxious" in "not anxious")
    word_count: int = 0
    others: tuple[str, ...] = ()  # emotion words of someone else or a story ("anxious" in "my sister is anxious")

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    def get(self, pattern_type: str, name: str) -> Finding | None:
        for finding in self.findings:
            if finding.pattern_type == pattern_type and finding.name == name:
                return finding
        return None

    def names(self, pattern_type: str) -> list[str]:
        return [f.name for f in self.findings if f.pattern_type == pattern_type]

    def dominant(self, pattern_type: str) -> Finding | None:
        """The strongest finding of a type (highest confidence, then intensity)."""
        best = None
        for f in self.findings:
            if f.pattern_type == pattern_type and (
                    best is None or (f.confidence, f.intensity) > (best.confidence, best.intensity)):
                best = f
        return best


def normalize_tag(tag: str) -> str:
    return tag.strip().lstrip("#@").strip().lower()


def distinct_tags(tags: Iterable[str]) -> list[str]:
    """The tag patterns of a reflection: each tag normalised, empty ones and repeats left out."""
    return [t for t in dict.fromkeys(map(normalize_tag, tags)) if t]


_CONFIDENCE: dict[float, float] = {}  # weight sum -> confidence (memo: few distinct sums)
_INTENSITY: dict[tuple[float, int], float] = {}  # (strongest, mentions) -> intensity


def cue_confidence(weight: float) -> float:
    """A finding's confidence from the weight sum of its cue words: 1 - 0.5 ** weight."""
    value = _CONFIDENCE.get(weight)
    if value is None:
        value = _CONFIDENCE[weight] = round(1.0 - 0.5 ** weight, 4)
    return value


def cue_intensity(strength: float, mentions: int) -> float:
    """A finding's intensity: its strongest mention, plus 0.1 for each further one, at most 1."""
    value = _INTENSITY.get((strength, mentions))
    if value is None:
        value = _INTENSITY[(strength, mentions)] = round(min(1.0, strength + 0.1 * (mentions - 1)), 4)
    return value


def evidence_text(words: list[str]) -> str:
    """The first :data:`EVIDENCE_WORDS` distinct words of a cue's mentions as one string
    (what :attr:`Finding.evidence` gives)."""
    if len(words) == 1:
        return words[0]
    return ", ".join(list(dict.fromkeys(words))[:EVIDENCE_WORDS])


def findings_from_scan(result: Scan, tags: Iterable[str] = ()) -> ReflectionFindings:
    """Findings in order of first appearance in the text, then the tags."""
    found = [Finding(pattern_type, name, tuple(dict.fromkeys(words)), cue_confidence(weight),
                     cue_intensity(strength, mentions), mentions)
             for (pattern_type, name), (weight, mentions, strength, words) in result.cues.items()]
    if tags:
        found += [Finding(TAG, norm, (norm,), TAG_CONFIDENCE, TAG_INTENSITY, 1) for norm in distinct_tags(tags)]
    return ReflectionFindings(tuple(found), tuple(dict.fromkeys(result.negated)), result.word_count,
                              tuple(dict.fromkeys(result.others)))


def analyze_reflection(text: str, tags: Iterable[str] = ()) -> ReflectionFindings:
    """Emotions, themes and tags of one reflection, each with its evidence words."""
    return findings_from_scan(scan(text or ""), tags or ())

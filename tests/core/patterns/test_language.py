"""Whose feeling, and how far a negation reaches (issue 15, item 14 "Patterns read true").

Each row: a sentence, the emotions that are the writer's, and the emotion words that must not
count (cancelled by a negation, or someone else's / a story's). Themes are not attributed:
"my sister is anxious" is still about family.
"""

from __future__ import annotations

import pytest

from mirror_cli.patterns import analyze, analyze_reflection
from mirror_cli.patterns.analysis import findings

# --------------------------------------------------------------------------- someone else's feelings

OTHERS = [
    # sentence, the writer's emotions, words that are someone else's
    ("my sister is anxious", set(), {"anxious"}),
    ("he was so angry", set(), {"angry"}),
    ("mom feels lonely", set(), {"lonely"}),
    ("She has been feeling really sad", set(), {"sad"}),
    ("They were angry and sad", set(), {"angry", "sad"}),
    ("my best friend is lonely", set(), {"lonely"}),
    ("I think my boss is stressed", set(), {"stressed"}),
    ("her anxiety worries me", {"anxiety"}, {"anxiety"}),  # her anxiety; the worry is mine
    ("Everyone was happy except me", set(), {"happy"}),
    # the writer's own, even with other people around
    ("My sister is anxious and I am sad", {"sadness"}, {"anxious"}),
    ("I called my sister and felt sad", {"sadness"}, set()),
    ("I'm anxious about my sister", {"anxiety"}, set()),
    ("He made me so angry", {"anger"}, set()),
    ("My friend and I were anxious", {"anxiety"}, set()),
    ("I hugged him and felt calm", {"love", "calm"}, set()),  # "hugged" is a (weak) love word
    ("They were happy for me and I was happy too", {"joy"}, {"happy"}),
    ("Mom was upset. I felt guilty", {"shame"}, set()),  # a full stop: the next sentence is mine
]

STORIES = [
    ("a movie about a sad man", set(), {"sad"}),
    ("the book's hero is afraid", set(), {"afraid"}),
    ("a movie about a sad and lonely man", set(), {"sad", "lonely"}),
    ("I watched a sad movie", set(), {"sad"}),
    ("We listened to a happy song", set(), {"happy"}),
    ("The novel is full of grief", set(), {"grief"}),
    # the writer's own
    ("The movie made me sad", {"sadness"}, set()),
    ("I watched a movie and felt sad", {"sadness"}, set()),
    ("Watched a film. Felt anxious after", {"anxiety"}, set()),
    ("my story is sad", {"sadness"}, set()),  # the writer's own story
    ("I love books", {"love"}, set()),
]


@pytest.mark.parametrize(("text", "mine", "theirs"), OTHERS + STORIES, ids=[row[0] for row in OTHERS + STORIES])
def test_whose_feeling(text, mine, theirs):
    found = analyze_reflection(text)
    assert set(found.names("emotion")) == mine
    assert set(found.others) == theirs
    assert not found.negated


@pytest.mark.parametrize(("text", "theme"), [("my sister is anxious", "family"), ("mom feels lonely", "family"),
                                             ("I think my boss is stressed", "work"),
                                             ("the book's hero is afraid", "learning")])
def test_someone_elses_feeling_still_names_the_theme(text, theme):
    found = analyze_reflection(text)
    assert theme in found.names("theme")
    assert found.names("emotion") == []


# --------------------------------------------------------------------------- negation across "or" / "but also"

NEGATION = [
    # sentence, the writer's emotions, negated words
    ("I'm not sad or angry", set(), {"sad", "angry"}),
    ("I'm not feeling sad or angry at all", set(), {"sad", "angry"}),
    ("I don't really feel happy or calm", set(), {"happy", "calm"}),
    ("I'm not sad or angry or anxious", set(), {"sad", "angry", "anxious"}),
    ("I'm neither sad nor angry", set(), {"sad", "angry"}),
    ("not only tired but also anxious", {"tiredness", "anxiety"}, set()),
    ("I'm not just sad, I'm devastated", {"sadness"}, set()),
    ("not merely annoyed but furious", {"anger"}, set()),
    ("I'm not anxious, but I am tired", {"tiredness"}, {"anxious"}),
    ("I am not anxious but tired", {"tiredness"}, {"anxious"}),
    ("I'm not sad, or maybe I am angry", {"anger"}, {"sad"}),  # punctuation ends the reach
    ("Not sad. Or angry, honestly.", {"anger"}, {"sad"}),  # a full stop too
    ("I didn't sleep or eat and felt lonely", {"loneliness"}, {"sleep"}),  # "sleep": a Rest word; the "or"
    # carries the negation three words on, not to "lonely"
]


@pytest.mark.parametrize(("text", "mine", "negated"), NEGATION, ids=[row[0] for row in NEGATION])
def test_negation_reach(text, mine, negated):
    found = analyze_reflection(text)
    assert set(found.names("emotion")) == mine
    assert set(found.negated) == negated


@pytest.mark.parametrize("text", [row[0] for row in OTHERS + STORIES + NEGATION])
def test_the_cached_findings_follow_the_same_rules(text):
    """What the database caches per reflection is what analyze() finds."""
    found = analyze(text).findings
    cached = findings(text, [])["p"]
    assert [(p[0], p[1]) for p in cached] == [f.key for f in found]


def test_tension_poles_keep_only_the_negation_rule():
    """A tension is how the writer frames things: "my boss wants control" still counts for Control."""
    tensions = analyze("My boss is controlling and rigid").tensions
    assert [t.name for t in tensions] == ["Control vs Surrender"]

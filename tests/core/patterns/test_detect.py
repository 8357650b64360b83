"""Pattern detection (emotions, themes, tags) and its aggregation across reflections."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirror_cli.patterns import detect as d
from mirror_cli.patterns import lexicon
from mirror_cli.patterns.aggregate import Occurrence, PatternIndex, PatternStats, aggregate, confidence_from_sum
from mirror_cli.patterns.detect import (
    MIN_SUPPORT, STRONG_CONFIDENCE, Finding, ReflectionFindings, analyze_reflection, tokenize,
)
from helpers import DATA

CORPUS = json.loads((DATA / "labelled_corpus.json").read_text("utf-8"))
REFLECTIONS = CORPUS["reflections"]
BY_ID = {r["id"]: r for r in REFLECTIONS}


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _analysed():
    return {r["id"]: (_at(r["created_at"]), analyze_reflection(r["text"], r["tags"])) for r in REFLECTIONS}


def _emotions(text: str) -> set[str]:
    return set(analyze_reflection(text).names("emotion"))


# ----------------------------------------------------------------- tokenizer


def test_tokenizer_keeps_contractions_hyphens_and_marks_punctuation():
    assert tokenize("I wasn’t SAD, just self-care… (really)") == [
        "i", "wasn't", "sad", ".", "just", "self-care", ".", ".", "really", "."]
    assert tokenize("My dad's health") == ["my", "dad", "health"]
    assert tokenize("") == []


# ----------------------------------------------------------------- corpus labels


def test_corpus_is_a_reasonable_size_and_well_formed():
    assert 30 <= len(REFLECTIONS) <= 50
    assert len(BY_ID) == len(REFLECTIONS)
    for r in REFLECTIONS:
        assert set(r) == {"id", "created_at", "text", "tags", "expected"}
        _at(r["created_at"])


@pytest.mark.parametrize("reflection", REFLECTIONS, ids=lambda r: r["id"])
def test_labelled_emotions_and_themes_are_found_with_evidence_from_the_text(reflection):
    findings = analyze_reflection(reflection["text"], reflection["tags"])
    words = set(tokenize(reflection["text"]))
    expected = reflection["expected"]
    for kind, names in (("emotion", expected["emotions"]), ("theme", expected["themes"])):
        for name in names:
            finding = findings.get(kind, name)
            assert finding is not None, (kind, name)
            assert finding.evidence_words
            for evidence in finding.evidence_words:
                assert set(evidence.split()) <= words, evidence
            assert 0 < finding.confidence <= 1 and 0 < finding.intensity <= 1
    for name in expected["absent_emotions"]:
        assert findings.get("emotion", name) is None, name
    # an absent emotion was cancelled by a negation, or was someone else's ("the kids were so happy")
    assert bool(expected["absent_emotions"]) <= bool(findings.negated or findings.others)


@pytest.mark.parametrize("reflection", REFLECTIONS, ids=lambda r: r["id"])
def test_tags_become_tag_patterns(reflection):
    findings = analyze_reflection(reflection["text"], reflection["tags"])
    assert findings.names("tag") == reflection["tags"]
    for tag in reflection["tags"]:
        f = findings.get("tag", tag)
        assert f.confidence == 1.0 and f.evidence_words == (tag,)


def test_tags_are_normalised_and_deduplicated():
    findings = analyze_reflection("", ["#Work", " work ", "@Family", "", "#"])
    assert findings.names("tag") == ["work", "family"]


def test_dominant_emotion():
    findings = analyze_reflection("Sad. So sad and tearful, though a bit happy too.")
    assert findings.dominant("emotion").name == "sadness"
    assert analyze_reflection("the table").dominant("emotion") is None


# ----------------------------------------------------------------- negation


@pytest.mark.parametrize("text, emotion", [
    ("I am not anxious at all.", "anxiety"),
    ("I wasn't angry.", "anger"),
    ("I wasn’t angry.", "anger"),
    ("I'm not unhappy.", "sadness"),
    ("Not very anxious today.", "anxiety"),
    ("I was never afraid of it.", "fear"),
    ("A day without fear.", "fear"),
    ("I didnt feel lonely", "loneliness"),
    ("Hardly worried.", "anxiety"),
    ("No longer frustrated.", "frustration"),
    ("Nothing to be ashamed of.", "shame"),
])
def test_negated_emotions_are_not_counted(text, emotion):
    findings = analyze_reflection(text)
    assert findings.get("emotion", emotion) is None
    assert findings.negated


@pytest.mark.parametrize("text, emotion", [
    ("I can't stop worrying.", "anxiety"),  # double negative
    ("Not tired, but anxious.", "anxiety"),  # contrast ends the negation
    ("Not tired but anxious.", "anxiety"),
    ("Not now. I am anxious.", "anxiety"),  # punctuation ends it
    ("I did not go to the office and felt anxious.", "anxiety"),  # beyond three words
    ("Anxious, not calm.", "anxiety"),  # negation looks forward only
])
def test_negation_has_a_limited_reach(text, emotion):
    assert emotion in _emotions(text)


@pytest.mark.parametrize("text", ["We met again. Again and again we laughed.", "Again, again, again."])
def test_again_alone_is_no_frustration(text):
    """An everyday word: it once made "frustration" out of nothing else."""
    assert "frustration" not in _emotions(text)


def test_themes_ignore_negation():
    assert analyze_reflection("No work today.").get("theme", "work") is not None


# ----------------------------------------------------------------- confidence and intensity


def test_intensifiers_and_softeners_change_intensity_not_confidence():
    plain = analyze_reflection("I feel sad.").get("emotion", "sadness")
    strong = analyze_reflection("I feel very sad.").get("emotion", "sadness")
    stronger = analyze_reflection("I feel so very sad.").get("emotion", "sadness")
    soft = analyze_reflection("I feel a bit sad.").get("emotion", "sadness")
    assert soft.intensity < plain.intensity < strong.intensity < stronger.intensity <= 1
    assert soft.confidence == plain.confidence == strong.confidence == stronger.confidence


def test_more_cue_words_raise_confidence_and_ambiguous_words_count_less():
    one = analyze_reflection("sad").get("emotion", "sadness").confidence
    two = analyze_reflection("sad and tearful").get("emotion", "sadness").confidence
    weak = analyze_reflection("feeling blue").get("emotion", "sadness").confidence
    assert weak < one < two < 1
    assert (one, two) == (0.5, 0.75)


def test_clinical_labels_are_never_pattern_names():
    clinical = {"depression", "depressive", "disorder", "bipolar", "adhd", "ptsd", "ocd",
                "anorexia", "mania", "manic", "psychosis", "schizophrenia", "syndrome"}
    names = set(lexicon.EMOTIONS) | set(lexicon.THEMES)
    assert not {n.lower() for n in names} & clinical
    text = "I think I have depression and anxiety disorder, feeling depressed."
    found = analyze_reflection(text)
    assert {f.name for f in found} <= names
    assert found.get("emotion", "sadness") is not None


# ----------------------------------------------------------------- aggregation


def test_aggregate_points_at_the_right_reflections_and_words():
    summaries = {(s.pattern_type, s.name): s for s in aggregate(_analysed())}
    anxiety = summaries[("emotion", "anxiety")]
    ids = [o.reflection_id for o in anxiety.occurrences]
    labelled = [r["id"] for r in REFLECTIONS if "anxiety" in r["expected"]["emotions"]]
    assert set(labelled) <= set(ids)
    assert "r04" not in ids and "r30" not in ids  # "not anxious", "not worried"
    for occ in anxiety.occurrences:
        text_words = set(tokenize(BY_ID[occ.reflection_id]["text"]))
        assert occ.evidence and set(occ.evidence.replace(",", " ").split()) <= text_words
    by_id = {o.reflection_id: o for o in anxiety.occurrences}
    assert by_id["r01"].evidence == "anxious, stressed"
    assert ids == sorted(ids, key=lambda i: BY_ID[i]["created_at"], reverse=True)  # newest first
    assert anxiety.first_seen == _at(BY_ID[ids[-1]]["created_at"])
    assert anxiety.last_seen == _at(BY_ID[ids[0]]["created_at"])
    assert anxiety.support == len(ids)
    work = summaries[("theme", "work")]
    assert {"r01", "r16", "r33"} <= {o.reflection_id for o in work.occurrences}
    assert ("tag", "work") in summaries


def test_summaries_are_sorted_and_within_bounds():
    summaries = aggregate(_analysed())
    assert summaries
    confidences = [s.confidence for s in summaries]
    assert confidences == sorted(confidences, reverse=True)
    for s in summaries:
        assert 0 <= s.confidence <= 1
        assert s.support == len(s.occurrences) >= 1
        assert s.first_seen <= s.last_seen
        for o in s.occurrences:
            assert 0 <= o.confidence <= 1 and 0 <= o.intensity <= 1


@pytest.mark.parametrize("threshold", [0.0, 0.2, 0.4, 0.5, 0.7, 0.9])
def test_min_confidence_filters(threshold):
    everything = aggregate(_analysed())
    kept = aggregate(_analysed(), min_confidence=threshold)
    assert all(s.confidence >= threshold for s in kept)
    assert kept == [s for s in everything if s.confidence >= threshold]


def test_type_filter():
    emotions = aggregate(_analysed(), pattern_type="emotion")
    assert emotions and {s.pattern_type for s in emotions} == {"emotion"}


def test_minimum_support_before_reporting():
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    weak = {"a": (t0, analyze_reflection("I felt sad."))}
    assert aggregate(weak) == []
    assert [s.name for s in aggregate(weak, include_unreported=True)] == ["sadness"]
    strong = {"a": (t0, analyze_reflection("Sad, tearful, heartbroken."))}
    assert strong["a"][1].get("emotion", "sadness").confidence >= STRONG_CONFIDENCE
    assert [s.name for s in aggregate(strong)] == ["sadness"]
    twice = {"a": (t0, analyze_reflection("I felt sad.")),
             "b": (t0 + timedelta(days=1), analyze_reflection("Sad again."))}
    assert MIN_SUPPORT == 2
    assert [s.name for s in aggregate(twice, pattern_type="emotion")] == ["sadness"]


def test_pattern_confidence_definition():
    assert confidence_from_sum(0) == 0.0
    assert confidence_from_sum(0.5) == 0.2  # share unknown: the amount of evidence alone
    assert confidence_from_sum(2.0) == 0.5
    assert confidence_from_sum(2.0, 40) == round(0.5 * 0.05 * 1.05 / 0.1, 4)  # a 5 % share halves it
    stats = PatternStats("emotion", "joy")
    t0 = datetime(2026, 1, 1)
    for n, c in enumerate([0.5, 0.75, 0.875]):
        stats.add(Occurrence(f"r{n}", t0, ("happy",), c, 0.5))
    assert stats.evidence_sum == 2.125
    assert stats.confidence == round(2.125 / 4.125, 4)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0.01, max_value=1.0), min_size=1, max_size=30),
       st.floats(min_value=0.01, max_value=1.0))
def test_confidence_is_bounded_and_grows_with_support(confidences, extra):
    stats = PatternStats("emotion", "joy")
    t0 = datetime(2026, 1, 1)
    for n, c in enumerate(confidences):
        stats.add(Occurrence(f"r{n}", t0 + timedelta(hours=n), ("w",), round(c, 4), 0.5))
    before = stats.confidence
    assert 0 < before < 1
    stats.add(Occurrence("extra", t0, ("w",), round(extra, 4), 0.5))
    assert before < stats.confidence < 1


def test_confidence_grows_as_the_same_observation_recurs():
    t0 = datetime(2026, 1, 1)
    previous = 0.0
    for n in range(1, 15):
        findings = {f"r{i}": (t0 + timedelta(days=i), analyze_reflection("worried again"))
                    for i in range(n)}
        summary = aggregate(findings, include_unreported=True)[0]
        assert summary.support == n
        assert summary.confidence > previous
        previous = summary.confidence


def test_readding_a_reflection_replaces_it_and_remove_updates_ends():
    index = PatternIndex()
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    index.add("a", t0, analyze_reflection("sad"))
    index.add("b", t0 + timedelta(days=2), analyze_reflection("sad"))
    index.add("c", t0 + timedelta(days=4), analyze_reflection("sad"))
    stats = index.stats("emotion", "sadness")
    assert (stats.first_seen, stats.last_seen) == (t0, t0 + timedelta(days=4))
    index.add("a", t0, analyze_reflection("happy"))  # edited: no longer sad
    assert stats.support == 2 and stats.first_seen == t0 + timedelta(days=2)
    assert index.remove("c") and not index.remove("c")
    assert stats.last_seen == t0 + timedelta(days=2)
    index.remove("b")
    assert index.stats("emotion", "sadness") is None
    assert index.reflection_count == 1 and "a" in index


def test_export_shape():
    summary = aggregate(_analysed())[0]
    d = summary.to_dict()
    assert {"pattern_type", "name", "confidence", "first_seen", "last_seen", "occurrences"} <= set(d)
    assert d["first_seen"].endswith("Z")
    assert {"reflection_id", "evidence", "confidence"} <= set(d["occurrences"][0])
    assert "occurrences" not in summary.to_dict(occurrences=False)
    json.dumps(d)


# ----------------------------------------------------------------- incremental == batch

_TEXTS = [r["text"] for r in REFLECTIONS] + ["", "not sad", "sad sad sad"]
_ops = st.lists(
    st.tuples(st.sampled_from(["add", "remove"]), st.integers(0, 11),
              st.integers(0, len(_TEXTS) - 1), st.integers(0, 400),
              st.lists(st.sampled_from(["work", "Family", "#x"]), max_size=2)),
    max_size=40)


@settings(max_examples=60, deadline=None)
@given(_ops)
def test_incremental_add_remove_equals_batch(ops):
    index = PatternIndex()
    state: dict[str, tuple[datetime, ReflectionFindings]] = {}
    t0 = datetime(2025, 12, 1, tzinfo=timezone.utc)
    for op, rid_n, text_n, hours, tags in ops:
        rid = f"r{rid_n}"
        if op == "add":
            item = (t0 + timedelta(hours=hours), analyze_reflection(_TEXTS[text_n], tags))
            index.add(rid, *item)
            state[rid] = item
        else:
            assert index.remove(rid) == (rid in state)
            state.pop(rid, None)
    assert index.summaries(include_unreported=True) == aggregate(state, include_unreported=True)
    assert index.summaries() == aggregate(state)
    assert index.reflection_count == len(state)


def test_finding_is_immutable_and_has_a_key():
    f = Finding("emotion", "joy", ("happy",), 0.5, 0.5)
    assert f.key == ("emotion", "joy") and f.evidence == "happy"
    with pytest.raises(AttributeError):
        f.name = "x"  # type: ignore[misc]


# ----------------------------------------------------------------- the scanner: known inputs, known counts


@pytest.mark.parametrize("text, cues, poles, negated, words", [
    # a softened mention, then a plain one: weights add, the strongest mention counts
    ("a bit sad, then sad again.", {("emotion", "sadness"): [2.0, 2, 0.5, ["sad", "sad"]]}, {}, [], 6),
    # two stacked intensifiers: strength 0.5 x 2
    ("so very sad", {("emotion", "sadness"): [1.0, 1, 1.0, ["sad"]]}, {}, [], 3),
    # an ambiguous cue (weight 0.5) that is also a negator; the negation ends at the comma
    ("nobody came, not lonely", {("emotion", "loneliness"): [0.5, 1, 0.5, ["nobody"]]}, {}, ["lonely"], 4),
    # an intensifier does not use up the negator's reach
    ("I am not very anxious", {}, {}, ["anxious"], 5),
    # punctuation ends the negation; so does a distance of more than three words
    ("not at the door, anxious", {("emotion", "anxiety"): [1.0, 1, 0.5, ["anxious"]]}, {}, [], 5),
    ("not going to the door anxious", {("emotion", "anxiety"): [1.0, 1, 0.5, ["anxious"]]}, {}, [], 6),
    # themes ignore negation
    ("No work today.", {("theme", "work"): [1.0, 1, 0.5, ["work"]]}, {}, [], 3),
    # phrases: "let go" read forward, "in control" read back from "control"; both tension poles
    ("I let go and felt in control", {}, {0: [1.0, 1.0, ["in control"], ["let go"], 2.0]}, [], 7),
    ("not in control", {}, {}, ["in control"], 3),
    # a contrast word ends the negation; "tired" is also an ambiguous sleep theme, which stays
    ("not tired but anxious", {("emotion", "anxiety"): [1.0, 1, 0.5, ["anxious"]],
                               ("theme", "sleep"): [0.5, 1, 0.5, ["tired"]]}, {}, ["tired"], 4),
])
def test_scan_counts_cues_poles_and_negations(text, cues, poles, negated, words):
    assert d.scan(text) == d.Scan(cues, poles, negated, words)


_CLEAR_EMOTION_WORDS = sorted(
    (word, name) for name, words in lexicon.EMOTIONS.items() for word in words.split()
    if "_" not in word and not word.startswith("~") and word not in " ".join(
        (lexicon.NEGATORS, lexicon.INTENSIFIERS, lexicon.DOWNTONERS, lexicon.SCOPE_BREAKERS)).split())


@pytest.mark.parametrize("word, emotion", _CLEAR_EMOTION_WORDS[::5])
def test_every_clear_emotion_word_counts_and_not_cancels_it(word, emotion):
    alone = analyze_reflection(f"I felt {word} today").get("emotion", emotion)
    assert alone is not None and alone.confidence == 0.5 and alone.evidence_words == (word,)
    cancelled = analyze_reflection(f"I was not {word} today")
    assert cancelled.get("emotion", emotion) is None and word in cancelled.negated


_SCAN_WORDS = sorted({w for w in d._TABLE if w.isalpha()})[::60] + [
    "not", "no", "never", "nobody", "without", "don't", "very", "so", "really", "bit", "a", "slightly", "kind", "of",
    "but", "though", "stop", "let", "go", "in", "control", "at", "ease", "on", "edge", "tired", "work", "out",
    "sad", "anxious", "happy", "alone", "together", "rest", ",", "!", "the", "i", "felt"]
_sentence = st.lists(st.sampled_from(_SCAN_WORDS), max_size=40).map(" ".join)


def _joined(a: d.Scan, b: d.Scan) -> d.Scan:
    """What one scan of two texts separated by a full stop must be: the sum of their scans."""
    cues = {k: [v[0], v[1], v[2], list(v[3])] for k, v in a.cues.items()}
    for key, (weight, mentions, strength, words) in b.cues.items():
        entry = cues.setdefault(key, [0.0, 0, 0.0, []])
        entry[0] += weight
        entry[1] += mentions
        entry[2] = max(entry[2], strength)
        entry[3] += words
    poles = {k: [v[0], v[1], list(v[2]), list(v[3]), v[4]] for k, v in a.poles.items()}
    for index, (wa, wb, words_a, words_b, strength) in b.poles.items():
        entry = poles.setdefault(index, [0.0, 0.0, [], [], 0.0])
        entry[0] += wa
        entry[1] += wb
        entry[2] += words_a
        entry[3] += words_b
        entry[4] += strength
    return d.Scan(cues, poles, a.negated + b.negated, a.word_count + b.word_count, a.others + b.others)


@settings(max_examples=300, deadline=None)
@given(_sentence, _sentence)
def test_a_full_stop_isolates_sentences(a, b):
    """Negation, intensifiers and phrases never reach across a full stop, so the scan of
    two sentences is the sum of the scans of each."""
    assert d.scan(a + ". " + b) == _joined(d.scan(a), d.scan(b))


@settings(max_examples=300, deadline=None)
@given(_sentence)
def test_every_counted_word_is_in_the_text(text):
    tokens = d.tokenize(text)
    pairs = {f"{x} {y}" for x, y in zip(tokens, tokens[1:])}
    result = d.scan(text)
    for weight, mentions, strength, words in result.cues.values():
        assert mentions == len(words) and 0 < weight <= mentions and 0.25 <= strength <= 1.0
        assert all(w in tokens or w in pairs for w in words)
    for wa, wb, words_a, words_b, _strength in result.poles.values():
        assert all(w in tokens or w in pairs for w in words_a + words_b)
    assert all(w in tokens or w in pairs for w in result.negated)

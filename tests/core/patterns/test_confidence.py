"""A pattern's confidence (mirror_cli/patterns/confidence.py): inside (0, 1), monotone in support,
and still informative in a large journal, where the old S / (S + 2) read 1.00 for nearly everything."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirror_cli.db.store import Store
from mirror_cli.journal import reflections as journal
from mirror_cli.patterns import analysis, queries
from mirror_cli.patterns.aggregate import PatternIndex
from mirror_cli.patterns.confidence import SHARE_HALF, SUPPORT_K, pattern_confidence
from mirror_cli.patterns.detect import analyze_reflection

_conf = st.sampled_from([0.2929, 0.5, 0.6464, 0.75, 0.875, 1.0])  # per-reflection values that occur


@settings(max_examples=200, deadline=None)
@given(st.lists(_conf, min_size=1, max_size=400), st.integers(0, 50_000))
def test_confidence_is_inside_0_1_and_monotone_in_support(confidences, others):
    """For a journal of a given size, each further reflection showing the pattern never lowers it."""
    n = len(confidences) + others  # the journal: the reflections that show it and those that do not
    previous = 0.0
    s = 0.0
    for c in confidences:
        s += c
        value = pattern_confidence(s, n)
        assert 0 < value < 1
        assert value >= previous
        previous = value


@settings(max_examples=200, deadline=None)
@given(st.lists(_conf, min_size=1, max_size=200), _conf, st.integers(0, 5_000))
def test_a_stronger_occurrence_or_a_smaller_journal_never_lowers_it(confidences, extra, others):
    s = sum(confidences)
    n = len(confidences) + others
    assert pattern_confidence(s + extra, n) >= pattern_confidence(s, n)
    assert pattern_confidence(s, n) >= pattern_confidence(s, n + 1)


def test_the_definition():
    assert pattern_confidence(0, 10) == 0.0
    assert pattern_confidence(0.5, 1) == round(0.2 * 0.5 * 1.05 / 0.55, 4)  # one clear word, one reflection: 0.19
    share = 2.0 / 40
    assert pattern_confidence(2.0, 40) == round(2.0 / (2.0 + SUPPORT_K) * share * (1 + SHARE_HALF) / (share + SHARE_HALF), 4)
    assert pattern_confidence(50_000, 50_000) == 0.9999  # never 1
    assert pattern_confidence(0.2929, 50_000) == 0.0001  # never 0 once seen


def test_in_a_young_journal_it_reads_like_the_amount_of_evidence():
    """When the pattern is most of a small journal the share barely matters."""
    for s, n in ((0.5, 1), (1.5, 2), (3.0, 4)):
        assert pattern_confidence(s, n) == pytest.approx(s / (s + SUPPORT_K), abs=0.03)


# --------------------------------------------------------------------------- at scale

# (text, share of the journal): a daily theme, frequent and occasional emotions, a rare one
_TEMPLATES = [
    ("Long day at work, the project meeting ran late.", 0.35),
    ("I feel anxious and worried about the deadline.", 0.12),
    ("A calm and peaceful evening walk.", 0.08),
    ("So grateful and thankful for my friends.", 0.04),
    ("Happy today, laughed a lot.", 0.10),
    ("Felt lonely tonight.", 0.015),
    ("Ashamed and embarrassed about what I said.", 0.005),
    ("Bread, tea, a book on the sofa.", 0.0),  # the rest: nothing in particular
]


def _generated(count: int, seed: int = 15) -> list[tuple[datetime, str]]:
    rng = random.Random(seed)
    start = datetime(2020, 1, 1, 8, tzinfo=timezone.utc)
    out = []
    for i in range(count):
        roll, text = rng.random(), _TEMPLATES[-1][0]
        for candidate, share in _TEMPLATES:
            if roll < share:
                text = candidate
                break
            roll -= share
        out.append((start + timedelta(hours=13 * i), text))
    return out


def test_confidences_are_spread_in_a_large_journal_in_memory():
    index = PatternIndex()
    for n, (at, text) in enumerate(_generated(6000)):
        index.add(f"r{n}", at, analyze_reflection(text))
    summaries = {s.name: s for s in index.summaries()}
    values = [s.confidence for s in summaries.values()]
    old = [round(s.evidence_sum / (s.evidence_sum + SUPPORT_K), 4) for s in index]
    assert sum(v >= 0.99 for v in old) > len(old) / 2 and min(old) > 0.9  # the old rule: most read 1.00
    assert not all(v >= 0.99 for v in values)
    assert max(values) - min(values) > 0.5
    assert len({round(v, 2) for v in values}) >= len(values) - 1  # (nearly) every one tells apart
    # more frequent reads higher
    assert summaries["work"].confidence > summaries["anxiety"].confidence > summaries["gratitude"].confidence
    assert summaries["gratitude"].confidence > summaries["loneliness"].confidence > summaries["shame"].confidence


def test_confidences_are_spread_in_a_large_journal_in_the_database(tmp_path):
    """The same through `mirror patterns analyze` and `patterns list`, with an incremental run after."""
    store = Store.open(tmp_path / "m.db")
    try:
        rows = _generated(3000)
        for at, text in rows:
            journal.add(store, text, at=at)
        analysis.analyze(store)
        listed = {p.name: p.confidence for p in queries.list_patterns(store)}
        assert not all(v >= 0.99 for v in listed.values())
        assert listed["work"] > listed["anxiety"] > listed["gratitude"] > listed["loneliness"]
        # 300 more reflections without anxiety: its share falls, and so does its confidence,
        # although no reflection showing it changed (the incremental run moves every row)
        for n in range(300):
            journal.add(store, "Bread, tea, a book on the sofa.", at=rows[-1][0] + timedelta(days=n + 1))
        result = analysis.analyze(store)
        assert not result.full and result.analyzed == 300
        after = {p.name: p.confidence for p in queries.list_patterns(store)}
        assert after["anxiety"] < listed["anxiety"]
        analysis.analyze(store, full=True)
        assert {p.name: p.confidence for p in queries.list_patterns(store)} == after
    finally:
        store.close()

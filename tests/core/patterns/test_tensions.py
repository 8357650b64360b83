"""Tensions between two poles: per-reflection position/intensity and their averages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirror_cli.patterns import analyze
from mirror_cli.patterns.tensions import (
    SEED_TENSIONS, TensionFinding, TensionStats, aggregate_tensions, seed_tension, tensions_for,
)
from helpers import DATA

CORPUS = json.loads((DATA / "labelled_corpus.json").read_text("utf-8"))
REFLECTIONS = CORPUS["reflections"]
CS = "Control vs Surrender"


def _one(text: str, name: str = CS) -> TensionFinding | None:
    return next((t for t in tensions_for(text) if t.name == name), None)


def test_five_seed_tensions():
    assert [t.name for t in SEED_TENSIONS] == [
        "Control vs Surrender", "Connection vs Independence", "Stability vs Change",
        "Achievement vs Rest", "Self vs Others"]
    for t in SEED_TENSIONS:
        assert t.name == f"{t.axis_a} vs {t.axis_b}"
    assert seed_tension("control VS surrender") == SEED_TENSIONS[0]
    assert seed_tension("nope") is None


@pytest.mark.parametrize("reflection", [r for r in REFLECTIONS if r["expected"]["tensions"]],
                         ids=lambda r: r["id"])
def test_labelled_tension_directions(reflection):
    found = {t.name: t for t in tensions_for(reflection["text"])}
    for name, side in reflection["expected"]["tensions"].items():
        assert name in found
        if side == "a":
            assert found[name].position < 0.5
            assert found[name].evidence_a
        else:
            assert found[name].position > 0.5
            assert found[name].evidence_b


def test_control_heavy_below_half_surrender_heavy_above():
    control = _one("I need to control everything, plan it all and keep a strict schedule.")
    surrender = _one("I let go, accepted it and decided to trust and allow things to unfold.")
    balanced = _one("I want to control it, but I also want to let go.")
    assert control.position < 0.5 < surrender.position
    assert balanced.position == 0.5
    assert control.evidence_a == ("control", "plan", "strict", "schedule")
    assert "let go" in surrender.evidence_b


def test_position_moves_with_the_balance_of_evidence():
    positions = [_one(text).position for text in (
        "control plan schedule strict", "control plan schedule", "control plan", "control",
        "control trust", "trust", "trust accept", "trust accept allow")]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)
    assert all(0 < p < 1 for p in positions)


def test_intensity_grows_with_evidence_and_intensifiers():
    one = _one("I want control.").intensity
    two = _one("I want control and a plan.").intensity
    boosted = _one("I desperately want so very much control.").intensity
    assert 0 < one < two <= 1
    assert one < boosted <= 1


def test_negated_pole_words_do_not_count():
    assert _one("I could not let go.") is None
    found = _one("I could not let go. I tried to control it.")
    assert found.evidence_b == () and found.position < 0.5


def test_no_evidence_no_tension():
    assert tensions_for("The cat sat on the mat.") == []
    assert tensions_for("") == []


def test_tensions_and_patterns_come_from_one_pass():
    text = "I let go and felt calm."
    result = analyze(text, ["x"])
    assert list(result.tensions) == tensions_for(text)
    assert result.findings.get("emotion", "calm") is not None


def test_to_dict():
    found = _one("control")
    assert found.to_dict() == {"name": CS, "axis_a": "Control", "axis_b": "Surrender",
                               "position": 0.25, "intensity": 0.4}
    assert found.to_dict(evidence=True)["evidence_a"] == ["control"]
    json.dumps(found.to_dict(evidence=True))


def test_aggregate_averages_per_tension():
    findings = [TensionFinding(CS, "Control", "Surrender", 0.2, 0.4),
                TensionFinding(CS, "Control", "Surrender", 0.6, 0.8),
                TensionFinding("Self vs Others", "Self", "Others", 0.9, 0.3)]
    assert aggregate_tensions(findings) == [
        {"name": CS, "axis_a": "Control", "axis_b": "Surrender", "position": 0.4,
         "intensity": 0.6, "count": 2},
        {"name": "Self vs Others", "axis_a": "Self", "axis_b": "Others", "position": 0.9,
         "intensity": 0.3, "count": 1}]
    assert aggregate_tensions([]) == []


def test_corpus_aggregate_is_bounded():
    summary = aggregate_tensions(t for r in REFLECTIONS for t in tensions_for(r["text"]))
    assert {s["name"] for s in summary} == {t.name for t in SEED_TENSIONS}
    for s in summary:
        assert 0 <= s["position"] <= 1 and 0 <= s["intensity"] <= 1 and s["count"] >= 1


_TEXTS = [r["text"] for r in REFLECTIONS]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 9), st.integers(0, len(_TEXTS) - 1)),
                max_size=40))
def test_incremental_stats_equal_batch(ops):
    stats = TensionStats()
    state: dict[str, list[TensionFinding]] = {}
    for add, rid_n, text_n in ops:
        rid = f"r{rid_n}"
        if add:
            state[rid] = tensions_for(_TEXTS[text_n])
            stats.add(rid, state[rid])
        else:
            assert stats.remove(rid) == (rid in state)
            state.pop(rid, None)
    assert stats.summaries() == aggregate_tensions(t for found in state.values() for t in found)

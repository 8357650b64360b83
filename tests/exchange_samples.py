"""Shared records and Hypothesis strategies for the tests of mirror_cli.exchange."""

from __future__ import annotations

import copy
from datetime import datetime, timezone

from hypothesis import strategies as st

HEADER = {
    "format": "mirror-export",
    "version": 1,
    "exported_at": "2024-05-01T10:00:00.000Z",
    "tool_version": "0.1.0",
    "schema_version": 3,
}

REFLECTIONS = [
    {"id": "01HX0000000000000000000001", "created_at": "2024-05-01T09:30:00.000Z",
     "updated_at": "2024-05-01T09:30:00.000Z", "content": "First day.\nIt went \"fine\" — 🙂",
     "response": "Noted, with care.", "mode": "REFLECTION", "tags": ["work", "new-job"], "local_only": False},
    {"id": "01HX0000000000000000000002", "created_at": "2024-05-01T21:05:12.345Z",
     "updated_at": "2024-05-02T08:00:00.000Z", "content": "=HYPERLINK(\"http://evil\")",
     "response": None, "mode": "POST_ACTION", "tags": [], "local_only": True},
    {"id": "01HX0000000000000000000003", "created_at": "2024-05-03T06:00:00.000Z",
     "updated_at": "2024-05-03T06:00:00.000Z", "content": "# not a heading\n```\nunclosed fence",
     "response": "- a list\n> nested", "mode": "REFLECTION", "tags": ["a;b", "c,d"], "local_only": False},
]
PATTERNS = [
    {"id": "pat-1", "pattern_type": "theme", "name": "Work *stress*", "confidence": 0.8,
     "first_seen": "2024-05-01T09:30:00.000Z", "last_seen": "2024-05-03T06:00:00.000Z",
     "occurrences": [
         {"reflection_id": "01HX0000000000000000000001", "evidence": "new job", "confidence": 0.7},
         {"reflection_id": "01HX0000000000000000000003", "evidence": None, "confidence": 0.25},
     ]},
    {"id": "pat-2", "pattern_type": "emotion", "name": "Calm", "confidence": 0.5,
     "first_seen": None, "last_seen": None, "occurrences": []},
]
TENSIONS = [
    {"id": "ten-1", "name": "Control vs Surrender", "axis_a": "Control", "axis_b": "Surrender",
     "position": 0.3, "intensity": 0.7, "reflection_id": "01HX0000000000000000000001",
     "detected_at": "2024-05-01T09:30:00.000Z"},
    {"id": "ten-2", "name": "Rest vs Drive", "axis_a": "Rest", "axis_b": "Drive",
     "position": 1.0, "intensity": 0.0, "reflection_id": None, "detected_at": "2024-05-02T09:30:00.000Z"},
]
AUDIT_EVENTS = [
    {"seq": 1, "id": "evt-1", "event_type": "reflection.saved", "timestamp": "2024-05-01T09:30:00.000Z",
     "data": {"ids": ["01HX0000000000000000000001"], "digest": "ab" * 32}, "previous_hash": "0" * 64,
     "event_hash": "1" * 64},
    {"seq": 2, "id": "evt-2", "event_type": "export", "timestamp": "2024-05-01T10:00:00.000Z",
     "data": "{\"format\":\"json\"}", "previous_hash": "1" * 64, "event_hash": "2" * 64},
]


def records() -> dict[str, list[dict]]:
    return copy.deepcopy({"reflections": REFLECTIONS, "patterns": PATTERNS,
                          "tensions": TENSIONS, "audit_events": AUDIT_EVENTS})


def header_for(recs: dict[str, list[dict]]) -> dict:
    return {**HEADER, "counts": {k: len(v) for k, v in recs.items()}}


def sections(recs: dict[str, list[dict]]) -> dict:
    """Per kind a one-shot iterator, as the store will hand them over."""
    return {k: iter(v) for k, v in recs.items()}


# --------------------------------------------------------------------------- strategies

TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=200)
NONEMPTY = TEXT.filter(lambda s: s.strip() != "")
IDS = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
UNIT = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
TIMES = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1),
                     timezones=st.just(timezone.utc)).map(
    lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z")


@st.composite
def reflection(draw) -> dict:
    created = draw(TIMES)
    return {
        "id": draw(IDS), "created_at": created,
        "updated_at": draw(st.one_of(st.just(created), TIMES)),
        "content": draw(TEXT), "response": draw(st.one_of(st.none(), NONEMPTY)),
        "mode": draw(st.one_of(st.just("REFLECTION"), NONEMPTY)),
        "tags": draw(st.lists(NONEMPTY, max_size=4)), "local_only": draw(st.booleans()),
    }


@st.composite
def pattern(draw) -> dict:
    return {
        "id": draw(IDS), "pattern_type": draw(NONEMPTY), "name": draw(NONEMPTY),
        "confidence": draw(UNIT), "first_seen": draw(st.one_of(st.none(), TIMES)),
        "last_seen": draw(st.one_of(st.none(), TIMES)),
        "occurrences": draw(st.lists(st.fixed_dictionaries({
            "reflection_id": IDS, "evidence": st.one_of(st.none(), TEXT), "confidence": UNIT,
        }), max_size=3, unique_by=lambda o: o["reflection_id"])),
    }


@st.composite
def tension(draw) -> dict:
    return {
        "id": draw(IDS), "name": draw(NONEMPTY), "axis_a": draw(NONEMPTY), "axis_b": draw(NONEMPTY),
        "position": draw(UNIT), "intensity": draw(UNIT),
        "reflection_id": draw(st.one_of(st.none(), IDS)), "detected_at": draw(TIMES),
    }


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=10,
)


@st.composite
def audit_event(draw) -> dict:
    return {
        "seq": draw(st.integers(0, 2**62)), "id": draw(IDS), "event_type": draw(NONEMPTY),
        "timestamp": draw(TIMES), "data": draw(JSON_VALUES),
        "previous_hash": draw(TEXT), "event_hash": draw(TEXT),
    }


def _unique(strategy, key="id"):
    return st.lists(strategy, max_size=6, unique_by=lambda r: r[key])


DOCUMENTS = st.fixed_dictionaries({
    "reflections": _unique(reflection()),
    "patterns": _unique(pattern()),
    "tensions": _unique(tension()),
    "audit_events": _unique(audit_event()).filter(lambda evs: len({e["seq"] for e in evs}) == len(evs)),
})

"""`export --since/--until`: the time window applies to every kind, and such an export imports cleanly.

The rule (README, `mirror export --help`): reflections by ``created_at``; a pattern occurrence only
when its reflection is in the window, and a pattern only when it keeps one; a tension by
``detected_at``, and one tied to a reflection only when that reflection is in the window too;
audit events by ``timestamp``. The window is [since, until).
"""

from __future__ import annotations

import io
import json
import time
from datetime import datetime, timezone

import pytest

from mirror_cli import audit
from mirror_cli.journal import reflections as journal
from mirror_cli.exchange import export, importer
from mirror_cli.patterns import analysis
from mirror_cli.db.store import Store

SINCE = datetime(2024, 1, 1, tzinfo=timezone.utc)
UNTIL = datetime(2025, 1, 1, tzinfo=timezone.utc)
LO, HI = "2024-01-01T00:00:00.000Z", "2025-01-01T00:00:00.000Z"


def at(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 9, 30, tzinfo=timezone.utc)


def tension(tid: str, rid: str | None, detected: str) -> dict:
    return {"id": tid, "name": "Control vs Surrender", "axis_a": "Control", "axis_b": "Surrender",
            "position": 0.3, "intensity": 0.5, "reflection_id": rid, "detected_at": detected}


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "a.db") as s:
        old = journal.add(s, "Anxious about the zebra project, stressed and tired. #zebra", at=at(2023, 6, 1))
        journal.add(s, "Zebra stripes everywhere, anxious and stressed. #zebra", at=at(2023, 6, 2))
        mid = journal.add(s, "Long walk with my sister, calm and grateful. #family", at=at(2024, 5, 1))
        journal.add(s, "Calm again, grateful for the #family dinner.", at=at(2024, 5, 2))
        journal.add(s, "Anxious before the #work meeting, stressed.", at=at(2025, 3, 1))
        analysis.analyze(s)
        # Tensions tied to reflections (as an import writes them): in the window, detected in the
        # window but tied to a reflection before it, and detected after the window.
        doc = {"format": "mirror-export", "version": 1, "tensions": [
            tension("tenIN00001", mid.id, "2024-05-01T09:30:00.000Z"),
            tension("tenOLD0001", old.id, "2024-06-01T00:00:00.000Z"),
            tension("tenLATE001", mid.id, "2025-02-01T00:00:00.000Z"),
            tension("tenFREE001", None, "2024-07-01T00:00:00.000Z")]}
        parsed, _ = importer.read_document(json.dumps(doc).encode())
        importer.apply_import(s, parsed, kinds=("tensions",))
        yield s


def exported(store: Store, fmt: str = "json", **kw) -> str:
    buf = io.StringIO()
    export.write_stream(store, buf, fmt=fmt, **kw)
    return buf.getvalue()


def full(store: Store) -> dict:
    return json.loads(exported(store))


def test_every_kind_is_limited_to_the_window(store):
    everything = full(store)
    doc = json.loads(exported(store, since=SINCE, until=UNTIL))
    in_window = {r["id"] for r in everything["reflections"] if LO <= r["created_at"] < HI}
    assert {r["id"] for r in doc["reflections"]} == in_window and len(in_window) == 2

    # Patterns: exactly those with an occurrence in the window, with only those occurrences.
    expected = {}
    for p in everything["patterns"]:
        kept = [o for o in p["occurrences"] if o["reflection_id"] in in_window]
        if kept:
            expected[p["id"]] = dict(p, occurrences=kept)
    assert expected and len(expected) < len(everything["patterns"])
    assert {p["id"]: p for p in doc["patterns"]} == expected
    assert "zebra" not in json.dumps(doc["patterns"]).lower()

    # Tensions: detected in the window, and a tied one only with its reflection in the window.
    assert sorted(t["id"] for t in doc["tensions"]) == ["tenFREE001", "tenIN00001"]

    # Audit events: by their timestamp (all of them were written now, after the window).
    assert doc["audit_events"] == []
    assert doc["counts"] == {k: len(doc[k]) for k in ("reflections", "patterns", "tensions", "audit_events")}
    assert (doc["since"], doc["until"]) == (LO, HI)


def test_audit_events_are_cut_by_their_timestamp(store):
    time.sleep(0.01)  # the fixture's events may all share one millisecond: one event surely later
    journal.add(store, "A later note.")
    events = full(store)["audit_events"]
    cut = events[-1]["timestamp"]
    since = datetime.fromisoformat(cut.replace("Z", "+00:00"))
    doc = json.loads(exported(store, kinds=("audit_events",), since=since))
    assert doc["audit_events"] == [e for e in events if e["timestamp"] >= cut]
    assert 0 < len(doc["audit_events"]) < len(events)
    assert doc["counts"] == {"audit_events": len(doc["audit_events"])}
    doc = json.loads(exported(store, kinds=("audit_events",), until=since))
    assert doc["audit_events"] == [e for e in events if e["timestamp"] < cut]


def test_no_window_exports_everything_as_before(store):
    doc = full(store)
    assert len(doc["reflections"]) == 5 and len(doc["tensions"]) == store.count("tensions") >= 4
    assert doc["counts"]["patterns"] == store.count("patterns") == len(doc["patterns"])
    assert doc["counts"]["audit_events"] == store.count("audit_events") == len(doc["audit_events"])


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
@pytest.mark.parametrize("window", [{"since": SINCE}, {"until": UNTIL}, {"since": SINCE, "until": UNTIL}])
def test_a_windowed_export_imports_cleanly_into_an_empty_journal(store, tmp_path, fmt, window):
    text = exported(store, fmt, **window)
    doc, _ = importer.read_document(text.encode())
    with Store.open(tmp_path / "empty.db") as empty:
        result = importer.apply_import(empty, doc)
        counts = doc.header["counts"]
        assert result.added == {**{k: counts[k] for k in ("reflections", "patterns", "tensions")},
                                "audit_events": 0}
        assert result.skipped == {"reflections": 0, "patterns": 0, "tensions": 0,
                                  "audit_events": counts["audit_events"]}
        assert result.dropped_occurrences == 0
        occurrences = sum(len(p["occurrences"]) for p in doc.records["patterns"])
        assert empty.count("pattern_occurrences") == occurrences
        assert audit.verify(empty.conn).ok
        # And back out: the same records.
        again = json.loads(exported(empty))
        for kind in ("reflections", "patterns", "tensions"):
            assert sorted(json.dumps(x, sort_keys=True) for x in again[kind]) == \
                sorted(json.dumps(x, sort_keys=True) for x in doc.records[kind]), kind


def test_markdown_quotes_no_evidence_from_reflections_outside_the_window(store):
    assert "zebra" in exported(store, "markdown").lower()
    md = exported(store, "markdown", since=SINCE, until=UNTIL)
    assert "zebra" not in md.lower()
    assert "family" in md


def test_a_folder_export_is_windowed_too(store, tmp_path):
    counts: dict[str, int] = {}
    export.write_folder(store, tmp_path / "csv", fmt="csv", since=SINCE, until=UNTIL, counts_out=counts)
    with store.read():
        assert counts == export.counts(store, ("reflections", "patterns", "tensions", "audit_events"), SINCE, UNTIL)
    text = "".join(p.read_text() for p in (tmp_path / "csv").iterdir())
    assert "zebra" not in text.lower() and "tenLATE001" not in text and "tenIN00001" in text

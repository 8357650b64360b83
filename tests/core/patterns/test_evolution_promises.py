"""Issue 12: evolution periods are local-time calendar periods and run to the journal's end."""

from __future__ import annotations

import json
import time
from datetime import date, datetime, timezone

import pytest

from mirror_cli.db.store import Store
from mirror_cli.journal import reflections as journal
from mirror_cli.patterns import analysis, queries
from mirror_cli.patterns import evolution as evo
from mirror_cli.patterns.stored import META_KEY

ANXIOUS = "I feel anxious and worried, so much worry about everything."


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "mirror.db") as s:
        yield s


def test_pure_evolution_counts_aware_times_in_local_weeks_and_months(new_york):
    sunday_evening = datetime(2026, 3, 2, 3, 0, tzinfo=timezone.utc)  # Sunday 22:00 in New York
    march_31_evening = datetime(2026, 4, 1, 1, 0, tzinfo=timezone.utc)  # Tuesday March 31st, 21:00 there
    weeks = evo.evolution([sunday_evening], "week")
    assert weeks == [{"period": "2026-W09", "count": 1}]
    assert evo.evolution([march_31_evening], "month") == [{"period": "2026-03", "count": 1}]
    assert evo.local_day("2026-03-02T03:00:00.000Z") == date(2026, 3, 1)
    assert evo.local_day("2026-04-01T01:00") == date(2026, 3, 31)
    assert evo.local_day("2026-04-01") == date(2026, 4, 1)  # a bare day is taken as it is
    # an explicit zone still wins
    assert evo.evolution([sunday_evening], "week", tz=timezone.utc) == [{"period": "2026-W10", "count": 1}]


def test_pure_evolution_runs_to_until():
    rows = evo.evolution([date(2026, 1, 5), date(2026, 1, 12)], "week", until=date(2026, 2, 4))
    assert [(r["period"], r["count"]) for r in rows] == [
        ("2026-W02", 1), ("2026-W03", 1), ("2026-W04", 0), ("2026-W05", 0), ("2026-W06", 0)]
    assert evo.trend([r["count"] for r in rows]) == "falling"
    # until before the last date changes nothing
    assert len(evo.evolution([date(2026, 1, 5), date(2026, 1, 12)], "week", until=date(2025, 1, 1))) == 2


def test_caches_of_the_old_format_are_analysed_again_in_full(store, new_york):
    """Timelines written before held UTC days: an incremental run must not mix the two, so the
    next analysis reads everything again (and listings say it is out of date till then)."""
    journal.add(store, ANXIOUS, at=datetime(2026, 3, 1, 22, 0).astimezone())
    journal.add(store, ANXIOUS, at=datetime(2026, 3, 31, 21, 0).astimezone())
    analysis.analyze(store)
    assert queries.status(store)["pending"] == 0
    old = json.loads(store.meta(META_KEY))
    for key in ("timeline", "zone"):
        old.pop(key, None)  # as written before: {"rev", "count", "encrypted", "at"}
    with store.write():
        store.set_meta(META_KEY, json.dumps(old))
    s = queries.status(store)
    assert s["pending"] == 2 and s["analyzed_at"] == old["at"]
    assert analysis.analyze(store).full is True
    months = queries.evolution(store, "anxiety", by="month")["series"]
    assert [(r["period"], r["count"]) for r in months] == [("2026-03", 2)]


def test_caches_of_another_time_zone_are_analysed_again_in_full(store, monkeypatch):
    """Timelines keep the local days of the zone the analysis ran in: in another zone they
    are out of date, and the next analysis (in full) puts every reflection in its new local day."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        journal.add(store, ANXIOUS, at=datetime(2026, 4, 1, 1, 0, tzinfo=timezone.utc))  # March 31st in New York
        journal.add(store, ANXIOUS, at=datetime(2026, 4, 2, 12, 0, tzinfo=timezone.utc))
        analysis.analyze(store)
        months = queries.evolution(store, "anxiety", by="month")["series"]
        assert [(r["period"], r["count"]) for r in months] == [("2026-04", 2)]
        monkeypatch.setenv("TZ", "America/New_York")
        time.tzset()
        assert queries.status(store)["pending"] == 2
        assert analysis.analyze(store).full is True
        months = queries.evolution(store, "anxiety", by="month")["series"]
        assert [(r["period"], r["count"]) for r in months] == [("2026-03", 1), ("2026-04", 1)]
        assert queries.status(store)["pending"] == 0
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_timeline_of_days_folds_into_weeks():
    rows = queries._fold_days({"2026-01-05": [1, 5000], "2026-01-20": [2, 10000]}, "week",
                              lambda c, label, _start: {"period": label, "count": c[0]}, date(2026, 2, 1))
    assert rows == [{"period": "2026-W02", "count": 1}, {"period": "2026-W03", "count": 0},
                    {"period": "2026-W04", "count": 2}, {"period": "2026-W05", "count": 0}]


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Kiritimati",
                                  "America/St_Johns", "UTC"])
def test_folding_many_keys_gives_each_its_local_date(monkeypatch, zone):
    """local_dates() (one offset look-up per UTC day) agrees with local_day() for every key,
    clock-change days included (Lord Howe moves its clocks by half an hour)."""
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        day_of = evo.local_dates()
        for utc_day in ("2026-03-08", "2026-03-09", "2026-04-05", "2026-10-04", "2026-11-01", "2026-06-15"):
            for minute in range(0, 1440, 5):
                key = f"{utc_day}T{minute // 60:02d}:{minute % 60:02d}"
                assert day_of(key) == evo.local_day(key), key
    finally:
        monkeypatch.undo()
        time.tzset()

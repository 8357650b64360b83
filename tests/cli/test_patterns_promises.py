"""Promises of issue 12 about patterns and tensions over time (CONTRACT.md, "JSON results"):
periods run from the first occurrence to the journal's newest reflection, and they are local-time
calendar weeks and months, like every date a person reads or writes."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from mirror_cli.db.store import Store
from mirror_cli.journal import reflections as journal

ANXIOUS = "I feel anxious and worried, so much worry about everything."
CALM = "A quiet walk by the river, bread and tea afterwards."
CONTROL = "I had to control everything, plan every detail, control the schedule."


@pytest.fixture
def local_tz(monkeypatch):
    """Run with the process in a given TZ (restored, and re-read, afterwards)."""
    def use(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield use
    monkeypatch.undo()
    time.tzset()


def add(home, text: str, at: datetime) -> None:
    with Store.open(home / "mirror.db") as store:
        journal.add(store, text, at=at)


def run_json(cli, *args):
    r = cli(*args, "--json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


# --------------------------------------------------------------------------- item 21: a vanished feeling

@pytest.fixture
def vanished(mirror_home, local_tz):
    """Anxiety growing over four weeks of January 2026, then 22 weeks of calm without it."""
    local_tz("UTC")
    start = datetime(2026, 1, 5, 12, tzinfo=timezone.utc)  # a Monday: 2026-W02
    for week, n in enumerate([1, 1, 2, 3]):
        for i in range(n):
            add(mirror_home, ANXIOUS, start + timedelta(weeks=week, hours=i))
    for week in range(4, 26):
        add(mirror_home, CALM, start + timedelta(weeks=week))
    return start + timedelta(weeks=25)  # the newest reflection: Monday 2026-06-29, 2026-W27


def test_evolution_of_one_pattern_runs_to_the_newest_reflection(cli, vanished):
    cli("patterns", "analyze")
    series = run_json(cli, "patterns", "evolution", "anxiety")
    assert series[0]["period"] == "2026-W02"
    assert series[-1]["period"] == "2026-W27"  # the newest reflection's week, not anxiety's last
    assert len(series) == 26
    assert [r["count"] for r in series] == [1, 1, 2, 3] + [0] * 22
    # nothing more found: it stops growing, and fades as the anxious weeks become a smaller share
    assert max(r["confidence"] for r in series) == series[3]["confidence"]
    assert [r["confidence"] for r in series[3:]] == sorted((r["confidence"] for r in series[3:]), reverse=True)
    assert series[-1]["confidence"] < series[3]["confidence"]
    listed = {p["name"]: p for p in run_json(cli, "patterns", "list")}
    assert series[-1]["confidence"] == listed["anxiety"]["confidence"]
    text = cli("patterns", "evolution", "anxiety")
    assert text.exit_code == 0 and "falling" in text.stdout and "rising" not in text.stdout
    months = run_json(cli, "patterns", "evolution", "anxiety", "--by", "month")
    assert [r["period"] for r in months] == [f"2026-{m:02d}" for m in range(1, 7)]
    assert [r["count"] for r in months] == [7, 0, 0, 0, 0, 0]


def test_evolution_of_every_pattern_runs_to_the_newest_reflection(cli, vanished):
    cli("patterns", "analyze")
    every = run_json(cli, "patterns", "evolution")
    assert "anxiety" in every
    assert all(series[-1]["period"] == "2026-W27" for series in every.values())
    assert every["anxiety"][-1]["count"] == 0
    text = cli("patterns", "evolution")
    line = next(ln for ln in text.stdout.splitlines() if ln.startswith("anxiety"))
    assert "falling" in line


# --------------------------------------------------------------------------- item 22: local periods

@pytest.fixture
def new_york(mirror_home, local_tz):
    """Anxious evenings in New York: Sunday 2026-03-01 22:00 (Monday 03:00 UTC) and
    Tuesday 2026-03-31 21:00 (April 1st, 01:00 UTC)."""
    local_tz("America/New_York")
    sunday = datetime(2026, 3, 1, 22, 0).astimezone()  # local time of the process
    march_31 = datetime(2026, 3, 31, 21, 0).astimezone()
    assert sunday.astimezone(timezone.utc).day == 2 and march_31.astimezone(timezone.utc).month == 4
    for at in (sunday, march_31):
        add(mirror_home, ANXIOUS + " " + CONTROL, at)
    return sunday, march_31


def test_evolution_weeks_and_months_are_local(cli, new_york):
    cli("patterns", "analyze")
    weeks = run_json(cli, "patterns", "evolution", "anxiety")
    assert weeks[0] == {"period": "2026-W09", "count": 1, "confidence": weeks[0]["confidence"]}
    assert weeks[-1]["period"] == "2026-W14" and weeks[-1]["count"] == 1
    months = run_json(cli, "patterns", "evolution", "anxiety", "--by", "month")
    assert [(r["period"], r["count"]) for r in months] == [("2026-03", 2)]
    every = run_json(cli, "patterns", "evolution", "--by", "month")
    assert [(r["period"], r["count"]) for r in every["anxiety"]] == [("2026-03", 2)]


# --------------------------------------------------------------------------- item 3: the same, elsewhere

def test_tension_periods_are_local(cli, new_york):
    cli("tensions", "analyze")
    shown = run_json(cli, "tensions", "list")
    name = next(t["name"] for t in shown if t["axis_a"] == "Control")
    months = run_json(cli, "tensions", "show", name)
    assert [(r["period"], r["count"]) for r in months["series"]] == [("2026-03", 2)]
    weeks = run_json(cli, "tensions", "show", name, "--by", "week")
    assert weeks["series"][0]["period"] == "2026-W09"
    text = cli("tensions", "show", name)
    assert "2026-03" in text.stdout and "2026-04" not in text.stdout


def test_tension_periods_run_to_the_newest_reflection(cli, mirror_home, local_tz):
    local_tz("UTC")
    add(mirror_home, CONTROL, datetime(2026, 1, 10, 12, tzinfo=timezone.utc))
    add(mirror_home, CALM, datetime(2026, 4, 10, 12, tzinfo=timezone.utc))
    cli("tensions", "analyze")
    name = next(t["name"] for t in run_json(cli, "tensions", "list") if t["axis_a"] == "Control")
    months = run_json(cli, "tensions", "show", name)["series"]
    assert [(r["period"], r["count"]) for r in months] == [("2026-01", 1), ("2026-02", 0), ("2026-03", 0),
                                                            ("2026-04", 0)]


def test_patterns_list_and_show_give_local_dates(cli, new_york):
    cli("patterns", "analyze")
    listed = cli("patterns", "list")
    row = next(ln for ln in listed.stdout.splitlines() if "anxiety" in ln.split("\t"))
    assert "2026-03-01" in row and "2026-03-31" in row  # not the UTC 2026-03-02 .. 2026-04-01
    assert "2026-03-02" not in row and "2026-04-01" not in row
    shown = cli("patterns", "show", "anxiety")
    assert "2026-03-01 .. 2026-03-31" in shown.stdout
    assert "2026-03-01 22:00" in shown.stdout and "2026-03-31 21:00" in shown.stdout
    assert "2026-03-02T03:00" not in shown.stdout
    # JSON keeps the stored UTC instants (export shape)
    assert run_json(cli, "patterns", "show", "anxiety")["first_seen"].startswith("2026-03-02T03:00")

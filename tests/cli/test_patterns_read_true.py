"""Issue 15, item 14 "Patterns read true", on the command line: evidence newest first,
`patterns evolution --since`, someone else's feelings left out, and caches of the older rules
analysed again once."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from mirror_cli.db.store import Store
from mirror_cli.journal import reflections as journal

START = datetime(2026, 1, 5, 12, tzinfo=timezone.utc)  # a Monday: 2026-W02


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def add(home, text: str, at: datetime) -> str:
    with Store.open(home / "mirror.db") as store:
        return journal.add(store, text, at=at).id


def run_json(cli, *args):
    r = cli(*args, "--json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture
def weeks(mirror_home, utc):
    """Anxiety in weeks 0, 1, 5 and 9 (strong once, in week 1), with calm weeks between."""
    ids = {}
    for week, text in [(0, "I feel anxious."), (1, "So anxious, worried and stressed, panicking."),
                       (2, "A calm walk."), (5, "Anxious again."), (7, "A calm walk."), (9, "Anxious, a little.")]:
        ids[week] = add(mirror_home, text, START + timedelta(weeks=week))
    return ids


def test_evidence_is_listed_newest_first(cli, weeks):
    cli("patterns", "analyze")
    shown = run_json(cli, "patterns", "show", "anxiety")
    order = [o["reflection_id"] for o in shown["occurrences"]]
    assert order == [weeks[9], weeks[5], weeks[1], weeks[0]]  # not strongest first: weeks[1] is the strongest
    stamps = [o["created_at"] for o in shown["occurrences"]]
    assert stamps == sorted(stamps, reverse=True)
    text = cli("patterns", "show", "anxiety").stdout
    positions = [text.index(weeks[w]) for w in (9, 5, 1, 0)]
    assert positions == sorted(positions)


def test_evolution_since_a_date(cli, weeks):
    cli("patterns", "analyze")
    whole = run_json(cli, "patterns", "evolution", "anxiety")
    since = run_json(cli, "patterns", "evolution", "anxiety", "--since", "2026-02-04")  # a Wednesday, W06
    assert since[0]["period"] == "2026-W06"
    assert [r["count"] for r in since] == [0, 1, 0, 0, 0, 1]  # weeks 5 and 9: W07 and W11
    # a period's confidence is the pattern's as it stood then: the same with or without --since
    assert since == [r for r in whole if r["period"] >= "2026-W06"]
    # --since counts from that day on, not from the start of its week
    assert run_json(cli, "patterns", "evolution", "anxiety", "--since", "2026-02-10")[0]["count"] == 0
    every = run_json(cli, "patterns", "evolution", "--since", "2026-02-04")
    assert every["anxiety"] == since and "calm" in every  # the walk of week 7
    assert set(run_json(cli, "patterns", "evolution", "--since", "2026-03-01")) == {"anxiety"}  # no calm since
    months = run_json(cli, "patterns", "evolution", "anxiety", "--by", "month", "--since", "2026-02-01")
    assert [(r["period"], r["count"]) for r in months] == [("2026-02", 1), ("2026-03", 1)]
    plain = cli("patterns", "evolution", "anxiety", "--since", "2026-02-04")
    assert plain.exit_code == 0 and "2026-W05" not in plain.stdout and "2026-W06" in plain.stdout


def test_evolution_since_names_nothing_to_show(cli, weeks):
    cli("patterns", "analyze")
    later = cli("patterns", "evolution", "calm", "--since", "2026-03-01")
    assert later.exit_code == 0 and later.stdout == "" and "since 2026-03-01" in later.stderr
    assert run_json(cli, "patterns", "evolution", "calm", "--since", "2026-03-01") == []
    assert run_json(cli, "patterns", "evolution", "--since", "2027-01-01") == {}


def test_evolution_since_reads_dates_as_the_rest_of_the_cli(cli, weeks):
    cli("patterns", "analyze")
    assert run_json(cli, "patterns", "evolution", "anxiety", "--since", "2026-02-04T09:00") == run_json(
        cli, "patterns", "evolution", "anxiety", "--since", "2026-02-04")
    assert run_json(cli, "patterns", "evolution", "anxiety", "--since", "2026-02") == run_json(
        cli, "patterns", "evolution", "anxiety", "--since", "2026-02-01")  # a bare month: from its first day
    bad = cli("patterns", "evolution", "--since", "the day after never")
    assert bad.exit_code == 2 and "--since" in bad.stderr and bad.stdout == ""


def test_someone_elses_feelings_are_not_the_writers(cli, mirror_home, utc):
    for n, text in enumerate(["My sister is anxious.", "Mom feels lonely.", "He was so angry.",
                              "A movie about a sad man.", "My sister is anxious again, my mom too."]):
        add(mirror_home, text, START + timedelta(days=n))
    cli("patterns", "analyze")
    listed = {(p["pattern_type"], p["name"]) for p in run_json(cli, "patterns", "list")}
    assert ("theme", "family") in listed
    assert not {kind for kind, _name in listed} & {"emotion"}


def test_caches_of_the_older_rules_are_analysed_again_once(cli, weeks, mirror_home):
    assert run_json(cli, "patterns", "analyze")["full"] is True
    assert run_json(cli, "patterns", "analyze")["full"] is False
    with Store.open(mirror_home / "mirror.db") as store:  # as an older mirror left it
        meta = json.loads(store.meta("analysis"))
        del meta["rules"]
        store.set_meta("analysis", json.dumps(meta))
    note = cli("patterns", "list")
    assert note.exit_code == 0 and "run `mirror patterns analyze`" in note.stderr
    again = run_json(cli, "patterns", "analyze")
    assert again["full"] is True and again["analyzed"] == len(weeks)
    assert run_json(cli, "patterns", "analyze")["full"] is False

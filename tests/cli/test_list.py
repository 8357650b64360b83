"""`mirror list` date options (--on a day, month or year; --since/--until of a bare year or month; phrases),
--on-this-day and --starred."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest


def ok(result):
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def reflect(cli, *args) -> str:
    return json.loads(ok(cli("reflect", "--json", *args)).stdout)["id"]


def ids(cli, *args) -> list[str]:
    return [o["id"] for o in json.loads(ok(cli("list", "--json", *args)).stdout)]


@pytest.fixture
def year_of_entries(cli, new_york):
    """Local times in New York, each near a boundary (the UTC date differs from the local one)."""
    at = {"2023-12-31 23:30": None, "2024-01-01 00:10": None, "2024-06-03 21:15": None, "2024-06-30 23:59": None,
          "2024-07-01 00:00": None, "2025-02-01 12:00": None}
    for when in at:
        at[when] = reflect(cli, "--at", when, f"written {when}")
    return at


def test_on_a_day_a_month_a_year(cli, year_of_entries):
    e = year_of_entries
    assert ids(cli, "--on", "2024-06-03") == [e["2024-06-03 21:15"]]
    assert ids(cli, "--on", "2024-06") == [e["2024-06-30 23:59"], e["2024-06-03 21:15"]]
    assert ids(cli, "--on", "2024") == [e[k] for k in ("2024-07-01 00:00", "2024-06-30 23:59", "2024-06-03 21:15",
                                                        "2024-01-01 00:10")]
    assert ids(cli, "--on", "2023-12-31") == [e["2023-12-31 23:30"]]
    assert ids(cli, "--on", "2024-06-03 21:15") == [e["2024-06-03 21:15"]]  # an instant: its whole local day
    assert ids(cli, "--on", "june 3 2024") == [e["2024-06-03 21:15"]]
    assert ids(cli, "--on", "1999") == []


def test_since_a_year_until_a_month(cli, year_of_entries):
    e = year_of_entries
    assert ids(cli, "--since", "2024", "--until", "2024-06") == [e["2024-06-30 23:59"], e["2024-06-03 21:15"],
                                                                e["2024-01-01 00:10"]]
    assert ids(cli, "--since", "2025") == [e["2025-02-01 12:00"]]
    assert ids(cli, "--until", "2023") == [e["2023-12-31 23:30"]]
    assert ids(cli, "--on", "2024", "--since", "2024-06-04") == [e["2024-07-01 00:00"], e["2024-06-30 23:59"]]


def test_phrases(cli):
    today = reflect(cli, "today's")
    yesterday = reflect(cli, "--at", "yesterday at 21:00", "last night")
    old = reflect(cli, "--at", "3 months ago", "a while back")
    assert ids(cli, "--on", "yesterday") == [yesterday]
    assert ids(cli, "--on", "today") == [today]
    assert ids(cli, "--since", "yesterday") == [today, yesterday]
    assert ids(cli, "--until", "yesterday") == [yesterday, old]
    assert ids(cli, "--since", "2 months ago") == [today, yesterday]
    assert ids(cli, "--on", "3 months ago") == [old]
    week = ids(cli, "--on", "last week")
    assert today not in week


def test_on_this_day_in_earlier_years(cli):
    now = datetime.now().astimezone()
    this = reflect(cli, "this year's")
    kept = []
    for years in (1, 3):
        try:
            day = now.date().replace(year=now.year - years)
        except ValueError:  # 29 February
            continue
        kept.append(reflect(cli, "--at", f"{day} 08:00", f"{years} years ago today"))
        reflect(cli, "--at", f"{day - timedelta(days=1)} 23:00", "the day before")
        reflect(cli, "--at", f"{day + timedelta(days=1)} 00:30", "the day after")
    assert ids(cli, "--on-this-day") == kept
    assert this not in ids(cli, "--on-this-day")
    assert ids(cli, "--on-this-day", "--limit", "1") == kept[:1]


def test_on_this_day_of_an_empty_journal(cli):
    reflect(cli, "only today")
    assert ids(cli, "--on-this-day") == []
    assert ok(cli("list", "--on-this-day")).stdout == ""


def test_starred(cli):
    a = reflect(cli, "-s", "-t", "x", "one")
    reflect(cli, "-t", "x", "two")
    c = reflect(cli, "three")
    ok(cli("edit", c, "--star"))
    assert ids(cli, "--starred") == [c, a]
    assert ids(cli, "--starred", "--tag", "x") == [a]


@pytest.mark.parametrize("args", [("--on", "whenever"), ("--on", "2024-13"), ("--since", "2024-00"),
                                  ("--on", "the day before yesterday")])
def test_bad_dates_are_usage_errors(cli, args):
    r = cli("list", *args)
    assert r.exit_code == 2 and r.stdout == "" and args[0] in r.stderr

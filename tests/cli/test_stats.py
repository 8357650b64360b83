"""`mirror stats [--json] [--since D]`: entries, words, local days written, current and longest streak (across
month ends and DST changes), busiest weekday, and the per-day calendar; empty journals; plain and encrypted."""

from __future__ import annotations

import json
from datetime import date

import pytest

from mirror_cli.crypto import manage as keyops
from mirror_cli.db.store import Store
from mirror_cli.journal.stats import Stats
from helpers import cheap


def ok(result):
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def seal(mirror_home, monkeypatch) -> None:
    with Store.open(mirror_home / "mirror.db") as s:
        keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": "lighthouse keeper 42"}, interactive=False, kdf_params=cheap())
    monkeypatch.setenv("MIRROR_PASSPHRASE", "lighthouse keeper 42")


# New York local times; several fall on another UTC date than their local one.
MONTH_END = ["2024-01-30 22:00", "2024-01-31 23:59", "2024-02-01 20:00", "2024-02-02 08:00"]  # 4 days
SPRING = ["2024-03-09 23:30", "2024-03-10 23:30", "2024-03-11 00:30"]  # clocks forward on the 10th: 3 days
FALL = ["2024-11-02 23:00", "2024-11-03 01:30", "2024-11-03 23:30", "2024-11-04 19:00"]  # clocks back: 3 days


@pytest.fixture(params=["plain", "encrypted"])
def journal(request, cli, new_york, mirror_home, monkeypatch):
    for when in MONTH_END + SPRING + FALL:
        ok(cli("reflect", "--at", when, "one two three"))
    if request.param == "encrypted":
        seal(mirror_home, monkeypatch)


def stats(cli, *args) -> dict:
    return json.loads(ok(cli("stats", "--json", *args)).stdout)


def test_counts_and_streaks_in_local_days(cli, journal):
    s = stats(cli)
    assert (s["entries"], s["words"], s["days_written"]) == (11, 33, 10)
    assert (s["longest_streak"], s["longest_streak_start"]) == (4, "2024-01-30")
    assert s["current_streak"] == 0
    assert s["days"]["2024-01-31"] == 1 and s["days"]["2024-11-03"] == 2 and "2024-02-03" not in s["days"]
    assert list(s["days"]) == sorted(s["days"])
    # 2024-01-30 Tue, 01-31 Wed, 02-01 Thu, 02-02 Fri, 03-09 Sat, 03-10 Sun, 03-11 Mon, 11-02 Sat, 11-03 Sun x2, 11-04 Mon
    assert s["weekdays"] == {"Monday": 2, "Tuesday": 1, "Wednesday": 1, "Thursday": 1, "Friday": 1,
                             "Saturday": 2, "Sunday": 3}
    assert s["busiest_weekday"] == "Sunday"
    assert set(s) == {"entries", "words", "days_written", "current_streak", "longest_streak",
                      "longest_streak_start", "busiest_weekday", "weekdays", "days", "since"}


def test_since(cli, journal):
    s = stats(cli, "--since", "2024-03")
    assert (s["entries"], s["days_written"], s["longest_streak"]) == (7, 6, 3)
    assert s["longest_streak_start"] == "2024-11-02"  # the later of two equal runs
    assert s["since"] == "2024-03-01T05:00:00.000Z"  # local midnight, in UTC as all JSON times


def test_calendar_plain_when_piped(cli, journal):
    out = ok(cli("stats", "--since", "2024-01")).stdout
    assert "entries:          11\n" in out and "longest streak:   4 days (from 2024-01-30)\n" in out
    lines = out.splitlines()
    assert "2024-01 " + "." * 29 + "--" in lines
    assert "2024-02 " + "--" + "." * 27 in lines
    assert "2024-03 " + "." * 8 + "---" + "." * 20 in lines
    assert "2024-11 " + "." + "-+-" + "." * 26 in lines
    assert not any("\x1b" in line for line in lines)


def test_current_streak(cli):
    for when in ("today", "yesterday 09:00", "2 days ago", "4 days ago"):
        ok(cli("reflect", "--at", when, "x"))
    assert stats(cli)["current_streak"] == 3
    s = Stats(days={date(2024, 5, 30): 1, date(2024, 5, 31): 2, date(2024, 6, 1): 1}, today=date(2024, 6, 2))
    assert s.current_streak() == 3  # today not yet written: the run up to yesterday still counts
    s.today = date(2024, 6, 3)
    assert s.current_streak() == 0


def test_empty_journal(cli):
    ok(cli("reflect", "--at", "2020-01-01", "old"))
    s = stats(cli, "--since", "2024")
    assert s == {"entries": 0, "words": 0, "days_written": 0, "current_streak": 0, "longest_streak": 0,
                 "longest_streak_start": None, "busiest_weekday": None,
                 "weekdays": dict.fromkeys(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                                            "Sunday"], 0), "days": {}, "since": s["since"]}
    res = ok(cli("stats", "--since", "2024"))
    assert res.stdout == "no reflections match\n"


def test_calendar_blocks_at_a_terminal(cli, journal, monkeypatch):
    from mirror_cli.cli.output import Output

    monkeypatch.setattr(Output, "rich", property(lambda self: True))
    out = ok(cli("stats", "--since", "2024-01")).stdout
    line = next(line for line in out.splitlines() if line.startswith("2024-01 "))
    # The tests run with NO_COLOR: no escape sequence at all, and a glyph per level instead of colours
    # (found living with it for a week: the calendar was dim-styled and all its blocks looked alike).
    assert "\x1b" not in out
    assert line.rstrip() == "2024-01 " + "·" * 29 + "░░"  # one reflection on each of the last two days
    assert "· none  ░ 1  ▒ 2-3  █ 4+" in out


def test_words_are_counted_as_wc_does(cli):
    ok(cli("reflect", "a well-being day,\n東京に行った  — ok"))
    assert stats(cli)["words"] == 6  # a | well-being | day, | 東京に行った | — | ok: runs between white space

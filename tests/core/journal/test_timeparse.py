"""timeparse.parse_when and ids.iso/parse_iso: ISO-8601 (dates, bare months and years), day words,
'N units ago', periods, what people say (a table with a frozen "now"), range limits and doubts."""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirror_cli.errors import UsageError
from mirror_cli.ids import iso, parse_iso
from mirror_cli.journal.timeparse import doubt, parse_when, same_day_earlier_years

UTC = timezone.utc


# Fixed offsets only (zoneinfo keys would make the round trip depend on tzdata).
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
aware = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9000, 1, 1),
                     timezones=offsets).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


@given(aware)
def test_iso_round_trip_through_parse_when(dt):
    assert parse_when(dt.isoformat()).at == dt
    assert parse_when(dt.isoformat(sep=" ")).at == dt
    stamp = iso(dt)
    assert stamp.endswith("Z") and len(stamp) == len("2026-01-01T00:00:00.000Z")
    assert parse_when(stamp).at == dt
    assert parse_iso(stamp) == dt
    assert iso(parse_iso(stamp)) == stamp


@given(st.lists(aware, min_size=2, max_size=5))
def test_iso_strings_sort_like_times(dts):
    assert sorted(dts) == sorted(dts, key=iso)


def test_iso_pads_years_to_four_digits():
    assert iso(datetime(900, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)) == "0900-01-02T03:04:05.006Z"


def test_z_and_offset_mean_the_same_instant():
    a = parse_when("2026-11-20T21:00:00Z").at
    b = parse_when("2026-11-20T22:00:00+01:00").at
    assert a == b == datetime(2026, 11, 20, 21, 0, tzinfo=UTC)


def test_naive_iso_is_local_time(new_york):
    # 21:00 in New York in November is 02:00 UTC the next day.
    assert parse_when("2026-11-20T21:00").at == datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    assert parse_when("2026-11-20 21:00").at == datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def test_dates_without_leading_zeros(new_york):
    assert parse_when("2026-11-2 08:00").at == parse_when("2026-11-02T08:00").at
    assert parse_when("2026-7-4").at == parse_when("2026-07-04").at and parse_when("2026-7-4").whole_day
    assert parse_when("2026-1-05T21:30Z").at == datetime(2026, 1, 5, 21, 30, tzinfo=UTC)


def test_date_only_is_a_whole_local_day(new_york):
    w = parse_when("2026-07-04")
    assert w.whole_day
    assert w.at == datetime(2026, 7, 4, 4, 0, tzinfo=UTC)  # EDT is UTC-4
    assert w.day_end == datetime(2026, 7, 5, 4, 0, tzinfo=UTC)


def test_yesterday_with_time(new_york):
    now = datetime(2026, 11, 21, 10, 30).astimezone()
    w = parse_when("yesterday 21:00", now=now)
    assert not w.whole_day
    assert w.at == datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    assert parse_when("yesterday 9pm", now=now).at == w.at
    assert parse_when("  Yesterday   21:00 ", now=now).at == w.at


def test_day_words_and_relative(new_york):
    now = datetime(2026, 11, 21, 10, 30).astimezone()
    assert parse_when("today", now=now).whole_day
    assert parse_when("today", now=now).at == datetime(2026, 11, 21, 5, 0, tzinfo=UTC)
    assert parse_when("tomorrow 7am", now=now).at == datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert parse_when("now", now=now).at == now.astimezone(UTC)
    assert parse_when("3 days ago", now=now).at == (now - timedelta(days=3)).astimezone(UTC)
    assert parse_when("2 hours ago", now=now).at == (now - timedelta(hours=2)).astimezone(UTC)
    assert parse_when("1 week ago", now=now).at == (now - timedelta(weeks=1)).astimezone(UTC)
    assert parse_when("21:00", now=now).at == datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def test_default_now_is_the_real_clock():
    before = datetime.now(UTC)
    got = parse_when("yesterday 21:00").at
    expected_day = (datetime.now().astimezone() - timedelta(days=1)).date()
    assert got.astimezone().date() == expected_day
    assert got < before


@pytest.mark.parametrize("text", ["", "   ", "someday", "yesterday at midnightish", "25:00", "yesterday 24:00",
                                  "13pm", "2026-13-01", "2026-02-30", "2026-2-30", "2026-1-123", "7", "3 fortnights ago",
                                  "0001-01-01T00:00+05:00", "99999999 days ago", "9999-12-31", "2026-13", "2026-0",
                                  "the day before yesterday", "june 31", "feb 30", "blah june 3", "june 3 blah",
                                  "yesterday at 25:00"])
def test_unreadable_or_out_of_range_is_a_usage_error(text):
    with pytest.raises(UsageError) as err:
        parse_when(text, option="--at")
    assert err.value.exit_code == 2
    assert "--at" in err.value.message


@pytest.mark.parametrize("text", ["1969-12-31", "9999-12-31", "0001-01-01", "1900-01-01 12:00"])
def test_a_filter_takes_dates_a_reflection_cannot_have(text):
    """--since/--until only bound what is shown: no 1970-9998 range there."""
    for option in ("--since", "--until"):
        when = parse_when(text, option=option)
        assert when.at.tzinfo is not None and when.day_end >= when.at


def test_result_is_always_aware_utc():
    for text in ("2026-01-01", "2026-01-01T10:00", "yesterday 21:00", "now", "5 minutes ago"):
        at = parse_when(text).at
        assert at.tzinfo is not None and at.utcoffset() == timedelta(0)


def test_today_is_today():
    assert parse_when("today").at.astimezone().date() == date.today()


@settings(max_examples=50)
@given(st.integers(min_value=0, max_value=23), st.integers(min_value=0, max_value=59))
def test_clock_times_round_trip(hour, minute):
    now = datetime(2026, 3, 10, 12, 0).astimezone()
    got = parse_when(f"{hour:02d}:{minute:02d}", now=now).at.astimezone()
    assert (got.hour, got.minute) == (hour, minute)


# -- bare years and months, periods, what people say (parsedatetime), doubts -----------------------

# Local times with an hour from 4 on: New York's clock changes (at 2:00) make 2:30 one day a year a
# time that does not exist, and 1:30 one that exists twice; neither round-trips, by nature.
local_times = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9000, 1, 1)).filter(
    lambda d: d.hour >= 4).map(lambda d: d.replace(second=0, microsecond=0))
fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def _local(when_at):
    return when_at.astimezone().replace(tzinfo=None)


@fixture_ok
@given(local_times)
def test_iso_local_times_round_trip(new_york, dt):
    for text in (dt.strftime("%Y-%m-%d %H:%M"), dt.strftime("%Y-%m-%dT%H:%M"), f"{dt.year}-{dt.month}-{dt.day} {dt:%H:%M}"):
        w = parse_when(text)
        assert not w.whole_day and _local(w.at) == dt and w.at.utcoffset() == timedelta(0)


@fixture_ok
@given(local_times)
def test_iso_dates_months_and_years_are_whole_local_periods(new_york, dt):
    d = dt.date()
    day, month, year = parse_when(d.isoformat()), parse_when(f"{d:%Y-%m}"), parse_when(f"{d:%Y}")
    assert (_local(day.at), _local(day.end)) == (datetime(d.year, d.month, d.day),
                                                 datetime(d.year, d.month, d.day) + timedelta(days=1))
    assert _local(month.at) == datetime(d.year, d.month, 1) and _local(month.end).day == 1
    assert _local(year.at) == datetime(d.year, 1, 1) and _local(year.end) == datetime(d.year + 1, 1, 1)
    stamp = dt.astimezone(UTC)  # any time of that day lies in each of its periods
    for w in (day, month, year):
        assert w.at <= stamp < w.end and w.day_end == w.end and w.period() == (w.at, w.end)
    assert _local(parse_when(f"{d:%Y-%m}", option="--until").day_end) == \
        (datetime(d.year + 1, 1, 1) if d.month == 12 else datetime(d.year, d.month + 1, 1))


# Saturday 21 November 2026, 10:30 in New York: (phrase, local start, local end or None for an instant).
PHRASES = [
    ("2024", "2024-01-01 00:00", "2025-01-01 00:00"),
    ("2024-06", "2024-06-01 00:00", "2024-07-01 00:00"),
    ("2024-06-03", "2024-06-03 00:00", "2024-06-04 00:00"),
    ("2024-06-03 21:15", "2024-06-03 21:15", None),
    ("today", "2026-11-21 00:00", "2026-11-22 00:00"),
    ("yesterday", "2026-11-20 00:00", "2026-11-21 00:00"),
    ("yesterday 21:00", "2026-11-20 21:00", None),
    ("yesterday at 21:00", "2026-11-20 21:00", None),
    ("Yesterday at 9pm", "2026-11-20 21:00", None),
    ("yesterday at noon", "2026-11-20 12:00", None),
    ("yesterday evening", "2026-11-20 18:00", None),
    ("3 days ago", "2026-11-18 10:30", None),
    ("2 weeks ago", "2026-11-07 10:30", None),
    ("2 months ago", "2026-09-21 10:30", None),
    ("1 year ago", "2025-11-21 10:30", None),
    ("two days ago", "2026-11-19 10:30", None),
    ("last week", "2026-11-09 00:00", "2026-11-16 00:00"),
    ("this week", "2026-11-16 00:00", "2026-11-23 00:00"),
    ("last month", "2026-10-01 00:00", "2026-11-01 00:00"),
    ("this month", "2026-11-01 00:00", "2026-12-01 00:00"),
    ("last year", "2025-01-01 00:00", "2026-01-01 00:00"),
    ("last monday", "2026-11-16 00:00", "2026-11-17 00:00"),
    ("monday", "2026-11-16 00:00", "2026-11-17 00:00"),
    ("saturday", "2026-11-21 00:00", "2026-11-22 00:00"),
    ("last friday 9pm", "2026-11-20 21:00", None),
    ("june 3", "2026-06-03 00:00", "2026-06-04 00:00"),
    ("June 3rd", "2026-06-03 00:00", "2026-06-04 00:00"),
    ("3 june", "2026-06-03 00:00", "2026-06-04 00:00"),
    ("dec 25", "2025-12-25 00:00", "2025-12-26 00:00"),  # not the one still to come
    ("june 3 2024", "2024-06-03 00:00", "2024-06-04 00:00"),
    ("june 3, 2024 at 9pm", "2024-06-03 21:00", None),
    ("june", "2026-06-01 00:00", "2026-07-01 00:00"),
    ("noon", "2026-11-21 12:00", None),
    ("21:00", "2026-11-21 21:00", None),
]


@pytest.mark.parametrize(("text", "start", "end"), PHRASES)
def test_phrases_people_type(new_york, text, start, end):
    now = datetime(2026, 11, 21, 10, 30).astimezone()
    for option in ("--at", "--since", "--on"):
        w = parse_when(text, option=option, now=now)
        assert w.at.utcoffset() == timedelta(0)
        assert f"{w.at.astimezone():%Y-%m-%d %H:%M}" == start
        assert (None if w.end is None else f"{w.end.astimezone():%Y-%m-%d %H:%M}") == end


def test_on_takes_the_local_day_of_an_instant(new_york):
    now = datetime(2026, 11, 21, 10, 30).astimezone()
    lo, hi = parse_when("yesterday 21:00", option="--on", now=now).period()
    assert (_local(lo), _local(hi)) == (datetime(2026, 11, 20), datetime(2026, 11, 21))


def test_a_dst_day_has_23_hours(new_york):
    w = parse_when("2026-03-08")  # clocks go forward in New York
    assert w.end - w.at == timedelta(hours=23)
    assert parse_when("2026-11").end - parse_when("2026-11").at == timedelta(days=30, hours=1)


def test_the_common_forms_do_not_need_the_parser(monkeypatch):
    """parsedatetime (~20 ms) is imported only for a phrase the fast paths do not read."""
    monkeypatch.setitem(sys.modules, "parsedatetime", None)  # importing it now raises ImportError
    for text in ("2024", "2024-06", "2024-06-03", "2024-06-03 21:15", "yesterday 21:00", "yesterday at 9pm",
                 "3 days ago", "last week", "this month", "today", "21:00", "now", "2026-01-02T03:04Z"):
        parse_when(text)
    with pytest.raises(ImportError):
        parse_when("last monday")


def test_doubt_is_for_the_future_and_before_1970():
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert doubt(parse_when("2026-11-21T11:00Z"), now) is None
    assert doubt(parse_when("2026-11-21T12:00:30Z"), now) is None  # a clock a little ahead is no future
    assert doubt(parse_when("2026-11-22T12:00Z"), now) == "is in the future"
    assert doubt(parse_when("1969-12-31T23:59Z"), now) == "is before 1970"
    assert doubt(parse_when("1970-01-01T00:00Z"), now) is None
    assert parse_when("1969-12-31", option="--at").whole_day  # kept, not refused: import keeps such times too


def test_same_day_in_earlier_years(new_york):
    now = datetime(2026, 11, 21, 10, 30).astimezone()
    days = same_day_earlier_years(2023, now)
    assert [(_local(lo), _local(hi)) for lo, hi in days] == [
        (datetime(y, 11, 21), datetime(y, 11, 22)) for y in (2025, 2024, 2023)]
    assert same_day_earlier_years(2026, now) == []
    leap = same_day_earlier_years(2019, datetime(2024, 2, 29, 12).astimezone())
    assert [_local(lo).year for lo, _ in leap] == [2020]

"""timeparse.parse_when and ids.iso/parse_iso: ISO-8601, day words, 'N units ago', range limits."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirror_cli.errors import UsageError
from mirror_cli.ids import iso, parse_iso
from mirror_cli.journal.timeparse import parse_when

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


@pytest.mark.parametrize("text", ["", "   ", "someday", "yesterday at noon", "25:00", "yesterday 24:00",
                                  "13pm", "2026-13-01", "2026-02-30", "2026-2-30", "2026-1-123", "7", "3 fortnights ago",
                                  "0001-01-01T00:00+05:00", "99999999 days ago", "1969-12-31",
                                  "9999-12-31"])
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

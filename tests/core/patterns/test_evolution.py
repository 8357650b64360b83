"""Counts per period, trend and sparkline."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirror_cli.errors import UsageError
from mirror_cli.patterns.evolution import evolution, period_label, sparkline, trend


def _d(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=timezone.utc)


def test_weeks_across_the_year_boundary():
    dates = [_d("2026-01-13T09:00"), _d("2025-12-24T10:00"), _d("2025-12-29T00:00"),
             _d("2026-01-01T23:59"), _d("2026-01-04T12:00")]
    assert evolution(dates, by="week") == [
        {"period": "2025-W52", "count": 1},
        {"period": "2026-W01", "count": 3},  # Mon 29 Dec 2025 .. Sun 4 Jan 2026
        {"period": "2026-W02", "count": 0},
        {"period": "2026-W03", "count": 1}]


def test_iso_week_53():
    assert period_label(date(2020, 12, 31)) == "2020-W53"
    assert period_label(date(2021, 1, 3)) == "2020-W53"
    assert period_label(date(2021, 1, 4)) == "2021-W01"
    rows = evolution([_d("2020-12-21T00:00"), _d("2021-01-04T00:00")])
    assert [r["period"] for r in rows] == ["2020-W52", "2020-W53", "2021-W01"]
    assert [r["count"] for r in rows] == [1, 0, 1]


def test_months_across_month_and_year_boundaries():
    dates = [_d("2025-11-30T23:59"), _d("2025-12-01T00:00"), _d("2025-12-31T12:00"),
             _d("2026-02-01T00:00")]
    assert evolution(dates, by="month") == [
        {"period": "2025-11", "count": 1}, {"period": "2025-12", "count": 2},
        {"period": "2026-01", "count": 0}, {"period": "2026-02", "count": 1}]


def test_aware_datetimes_count_in_utc_or_the_given_zone():
    plus2 = timezone(timedelta(hours=2))
    local_new_year = datetime(2026, 1, 1, 0, 30, tzinfo=plus2)  # 2025-12-31 22:30 UTC
    assert evolution([local_new_year], by="month") == [{"period": "2025-12", "count": 1}]
    assert evolution([local_new_year], by="month", tz=plus2) == [{"period": "2026-01", "count": 1}]
    assert evolution([datetime(2026, 1, 1, 0, 30)], by="month") == [{"period": "2026-01", "count": 1}]


def test_empty_and_bad_period():
    assert evolution([]) == []
    with pytest.raises(UsageError):
        evolution([_d("2026-01-01T00:00")], by="year")


def test_cumulative_confidence_per_period():
    dates = [_d("2026-01-01T00:00"), _d("2026-03-01T00:00")]
    rows = evolution(dates, by="month", confidences=[1.0, 1.0])
    assert [r["confidence"] for r in rows] == [round(1 / 3, 4), round(1 / 3, 4), 0.5]
    with pytest.raises(UsageError):
        evolution(dates, confidences=[1.0])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.datetimes(min_value=datetime(2019, 1, 1), max_value=datetime(2027, 1, 1)),
                min_size=1, max_size=50), st.sampled_from(["week", "month"]))
def test_counts_add_up_and_periods_are_contiguous(dates, by):
    rows = evolution(dates, by=by)
    assert sum(r["count"] for r in rows) == len(dates)
    labels = [r["period"] for r in rows]
    assert len(set(labels)) == len(labels)
    assert labels[0] == period_label(min(dates).date(), by)
    assert labels[-1] == period_label(max(dates).date(), by)
    if by == "month":
        first, last = min(dates), max(dates)
        assert len(rows) == (last.year - first.year) * 12 + last.month - first.month + 1
    else:
        monday = lambda d: d.date() - timedelta(days=d.weekday())  # noqa: E731
        assert len(rows) == (monday(max(dates)) - monday(min(dates))).days // 7 + 1


@pytest.mark.parametrize("counts, expected", [
    ([1, 2, 3, 4, 5], "rising"),
    ([0, 0, 1, 2, 4, 6], "rising"),
    ([5, 4, 3, 2, 1], "falling"),
    ([6, 3, 1, 0, 0], "falling"),
    ([3, 3, 3, 3], "steady"),
    ([2, 3, 2, 3, 2, 3, 2], "steady"),
    ([10, 10, 11, 10, 10, 11], "steady"),
    ([0, 0, 0], "steady"),
    ([4], "steady"),
    ([], "steady"),
])
def test_trend(counts, expected):
    assert trend(counts) == expected


def test_sparkline():
    assert sparkline([]) == ""
    assert sparkline([0, 0]) == "▁▁"
    line = sparkline([0, 1, 2, 3, 4, 5, 6, 7])
    assert len(line) == 8 and line[0] == "▁" and line[-1] == "█"
    assert list(line) == sorted(line)
    assert set(sparkline([3, 3, 3])) == {"█"}
    assert sparkline([0, 1])[1] == "█" and sparkline([0, 1])[0] == "▁"

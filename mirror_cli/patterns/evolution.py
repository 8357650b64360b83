"""How often something shows up over time: counts per period, trend, sparkline.

* :func:`evolution` counts dates per ISO week ("2026-W03": ISO 8601 weeks start on
  Monday and week 1 holds the year's first Thursday, so 2025-12-29 is "2026-W01")
  or per month ("2026-01"), oldest first, every period between the first and the
  last included (empty ones as 0), or up to ``until``. Aware datetimes are converted
  to local time (the process' ``TZ``, as ``list --since`` reads dates) or to ``tz``
  when given; naive ones are taken as they are.
* :func:`local_day` turns a stored UTC time into the local date it fell on, so a
  Sunday 22:00 in New York counts in its own week; :func:`local_dates` does the same for
  many times at once, and :func:`zone` names the local time zone (caches kept in local
  days remember it).
* :func:`trend` fits a least-squares line through the counts and compares the
  change it predicts over the whole span (slope x (periods - 1)) with the mean
  count: more than +25 % of the mean is "rising", less than -25 % "falling",
  anything else (and fewer than two periods, or no counts at all) "steady".
* :func:`sparkline` draws counts as one line of block characters.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone, tzinfo

from mirror_cli.errors import UsageError
from mirror_cli.patterns.confidence import SCALE, confidence_of_units

__all__ = ["evolution", "local_day", "local_dates", "zone", "period_label", "period_start", "next_period",
           "check_period", "trend", "sparkline", "TREND_THRESHOLD", "PERIODS"]

PERIODS = ("week", "month")
TREND_THRESHOLD = 0.25
_BARS = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"  # ▁▂▃▄▅▆▇█


def _day(dt: datetime | date, tz: tzinfo | None) -> date:
    if isinstance(dt, datetime):
        if dt.tzinfo is not None:
            dt = dt.astimezone(tz)  # tz None: the local time zone
        return dt.date()
    return dt


def zone() -> str:
    """The process' local time zone as the C library reads it (``TZ``, names, offsets): caches
    kept in local days are good for the zone they were made in."""
    return f"{os.environ.get('TZ', '')}|{'/'.join(time.tzname)}|{time.timezone}|{time.altzone}"


def local_day(stamp: str) -> date:
    """The local date of a stored UTC time: ``2026-03-02T03:00:00.000Z`` (or ``2026-03-02T03:00``)
    is 2026-03-01 in New York. A bare ``YYYY-MM-DD`` is a day already and is taken as it is."""
    if len(stamp) <= 10:
        return date.fromisoformat(stamp)
    text = stamp[:19] if len(stamp) >= 19 else stamp[:16]
    try:
        return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).astimezone().date()
    except (OverflowError, ValueError):  # year 1 or 9999: the offset would leave datetime's range
        return date.fromisoformat(stamp[:10])


def local_dates() -> Callable[[str], date]:
    """:func:`local_day` for many stored times: each UTC day's offset is looked up once, and a
    time's local date is then its UTC minute plus that offset (a day with a clock change in it
    asks :func:`local_day` for each of its times)."""
    offsets: dict[str, tuple[date, int | None]] = {}

    def day_of(key: str) -> date:
        if len(key) <= 10:
            return date.fromisoformat(key)
        entry = offsets.get(key[:10])
        if entry is None:
            entry = offsets[key[:10]] = _utc_day_offset(key[:10])
        day, offset = entry
        if offset is None:
            return local_day(key)
        minute = int(key[11:13]) * 60 + int(key[14:16]) + offset
        return day if 0 <= minute < 1440 else day + timedelta(days=minute // 1440)

    return day_of


def _utc_day_offset(utc_day: str) -> tuple[date, int | None]:
    """The UTC day and the local offset in minutes all through it (None: it changes that day)."""
    day = date.fromisoformat(utc_day)
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    try:
        first = start.astimezone().utcoffset()
        last = (start + timedelta(hours=23, minutes=59)).astimezone().utcoffset()
    except (OverflowError, ValueError):
        return day, None
    if first is None or first != last or first % timedelta(minutes=1):
        return day, None
    return day, first // timedelta(minutes=1)


def check_period(by: str) -> None:
    if by not in PERIODS:
        raise UsageError(f"Unknown period {by!r}. Use one of: week, month.")


def period_label(day: date, by: str = "week") -> str:
    check_period(by)
    if by == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


def period_start(day: date, by: str) -> date:
    if by == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_period(start: date, by: str) -> date:
    if by == "week":
        return start + timedelta(days=7)
    return date(start.year + (start.month == 12), start.month % 12 + 1, 1)


def evolution(dates: Sequence[datetime | date], by: str = "week",
              confidences: Sequence[float] | None = None,
              tz: tzinfo | None = None, until: datetime | date | None = None,
              reflections: Sequence[datetime | date] | None = None) -> list[dict]:
    """``[{"period", "count"}]`` oldest first, empty periods filled with 0, up to the
    last date's period or ``until``'s, whichever is later.

    With ``confidences`` (one per date: that occurrence's confidence) each period
    also gets ``"confidence"``: the pattern's confidence (:mod:`.confidence`) counting every
    occurrence up to the end of that period among the ``reflections`` (the dates of every
    reflection of the journal) written up to then, i.e. how it grew over time. Without
    ``reflections`` only the amount of evidence counts.
    """
    check_period(by)
    if confidences is not None and len(confidences) != len(dates):
        raise UsageError("evolution() needs one confidence per date.")
    if not dates:
        return []
    days = [_day(d, tz) for d in dates]
    starts = [period_start(d, by) for d in days]
    counts = Counter(starts)
    mass: Counter = Counter()
    if confidences is not None:
        for start, c in zip(starts, confidences):
            mass[start] += int(round(c * SCALE))
    out = []
    current, last = min(starts), max(starts)
    if until is not None:
        last = max(last, period_start(_day(until, tz), by))
    written = Counter(period_start(_day(d, tz), by) for d in reflections) if reflections is not None else None
    running = among = 0
    for start in sorted(written or ()):
        if start < current:
            among += written[start]
    while current <= last:
        row = {"period": period_label(current, by), "count": counts.get(current, 0)}
        if confidences is not None:
            running += mass.get(current, 0)
            among += written.get(current, 0) if written is not None else 0
            row["confidence"] = confidence_of_units(running, among if written is not None else running / SCALE)
        out.append(row)
        current = next_period(current, by)
    return out


def trend(counts: Sequence[float], threshold: float = TREND_THRESHOLD) -> str:
    """"rising", "falling" or "steady" (see the module docstring)."""
    n = len(counts)
    if n < 2:
        return "steady"
    mean = sum(counts) / n
    if mean <= 0:
        return "steady"
    x_mean = (n - 1) / 2
    sxx = sum((x - x_mean) ** 2 for x in range(n))
    sxy = sum((x - x_mean) * (y - mean) for x, y in enumerate(counts))
    change = sxy / sxx * (n - 1) / mean
    if change > threshold:
        return "rising"
    if change < -threshold:
        return "falling"
    return "steady"


def sparkline(counts: Sequence[float]) -> str:
    """▁ for zero, ▂..█ for 1..max (linear, so bar heights compare across periods)."""
    if not counts:
        return ""
    low = min(counts)
    values = [c - low for c in counts] if low < 0 else list(counts)
    top = max(values)
    if top <= 0:
        return _BARS[0] * len(values)
    return "".join(_BARS[0] if v <= 0 else _BARS[1 + int(round(v / top * 6))] for v in values)

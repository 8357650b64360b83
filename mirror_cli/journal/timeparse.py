"""Human times for ``--at``, ``--since`` and ``--until``.

Accepted: ISO-8601 dates and times (``2026-11-20``, ``2026-11-20T21:00``,
``2026-11-20 21:00:05+01:00``, ``...Z``; without an offset they are local
time), ``now``, ``today``, ``yesterday``, ``tomorrow``, any of those three
followed by a time (``yesterday 21:00``, ``today 9pm``), a bare time
(``21:00``, today), and ``N minutes|hours|days|weeks ago``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from mirror_cli.errors import UsageError

_TIME = re.compile(r"^(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*(am|pm)?$", re.I)
_AGO = re.compile(r"^(\d+)\s*(minute|min|hour|hr|day|week)s?\s+ago$", re.I)
_DAYWORDS = {"today": 0, "yesterday": -1, "tomorrow": 1}


@dataclass(frozen=True)
class When:
    """A parsed time. ``whole_day`` is true when only a date was given."""

    at: datetime  # aware, UTC
    whole_day: bool = False

    @property
    def day_end(self) -> datetime:
        if not self.whole_day:
            return self.at
        try:
            return self.at + timedelta(days=1)
        except OverflowError:  # --until 9999-12-31
            return datetime.max.replace(tzinfo=timezone.utc)


def _local_now() -> datetime:
    return datetime.now().astimezone()


def _parse_clock(text: str) -> time | None:
    m = _TIME.match(text.strip())
    if not m:
        return None
    hour, minute, second = int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)
    ampm = (m.group(4) or "").lower()
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    elif m.group(2) is None:
        return None  # a bare number is not a time
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second)


# Ids sort by time from the epoch on, and a whole day must still fit after the result.
_EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LATEST = datetime(9999, 1, 1, tzinfo=timezone.utc)


_FILTERS = ("--since", "--until")


def parse_when(value: str, *, option: str = "--at", now: datetime | None = None) -> When:
    """A time a person wrote. For ``--at`` (a reflection's time) it must lie in 1970-9998; a filter
    (``--since``/``--until``) only bounds what is shown, so any date is fine there."""
    try:
        when = _parse_when(value, option=option, now=now)
    except OverflowError:
        raise _bad(value, option) from None
    if option not in _FILTERS and not _EARLIEST <= when.at < _LATEST:
        raise UsageError(f"{option}: {value!r} is out of range.", "Give a time between 1970 and 9998.")
    return when


def _parse_when(value: str, *, option: str, now: datetime | None) -> When:
    text = " ".join(value.strip().split())
    low = text.lower()
    now = (now or _local_now()).astimezone()
    if not text:
        raise UsageError(f"{option} needs a date or time.")
    if low == "now":
        return When(now.astimezone(timezone.utc))
    m = _AGO.match(low)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        delta = {"minute": timedelta(minutes=n), "min": timedelta(minutes=n), "hour": timedelta(hours=n),
                 "hr": timedelta(hours=n), "day": timedelta(days=n), "week": timedelta(weeks=n)}[unit]
        return When((now - delta).astimezone(timezone.utc))
    first, _, rest = low.partition(" ")
    if first in _DAYWORDS:
        day = (now + timedelta(days=_DAYWORDS[first])).date()
        if not rest:
            start = datetime.combine(day, time(0), tzinfo=now.tzinfo)
            return When(_localize(start).astimezone(timezone.utc), whole_day=True)
        clock = _parse_clock(rest)
        if clock is None:
            raise _bad(value, option)
        return When(_localize(datetime.combine(day, clock)).astimezone(timezone.utc))
    clock = _parse_clock(low)
    if clock is not None:
        return When(_localize(datetime.combine(now.date(), clock)).astimezone(timezone.utc))
    # 2026-3-7 (as people write it) is 2026-03-07; a date and a clock may be parted by a space
    text = re.sub(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?=$|[ Tt])",
                  lambda m: f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}", text)
    iso_text = text.replace(" ", "T", 1) if re.match(r"^\d{4}-\d{2}-\d{2} \d", text) else text
    if iso_text.endswith(("Z", "z")):
        iso_text = iso_text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(iso_text)
    except ValueError:
        raise _bad(value, option) from None
    whole_day = bool(re.match(r"^\d{4}-\d{2}-\d{2}$", text))
    if dt.tzinfo is None:
        dt = _localize(dt)
    return When(dt.astimezone(timezone.utc), whole_day=whole_day)


def _localize(naive: datetime) -> datetime:
    # astimezone() on a naive datetime interprets it as local time (honours TZ).
    try:
        return naive.replace(tzinfo=None).astimezone()
    except (OverflowError, ValueError):  # year 1 or 9999: the offset would leave datetime's range
        return naive.replace(tzinfo=timezone.utc)


def _bad(value: str, option: str) -> UsageError:
    return UsageError(
        f"{option}: cannot read {value!r} as a time.",
        "Use ISO-8601 (2026-11-20 or 2026-11-20T21:00), 'yesterday 21:00', or '3 days ago'.",
    )

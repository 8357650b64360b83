"""Human times for ``--at``, ``--since``, ``--until`` and ``--on``, read as local time, returned as UTC.

Read here, without any parser (the common forms stay cheap on the start-up path): ISO-8601 dates and
times (``2026-11-20``, ``2026-11-20T21:00``, ``2026-11-20 21:00:05+01:00``, ``...Z``; without an
offset they are local time), a bare year or month (``2024``, ``2024-06``: the whole period), ``now``,
``today``, ``yesterday``, ``tomorrow``, any of those three followed by a time (``yesterday 21:00``,
``yesterday at 9pm``), a bare time (``21:00``, today), ``N minutes|hours|days|weeks ago``, and
``last|this week|month|year`` (the calendar week from Monday, month or year).

Everything else people say (``last monday``, ``june 3``, ``2 months ago``, ``yesterday at noon``,
``june 3 2024 at 9pm``) goes to parsedatetime, the parser jrnl uses, imported only then. A date
without a year (``june 3``) is the latest one not in the future, and a weekday (``monday``) the
latest one up to today: a journal looks back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from mirror_cli.errors import UsageError

_TIME = re.compile(r"^(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*(am|pm)?$", re.I)
_CLOCKISH = re.compile(r"^[\d:.\s]+(am|pm)?$", re.I)  # shaped like a time: never guessed at by the parser
_ISOISH = re.compile(r"^[+-]?\d{4,}(-|$)")  # shaped like an ISO date: ISO or nothing
_YEAR_MONTH = re.compile(r"^(\d{4})(?:-(\d{1,2}))?$")
_AGO = re.compile(r"^(\d+)\s*(minute|min|hour|hr|day|week)s?\s+ago$", re.I)
_PERIOD = re.compile(r"^(last|this)\s+(week|month|year)$", re.I)
_DAYWORDS = {"today": 0, "yesterday": -1, "tomorrow": 1}

# Ids sort by time from the epoch on: a reflection before it is possible (import keeps such times) but
# worth a second look, as one in the future is. A whole day must still fit after the latest time.
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LATEST = datetime(9999, 1, 1, tzinfo=timezone.utc)
_FOREVER = datetime.max.replace(tzinfo=timezone.utc)
_FILTERS = ("--since", "--until", "--on")


@dataclass(frozen=True)
class When:
    """A parsed time: an instant, or (``end`` set) a whole local day, week, month or year from ``at``."""

    at: datetime  # aware, UTC; the start of the period when one was named
    end: datetime | None = None  # aware, UTC, exclusive: set when a period (no clock time) was named

    @property
    def whole_day(self) -> bool:
        """True when a date or a longer period was given rather than a time."""
        return self.end is not None

    @property
    def day_end(self) -> datetime:
        """The end of the period named (``--until 2024-06`` takes all of June), else the instant itself."""
        return self.end if self.end is not None else self.at

    def period(self) -> tuple[datetime, datetime]:
        """[start, end) for ``--on``: the period named, or the whole local day of an instant."""
        if self.end is not None:
            return self.at, self.end
        return _span(self.at.astimezone().date(), "day")


def parse_when(value: str, *, option: str = "--at", now: datetime | None = None) -> When:
    """A time a person wrote. For ``--at`` (a reflection's time) it must be one a reflection can hold
    (before 9999); a filter (``--since``/``--until``/``--on``) only bounds what is shown, so any
    date is fine there. Before 1970 or in the future is not refused here: see :func:`doubt`."""
    try:
        when = _parse_when(value, option=option, now=now)
    except OverflowError:
        raise _bad(value, option) from None
    if option not in _FILTERS and when.at >= _LATEST:
        raise UsageError(f"{option}: {value!r} is out of range.", "Give a time before 9999.")
    return when


def doubt(when: When, now: datetime | None = None) -> str | None:
    """Why a reflection's time deserves a second look (a typo in the year, a wrong day word), or None."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    if when.at > now + timedelta(minutes=1):
        return "is in the future"
    if when.at < EPOCH:
        return "is before 1970"
    return None


def same_day_earlier_years(first_year: int, now: datetime | None = None) -> list[tuple[datetime, datetime]]:
    """"On this day": [start, end) of today's local date in each year from *first_year* to last year,
    newest first (a 29 February only in leap years)."""
    today = (now or datetime.now()).astimezone().date()
    out = []
    for year in range(today.year - 1, max(first_year, 1) - 1, -1):
        try:
            day = today.replace(year=year)
        except ValueError:  # 29 February
            continue
        out.append(_span(day, "day"))
    return out


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
    m = _PERIOD.match(low)
    if m:
        return _period(now.date(), m.group(2), back=m.group(1) == "last")
    first, _, rest = low.partition(" ")
    if first in _DAYWORDS:
        day = (now + timedelta(days=_DAYWORDS[first])).date()
        if not rest:
            return _whole(day, "day")
        rest = rest.removeprefix("at ")
        clock = _parse_clock(rest)
        if clock is not None:
            return When(_localize(datetime.combine(day, clock)).astimezone(timezone.utc))
        if _CLOCKISH.match(rest):
            raise _bad(value, option)
        return _natural(text, now, value, option)  # yesterday noon, yesterday evening
    clock = _parse_clock(low)
    if clock is not None:
        return When(_localize(datetime.combine(now.date(), clock)).astimezone(timezone.utc))
    if _ISOISH.match(text):
        return _iso(text, value, option)
    if _CLOCKISH.match(low):
        raise _bad(value, option)
    return _natural(text, now, value, option)


def _iso(text: str, value: str, option: str) -> When:
    m = _YEAR_MONTH.match(text)
    if m:
        year, month = int(m.group(1)), m.group(2)
        if month is None:
            return _whole(date(year, 1, 1), "year")
        if not 1 <= int(month) <= 12:
            raise _bad(value, option)
        return _whole(date(year, int(month), 1), "month")
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
    if re.match(r"^\d{4}-\d{2}-\d{2}$", text):
        return _whole(dt.date(), "day")
    if dt.tzinfo is None:
        dt = _localize(dt)
    return When(dt.astimezone(timezone.utc))


def _natural(text: str, now: datetime, value: str, option: str) -> When:
    """What people say, read by parsedatetime; the whole text must be one phrase it understood."""
    import parsedatetime  # third-party, ~20 ms: only when a phrase the fast paths above do not read is given

    cal = parsedatetime.Calendar(version=parsedatetime.VERSION_CONTEXT_STYLE)
    if not re.search(r"\b(last|next|this)\b", text, re.I):  # "last monday" is read right as it is
        cal.ptc.DOWParseStyle, cal.ptc.CurrentDOWParseStyle = -1, True  # "monday": the latest, today included
    local_now = now.replace(tzinfo=None)
    found = cal.nlp(text, sourceTime=local_now) or ()
    if len(found) != 1:
        raise _bad(value, option)
    dt, ctx, start, end, _ = found[0]
    if (text[:start] + text[end:]).strip(" ,") or not ctx.hasDateOrTime:
        raise _bad(value, option)  # "the day before yesterday": only a part of it was understood
    acc = ctx.accuracy
    if acc & ctx.ACU_MONTH and acc & ctx.ACU_DAY and not acc & ctx.ACU_YEAR and dt > local_now:
        dt = _year_before(dt)  # "june 3" in November: this year's, not next year's
    if ctx.hasTime or re.search(r"\bago\b", text, re.I):
        return When(_localize(dt).astimezone(timezone.utc))  # "2 months ago" keeps the clock, as "3 days ago"
    if acc & ctx.ACU_MONTH and not acc & (ctx.ACU_DAY | ctx.ACU_WEEK):
        if dt > local_now:  # "june" in March: last year's June
            dt = _year_before(dt)
        return _whole(dt.date().replace(day=1), "month")
    return _whole(dt.date(), "day")


def _year_before(dt: datetime) -> datetime:
    try:
        return dt.replace(year=dt.year - 1)
    except ValueError:  # 29 February
        return dt.replace(year=dt.year - 1, day=28)


def _period(today: date, unit: str, *, back: bool) -> When:
    if unit == "week":
        start = today - timedelta(days=today.weekday() + (7 if back else 0))
    elif unit == "month":
        start = today.replace(day=1)
        if back:
            start = (start - timedelta(days=1)).replace(day=1)
    else:
        start = date(today.year - (1 if back else 0), 1, 1)
    return _whole(start, unit)


def _whole(start: date, unit: str) -> When:
    lo, hi = _span(start, unit)
    return When(lo, hi)


def _span(start: date, unit: str) -> tuple[datetime, datetime]:
    """[local midnight of *start*, local midnight after the *unit*) in UTC (a DST day has 23 or 25 hours)."""
    lo = _localize(datetime.combine(start, time(0))).astimezone(timezone.utc)
    try:
        if unit == "day":
            after = start + timedelta(days=1)
        elif unit == "week":
            after = start + timedelta(weeks=1)
        elif unit == "month":
            after = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
        else:
            after = date(start.year + 1, 1, 1)
        hi = _localize(datetime.combine(after, time(0))).astimezone(timezone.utc)
    except (OverflowError, ValueError):  # --until 9999-12-31
        hi = _FOREVER
    return lo, hi


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


def _localize(naive: datetime) -> datetime:
    # astimezone() on a naive datetime interprets it as local time (honours TZ).
    try:
        return naive.replace(tzinfo=None).astimezone()
    except (OverflowError, ValueError):  # year 1 or 9999: the offset would leave datetime's range
        return naive.replace(tzinfo=timezone.utc)


def _bad(value: str, option: str) -> UsageError:
    return UsageError(
        f"{option}: cannot read {value!r} as a time.",
        "Use ISO-8601 (2026-11-20, 2026-11-20 21:00, 2026-06 or 2026) or say it: 'yesterday 21:00', "
        "'3 days ago', 'last monday', 'june 3'.",
    )

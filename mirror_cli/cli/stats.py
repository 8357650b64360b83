"""`mirror stats`: entries, words, days written, streaks, the busiest weekday, and a per-day calendar
(months as rows of small blocks, as jrnl's `--format calendar`)."""

# No `from __future__ import annotations`: Typer reads this signature on every run.
from datetime import date, timedelta

import typer

from mirror_cli.cli.options import JsonOpt, SinceOpt, state
from mirror_cli.cli.output import plural

CALENDAR_MONTHS = 12  # months the calendar shows without --since (a long journal would scroll away)
_PLAIN_MARKS = ".-+#"  # no entry, 1, 2-3, 4 or more: characters a pipe or a file keeps
_COLOURS = ("grey35", "green4", "green3", "bright_green")


def _level(count: int) -> int:
    return 0 if count <= 0 else 1 if count == 1 else 2 if count <= 3 else 3


def _months(first: date, last: date):
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        yield year, month
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _month_days(year: int, month: int) -> int:
    nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return (nxt - timedelta(days=1)).day


def calendar_lines(days: dict, first: date, last: date):
    """One line per month from *first* to *last*: ``YYYY-MM`` then one mark per day; each line is a
    list of (text, level) pieces, level None for the label and -1 for days not yet come."""
    lines = [[("        ", None), ("1        10        20        30", None)]]
    for year, month in _months(first, last):
        pieces = [(f"{year:04d}-{month:02d} ", None)]
        for d in range(1, _month_days(year, month) + 1):
            day = date(year, month, d)
            pieces.append((" ", -1) if day > last else (_PLAIN_MARKS[_level(days.get(day, 0))],
                                                        _level(days.get(day, 0))))
        lines.append(pieces)
    return lines


def _print_calendar(st, days: dict, first: date, last: date) -> None:
    lines = calendar_lines(days, first, last)
    legend = "  . none  - 1  + 2-3  # 4 or more"
    if not st.out.rich:
        st.out.data("\n".join("".join(text for text, _ in line).rstrip() for line in lines) + "\n" + legend)
        return
    from rich.console import Console
    from rich.text import Text

    from mirror_cli.cli.output import colour_wanted

    on = colour_wanted()
    # In colour, one block shaded by level; without (NO_COLOR), a glyph per level and no escape at all.
    marks = "·■■■" if on else "·░▒█"
    out = Text()
    for line in lines:
        for text, level in line:
            if level is None or level < 0:
                out.append(text, style="dim" if level is None and on else "")
            else:
                out.append(marks[level], style=_COLOURS[level] if on else "")
        out.append("\n")
    out.append("  ")
    for level, label in enumerate(("none", "1", "2-3", "4+")):
        out.append(marks[level], style=_COLOURS[level] if on else "")
        out.append(f" {label}  ")
    Console(color_system="auto" if on else None).print(out)


def stats(ctx: typer.Context, since: SinceOpt = None, as_json: JsonOpt = False) -> None:
    """Entries, words, days written, streaks, busiest weekday and a calendar of the days written on."""
    from mirror_cli.journal.stats import journal_stats
    from mirror_cli.journal.timeparse import parse_when

    st = state(ctx)
    lo = parse_when(since, option="--since").at if since else None
    with st.open_store() as store:
        s = journal_stats(store, since=lo)
    if as_json:
        from mirror_cli.ids import iso

        st.out.json({**s.to_dict(), "since": iso(lo) if lo else None})
        return
    if not s.entries:
        st.out.data("no reflections match" if since else "no reflections yet")
        return
    longest, start = s.longest_streak()
    current = s.current_streak()
    lines = [f"entries:          {s.entries}",
             f"words:            {s.words}",
             f"days written:     {s.days_written}",
             f"current streak:   {plural(current, 'day')}",
             f"longest streak:   {plural(longest, 'day')}" + (f" (from {start.isoformat()})" if start else ""),
             f"busiest weekday:  {s.busiest_weekday()}", ""]
    st.out.data("\n".join(lines))
    last = s.today
    if lo is not None:
        first = lo.astimezone().date()
    else:
        back = last.replace(day=1)
        for _ in range(CALENDAR_MONTHS - 1):
            back = (back - timedelta(days=1)).replace(day=1)
        first = max(back, min(s.days).replace(day=1))
    _print_calendar(st, s.days, first, last)

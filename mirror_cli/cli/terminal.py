"""For a person at a terminal: the pager, local times with their zone, text fitted to a width.

Only the people's path of :mod:`mirror_cli.cli.output` and the commands' renderers use this
module; scripts (a pipe, ``--plain``) never load it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path


# Terminal control characters shown as ``\xNN``: the same table as mirror_cli.cli.output's (which
# imports this module for the pager, so this one cannot import it back).
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x09), *range(0x0b, 0x20), 0x7f, *range(0x80, 0xa0))}


def for_terminal(text: str) -> str:
    """*text* with terminal control characters made visible (a person's terminal only)."""
    return text.translate(_CONTROLS)


# -- the pager -----------------------------------------------------------------

def page(command: list[str], first: str, rest: Iterator[str]) -> None:
    """Stream *first* and *rest* (lines without their newline) into *command*, as git does: ``LESS=FRX``
    when LESS is unset (less quits at once when all fits on one screen, keeps colour, leaves the screen
    as it was). A pager that cannot be started: the lines go to stdout. The person quitting the pager
    early ends the listing quietly; mirror waits for the pager before it exits."""
    env = os.environ if "LESS" in os.environ else {**os.environ, "LESS": "FRX"}
    sys.stdout.flush()
    try:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, env=env, encoding="utf-8", errors="replace")
    except OSError:
        write = sys.stdout.write
        write(first + "\n")
        for line in rest:
            write(line + "\n")
        return
    try:
        write = proc.stdin.write
        write(first + "\n")
        for line in rest:
            write(line + "\n")
        proc.stdin.close()
    except BrokenPipeError:  # quit before the end: nothing more to show
        pass
    except KeyboardInterrupt as exc:  # ^C reaches both: the pager decides when the screen is given back
        if type(exc) is not KeyboardInterrupt:  # SIGTERM or SIGHUP (app.Terminated): the pager ends too
            proc.terminate()
            raise
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass
        while True:
            try:
                proc.wait()
                break
            except KeyboardInterrupt as exc:
                if type(exc) is not KeyboardInterrupt:
                    proc.terminate()
                    raise


# -- local time ----------------------------------------------------------------

def zone_name() -> str:
    """The local time zone as people know it: ``Europe/Paris`` (from ``TZ`` or /etc/localtime), else its
    abbreviation (``UTC``, ``CET``)."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if "/" in tz and not tz.startswith("/"):
        return tz
    try:
        target = str(Path(tz or "/etc/localtime").resolve())
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        return target.split("zoneinfo/", 1)[1]
    return datetime.now().astimezone().tzname() or "local time"


def times_in() -> str:
    """The one line that names the zone of the times shown: ``times in Europe/Paris``."""
    return f"times in {zone_name()}"


def local(stamp: str, *, seconds: bool = False) -> str:
    """An ISO-8601 UTC *stamp* in local time: ``2024-06-03 21:15`` (``:07`` with *seconds*)."""
    from mirror_cli.ids import parse_iso

    return parse_iso(stamp).astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def short_when(stamp: str, this_year: int) -> str:
    """``MM-DD HH:MM`` in local time, with the year in front when it is not *this_year*."""
    from mirror_cli.ids import parse_iso

    at = parse_iso(stamp).astimezone()
    return at.strftime("%m-%d %H:%M" if at.year == this_year else "%Y-%m-%d %H:%M")


# -- widths --------------------------------------------------------------------

def width() -> int:
    """Columns of the terminal (``COLUMNS`` first, as rich and less read it), 80 when unknown."""
    import shutil

    return max(20, shutil.get_terminal_size((80, 24)).columns)


def fit(text: str, cells: int) -> str:
    """*text* cut to at most *cells* terminal cells, with ``…`` when cut: by display width, so a
    Chinese or Japanese character (two cells) counts as two, as rich measures it."""
    from rich.cells import cell_len, set_cell_size

    if cells <= 0:
        return ""
    if cell_len(text) <= cells:
        return text
    return set_cell_size(text, cells - 1).rstrip() + "…"


def cell_len(text: str) -> int:
    from rich.cells import cell_len as measure

    return measure(text)


def pad(text: str, cells: int) -> str:
    """*text* padded with spaces to *cells* (by display width)."""
    return text + " " * max(0, cells - cell_len(text))


def colour(codes: str, text: str, on: bool) -> str:
    """*text* in SGR *codes* (``33`` yellow, ``2`` dim) when *on*."""
    return f"\x1b[{codes}m{text}\x1b[0m" if on and text else text


def wrap_marked(text: str, marks, cells: int, on: bool) -> list[str]:
    """*text* (a snippet) wrapped to *cells* terminal cells a line (Chinese and Japanese folded by display
    width), the [start, end) spans *marks* in bold and underlined when *on*: lines ready to print."""
    from io import StringIO

    from rich.console import Console
    from rich.text import Text

    styled, at = Text(), 0
    for start, end in marks:
        styled.append(for_terminal(text[at:start]))
        styled.append(for_terminal(text[start:end]), style="bold underline" if on else None)
        at = end
    styled.append(for_terminal(text[at:]))
    out = StringIO()
    console = Console(file=out, width=max(cells, 10), color_system="standard" if on else None, force_terminal=on,
                      no_color=not on, highlight=False, soft_wrap=False)
    console.print(styled, overflow="fold", end="")
    return out.getvalue().split("\n")


class Oneline:
    """One reflection on one line, as ``git log --oneline``: the short id, ``MM-DD HH:MM`` (local time,
    the year in front when not this year), and the text in the rest of the width, cut by display width."""

    def __init__(self, id_length: int, *, columns: int | None = None, colour: bool = False,
                 this_year: int | None = None) -> None:
        self.id_length = id_length
        self.columns = columns or width()
        self.colour = colour
        self.this_year = this_year or datetime.now().year

    def __call__(self, rid: str, stamp: str, text: str, tags: Iterable[str] = ()) -> str:
        short = for_terminal(rid[:self.id_length]).ljust(self.id_length)
        when = short_when(stamp, self.this_year)
        room = self.columns - len(short) - len(when) - 4
        text = for_terminal(text)
        said = text.casefold()
        tags = " ".join("#" + for_terminal(t) for t in tags if "#" + t.casefold() not in said)
        if tags:
            if cell_len(text) + 1 + cell_len(tags) <= room:
                return self._line(short, when, text, " " + tags)
            tags = fit(tags, max(room // 3, 8))
            return self._line(short, when, fit(text, room - 1 - cell_len(tags)), " " + tags)
        return self._line(short, when, fit(text, room), "")

    def _line(self, short: str, when: str, text: str, tags: str) -> str:
        return f"{colour('33', short, self.colour)}  {colour('2', when, self.colour)}  {text}{colour('36', tags, self.colour)}"

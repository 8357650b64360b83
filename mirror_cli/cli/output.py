"""The one place that prints.

Data and results go to stdout; notes, warnings and errors to stderr. ``--json``
prints exactly one JSON value. A person at a terminal gets tables and rows laid
out for the terminal's width, times in local time with the zone named once, and
long listings through a pager (``MIRROR_PAGER``, ``PAGER``, else ``less -FRX``);
``NO_COLOR`` (https://no-color.org) takes the colour away and nothing else.
Scripts get plain tab-separated lines with ISO-8601 UTC times: when stdout is not
a terminal, or with ``--plain`` / ``MIRROR_PLAIN=1``. Progress bars only when
stdout and stderr are terminals and ``NO_COLOR`` is not set. ``-q/--quiet``
silences status output (notes, confirmations, progress).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any


def is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def fd_is_tty(stream) -> bool:
    """A real terminal behind *stream*'s file descriptor (what a pager needs; a test's stand-in is not)."""
    try:
        return os.isatty(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return False


def pager_command() -> list[str] | None:
    """The pager to run, as git chooses one: ``MIRROR_PAGER``, then ``PAGER``, else ``less -FRX``;
    None when it is set empty or to ``cat`` (no pager)."""
    import shlex

    for var in ("MIRROR_PAGER", "PAGER"):
        if var in os.environ:
            value = os.environ[var].strip()
            break
    else:
        value = "less -FRX"
    try:
        command = shlex.split(value)
    except ValueError:
        command = value.split()
    return None if not command or command == ["cat"] else command


def stdin_is_tty() -> bool:
    return is_tty(sys.stdin)


def colour_wanted() -> bool:
    """False when ``NO_COLOR`` is set (https://no-color.org) or the terminal is ``dumb``."""
    return "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


# C0 controls but tab and newline, DEL, and the C1 controls (0x80-0x9f: some terminals take 0x9b
# as CSI): what a journal's text must never send a terminal (escape sequences can retitle the
# window, rewrite the screen, or on some terminals write files).
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x09), *range(0x0b, 0x20), 0x7f, *range(0x80, 0xa0))}


def for_terminal(text: str) -> str:
    """*text* with terminal control characters shown as ``\\xNN`` (for a person's terminal only:
    pipes and files get the text as stored)."""
    return text.translate(_CONTROLS)


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 reflection``, ``2 reflections`` (*many*: the plural when it is not *word* + ``s``)."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def counted(count: int, kind: str) -> str:
    """*count* of a record kind named in the plural (``reflections``, ``audit_events``): ``1 reflection``."""
    many = kind.replace("_", " ")
    return plural(count, many[:-1] if many.endswith("s") else many, many)


def plain_wanted(flag: bool = False) -> bool:
    """``--plain`` given, or ``MIRROR_PLAIN`` set to anything but empty or ``0``."""
    return flag or os.environ.get("MIRROR_PLAIN", "") not in ("", "0")


class Output:
    def __init__(self, quiet: bool = False, plain: bool = False) -> None:
        self.quiet = quiet
        self.plain = plain_wanted(plain)

    # -- machine output ----------------------------------------------------
    def json(self, value: Any) -> None:
        sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")

    def jsonl(self, values: Iterable[Any]) -> None:
        for v in values:
            sys.stdout.write(json.dumps(v, ensure_ascii=False) + "\n")

    # -- people ------------------------------------------------------------
    def data(self, text: str) -> None:
        """Output the user asked for (always printed)."""
        if is_tty(sys.stdout):
            text = for_terminal(text)
        sys.stdout.write(text if text.endswith("\n") else text + "\n")

    def result(self, text: str) -> None:
        """A confirmation or status result on stdout (silenced by -q)."""
        if not self.quiet:
            self.data(text)

    def note(self, text: str) -> None:
        """A diagnostic on stderr (silenced by -q)."""
        if not self.quiet:
            _to_stderr(text.rstrip("\n") + "\n")

    def warn(self, text: str) -> None:
        _to_stderr("warning: " + text.rstrip("\n") + "\n")

    @property
    def rich(self) -> bool:
        """Laid out for a person: stdout a terminal and no ``--plain``/``MIRROR_PLAIN`` (``NO_COLOR`` only
        takes the colour away). Otherwise plain tab-separated lines with times as stored (ISO-8601 UTC)."""
        return is_tty(sys.stdout) and not self.plain

    def table(self, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None,
              empty: str | None = None, whole: Sequence[str] = ()) -> None:
        """*rows* under *columns*; with no rows, a person at a terminal reads *empty* (e.g. "no reflections
        yet") instead of an empty table, and a pipe gets nothing. The *whole* columns (file names, paths)
        are never cut or folded for a person: the other columns give way, and a line wider than the
        terminal wraps rather than loses its end."""
        rows = list(rows)
        if not rows and empty is not None:
            if is_tty(sys.stdout):
                self.data(empty)
            return
        if self.rich:
            from rich.cells import cell_len
            from rich.console import Console
            from rich.table import Table
            from rich.text import Text

            table = Table(title=title, show_lines=False, header_style="bold")
            for i, name in enumerate(columns):
                if name in whole:
                    longest = max((cell_len(for_terminal(str(row[i]))) for row in rows if row[i] is not None),
                                  default=1)
                    table.add_column(name, no_wrap=True, min_width=max(longest, len(name)), overflow="ignore")
                else:
                    table.add_column(name, overflow="fold")
            for row in rows:
                # Text, not str: a journal's "[bold]" or "[/x]" is text, never Rich markup.
                table.add_row(*[Text("" if v is None else for_terminal(str(v))) for v in row])
            Console(color_system="auto" if colour_wanted() else None).print(table, crop=False)
        else:
            clean = for_terminal if is_tty(sys.stdout) else str
            for row in rows:
                sys.stdout.write("\t".join("" if v is None else clean(str(v).replace("\t", " ").replace("\n", " "))
                                          for v in row) + "\n")

    def lines(self, lines: Iterable[str], *, paged: bool = True, empty: str | None = None) -> None:
        """Lines for a person at a terminal, streamed: through the pager when *paged* and stdout is a real
        terminal (see :func:`pager_command`), else straight to stdout. The lines are the caller's layout
        (already cleaned with :func:`for_terminal`). With no lines at all, *empty* is printed instead."""
        lines = iter(lines)
        first = next(lines, None)
        if first is None:
            if empty is not None:
                self.data(empty)
            return
        command = pager_command() if paged and fd_is_tty(sys.stdout) else None
        if command is None:
            write = sys.stdout.write
            write(first + "\n")
            for line in lines:
                write(line + "\n")
            return
        from mirror_cli.cli.terminal import page

        page(command, first, lines)

    def progress(self, description: str, total: int | None, unit: str | None = None):
        """A progress callback (done, total) -> None, and a context manager: counting bytes (kB, MB), or
        things counted in *unit* (``120/4000 reflections``).

        Drawn on stderr, and only for a person at a terminal: stdout and stderr both
        terminals (CONTRACT: a non-terminal stdout turns progress bars off), no
        ``NO_COLOR``, no ``-q``.
        """
        return Progress(description, total, enabled=not self.quiet and is_tty(sys.stderr) and is_tty(sys.stdout)
                        and colour_wanted(), unit=unit)


class Progress:
    def __init__(self, description: str, total: int | None, *, enabled: bool, unit: str | None = None) -> None:
        self.description, self.total, self.enabled, self.unit = description, total, enabled, unit
        self._bar = None
        self._task = None

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress as RichProgress,
                                       TextColumn, TimeRemainingColumn)
            from rich.console import Console

            counts = (DownloadColumn(),) if self.unit is None else (MofNCompleteColumn(), TextColumn(self.unit))
            self._bar = RichProgress("[progress.description]{task.description}", BarColumn(), *counts,
                                     TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self.total)
        return self

    def __call__(self, done: int, total: int | None = None) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total or self.total)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def _to_stderr(text: str) -> None:
    sys.stderr.write(for_terminal(text) if is_tty(sys.stderr) else text)


def confirm(question: str) -> bool:
    sys.stderr.write(question + " [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")

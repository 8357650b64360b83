"""Options shared by several commands, defined once."""

from __future__ import annotations

from typing import Annotated, Optional

import os
import sys

import typer


def _rich_mode():
    """Rich help and error boxes for people at a terminal; plain text when piped or with NO_COLOR."""
    try:
        tty = sys.stdout.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    return "rich" if tty and "NO_COLOR" not in os.environ else None


RICH_MODE = _rich_mode()


def group(help: str, **kwargs) -> typer.Typer:
    """A command group with mirror's defaults."""
    kwargs.setdefault("no_args_is_help", True)
    return typer.Typer(help=help, add_completion=False, rich_markup_mode=RICH_MODE,
                       pretty_exceptions_enable=False, context_settings={"help_option_names": ["-h", "--help"]},
                       **kwargs)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON value on stdout and nothing else.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Show what would change; change nothing.")]
LimitOpt = Annotated[Optional[int], typer.Option("--limit", "-n", min=1, help="At most N results.")]
SinceOpt = Annotated[Optional[str], typer.Option("--since", help="Only from this time on (ISO-8601, 'yesterday', '3 days ago').")]
UntilOpt = Annotated[Optional[str], typer.Option("--until", help="Only before this time (a date includes that whole day).")]
OnlyOpt = Annotated[Optional[str], typer.Option("--only", help="Comma list of kinds: reflections,patterns,tensions,audit.")]


def state(ctx: typer.Context):
    """The per-invocation state built by the root callback (settings, output)."""
    return ctx.find_root().obj

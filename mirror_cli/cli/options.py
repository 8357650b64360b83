"""Options shared by several commands, defined once."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

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

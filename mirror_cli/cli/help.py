"""`mirror help [COMMAND...]`, and what to say when the first word is not a command."""

# No `from __future__ import annotations`: Typer reads these signatures on every run.
import shlex
from typing import Annotated, Optional

import typer

_SAFE_IN_DOUBLE_QUOTES = frozenset('"$`\\!')  # what a shell still reads inside "..."


def help_(
    ctx: typer.Context,
    command: Annotated[Optional[list[str]], typer.Argument(
        metavar="[COMMAND]...", help="A command, e.g. `backup` or `backup create`.", show_default=False)] = None,
) -> None:
    """Show the help of mirror, or of one command.

    `mirror help backup create` is `mirror backup create --help`."""
    parent = ctx.find_root()
    cmd = parent.command
    for name in command or []:
        sub = cmd.get_command(parent, name) if hasattr(cmd, "get_command") else None
        if sub is None:
            known = cmd.list_commands(parent) if hasattr(cmd, "list_commands") else []
            raise typer.BadParameter(unknown_command(name, known, []), param_hint="COMMAND")
        cmd, parent = sub, typer.Context(sub, info_name=name, parent=parent)
    text = cmd.get_help(parent)  # Rich help prints itself and returns ""
    if text:
        typer.echo(text)


def unknown_command(name: str, known: list[str], rest: list[str], journals: tuple[str, ...] = ()) -> str:
    """What to say about a first word *name* that is no command: a close command ("did you mean
    'list'?"), the `-j` form when it names one of *journals* (as jrnl users type `jrnl work "..."`),
    or, for words that read like a sentence, how to save them as a reflection."""
    import difflib

    if name in journals:
        text = " ".join(rest).strip()
        line = f"mirror -j {name} reflect {_quoted(text)}" if text else f"mirror -j {name} list"
        return f"No such command {name!r}; {name!r} is a journal: {line}"

    close = [c for c in known if c.startswith(name) and len(name) >= 2] if name.strip() else []
    close = close or difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if close and " " not in name.strip():
        return f"No such command {name!r}; did you mean {' or '.join(repr(c) for c in close)}?"
    words = " ".join([name, *rest]).strip()
    if " " in words:
        return f"No such command {name!r}. To save this as a reflection: mirror reflect {_quoted(words)}"
    return f"No such command {name!r}; `mirror help` lists the commands."


def journal_names(config) -> tuple[str, ...]:
    """The names of the journals there are (for the message above); none when the settings cannot be read."""
    from mirror_cli.errors import MirrorError
    from mirror_cli.settings import known_journals, resolve

    try:
        return tuple(name for name, path in known_journals(resolve(config=config, journal="default"))
                     if path.exists())
    except (MirrorError, OSError):
        return ()


def _quoted(text: str) -> str:
    """*text* as a shell reads it back: in double quotes when that is safe, else as shlex quotes it."""
    return f'"{text}"' if not _SAFE_IN_DOUBLE_QUOTES & set(text) else shlex.quote(text)

"""`mirror reflect`: write a reflection (TEXT, stdin or the editor, a template), and what `edit` shares
with it: the text read safely, a draft kept when saving fails, `--at` times, `--star`.

Its own module, small, so that a plain `mirror reflect` loads nothing of `list`'s filters."""

# No `from __future__ import annotations`: Typer reads these signatures on every run, and
# string annotations would cost an eval (a compile) each.
import contextlib
import sys
from typing import Annotated, Optional

import typer

from mirror_cli.cli.options import JsonOpt, state

_STDIN_LIMIT = None  # bytes read from stdin at most; None: what one reflection may hold (records.MAX_LINE)


def _utf8(value, what: str, outcome: str = "nothing was saved"):
    """*value* (a string, a list of them or None) as given, or a usage error when the shell passed bytes
    that are not UTF-8 (Python keeps them as lone surrogates, which cannot be stored): the same
    message as for such bytes on stdin."""
    for item in [value] if isinstance(value, str) else value or []:
        try:
            item.encode("utf-8")
        except UnicodeEncodeError:
            from mirror_cli.errors import UsageError

            raise UsageError(f"{what} is not valid UTF-8; {outcome}.",
                             "Check the terminal's or the script's character encoding.") from None
    return value


def _read_text(st, words: list[str], initial: str = "", retry: str = "mirror reflect"):
    """The text: (text, None) from the arguments or stdin, (text, draft) from the editor (see _keeping)."""
    from mirror_cli.cli.output import stdin_is_tty

    if words:
        return " ".join(_utf8(words, "the text given as an argument")), None
    if not stdin_is_tty():
        from mirror_cli.exchange.records import MAX_LINE, size_text

        limit = _STDIN_LIMIT or MAX_LINE
        data = sys.stdin.buffer.read(limit + 1)  # `yes | mirror reflect` must not take all the memory
        if len(data) > limit:
            from mirror_cli.errors import UsageError

            raise UsageError(f"the text on stdin is longer than {size_text(limit)}; nothing was saved.",
                             "Split it into several reflections.")
        try:
            return data.decode("utf-8"), None
        except UnicodeDecodeError:
            from mirror_cli.errors import UsageError

            raise UsageError("the text on stdin is not valid UTF-8; nothing was saved.") from None
    from mirror_cli.journal.editor import edit_text, editor_command

    command = editor_command(st.settings.env, st.settings.get("editor"))
    if command:
        draft = edit_text(command, initial, local=st.settings.db_path.parent, retry=retry)
        return draft.text, draft
    st.out.note("Write your reflection; end with Ctrl-D on a line of its own (Ctrl-C to cancel).")
    return sys.stdin.read(), None


@contextlib.contextmanager
def _keeping(draft, retry: str):
    """Around saving an editor's text: the draft is discarded once the text is committed (or found
    empty or unchanged); on any failure it is kept, and the error says where and how to save it."""
    if draft is None:
        yield
        return
    from mirror_cli.errors import MirrorError

    try:
        yield
    except MirrorError as exc:
        hint = draft.retry_hint(retry)
        exc.hint = f"{exc.hint}\n{hint}" if exc.hint else hint
        raise
    except BaseException:  # a database error, an interrupt: still say where the text is
        sys.stderr.write(f"mirror: {draft.retry_hint(retry)}\n")
        raise
    draft.discard()


def _parse_when(value: str, *, option: str = "--at", end: bool = False):
    from mirror_cli.journal.timeparse import parse_when  # only when a time was given

    when = parse_when(value, option=option)
    return when.day_end if end else when.at


def _moment(st, value: str, outcome: str):
    """``--at``: the time it names; one in the future or before 1970 is kept (as `import` keeps such
    times) but asked about on a terminal (no: *outcome*, exit 0), warned about in a script."""
    from mirror_cli.cli.output import confirm, stdin_is_tty
    from mirror_cli.journal.timeparse import doubt, parse_when

    when = parse_when(value, option="--at")
    why = doubt(when)
    if why:
        said = f"--at {value!r} is {when.at.astimezone().strftime('%Y-%m-%d %H:%M')} local time, which {why}"
        if stdin_is_tty():
            if not confirm(said + ". Use it?"):
                st.out.note(outcome)
                raise typer.Exit(0)
        else:
            st.out.warn(said + ".")
    return when.at


StarOpt = Annotated[bool, typer.Option("--star", "-s", help="Star it (the tag 'starred', as jrnl's star).")]


def reflect(
    ctx: typer.Context,
    text: Annotated[Optional[list[str]], typer.Argument(help="The text (else stdin, else $VISUAL/$EDITOR).", show_default=False)] = None,
    mode: Annotated[Optional[str], typer.Option("--mode", help="Free-text mode, e.g. POST_ACTION.  [default: REFLECTION]")] = None,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", "-t", help="A tag (repeatable); #words in the text are tags too.")] = None,
    response: Annotated[Optional[str], typer.Option("--response", help="A reply kept with the reflection.")] = None,
    local_only: Annotated[bool, typer.Option("--local-only", help="Never sync this reflection to any remote.")] = False,
    at: Annotated[Optional[str], typer.Option("--at", help="Backdate: ISO-8601 or e.g. 'yesterday 21:00', 'last monday 9pm'.")] = None,
    star: StarOpt = False,
    template: Annotated[Optional[str], typer.Option("--template", help="Start from a template in your editor: NAME (<config dir>/templates/NAME.md) or FILE.", show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Save a reflection and print its id."""
    from mirror_cli.journal import reflections as journal

    st = state(ctx)
    _utf8(tag, "a --tag value"), _utf8(mode, "the --mode value"), _utf8(response, "the --response value")
    tag = [*(tag or []), *(["starred"] if star else [])]
    when = _moment(st, at, "Nothing saved.") if at else None
    start = _template(st, template, bool(text))
    body, draft = _read_text(st, text or []) if start is None else _from_template(st, start)
    with _keeping(draft, "mirror reflect"):
        empty = not body.strip()
        if empty or start is not None and _unchanged(start, body):
            # CONTRACT: an empty result saves nothing, exit 0 with a note; so does an untouched template
            st.out.note("Nothing written; nothing saved." if empty else
                        "The template came back unchanged; nothing saved.")
            if as_json:
                st.out.json(None)  # `--json` still prints its one value: `mirror reflect --json | jq .id` gets null
            return
        from mirror_cli.db.store import EncryptedMeanwhile

        for attempt in (1, 2):
            try:
                with st.open_store(create=True) as store:
                    r = journal.add(store, body, mode=mode or st.settings.get("reflect.default_mode"),
                                    tags=tag, response=response, local_only=local_only, at=when)
                break
            except EncryptedMeanwhile:
                # `key enable` committed between this process opening the journal and saving: open it
                # again, now with the key, rather than lose the text the person just wrote.
                if attempt == 2:
                    raise
    if as_json:
        st.out.json(r.to_dict())
    else:
        st.out.result(r.id)


def _template(st, value, has_text: bool):
    """The template's text when one is in play: ``--template`` (never with TEXT), else ``reflect.template``
    from the config when the editor is what would open (no TEXT, stdin a terminal)."""
    from mirror_cli.cli.output import stdin_is_tty
    from mirror_cli.errors import UsageError

    if value is not None and has_text:
        raise UsageError("--template opens your editor on the template; give no TEXT with it.")
    if value is None:
        value = st.settings.get("reflect.template")
        if not value or has_text or not stdin_is_tty():
            return None
    from mirror_cli.journal.templates import load_template

    return load_template(_utf8(value, "the --template value"), st.settings.config_path.parent)[1]


def _from_template(st, initial: str):
    from mirror_cli.errors import UsageError
    from mirror_cli.journal.editor import edit_text, editor_command

    command = editor_command(st.settings.env, st.settings.get("editor"))
    if not command:
        raise UsageError("a template opens in your editor, and none is set; nothing was saved.",
                         "Set VISUAL or EDITOR (or `mirror config set editor vim`).")
    draft = edit_text(command, initial, local=st.settings.db_path.parent, retry="mirror reflect")
    return draft.text, draft


def _unchanged(template: str, text: str) -> bool:
    from mirror_cli.journal.templates import unchanged

    return unchanged(template, text)

"""Journal commands: reflect, list, show, edit, delete (search is in :mod:`.search`)."""

# No `from __future__ import annotations`: Typer reads these signatures on every run, and
# string annotations would cost an eval (a compile) each.
import contextlib
import itertools
import sys
from typing import Annotated, Optional

import typer

from mirror_cli.cli.options import JsonOpt, LimitOpt, SinceOpt, UntilOpt, YesOpt, state
from mirror_cli.cli.select import AndOpt, ContainsOpt, NotTagOpt, OnOpt, StarredOpt
from mirror_cli.cli.output import counted, plural

KINDS = ("reflections", "patterns", "tensions", "audit_events")  # what `delete --all` counts, in that order

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


def _first_line(r) -> str:
    return r.content.splitlines()[0] if r.content else ""


def _render(st, reflections, as_json: bool, empty: str = "no reflections match", *, paged: bool = False,
            store=None) -> None:
    """*reflections* (any iterable: rows stream to the terminal or pipe as they come) as JSON, TSV for
    scripts (ISO UTC times, as stored), or one line each for a person (short ids, local times, the
    zone named once on top), through the pager when *paged*. *store*: the open journal, for the
    length of the short ids (else the full ids are shown)."""
    if as_json:
        st.out.json([r.to_dict() for r in reflections])
        return
    if not st.out.rich:
        columns = ("id", "when", "mode", "tags", "text")
        rows = ((r.id, r.created_at, r.mode, ", ".join(r.tags), _first_line(r)) for r in reflections)
        first = next(rows, None)
        if first is None:
            from mirror_cli.cli.output import is_tty

            if not is_tty(sys.stdout):  # a pipe's stdout stays empty; the person reading stderr is told why
                st.out.note(empty[0].upper() + empty[1:] + ".")
            st.out.table(columns, [], empty=empty)
            return
        st.out.table(columns, itertools.chain([first], rows), empty=empty)
        return
    from mirror_cli.cli.output import colour_wanted
    from mirror_cli.cli.terminal import Oneline, colour, times_in

    length = 64
    if store is not None:
        from mirror_cli.journal.reflections import short_id_length

        length = short_id_length(store)
    line = Oneline(length, colour=colour_wanted())

    def lines():
        for i, r in enumerate(reflections):
            if i == 0:
                yield colour("2", times_in(), line.colour)
            first = _first_line(r)
            if r.mode and r.mode != "REFLECTION":
                first = f"[{r.mode}] {first}"
            yield line(r.id, r.created_at, first, r.tags)

    st.out.lines(lines(), paged=paged, empty=empty)


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


def _window(since, until, on):
    """[lo, hi) of list's --since, --until and --on (each may be None)."""
    lo = _parse_when(since, option="--since") if since else None
    hi = _parse_when(until, option="--until", end=True) if until else None
    if on:
        from mirror_cli.journal.timeparse import parse_when

        start, stop = parse_when(on, option="--on").period()
        lo, hi = max(lo, start) if lo else start, min(hi, stop) if hi else stop
    return lo, hi


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


def list_(
    ctx: typer.Context,
    limit: LimitOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", "-t", help="Only reflections with this tag (repeatable: any of them; --and: all).")] = None,
    all_tags: AndOpt = False,
    not_tag: NotTagOpt = None,
    contains: ContainsOpt = None,
    mode: Annotated[Optional[str], typer.Option("--mode", help="Only reflections of this mode.")] = None,
    on: OnOpt = None,
    on_this_day: Annotated[bool, typer.Option("--on-this-day", help="Only those written on today's date in earlier years.")] = False,
    starred: StarredOpt = False,
    full: Annotated[bool, typer.Option("--full", help="Whole reflections (date, text, tags), as jrnl prints them.")] = False,
    no_pager: Annotated[bool, typer.Option("--no-pager", help="Do not page (on a terminal the list goes through MIRROR_PAGER, PAGER or less -FRX).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List reflections, newest first."""
    from mirror_cli.cli.select import filter_kwargs, print_full, selects
    from mirror_cli.journal import reflections as journal

    st = state(ctx)
    lo, hi = _window(since, until, on)
    chosen = filter_kwargs(tag, all_tags, not_tag, contains, starred)
    filtered = selects(chosen, lo, hi, mode) or on_this_day
    with st.open_store() as store:
        windows = None
        if on_this_day:
            from mirror_cli.journal.timeparse import same_day_earlier_years

            first = journal.first_year(store)
            windows = same_day_earlier_years(first - 1) if first else []  # -1: its local date may be a year before
        if full and not as_json:
            shown = print_full(st, journal.iter_reflections(store, limit=limit, since=lo, until=hi, mode=mode,
                                                            windows=windows, **chosen))
            if not shown:
                _render(st, [], False, "no reflections match" if filtered else "no reflections yet")
            return
        items = journal.iter_reflections(store, limit=limit, since=lo, until=hi, mode=mode, windows=windows,
                                         **chosen)
        # Streamed: the first rows are on the screen (or in the pipe) while the rest are still read.
        _render(st, items, as_json, "no reflections match" if filtered else "no reflections yet",
                paged=not no_pager, store=store)


def edit(
    ctx: typer.Context,
    id: Annotated[Optional[str], typer.Argument(help="Reflection id or unique prefix (or filters: --has-tag, --contains...).", show_default=False)] = None,
    text: Annotated[Optional[list[str]], typer.Argument(help="New text (else stdin, else your editor).", show_default=False)] = None,
    response: Annotated[Optional[str], typer.Option("--response", help="Replace the response ('' removes it).")] = None,
    mode: Annotated[Optional[str], typer.Option("--mode", help="Change the mode.")] = None,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", "-t", help="Add a tag (repeatable).")] = None,
    untag: Annotated[Optional[list[str]], typer.Option("--untag", help="Remove a tag (repeatable).", show_default=False)] = None,
    at: Annotated[Optional[str], typer.Option("--at", help="Move it to another time: ISO-8601 or e.g. 'yesterday 21:00'.", show_default=False)] = None,
    star: StarOpt = False,
    unstar: Annotated[bool, typer.Option("--unstar", help="Take its star away.")] = False,
    has_tag: Annotated[Optional[list[str]], typer.Option("--has-tag", help="Instead of an ID: all reflections with this tag (repeatable: any of them; --and: all).", show_default=False)] = None,
    all_tags: AndOpt = False,
    not_tag: NotTagOpt = None,
    contains: ContainsOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    on: OnOpt = None,
    starred: StarredOpt = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Change a reflection's text (in your editor when TEXT is absent), time, response, mode, tags or star;
    or the tags and mode of every reflection that filters select."""
    from mirror_cli.cli.select import edit_selected, filter_kwargs, selects
    from mirror_cli.errors import UsageError
    from mirror_cli.journal import reflections as journal

    st = state(ctx)
    _utf8(text, "the text given as an argument"), _utf8(untag, "an --untag value")
    _utf8(tag, "a --tag value"), _utf8(mode, "the --mode value"), _utf8(response, "the --response value")
    if star and unstar:
        raise UsageError("--star and --unstar contradict each other; give one.")
    add = [*(tag or []), *(["starred"] if star else [])]
    drop = [*(untag or []), *(["starred"] if unstar else [])]
    lo, hi = _window(since, until, on)
    chosen = filter_kwargs(has_tag, all_tags, not_tag, contains, starred)
    if selects(chosen, lo, hi):
        if id is not None or text or response is not None or at is not None:
            raise UsageError("with filters, edit changes tags and mode only: give no ID, TEXT, --response or --at.",
                             "Edit one reflection with `mirror edit ID`.")
        edit_selected(st, lo, hi, chosen, mode, add, drop, yes, as_json)
        return
    if id is None:
        raise UsageError("nothing to edit.", "Give a reflection id, or filters such as --has-tag T with --tag/--untag/--mode.")
    when = _moment(st, at, "Nothing changed.") if at else None
    with st.open_store() as store:
        current = journal.get(store, id)
        new_text = draft = None
        if text or (response is None and mode is None and not add and not drop and when is None):
            new_text, draft = _read_text(st, text or [], initial=current.content + "\n",
                                         retry=f"mirror edit {current.id}")
        with _keeping(draft, f"mirror edit {current.id}"):
            try:
                r = journal.edit(store, current.id, content=new_text, response=response, mode=mode, add_tags=add,
                                 drop_tags=drop, at=when, unchanged_since=current.updated_at)
            except journal.ChangedMeanwhile:
                if new_text is not None and not text and draft is None:  # typed at the terminal: give it back
                    sys.stderr.write("mirror: your text, not saved:\n" + new_text.rstrip("\n") + "\n")
                raise
    if r.updated_at == current.updated_at:
        st.out.note(f"Nothing changed in {r.id}; nothing was saved.")
    if as_json:
        st.out.json(r.to_dict())
    else:
        st.out.result(r.id)


def delete(
    ctx: typer.Context,
    ids: Annotated[Optional[list[str]], typer.Argument(help="Reflection ids or unique prefixes.", show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Delete everything in this database, leaving no trace.")] = False,
    backups: Annotated[Optional[str], typer.Option(
        "--backups", help="With --all: delete or keep this journal's backups in its backups folder and its "
                          ".before-restore/.before-replace copies.", show_default=False)] = None,
    remote: Annotated[Optional[str], typer.Option(
        "--remote", help="With --all, when sync remotes are configured: wipe them (every device's copy there) or "
                         "keep them (paused, so the next sync does not download everything back).",
        show_default=False)] = None,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", "-t", help="Those with this tag (repeatable: any of them; --and: all).", show_default=False)] = None,
    all_tags: AndOpt = False,
    not_tag: NotTagOpt = None,
    contains: ContainsOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    on: OnOpt = None,
    starred: StarredOpt = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete reflections (by id, or all that the filters select), or everything with --all."""
    from mirror_cli.cli.select import delete_selected, filter_kwargs, selects
    from mirror_cli.journal import reflections as journal
    from mirror_cli.cli.output import confirm, stdin_is_tty
    from mirror_cli.errors import UsageError

    st = state(ctx)
    lo, hi = _window(since, until, on)
    chosen = filter_kwargs(tag, all_tags, not_tag, contains, starred)
    if selects(chosen, lo, hi):
        if ids or all_:
            raise UsageError("give reflection ids, filters or --all, not several of them.")
        delete_selected(st, lo, hi, chosen, yes, as_json)
        return
    if all_ and ids:
        raise UsageError("give reflection ids or --all, not both.")
    if not all_ and not ids:
        raise UsageError("nothing to delete.", "Give reflection ids, filters (e.g. --tag), or --all to delete everything.")
    if backups is not None and (backups not in ("delete", "keep") or not all_):
        raise UsageError("--backups takes delete or keep, and goes with --all." if all_ else
                         "--backups goes with --all.")
    if remote is not None and (remote not in ("wipe", "keep") or not all_):
        raise UsageError("--remote takes wipe or keep, and goes with --all." if all_ else "--remote goes with --all.")
    if all_:
        _delete_all(st, yes, backups, as_json, remote)
        return
    with st.open_store() as store:
        resolved = [journal.resolve_id(store, ref) for ref in ids]
        if not yes:
            if not stdin_is_tty():
                raise UsageError("refusing to delete without confirmation.", "Add --yes to delete from a script.")
            if not confirm(_deletion_question(store, resolved)):
                st.out.note("Nothing deleted.")
                raise typer.Exit(0)
        done = journal.delete(store, resolved)
    if as_json:
        st.out.json({"deleted": done})
    else:
        st.out.result(f"Deleted {plural(len(done), 'reflection')}.")


def _deletion_question(store, resolved: list[str], shown: int = 20) -> str:
    """The question `delete ID...` asks on a terminal: each reflection's id, local date and first line."""
    from mirror_cli.cli.output import for_terminal
    from mirror_cli.cli.terminal import local
    from mirror_cli.journal import reflections as journal

    lines = []
    for rid in resolved[:shown]:
        r = journal.get(store, rid)
        first = next((line.strip() for line in r.content.splitlines() if line.strip()), "")
        first = first if len(first) <= 60 else first[:59] + "\u2026"
        lines.append(f"  {rid}  {local(r.created_at)}  {for_terminal(first)}")
    if len(resolved) > shown:
        lines.append(f"  ... and {len(resolved) - shown} more")
    return "\n".join(lines) + f"\nDelete {plural(len(resolved), 'reflection')}?"


def _delete_all(st, yes: bool, backups: Optional[str], as_json: bool, remote: Optional[str] = None) -> None:
    """`delete --all`: the database, then (per --backups, or the answer on a terminal) the copies mirror made
    of it; configured sync remotes are wiped first (so a remote that cannot be reached leaves the journal as
    it was) or paused (per --remote, or the answer on a terminal)."""
    from mirror_cli.cli.backup import _lock_timeout
    from mirror_cli.cli.output import confirm, stdin_is_tty
    from mirror_cli.db.scrub import OldBytesRemain
    from mirror_cli.errors import UsageError
    from mirror_cli.journal import copies as journal_copies
    from mirror_cli.journal import reflections as journal

    with st.open_store() as store:
        copies = journal_copies.find_copies(st.settings.db_path, st.settings.backups_dir, store.db_id)
        n = {t: store.count(t) for t in ("reflections", "patterns", "tensions", "audit_events")}
        question = (f"Delete ALL data in {store.path} ({', '.join(counted(n[k], k) for k in KINDS)})?")
        if copies:
            question += f" {copies.describe()} still hold this journal."
        interactive = stdin_is_tty()
        if not yes and not interactive:
            raise UsageError("refusing to delete without confirmation.",
                             "Add --yes to delete from a script" + (" (and --backups delete|keep)." if copies else "."))
        from mirror_cli.sync import config as sync_config

        remotes = [r.name for r in sync_config.all_remotes(store)]
        if remotes:
            question += f" It syncs with {_remotes(remotes)}."
        if remotes and remote is None and not interactive:
            raise UsageError(f"this journal syncs with {_remotes(remotes)}; say what to do with "
                             f"{'it' if len(remotes) == 1 else 'them'}.",
                             "Add --remote wipe (delete every device's copy there) or --remote keep (pause them).")
        if copies and backups is None and not interactive:
            raise UsageError(f"{copies.describe()} still hold this journal; say what to do with them.",
                             "Add --backups delete or --backups keep.")
        if not yes and not confirm(question):
            st.out.note("Nothing deleted.")
            raise typer.Exit(0)
        if copies and backups is None:
            backups = "delete" if confirm(f"Delete {copies.describe()} too?") else "keep"
        if remotes and remote is None:
            remote = "wipe" if confirm(f"Also wipe {_remotes(remotes)} (every device's copy there)?") \
                else "keep"
        wiped = _wipe_remotes(st, store, remotes) if remotes and remote == "wipe" else 0
        try:
            counts, old_bytes = journal.delete_all(store, warn=st.out.warn), None
        except OldBytesRemain as exc:  # deleted, but another process's read keeps the old bytes: say so, exit 1
            counts, old_bytes = {k: n[k] for k in ("reflections", "patterns", "tensions", "audit_events")}, exc
        if remotes and remote == "keep":
            with store.write():
                for name in remotes:
                    sync_config.set_paused(store, name, True)
    removed = journal_copies.remove_copies(copies, lock_timeout=_lock_timeout(st)) if backups == "delete" else []
    if old_bytes is not None:
        if removed:
            st.out.note(f"Deleted {copies.describe()}.")
        raise old_bytes
    result = {"deleted_all": True, "counts": counts,
              "copies": {**copies.to_dict(), "action": backups if copies else None, "removed": removed},
              "remotes": {"names": remotes, "action": remote if remotes else None, "objects_deleted": wiped}}
    if copies.unreadable:
        st.out.warn(f"{plural(len(copies.unreadable), 'file')} in {copies.backups_dir} named like backups could not be read "
                    "(their journal is unknown) and were left alone.")
    if as_json:
        st.out.json(result)
        return
    message = f"Deleted everything: {', '.join(counted(counts[k], k) for k in KINDS[:3])}."
    if copies and backups == "delete":
        message += f" Deleted {copies.describe()} too."
    elif copies:
        message += f" Kept {copies.describe()}: they still hold the journal's text."
    if remotes and remote == "wipe":
        message += f" Wiped {_remotes(remotes)} ({plural(wiped, 'object')})."
    elif remotes:
        message += (f" Kept {_remotes(remotes)}, paused: other devices still hold the journal there; "
                    "`mirror sync --rejoin` resumes.")
    st.out.result(message)


def _remotes(names) -> str:
    """``remote home`` or ``remotes home, usb``."""
    return f"remote{'' if len(names) == 1 else 's'} {', '.join(names)}"


def _wipe_remotes(st, store, names) -> int:
    """Wipe each remote (needs its key); the first that fails stops everything before the journal is touched."""
    import os

    from mirror_cli.cli.output import stdin_is_tty
    from mirror_cli.crypto.passphrase import KeyCache
    from mirror_cli.remotes.url import open_remote
    from mirror_cli.sync import config as sync_config
    from mirror_cli.sync import wipe

    total = 0
    for name in names:
        cfg = sync_config.get_remote(store, name)
        target = open_remote(cfg.url, options=cfg.options)
        try:
            count, left = wipe.wipe(store, cfg, target, os.environ, interactive=stdin_is_tty(), cache=KeyCache())
        finally:
            target.close()
        total += count
        for line in left:
            st.out.warn(line)
    return total

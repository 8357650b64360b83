"""Journal commands: list, edit, delete (reflect is in :mod:`.reflect`, show in :mod:`.show`, search in
:mod:`.search`)."""

# No `from __future__ import annotations`: Typer reads these signatures on every run, and
# string annotations would cost an eval (a compile) each.
import itertools
import sys
from typing import Annotated, Optional

import typer

from mirror_cli.cli.options import JsonOpt, LimitOpt, SinceOpt, UntilOpt, YesOpt, state
from mirror_cli.cli.select import AndOpt, ContainsOpt, NotTagOpt, OnOpt, StarredOpt
from mirror_cli.cli.output import counted, plural
from mirror_cli.cli.reflect import StarOpt, _keeping, _moment, _parse_when, _read_text, _utf8  # noqa: F401

KINDS = ("reflections", "patterns", "tensions", "audit_events")  # what `delete --all` counts, in that order

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

            if not is_tty(sys.stdout) and empty != "no reflections yet":
                # Filters that select nothing: a pipe's stdout stays empty, and stderr says so (an empty
                # journal piped stays silent, as `git log` is).
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


def _window(since, until, on):
    """[lo, hi) of list's --since, --until and --on (each may be None)."""
    lo = _parse_when(since, option="--since") if since else None
    hi = _parse_when(until, option="--until", end=True) if until else None
    if on:
        from mirror_cli.journal.timeparse import parse_when

        start, stop = parse_when(on, option="--on").period()
        lo, hi = max(lo, start) if lo else start, min(hi, stop) if hi else stop
    return lo, hi


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

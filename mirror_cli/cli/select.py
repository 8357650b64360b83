"""Choosing reflections the way jrnl users type it, shared by `list`, `delete` and `edit`: tag filters
(`--tag` any of them, `--and` all of them, `--not-tag`), `--contains TEXT`, the date options; the
question a bulk change asks ("Delete 37 reflections? [y/N]"); and `list --full`, whole entries as
jrnl's pretty format prints them."""

# No `from __future__ import annotations`: Typer reads these signatures on every run.
from typing import Annotated, Optional

import typer

from mirror_cli.cli.output import plural

AndOpt = Annotated[bool, typer.Option("--and", help="With several tags: only reflections with all of them (default: any).")]
NotTagOpt = Annotated[Optional[list[str]], typer.Option("--not-tag", help="Leave out reflections with this tag (repeatable).", show_default=False)]
ContainsOpt = Annotated[Optional[str], typer.Option("--contains", help="Only reflections whose text contains this (any case).", show_default=False)]
OnOpt = Annotated[Optional[str], typer.Option("--on", help="Only on this day (or month, year: 2024-06, 2024; 'last week').", show_default=False)]
StarredOpt = Annotated[bool, typer.Option("--starred", help="Only starred reflections.")]


def filter_kwargs(tags, all_tags: bool, not_tags, contains, starred: bool) -> dict:
    """Keyword arguments of ``reflections.iter_reflections`` for these options."""
    for what, values in (("a --tag value", tags), ("a --not-tag value", not_tags), ("the --contains value", [contains])):
        _utf8(values or [], what)
    tags = list(tags or [])
    required = [*(tags if all_tags or len(tags) == 1 else []), *(["starred"] if starred else [])]
    return {"tags": required, "any_tags": tags if len(tags) > 1 and not all_tags else [],
            "not_tags": list(not_tags or []), "contains": contains or None}


def _utf8(values, what: str) -> None:
    """A usage error when the shell passed bytes that are not UTF-8 (kept by Python as lone surrogates)."""
    for item in values:
        try:
            (item or "").encode("utf-8")
        except UnicodeEncodeError:
            from mirror_cli.errors import UsageError

            raise UsageError(f"{what} is not valid UTF-8; nothing was done.",
                             "Check the terminal's or the script's character encoding.") from None


def selects(kwargs: dict, lo, hi, mode=None) -> bool:
    """Whether any filter was given (a bulk change of no filter at all would be every reflection)."""
    return bool(lo or hi or mode or any(kwargs.values()))


def ask_bulk(st, verb: str, count: int, yes: bool) -> bool:
    """Confirm a change of *count* reflections: --yes, or a yes on a terminal; a script without --yes is
    refused (exit 2, naming --yes)."""
    from mirror_cli.cli.output import confirm, stdin_is_tty
    from mirror_cli.errors import UsageError

    if yes:
        return True
    if not stdin_is_tty():
        raise UsageError(f"refusing to {verb.lower()} {plural(count, 'reflection')} without confirmation.",
                         f"Add --yes to {verb.lower()} them from a script.")
    if confirm(f"{verb} {plural(count, 'reflection')}?"):
        return True
    st.out.note(f"Nothing {'deleted' if verb == 'Delete' else 'changed'}.")
    return False


def print_full(st, reflections) -> int:
    """Whole reflections, as jrnl's pretty format: ``YYYY-MM-DD HH:MM title`` in local time, the rest of
    the text, the response and the tags, a blank line between; written as they come. Returns how many."""
    from mirror_cli.ids import parse_iso

    count = 0
    for r in reflections:
        first, _, rest = r.content.partition("\n")
        when = parse_iso(r.created_at).astimezone().strftime("%Y-%m-%d %H:%M")
        lines = [("" if not count else "\n") + f"{when} {first}"]
        if rest.strip():
            lines.append(rest.strip("\n"))
        if r.response:
            lines.append("\n".join("> " + line for line in r.response.splitlines()))
        tail = " ".join("#" + t for t in r.tags)
        lines.append(f"[{r.id}" + (f" {r.mode}" if r.mode != "REFLECTION" else "") + "]" + (f" {tail}" if tail else ""))
        st.out.data("\n".join(lines))
        count += 1
    return count


def _selected_ids(store, lo, hi, chosen) -> list[str]:
    from mirror_cli.journal import reflections as journal

    return [r.id for r in journal.iter_reflections(store, since=lo, until=hi, **chosen)]


def delete_selected(st, lo, hi, chosen, yes: bool, as_json: bool) -> None:
    """`delete --tag T ...`: every reflection the filters select, after saying how many."""
    from mirror_cli.journal import reflections as journal

    with st.open_store() as store:
        ids = _selected_ids(store, lo, hi, chosen)
        if not ids:
            st.out.note("No reflections match; nothing deleted.")
        elif not ask_bulk(st, "Delete", len(ids), yes):
            raise typer.Exit(0)
        done = journal.delete(store, ids) if ids else []
    if as_json:
        st.out.json({"deleted": done})
    elif done:
        st.out.result(f"Deleted {plural(len(done), 'reflection')}.")


def edit_selected(st, lo, hi, chosen, mode, add, drop, yes: bool, as_json: bool) -> None:
    """`edit --has-tag T --tag U ...`: the tags and mode of every reflection the filters select."""
    from mirror_cli.errors import UsageError
    from mirror_cli.journal import reflections as journal

    if not (add or drop or (mode and mode.strip())):
        raise UsageError("nothing to change.", "Give --tag, --untag, --star, --unstar or --mode.")
    with st.open_store() as store:
        ids = _selected_ids(store, lo, hi, chosen)
        if not ids:
            st.out.note("No reflections match; nothing changed.")
        elif not ask_bulk(st, "Edit", len(ids), yes):
            raise typer.Exit(0)
        done = journal.edit_many(store, ids, mode=mode, add_tags=add, drop_tags=drop) if ids else []
    if as_json:
        st.out.json({"edited": done})
    elif ids:
        st.out.result(f"Changed {plural(len(done), 'reflection')}" +
                      (f" ({plural(len(ids) - len(done), 'was', 'were')} already so)." if len(done) < len(ids) else "."))

"""`mirror show ID...`: reflections in full, each in turn (jrnl's pretty format), through the pager."""

# No `from __future__ import annotations`: Typer reads these signatures on every run.
import sys
from typing import Annotated

import typer

from mirror_cli.cli.options import JsonOpt, state


def show(
    ctx: typer.Context,
    id: Annotated[list[str], typer.Argument(help="Reflection ids or unique prefixes of at least 6 characters.")],  # noqa: A002
    no_pager: Annotated[bool, typer.Option("--no-pager", help="Do not page several reflections (on a terminal they go through MIRROR_PAGER, PAGER or less -FRX).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show reflections in full (several: each in turn, as jrnl's pretty format, through the pager)."""
    from mirror_cli.journal import reflections as journal

    st = state(ctx)
    with st.open_store() as store:
        found = list({r.id: r for r in (journal.get(store, rid) for rid in id)}.values())  # each once
    if as_json:  # one ID: its object (CONTRACT); several: an array of them
        st.out.json(found[0].to_dict() if len(id) == 1 else [r.to_dict() for r in found])
        return
    if len(found) == 1:
        st.out.data("\n".join(_full(st, found[0])))
        return

    def lines():
        if st.out.rich:  # the zone named once, on top
            from mirror_cli.cli.output import colour_wanted
            from mirror_cli.cli.terminal import colour, times_in

            yield colour("2", times_in(), colour_wanted())
        for i, r in enumerate(found):
            if i:
                yield ""
            yield from _full(st, r, zone=False)

    st.out.lines(lines(), paged=not no_pager and st.out.rich)


def _full(st, r, *, zone: bool = True) -> list[str]:
    """The lines of one reflection shown in full: its fields, then its text (and response)."""
    from mirror_cli.cli.output import fd_is_tty

    created, updated = r.created_at, r.updated_at
    if st.out.rich:  # a person: local time, the zone named once; scripts keep the stored ISO UTC
        from mirror_cli.cli.terminal import local, zone_name

        created, updated = local(created, seconds=True), local(updated, seconds=True)
        if zone:
            created += f" ({zone_name()})"
    lines = [f"id:       {r.id}", f"created:  {created}", f"updated:  {updated}", f"mode:     {r.mode}"]
    if r.tags:
        lines.append(f"tags:     {', '.join(r.tags)}")
    if r.local_only:
        lines.append("local-only: yes")
    lines += ["", r.content]
    if r.response:
        lines += ["", "response:", r.response]
    if fd_is_tty(sys.stdout):
        from mirror_cli.cli.terminal import for_terminal

        return [for_terminal(line) for part in lines for line in part.split("\n")]
    return lines

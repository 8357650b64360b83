"""`mirror search`: reflections that match, best first, each with the part of its text that matched."""

# No `from __future__ import annotations`: Typer reads these signatures on every run.
import sys
from typing import Annotated

import typer

from mirror_cli.cli.reflect import _utf8
from mirror_cli.cli.options import JsonOpt, state


def search(
    ctx: typer.Context,
    query: Annotated[list[str], typer.Argument(help='Words (all must appear); "quoted phrases"; OR; NOT word (or -word '
                                                    'in quotes or after --); prefix*. Chinese, Japanese: as written.')],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most N results.")] = 20,
    no_pager: Annotated[bool, typer.Option("--no-pager", help="Do not page (on a terminal the hits go through MIRROR_PAGER, PAGER or less -FRX).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Search reflections, best matches first, each with the part of its text that matched."""
    from mirror_cli.journal import find as finder
    from mirror_cli.journal.reflections import short_id_length

    st = state(ctx)
    _utf8(query, "the search query", "nothing was searched")
    with st.open_store() as store:
        found = finder.find(store, " ".join(query), limit=limit)
        ids = short_id_length(store) if st.out.rich and found and not as_json else 0
    if as_json:  # the reflection object, and the snippet (its matches as [start, end) offsets into it)
        st.out.json([{**f.reflection.to_dict(), "snippet": f.snippet.text,
                      "snippet_marks": [list(m) for m in f.snippet.marks]} for f in found])
        return
    if not found:  # a person reads it where the results go; a script's stdout stays empty (a note on stderr)
        from mirror_cli.cli.output import is_tty

        if is_tty(sys.stdout):
            st.out.table(("id", "when", "mode", "tags", "match"), [], empty="no reflections match")
        else:
            st.out.note("No reflection matches.")
        return
    if not st.out.rich:  # tab-separated for scripts: the stored ISO UTC time, the snippet as text
        st.out.table(("id", "when", "mode", "tags", "match"),
                     [(f.reflection.id, f.reflection.created_at, f.reflection.mode, ", ".join(f.reflection.tags),
                       f.snippet.text) for f in found])
        return
    st.out.lines(hit_lines(found, ids), paged=not no_pager)


def hit_lines(found, id_length: int, *, columns: int | None = None, colour_on: bool | None = None):
    """A person's view of the hits, as `list` shows reflections (the zone named once, then each hit's short
    id, local time, first line and tags on one line) with the part that matched under it, indented and
    wrapped to the terminal's width by display width, the matched words in bold and underlined."""
    from mirror_cli.cli.output import colour_wanted
    from mirror_cli.cli.terminal import Oneline, colour, times_in, wrap_marked, width

    on = colour_wanted() if colour_on is None else colour_on
    columns = columns or width()
    line = Oneline(id_length, columns=columns, colour=on)
    yield colour("2", times_in(), on)
    for f in found:
        r = f.reflection
        first = r.content.splitlines()[0] if r.content else ""
        yield line(r.id, r.created_at, first if r.mode == "REFLECTION" else f"[{r.mode}] {first}", r.tags)
        for text in wrap_marked(f.snippet.text, f.snippet.marks, columns - 4, on):
            yield "    " + text

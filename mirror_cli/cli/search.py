"""`mirror search`: reflections that match, best first, each with the part of its text that matched."""

# No `from __future__ import annotations`: Typer reads these signatures on every run.
import sys
from typing import Annotated

import typer

from mirror_cli.cli.journal import _utf8
from mirror_cli.cli.options import JsonOpt, state


def search(
    ctx: typer.Context,
    query: Annotated[list[str], typer.Argument(help='Words (all must appear); "quoted phrases"; OR; NOT word (or -word '
                                                    'in quotes or after --); prefix*. Chinese, Japanese: as written.')],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most N results.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Search reflections, best matches first, each with the part of its text that matched."""
    from mirror_cli.journal import find as finder

    st = state(ctx)
    _utf8(query, "the search query", "nothing was searched")
    with st.open_store() as store:
        found = finder.find(store, " ".join(query), limit=limit)
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
    when = str  # scripts: the stored ISO UTC time; a person: local time
    if st.out.rich:
        from mirror_cli.cli.terminal import local as when
    rows = [(f.reflection.id, when(f.reflection.created_at),
             f.reflection.mode, ", ".join(f.reflection.tags), f.snippet) for f in found]
    if not st.out.rich:  # tab-separated: the snippet as text
        st.out.table(("id", "when", "mode", "tags", "match"), [(*row[:4], row[4].text) for row in rows])
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from mirror_cli.cli.output import colour_wanted, for_terminal

    def marked(snippet) -> Text:  # Text, not markup: a journal's "[bold]" is text
        text, at = Text(), 0
        for start, end in snippet.marks:
            text.append(for_terminal(snippet.text[at:start]))
            text.append(for_terminal(snippet.text[start:end]), style="bold underline")
            at = end
        text.append(for_terminal(snippet.text[at:]))
        return text

    table = Table("id", "when", "mode", "tags", header_style="bold")
    table.add_column("match", overflow="fold")  # text without spaces (Chinese, Japanese) wraps too
    for *cells, snippet in rows:
        table.add_row(*(Text(for_terminal(c)) for c in cells), marked(snippet))
    Console(color_system="auto" if colour_wanted() else None).print(table)  # NO_COLOR: no escapes at all

"""`mirror tags`: every tag with how many reflections carry it, most used first (as `jrnl --tags`)."""

# No `from __future__ import annotations`: Typer reads this signature on every run.
import typer

from mirror_cli.cli.options import JsonOpt, state


def tags(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Tags and how many reflections carry each, most used first."""
    from mirror_cli.journal.stats import tag_counts

    st = state(ctx)
    with st.open_store() as store:
        counts = tag_counts(store)
    if as_json:
        st.out.json([{"tag": tag, "count": n} for tag, n in counts])
        return
    if not counts:
        st.out.note("no tags yet; add some with `mirror reflect -t TAG` or #words in the text.")
        return
    width = max(len(tag) for tag, _ in counts)
    st.out.data("\n".join(f"{tag:<{width}}  {n}" for tag, n in counts))

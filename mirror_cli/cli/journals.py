"""`mirror journals`: the named journals, each with its own file, key, backups, remotes and audit chain."""

# No `from __future__ import annotations`: Typer reads these signatures on every run.
import typer

from mirror_cli.cli.options import JsonOpt, state


def journals(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the named journals (select one with -j NAME).

    Each has its own file, key, backups, remotes and audit chain; MIRROR_JOURNAL=NAME selects one too.
    The reflections are counted without a key."""
    from mirror_cli.db.peek import peek
    from mirror_cli.settings import known_journals

    st = state(ctx)
    settings = st.settings
    found = []
    for name, path in known_journals(settings):
        look = peek(path)
        if not look.exists and name == "default" and settings.journal != "default":
            continue  # no default journal yet, and another one in use: nothing to show
        found.append({"name": name, "database": str(path), "reflections": look.reflections,
                      "encrypted": look.encrypted, "exists": look.exists,
                      "current": path == settings.db_path})
    if as_json:
        st.out.json(found)
        return
    rows = [("*" if j["current"] else "", j["name"],
             "not created yet" if not j["exists"] else "?" if j["reflections"] is None else j["reflections"],
             "" if j["encrypted"] is None else "yes" if j["encrypted"] else "no", j["database"]) for j in found]
    st.out.table(("", "journal", "reflections", "encrypted", "database"), rows,
                 empty="no journals yet: `mirror reflect` starts the default one")

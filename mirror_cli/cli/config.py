"""`mirror config`: show, get, set, path."""

from __future__ import annotations

from typing import Annotated

import typer

from mirror_cli.cli.options import group, JsonOpt, state

app = group("Read and change settings; show where files live.")


@app.command()
def path(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The resolved config file, journal, database and backups folder."""
    st = state(ctx)
    s = st.settings
    paths = {"config": str(s.config_path), "database": str(s.db_path), "backups": str(s.backups_dir)}
    if as_json:
        st.out.json({**paths, "journal": s.journal})  # journal: null for a file named by --db or MIRROR_DB
    else:
        journal = s.journal if s.journal is not None else "(a file named by --db or MIRROR_DB)"
        st.out.data("\n".join(f"{k}: {v}" for k, v in {**paths, "journal": journal}.items()))


@app.command()
def show(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The settings in the config file."""
    st = state(ctx)
    cfg = dict(st.settings.config)
    if as_json:
        import json

        st.out.json(json.loads(json.dumps(cfg, default=str)))  # YAML dates and the like, as text
    elif cfg:
        import yaml

        st.out.data(yaml.safe_dump(cfg, default_flow_style=False, sort_keys=True, allow_unicode=True))
    else:
        st.out.note(f"No settings in {st.settings.config_path}; defaults apply.")


@app.command()
def get(ctx: typer.Context, key: Annotated[str, typer.Argument(help="A setting, e.g. backup.dir.")],
        as_json: JsonOpt = False) -> None:
    """Print one setting (exit 1 when it is not set)."""
    from mirror_cli.errors import OperationError

    st = state(ctx)
    missing = object()
    value = st.settings.get(key, missing)
    if value is missing:
        raise OperationError(f"{key} is not set in {st.settings.config_path}.")
    if as_json:
        st.out.json(value)
    else:
        st.out.data(str(value) if not isinstance(value, bool) else str(value).lower())


@app.command("set")
def set_(ctx: typer.Context, key: Annotated[str, typer.Argument(help="A setting, e.g. backup.dir.")],
         value: Annotated[str, typer.Argument(help="Its new value.")], as_json: JsonOpt = False) -> None:
    """Change one setting in the config file."""
    from mirror_cli.settings import KNOWN_KEYS, is_known_key, parse_value, resolve_config_path, set_config_value

    st = state(ctx)
    parsed = parse_value(value, key)
    # Not st.settings: a config holding a mistyped key is refused there, and this is how to fix it.
    path = resolve_config_path(config=st.config)
    set_config_value(path, key, parsed)
    if not is_known_key(key):
        st.out.warn(f"{key} is not a setting mirror knows ({', '.join(sorted(KNOWN_KEYS))}); saved anyway.")
    if as_json:
        st.out.json({"key": key, "value": parsed, "config": str(path)})
    else:
        st.out.result(f"{key} = {parsed}")

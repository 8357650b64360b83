"""`mirror migrate`: schema status, up, down, history, check."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mirror_cli.cli.options import DryRunOpt, JsonOpt, YesOpt, group, state

app = group("Inspect and change the database schema.", no_args_is_help=False,
                  invoke_without_command=True)


def _open(ctx):
    return state(ctx).open_store(migrate=False, unlock=False)


def _unlock_quietly(st, store) -> None:
    """Key the migration's audit event when a key is at hand; never prompt for it."""
    if store.encrypted:
        from mirror_cli.db.unlock import unlock_store
        from mirror_cli.errors import LockedError

        try:
            unlock_store(store, st.settings, interactive=False)  # quietly: its warnings are not shown
        except LockedError:
            pass


@app.callback()
def main(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show the schema status (the default), or run a migrate subcommand."""
    if ctx.invoked_subcommand is None:
        status(ctx, as_json)


@app.command()
def status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Current and latest schema versions, and pending migrations."""
    from mirror_cli.db import schema

    st = state(ctx)
    with _open(ctx) as store:
        s = schema.status(store)
    if as_json:
        st.out.json(s.to_dict())
    else:
        pending = ", ".join(map(str, s.pending)) or "none"
        st.out.data(f"schema version {s.current_version} of {s.latest_version}; pending: {pending}")


def _render(st, result, as_json: bool) -> None:
    if as_json:
        st.out.json(result.to_dict())
        return
    verb = "would apply" if result.dry_run else "applied"
    if result.direction == "down":
        verb = "would roll back" if result.dry_run else "rolled back"
    if not result.steps:
        st.out.result(f"nothing to do; schema version {result.from_version}.")
        return
    for step in result.steps:
        st.out.result(f"{verb} {step['version']:04d}_{step['name']}")
    st.out.result(f"schema version {result.from_version} -> {result.to_version}")


@app.command()
def up(
    ctx: typer.Context,
    to: Annotated[Optional[int], typer.Option("--to", min=0, help="Stop at this version.")] = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Apply pending migrations (all, or up to --to)."""
    from mirror_cli.db import schema

    st = state(ctx)
    with _open(ctx) as store:
        _unlock_quietly(st, store)
        result = schema.up(store, to=to, dry_run=dry_run)
        if not dry_run:
            store._ensure_meta()
    _render(st, result, as_json)


@app.command()
def down(
    ctx: typer.Context,
    steps: Annotated[Optional[int], typer.Option("--steps", min=1, help="Roll back N migrations (default 1).")] = None,
    to: Annotated[Optional[int], typer.Option("--to", min=0, help="Roll back to this version.")] = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Roll back migrations (the last one, --steps N, or --to V). Rolling back the first one
    removes every table (the journal itself): that asks first, as `delete --all` does."""
    from mirror_cli.db import schema
    from mirror_cli.errors import UsageError

    st = state(ctx)
    if steps is not None and to is not None:
        raise UsageError("give --steps or --to, not both.")
    with _open(ctx) as store:
        if not dry_run and not yes and _would_drop_the_journal(store, steps, to):
            from mirror_cli.cli.output import confirm, stdin_is_tty

            what = ("rolling back the first migration removes every table: all reflections, patterns, "
                    "the audit log and the key record.")
            if not stdin_is_tty():
                raise UsageError(what, "Make a backup first (`mirror backup create`), then add --yes.")
            if not confirm(f"This is {what[:-1]} Go on?"):
                raise UsageError("migrate down cancelled; nothing was changed.")
        _unlock_quietly(st, store)
        result = schema.down(store, steps=steps, to=to, dry_run=dry_run)
    _render(st, result, as_json)


def _would_drop_the_journal(store, steps: int | None, to: int | None) -> bool:
    """Whether the rollback takes out migration 1 (every table) from a database holding a journal
    (reflections, patterns, tensions) or a key record."""
    from mirror_cli.db import migrations

    plan = migrations.plan_down(store.conn, migrations.discover(), steps=steps, to=to)
    if not any(m.version == 1 for m in plan):
        return False
    def holds(sql: str, table: str) -> bool:
        exists = store.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        return exists.fetchone() is not None and store.conn.execute(sql).fetchone() is not None

    return (any(holds(f"SELECT 1 FROM {t} LIMIT 1", t) for t in ("reflections", "patterns", "tensions"))  # noqa: S608
            or holds("SELECT 1 FROM meta WHERE key = 'crypto'", "meta"))


@app.command()
def history(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Applied migrations, with their checksums and times."""
    from mirror_cli.db import schema

    st = state(ctx)
    with _open(ctx) as store:
        rows = schema.history(store)
    if as_json:
        st.out.json(rows)
    else:
        st.out.table(("version", "name", "applied at", "checksum"),
                     [(r["version"], r["name"], r["applied_at"], r["checksum"][:12]) for r in rows])


@app.command()
def check(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Integrity check, foreign keys, orphaned rows, changed migrations (exit 3 on a problem)."""
    from mirror_cli.db import schema

    from mirror_cli.errors import VerificationError

    st = state(ctx)
    try:
        with _open(ctx) as store:
            report = schema.check(store)
    except VerificationError as exc:
        if not as_json:
            raise
        # A file SQLite cannot read fails the check: --json still prints its object (exit 3).
        report = schema.CheckReport(ok=False, integrity=[str(exc)], foreign_keys=[], orphans=[], drift=[])
    if as_json:
        st.out.json(report.to_dict())
    elif report.ok:
        st.out.result("ok: integrity, foreign keys, orphans, migration checksums and schema objects all fine.")
    else:
        # CONTRACT.md: on an error nothing goes to stdout (only --json prints its object and exits 3).
        import sys

        lines = [f"integrity: {line}" for line in report.integrity]
        lines += [f"foreign key: {fk['table']} row {fk['rowid']} points at a missing {fk['parent']}"
                  for fk in report.foreign_keys]
        lines += [f"orphans: {o['count']} {o['what']}" for o in report.orphans]
        lines += [f"migration {d['version']:04d}_{d['name']}: {d['problem']}" for d in report.drift]
        lines += [f"schema: {o['type']} {o['name']}: {o['problem']}" for o in report.objects]
        sys.stderr.write("mirror: the database check found problems:\n" + "".join(f"  {x}\n" for x in lines)
                         + "Restore the database from a backup (`mirror backup list`).\n")
    if not report.ok:
        raise typer.Exit(3)

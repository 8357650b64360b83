"""Exit codes, errors on stderr with nothing on stdout and no traceback, help text everywhere."""

from __future__ import annotations

import sqlite3

import typer.main

from helpers import assert_error
from mirror_cli.cli.app import app


def test_database_locked_is_1(cli, mirror_home, monkeypatch):
    import mirror_cli.db.store as store_mod

    assert cli("reflect", "first").exit_code == 0
    monkeypatch.setattr(store_mod, "BUSY_TIMEOUT_MS", 200)
    holder = sqlite3.connect(mirror_home / "mirror.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        r = cli("reflect", "second")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert_error(r, 1)
    assert "locked" in r.stderr and "Try again" in r.stderr
    assert cli("list").stdout.count("\n") == 1


def test_an_internal_error_is_exit_1_without_traceback_or_its_message(cli, monkeypatch):
    from mirror_cli.journal import reflections as journal

    def broken(*args, **kwargs):
        raise ValueError("private words from a reflection")

    monkeypatch.setattr(journal, "iter_reflections", broken)  # what `list` reads with
    cli("reflect", "a journal to list")
    r = cli("list")
    assert r.exit_code == 1 and r.stdout == ""
    assert "Traceback" not in r.stderr and "private words" not in r.stderr
    assert "ValueError" in r.stderr and "MIRROR_DEBUG=1" in r.stderr
    loud = cli("list", env={"MIRROR_DEBUG": "1"})
    assert loud.exit_code == 1 and "Traceback" in loud.stderr and "private words" in loud.stderr


def _walk(command, path: tuple[str, ...] = ()):
    yield path, command
    if hasattr(command, "list_commands"):  # a group (Typer may vendor its own click)
        ctx = type(command).context_class(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, path + (name,)
            yield from _walk(sub, path + (name,))


def test_every_command_and_option_has_help(cli):
    root = typer.main.get_command(app)
    assert hasattr(root, "list_commands")
    seen = []
    for path, command in _walk(root):
        seen.append(" ".join(path))
        assert (command.help or command.short_help or "").strip(), f"no help text: mirror {' '.join(path)}"
        for param in command.params:
            if getattr(param, "param_type_name", "") == "option" and not getattr(param, "hidden", False):
                assert (param.help or "").strip(), f"option {param.opts} of mirror {' '.join(path)} has no help"
        r = cli(*path, "--help")
        assert r.exit_code == 0 and "Usage" in r.stdout, path
    for expected in ("reflect", "list", "show", "edit", "search", "delete", "migrate status", "migrate up",
                     "migrate down", "migrate history", "migrate check", "audit verify", "audit log",
                     "config show", "config get", "config set", "config path"):
        assert expected in seen

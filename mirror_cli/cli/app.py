"""The root Typer app: global options, every command group mounted, errors mapped to exit codes.

Exit status (CONTRACT.md): 0 success, 1 operation failed, 2 usage error,
3 verification failed, 4 locked (no key / wrong passphrase), 5 invalid input.
"""

# No `from __future__ import annotations`: Typer reads these signatures on every run, and
# string annotations would cost an eval (a compile) each.
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from mirror_cli import __version__
from mirror_cli.cli.options import RICH_MODE
from mirror_cli.errors import ExitCode, MirrorError

EPILOG = ("Exit status: 0 ok, 1 failed, 2 usage error, 3 verification failed, 4 locked (no key or wrong "
          "passphrase), 5 invalid input. Set MIRROR_DEBUG=1 for tracebacks.")


class State:
    """Per-invocation state on ctx.obj: global options, and Settings resolved once on first use."""

    def __init__(self, db: Optional[Path], config: Optional[Path], quiet: bool, journal: Optional[str] = None,
                 plain: bool = False) -> None:
        self.db, self.config, self.quiet, self.journal = db, config, quiet, journal
        self._settings = None
        from mirror_cli.cli.output import Output

        self.out = Output(quiet=quiet, plain=plain)

    @property
    def settings(self):
        if self._settings is None:
            from mirror_cli.settings import resolve

            self._settings = resolve(db=self.db, config=self.config, quiet=self.quiet, journal=self.journal)
        return self._settings

    def open_store(self, *, unlock: bool = True, create: bool = False, migrate: bool = True):
        """Open the database; when *unlock* and it is encrypted, load its key and show the unlock's warnings.

        Only a command that writes passes *create* (CONTRACT.md, "Named journals": reflect, import,
        backup restore): any other on a database that does not exist is a usage error naming it, and
        creates nothing (a mistyped --db must not become an empty journal that verifies "ok")."""
        from mirror_cli.db.open import open_store

        settings = self.settings
        if not create and settings.journal not in (None, "default") and not settings.db_path.exists():
            from mirror_cli.errors import UsageError

            raise UsageError(f"there is no journal named {settings.journal!r} ({settings.db_path}); nothing was "
                             "created.", f"`mirror journals` lists the journals; `mirror -j {settings.journal} "
                             "reflect` starts this one.")
        store = open_store(settings, create=create, migrate=migrate)
        if unlock and store.encrypted:
            try:
                self.unlock(store)
            except BaseException:
                store.close()
                raise
        return store

    def unlock(self, store, *, interactive: Optional[bool] = None) -> None:
        """Load *store*'s key (a prompt only on a terminal) and show the warnings the unlock returned
        (a passphrase file others can read, keyring trouble)."""
        from mirror_cli.cli.output import stdin_is_tty
        from mirror_cli.db.unlock import unlock_store

        result = unlock_store(store, self.settings,
                              interactive=stdin_is_tty() if interactive is None else interactive)
        for warning in result.warnings:
            self.out.warn(warning)


def report_error(exc: MirrorError) -> None:
    sys.stderr.write(f"mirror: {exc.message}\n")
    if exc.hint:
        sys.stderr.write(f"{exc.hint}\n")


# Every command is loaded on demand: Typer builds a Click command from a function's
# signature each time it is mounted, so building all of them would cost every
# invocation tens of milliseconds. name -> (module, attribute, kind).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "reflect": ("mirror_cli.cli.reflect", "reflect", "command"),
    "list": ("mirror_cli.cli.journal", "list_", "command"),
    "show": ("mirror_cli.cli.show", "show", "command"),
    "edit": ("mirror_cli.cli.journal", "edit", "command"),
    "search": ("mirror_cli.cli.search", "search", "command"),
    "delete": ("mirror_cli.cli.journal", "delete", "command"),
    "migrate": ("mirror_cli.cli.migrate", "app", "group"),
    "audit": ("mirror_cli.cli.audit", "app", "group"),
    "config": ("mirror_cli.cli.config", "app", "group"),
    "shard": ("mirror_cli.cli.shard", "app", "group"),
    "backup": ("mirror_cli.cli.backup", "app", "group"),
    "key": ("mirror_cli.cli.key", "app", "group"),
    "patterns": ("mirror_cli.cli.patterns", "patterns_app", "group"),
    "tensions": ("mirror_cli.cli.patterns", "tensions_app", "group"),
    "export": ("mirror_cli.cli.exchange", "export_cmd", "command"),
    "import": ("mirror_cli.cli.exchange", "import_cmd", "command"),
    "remote": ("mirror_cli.cli.sync", "remote_app", "group"),
    "sync": ("mirror_cli.cli.sync", "sync", "command"),
    "conflicts": ("mirror_cli.cli.sync", "conflicts_app", "group"),
    "journals": ("mirror_cli.cli.journals", "journals", "command"),
    "tags": ("mirror_cli.cli.tags", "tags", "command"),
    "stats": ("mirror_cli.cli.stats", "stats", "command"),
    "help": ("mirror_cli.cli.help", "help_", "command"),
    "completion": ("mirror_cli.cli.completion", "completion", "command"),
}


def _load(name: str):
    import importlib

    import typer.main

    module_name, attr, kind = COMMANDS[name]
    obj = getattr(importlib.import_module(module_name), attr)
    if kind == "command":
        from mirror_cli.cli.options import group

        single = group("")
        single.command(name)(obj)
        obj = single
    command = typer.main.get_command(obj)
    command.name = name
    return command


class MirrorGroup(TyperGroup):
    """Loads commands lazily and maps MirrorError to a message on stderr and the contract's exit code."""

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in COMMANDS:
            return _load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, quiet_first(args))

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS \
                and super().get_command(ctx, name) is None and not ctx.resilient_parsing:
            from mirror_cli.cli.help import journal_names, unknown_command

            ctx.fail(unknown_command(name, self.list_commands(ctx), args[1:], journal_names(ctx.params.get("config"))))
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except MirrorError as exc:
            _debug_traceback()
            report_error(exc)
            raise typer.Exit(int(exc.exit_code)) from None
        except Terminated as exc:
            sys.stderr.write("mirror: terminated.\n")
            raise typer.Exit(128 + exc.signum) from None
        except KeyboardInterrupt:
            sys.stderr.write("mirror: interrupted.\n")
            raise typer.Exit(130) from None
        except MemoryError:
            sys.stderr.write("mirror: not enough memory for this; nothing was changed.\n")
            raise typer.Exit(int(ExitCode.FAILED)) from None
        except BrokenPipeError:
            # e.g. `mirror export | head`: the reader went away; not an error of ours.
            try:
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115
            except OSError:
                pass
            raise typer.Exit(0) from None
        except OSError as exc:
            _debug_traceback()
            from mirror_cli.localfs import io_error

            report_error(io_error("access", getattr(exc, "filename", None) or "a file", exc))
            raise typer.Exit(int(ExitCode.FAILED)) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:
            if "click" in type(exc).__module__:  # Click's (Typer's vendored copy's) usage errors and exits
                raise
            _debug_traceback()
            sqlite3 = sys.modules.get("sqlite3")
            if sqlite3 is not None and isinstance(exc, sqlite3.Error):
                # A database error outside a write transaction (reads, searches).
                from mirror_cli.db.store import _db_error

                db = ctx.obj.settings.db_path if isinstance(ctx.obj, State) else "the database"
                error = _db_error(exc, db)
                report_error(error)
                raise typer.Exit(int(error.exit_code)) from None
            if isinstance(exc, UnicodeEncodeError) and any(map(_not_utf8, sys.argv[1:])):
                # The shell passed an argument that is not UTF-8 (Python keeps such bytes as lone
                # surrogates) and it reached SQLite or the output: a usage error, as such bytes on stdin.
                sys.stderr.write("mirror: an argument is not valid UTF-8, and mirror cannot use it.\n"
                                 "Check the terminal's or the script's character encoding.\n")
                raise typer.Exit(int(ExitCode.USAGE)) from None
            # A bug of ours: no traceback (it could quote data), only its kind and what to do.
            sys.stderr.write(f"mirror: unexpected internal error ({type(exc).__name__}); nothing more is known.\n"
                             "Run the command again with MIRROR_DEBUG=1 to see the traceback, and report it.\n")
            raise typer.Exit(int(ExitCode.FAILED)) from None


def _not_utf8(arg: str) -> bool:
    """True when the command-line argument *arg* held bytes that are not UTF-8."""
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _debug_traceback() -> None:
    """With MIRROR_DEBUG=1, print the traceback of the error being handled; the exit code stays the contract's."""
    if os.environ.get("MIRROR_DEBUG") == "1":
        import traceback

        traceback.print_exc(file=sys.stderr)


app = typer.Typer(
    name="mirror",
    cls=MirrorGroup,
    help="mirror: a private journal you truly own.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=RICH_MODE,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_text() -> str:
    return f"mirror {__version__}\n"


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(_version_text())
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[Optional[Path], typer.Option("--db", help="Database file (else MIRROR_DB, config, MIRROR_HOME).", envvar=None)] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="Config file (else MIRROR_CONFIG, MIRROR_HOME).")] = None,
    journal: Annotated[Optional[str], typer.Option("--journal", "-j", metavar="NAME", help="A named journal (else MIRROR_JOURNAL); `mirror journals` lists them.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors and requested data.")] = False,
    plain: Annotated[bool, typer.Option("--plain", help="Tab-separated lines with ISO UTC times, as scripts get (else MIRROR_PLAIN=1); NO_COLOR only drops colour.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")] = False,
) -> None:
    """mirror: a private journal you truly own."""
    ctx.obj = State(db, config, quiet, journal, plain)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (a closed terminal, `timeout`, a shutdown), raised where the process is, so
    that every ``finally`` runs: temp files and plaintext drafts are removed, transactions roll back.
    Python's default for both signals is to die at once and leave them behind."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum: int, _frame: Any) -> None:
    raise Terminated(signum)


def _catch_termination() -> None:
    import signal

    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is signal.SIG_DFL:
            signal.signal(sig, _on_signal)


def quiet_first(args: list[str]) -> list[str]:
    """*args* with every ``-q``/``--quiet`` (and ``--plain``) before ``--`` moved to the front, where the root
    app reads it: CONTRACT.md has ``-q`` "also accepted after the subcommand, where people type it"."""
    end = args.index("--") if "--" in args else len(args)
    front = [a for a in args[:end] if a in ("-q", "--quiet", "--plain")]
    if not front or args[:len(front)] == front:
        return args
    flags = (["-q"] if any(a != "--plain" for a in front) else []) + (["--plain"] if "--plain" in front else [])
    return flags + [a for a in args[:end] if a not in ("-q", "--quiet", "--plain")] + args[end:]


def main() -> None:
    _catch_termination()
    if sys.stderr is None:  # started with it closed (`2>&-`): diagnostics go nowhere, as asked
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    if sys.stdin is None:  # `<&-`: nothing to read, as from an empty file
        sys.stdin = open(os.devnull)  # noqa: SIM115
    if sys.stdout is None:  # `mirror export >&-`: the output would be lost, so do nothing (as `echo >&-`)
        sys.stderr.write("mirror: standard output is closed; nothing was done.\n")
        sys.exit(int(ExitCode.FAILED))
    code: int | str | None = 0
    try:
        if sys.argv[1:] == ["--version"]:
            # Nothing to parse: skip building Typer's command tree (the eager --version option prints the same).
            sys.stdout.write(_version_text())
        else:
            app()
    except SystemExit as exc:
        code = exc.code
    except MirrorError as exc:  # raised outside a command (e.g. while building the app)
        _debug_traceback()
        report_error(exc)
        code = int(exc.exit_code)
    except BrokenPipeError:
        code = 0
    except Terminated as exc:  # before or after a command ran
        code = 128 + exc.signum
    except OSError as exc:  # writing the version or the help to a full device (`> /dev/full`)
        _stdout_to_devnull()
        sys.stderr.write(f"mirror: cannot write the output: {exc.strerror or exc}.\n")
        code = int(ExitCode.FAILED)
    sys.exit(_flushed(code))


def _stdout_to_devnull() -> None:
    """The interpreter flushes stdout again at exit: give it somewhere harmless to write."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _flushed(code: int | str | None) -> int | str | None:
    """Flush stdout before the interpreter does: a reader that went away (`mirror list | true`)
    is not an error of ours and must not print "Exception ignored ... BrokenPipeError" or exit
    120; a full device (`> /dev/full`) is reported in one line, exit 1."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_to_devnull()
    except OSError as exc:
        _stdout_to_devnull()
        sys.stderr.write(f"mirror: cannot write the output: {exc.strerror or exc}.\n")
        return code or int(ExitCode.FAILED)
    return code


if __name__ == "__main__":
    main()

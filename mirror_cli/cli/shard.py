"""`mirror shard`: erasure-coded copies over several folders and remotes (any K of N restore the file)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer
import typer.core

from mirror_cli.cli.options import JsonOpt, group, state

app = group("Erasure-coded copies of a backup, spread over several disks, folders, buckets or databases.")

LEVEL_HELP = "minimal (2 of 3), personal (3 of 5), federation (5 of 9), paranoid (7 of 15)."

PROGRESS_MIN_BYTES = 4 << 20  # no bar for files that take a blink


class _Bar:
    """Progress callback for the core: a bar on stderr only for files over PROGRESS_MIN_BYTES.

    The rich bar (``Output.progress``: stderr a terminal, no ``NO_COLOR``, not ``-q``) is started
    on the first report whose total is large enough, and never when stdout is not a terminal
    (CONTRACT.md: a non-terminal stdout turns progress bars off).
    """

    def __init__(self, out, description: str) -> None:
        from mirror_cli.cli.output import is_tty

        self.out, self.description = out, description
        self.enabled = is_tty(sys.stdout)
        self._bar = None

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            if not self.enabled or total < PROGRESS_MIN_BYTES:
                return
            self._bar = self.out.progress(self.description, total)
            self._bar.__enter__()
        self._bar(done, total)

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


@contextlib.contextmanager
def audit_store(st) -> Iterator[object | None]:
    """The configured database, where create and repair record themselves, when there is one
    (never created for this), else None. Opened before the work, so that an encrypted database
    without its key stops the command (exit 4) before any shard is written, not after all of them."""
    if not st.settings.db_path.exists():
        yield None
        return
    with st.open_store(create=False) as store:
        yield store


class _KeepsArgOrder(typer.core.TyperCommand):
    """Click gives each option one value, so ``--to A B C`` arrives as ``--to A`` and positionals
    B, C, and the order of positionals against ``--to`` is lost; keep the raw arguments to see it."""

    def parse_args(self, ctx, args):  # type: ignore[no-untyped-def]
        ctx.meta["mirror.shard.args"] = list(args)
        return super().parse_args(ctx, args)


_VALUE_OPTIONS = {"--to", "--level", "-l", "-k", "-n"}


def _after_to(args: list[str]) -> int:
    """How many of the positionals come after a ``--to`` (they are locations whatever they are)."""
    after, in_to, i = 0, False, 0
    while i < len(args):
        token = args[i]
        if token == "--":
            after += len(args) - i - 1 if in_to else 0
            break
        if token.startswith("--") and "=" in token:
            in_to = in_to or token.startswith("--to=")
        elif token in _VALUE_OPTIONS:
            in_to = in_to or token == "--to"
            i += 1  # its value
        elif token.startswith("-") and len(token) > 1 and not token[1:].isdigit():
            pass  # a flag (--json), or a short option with its value attached (-k3)
        elif in_to:
            after += 1
        i += 1
    return after


def _file_and_locations(paths: list[str], after_to: int) -> tuple[Path | None, list[str]]:
    """Split the positional paths of ``shard create`` into FILE and more locations.

    The last *after_to* came after ``--to`` (``--to A B C``): locations, folders existing or to be
    made (but with no FILE before ``--to``, an existing file among them is FILE). Of those before
    it (``create FILE A B``), the first must exist: a file to shard, or a folder (then all are
    locations). A mistyped FILE is an error, never a new folder.
    """
    from mirror_cli.errors import UsageError
    from mirror_cli.remotes.url import is_remote_url

    def is_file(path: str) -> bool:
        return not is_remote_url(path) and Path(path).is_file()

    before = paths[:len(paths) - after_to]
    later = paths[len(paths) - after_to:]
    if not before:
        # `--to A FILE B`: options may come anywhere, so an existing file among them (a location
        # cannot be a file) is the one to shard.
        files = [i for i, p in enumerate(later) if is_file(p)]
        if files:
            return Path(later[files[0]]), [p for i, p in enumerate(later) if i != files[0]]
        return None, list(later)
    first = before[0]
    if is_file(first):
        return Path(first), [*before[1:], *later]
    if is_remote_url(first) or Path(first).is_dir():
        return None, list(paths)
    raise UsageError(f"no such file or folder: {first}.",
                     "Give an existing file to shard (or none, for a fresh backup); folders to be made go "
                     "after --to.")


@app.command(cls=_KeepsArgOrder)
def create(
    ctx: typer.Context,
    paths: Annotated[Optional[list[str]], typer.Argument(
        metavar="[FILE] [LOCATION]...",
        help="File to shard (default: a fresh backup), then the folders to write to (or after --to: --to A B C).",
        show_default=False)] = None,
    level: Annotated[Optional[str], typer.Option("--level", "-l", help=LEVEL_HELP)] = None,
    k: Annotated[Optional[int], typer.Option("-k", help="Shards needed to restore (with -n).")] = None,
    n: Annotated[Optional[int], typer.Option("-n", help="Shards written (with -k), at most 255.")] = None,
    to: Annotated[Optional[list[str]], typer.Option(
        "--to", metavar="<location>",
        help="A folder, s3://BUCKET/PREFIX or postgresql://HOST/DB to write shards to (repeat; shards go "
             "round-robin).")] = None,
    mkdir: Annotated[bool, typer.Option(
        "--mkdir", help="Create a missing location folder (without it, exit 1: an unmounted disk must not "
                        "fill the local one).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Split FILE into N shards so that any K of them restore it; a manifest goes to every location."""
    from mirror_cli.errors import UsageError
    from mirror_cli.remotes.url import is_remote_url
    from mirror_cli.shard import create as shard_create
    from mirror_cli.shard.levels import resolve_level
    from mirror_cli.shard.locations import Locations

    st = state(ctx)
    kk, nn = resolve_level(level, k, n)
    raw = ctx.meta.get("mirror.shard.args")
    after = _after_to(raw) if raw is not None else len(paths or []) if to else 0
    file, extra = _file_and_locations(paths or [], after)
    to = [*(to or []), *extra]  # `create FILE A B` as the usage line shows it, or `--to A B`
    if not to:
        raise UsageError("give at least one --to folder.", "e.g. --to /media/usb1 /media/usb2 ~/Dropbox/mirror")
    for location in to:
        if not is_remote_url(location) and Path(location).exists() and not Path(location).is_dir():
            raise UsageError(f"the shard location {location} is not a folder.",
                             "Shards go into folders; the file to shard comes first, before --to.")
    # Every location is checked before any work (a fresh backup is made next); a missing folder
    # is made with --mkdir only once the shards are about to be written.
    with Locations(to, mkdir=mkdir) as locations:
        source = file
        if source is None:
            from mirror_cli.cli.backup import fresh_backup

            source = fresh_backup(st)
        with audit_store(st) as store, _Bar(st.out, "sharding") as progress:
            result = shard_create.create(source, locations, kk, nn, progress=progress, store=store)
    if as_json:
        st.out.json(result.to_json())
        return
    lvl = f" ({result.level})" if result.level else ""
    st.out.result(f"{nn} shards of {source.name}, any {kk} restore it{lvl}:")
    for i, p in enumerate(result.shards):
        st.out.result(f"  [{i}] {p}")
    for p in result.manifests:
        st.out.result(f"  manifest {p}")


@app.command()
def verify(
    ctx: typer.Context,
    manifest: Annotated[Path, typer.Argument(help="A shard manifest (.manifest.json).", exists=True, dir_okay=False)],
    as_json: JsonOpt = False,
) -> None:
    """Check every shard by hash (exit 0 while K intact shards remain, 3 when not)."""
    from mirror_cli.shard.verify import verify as shard_verify

    st = state(ctx)
    report = shard_verify(manifest)
    if as_json:
        st.out.json(report.to_json())
        if not report.recoverable:
            raise typer.Exit(3)
        return
    if not report.recoverable:
        # CONTRACT.md: on an error nothing goes to stdout (only --json prints its object and exits 3).
        from mirror_cli.errors import VerificationError

        raise VerificationError(
            f"NOT recoverable: only {report.intact} of the {report.n} shards are intact and {report.k} are needed.",
            "\n".join(report.problems + ["Find the missing shards (other disks, older copies) and run verify again."]),
        )
    if st.out.quiet:
        # -q (cron): nothing when all is well, one warning on stderr when shards need a repair.
        if not report.ok:
            st.out.warn(f"{report.n - report.intact} of the {report.n} shards are missing or damaged "
                        f"(still recoverable); run `mirror shard repair {manifest}`.")
        return
    rows = [(s.index, s.status, s.path or "", "; ".join(s.problems)) for s in report.shards]
    st.out.table(("shard", "status", "path", "problem"), rows, whole=("path",))
    if report.ok:
        st.out.result(f"ok: all {report.n} shards intact")
    else:
        st.out.result(f"recoverable: {report.intact} of {report.n} intact (need {report.k}); "
                      f"run `mirror shard repair {manifest}`")


@app.command()
def restore(
    ctx: typer.Context,
    manifest: Annotated[Path, typer.Argument(help="A shard manifest.", exists=True, dir_okay=False)],
    output: Annotated[str, typer.Option("--output", "-o", show_default=False,
                                        help="Where to write the restored file: a file, or a folder "
                                             "(existing, or ending in /) to write it into under its own name.")],
    as_json: JsonOpt = False,
) -> None:
    """Rebuild the original file from any K intact shards (checked against its SHA-256)."""
    from mirror_cli.shard.restore import restore as shard_restore

    st = state(ctx)
    folder = output.endswith(("/", os.sep))  # Path() drops the slash that says "a folder"
    with _Bar(st.out, "restoring") as progress:
        result = shard_restore(manifest, Path(output), progress=progress, into_folder=folder,
                               protect=st.settings.db_path)
    if as_json:
        st.out.json(result.to_json())
    else:
        st.out.result(f"restored {result.path} ({result.bytes} bytes, sha256 {result.sha256[:16]}…) "
                      f"from shards {', '.join(map(str, result.used))}")


@app.command()
def repair(
    ctx: typer.Context,
    manifest: Annotated[Path, typer.Argument(help="A shard manifest.", exists=True, dir_okay=False)],
    as_json: JsonOpt = False,
) -> None:
    """Rewrite missing or damaged shards in their places (and missing copies of the manifest)."""
    from mirror_cli.shard.repair import repair as shard_repair

    st = state(ctx)
    with audit_store(st) as store, _Bar(st.out, "repairing") as progress:
        result = shard_repair(manifest, progress=progress, store=store)
    if as_json:
        st.out.json(result.to_json())
        return
    if result.repaired:
        st.out.result(f"rewrote shards {', '.join(map(str, result.repaired))}; all {result.n} intact.")
    else:
        st.out.result(f"nothing to repair: all {result.n} shards intact.")
    for path in result.manifests:
        st.out.result(f"rewrote the manifest {path}")

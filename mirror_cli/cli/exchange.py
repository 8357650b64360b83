"""`mirror export` and `mirror import`: your data, out and in (CONTRACT.md)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from mirror_cli.cli.options import DryRunOpt, JsonOpt, OnlyOpt, SinceOpt, UntilOpt, YesOpt, state
from mirror_cli.cli.output import counted

EXPORT_FORMATS = ("json", "jsonl", "markdown", "csv", "jrnl")
IMPORT_FORMATS = ("auto", "json", "jsonl", "jrnl")
PROGRESS_DELAY = 0.5  # seconds before a progress bar appears


class _LazyProgress:
    """A progress callback that shows a bar (stderr, terminal only) once the work takes a moment.

    The bar counts records (``1500/4000 records``), where ``output.Progress`` counts bytes.
    """

    def __init__(self, out, description: str, total: int | None) -> None:
        self.out, self.description, self.total = out, description, total
        self.started = time.monotonic()
        self.bar = None

    def __call__(self, done: int) -> None:
        if self.bar is None:
            if time.monotonic() - self.started < PROGRESS_DELAY:
                return
            # Output.progress decides whether a bar is wanted (stderr a terminal, not -q, no NO_COLOR).
            enabled = self.out.progress(self.description, self.total).enabled
            self.bar = _RecordProgress(self.description, self.total, enabled=enabled).__enter__()
        self.bar(done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


class _RecordProgress:
    """A transient rich bar on stderr counting records; does nothing unless *enabled*."""

    def __init__(self, description: str, total: int | None, *, enabled: bool) -> None:
        self.description, self.total, self.enabled = description, total, enabled
        self._bar = self._task = None

    def __enter__(self) -> _RecordProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("records"), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self.total)
        return self

    def __call__(self, done: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def _raw_path(value: str) -> str:
    """``-o`` as typed: ``Path()`` would drop the trailing slash that says "a folder"."""
    return value


_raw_path.__name__ = "path"  # the help shows <path>, as for the other path options


def _names_folder(raw: str, path: Path) -> bool:
    """Whether ``-o`` as given names a folder: an existing one, or a path ending with a separator
    (``Path()`` drops that slash, so it is read from the text as given)."""
    return raw.endswith(("/", os.sep)) or path.is_dir()


def _folder_target(raw: str, path: Path, fmt: str, encrypt: bool) -> bool:
    """Whether ``-o PATH`` means a folder: markdown/csv and PATH is a folder, ends with a
    separator, or has no file extension and does not exist yet."""
    if fmt not in ("markdown", "csv") or encrypt:
        return False
    if _names_folder(raw, path):
        return True
    return not path.exists() and not path.suffix


def _folder_files(folder: Path, fmt: str, kinds: tuple[str, ...]) -> list[Path]:
    """The files a markdown or csv folder export writes."""
    if fmt == "csv":
        from mirror_cli.exchange.formats.csvfmt import FILES

        return [folder / name for kind in kinds for name in FILES[kind]]
    return [folder / "README.md", *(folder / f"{kind}.md" for kind in kinds if kind != "audit_events")]


def export_cmd(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", "-f", help="json, jsonl, markdown, csv, or jrnl (jrnl's text journal of the reflections).")] = "json",
    output_arg: Annotated[Optional[str], typer.Option("--output", "-o", parser=_raw_path, help="File (- for stdout; a symlink, FIFO or device is written through), or folder for markdown/csv (default: stdout).", show_default=False)] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    only: OnlyOpt = None,
    encrypt: Annotated[bool, typer.Option("--encrypt", help="Seal a json or jsonl export under a key of its own, opened by a passphrase for this file (MIRROR_EXPORT_PASSPHRASE[_FILE], else MIRROR_NEW_PASSPHRASE[_FILE] / MIRROR_PASSPHRASE[_FILE], else asked twice); import reads it.")] = False,
) -> None:
    """Export reflections, patterns, tensions and audit events (default: JSON on stdout).

    --since/--until limit every kind, each by its own time: reflections by when they were written;
    patterns keep only the occurrences of those reflections (a pattern left with none is left out);
    tensions by when they were detected (one tied to a reflection also needs that reflection in the
    window); audit events by their timestamp. So the export names no reflection outside the window.
    """
    from mirror_cli.cli.output import is_tty, stdin_is_tty
    from mirror_cli.errors import UsageError
    from mirror_cli.exchange import export
    from mirror_cli.exchange.kinds import parse_kinds
    from mirror_cli.journal.timeparse import parse_when

    st = state(ctx)
    fmt = fmt.strip().lower()
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format {fmt!r}.", "Use one of json, jsonl, markdown, csv, jrnl.")
    if encrypt and fmt not in ("json", "jsonl"):
        raise UsageError(f"--encrypt works with --format json or jsonl (what `mirror import` reads), not {fmt}.",
                         "Use --format json --encrypt, or export markdown/csv without --encrypt.")
    kinds = parse_kinds(only)
    if fmt == "jrnl":
        if only is not None and set(kinds) != {"reflections"}:
            raise UsageError(f"a jrnl journal holds reflections only; --only {only} asks for other kinds.",
                             "Leave out --only, or export json for patterns, tensions and audit events.")
        kinds = ("reflections",)
    # -o - is stdout, as with shell tools; a str, not a Path, keeps the trailing slash of "-o new/".
    output = Path(output_arg) if output_arg is not None and output_arg != "-" else None
    lo = parse_when(since, option="--since").at if since else None
    hi = parse_when(until, option="--until").day_end if until else None
    folder = output is not None and _folder_target(output_arg, output, fmt, encrypt)
    if output is not None and not folder and _names_folder(output_arg, output):
        raise UsageError(f"-o {output_arg} names a folder; {fmt} export writes one file.",
                         "Give a file name, e.g. -o journal.json (markdown and csv write folders without --encrypt).")
    if fmt == "csv" and not folder and only is not None and set(kinds) != {"reflections"}:
        raise UsageError(f"csv on stdout or in one file holds reflections only (reflections.csv); --only {only} "
                         "asks for other kinds.", "Give -o FOLDER to write one csv file per kind.")
    if output is not None:
        from mirror_cli.localfs import refuse_database_target

        targets = _folder_files(output, fmt, kinds) if folder else [output]
        for target in targets:
            refuse_database_target(target, st.settings.db_path)
    if encrypt and output is None and is_tty(sys.stdout):
        raise UsageError("refusing to write an encrypted (binary) export to the terminal.",
                         "Redirect it (> journal.mirrorenc) or give -o FILE.")

    with st.open_store() as store:
        if output is not None:  # again, now that the database is open: /proc/self/fd/N can name it
            for target in targets:
                refuse_database_target(target, st.settings.db_path)
        keys = None
        if encrypt:
            keys = export.container_keys(store, st.settings.env, interactive=stdin_is_tty())
        with store.read():
            total = sum(export.counts(store, kinds, lo, hi).values())
        progress = _LazyProgress(st.out, f"exporting {fmt}", total) if output is not None else None
        common = dict(fmt=fmt, kinds=kinds, since=lo, until=hi, progress=progress, keys=keys)
        try:
            if folder:
                done = export.run(store, destination="folder", folder=output, **common)
            elif output is not None:
                from mirror_cli.localfs import open_output

                # Named before writing: a symlink's target, else the path as given (a pipe has no name).
                resolved = output.resolve()
                where_file = str(resolved if resolved.exists() or not output.exists() else output.absolute())
                with open_output(output, "wb" if encrypt else "w") as fh:
                    done = export.run(store, destination="file", out=fh, **common)
            else:
                stream = sys.stdout.buffer if encrypt else sys.stdout
                done = export.run(store, destination="stdout", out=stream, **common)
                stream.flush()
        finally:
            if progress is not None:
                progress.close()
        counts = done.counts
        if not done.recorded:
            st.out.warn("the export is not recorded in the audit log: the database is read-only.")
    if output is not None:
        summary = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items())
        where = str(output.resolve()) if folder else where_file
        st.out.note(f"Exported {summary or 'nothing'} to {where}" + (" (encrypted)." if encrypt else "."))


def import_cmd(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="A mirror export (json, jsonl, or --encrypt), a jrnl journal (its text file or JSON export), or - for stdin.", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", "-f", help="auto, json, jsonl or jrnl.")] = "auto",
    mode: Annotated[str, typer.Option("--mode", help="merge (idempotent; newer updated_at wins) or replace (delete first).")] = "merge",
    only: OnlyOpt = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Import a file: all or nothing (a bad file changes nothing, exit 5)."""
    from mirror_cli.crypto import passphrase as keymod
    from mirror_cli.cli.output import confirm, stdin_is_tty
    from mirror_cli.errors import UsageError
    from mirror_cli.exchange import importer
    from mirror_cli.exchange.kinds import parse_kinds

    st = state(ctx)
    fmt = fmt.strip().lower()
    if fmt not in IMPORT_FORMATS:
        raise UsageError(f"unknown import format {fmt!r}.", "Use one of auto, json, jsonl, jrnl.")
    mode = mode.strip().lower()
    if mode not in importer.MODES:
        raise UsageError(f"unknown import mode {mode!r}.", "Use merge or replace.")
    kinds = parse_kinds(only)
    if fmt == "jrnl":
        if only is not None and set(kinds) != {"reflections"}:
            raise UsageError(f"a jrnl journal holds reflections only; --only {only} asks for other kinds.",
                             "Leave out --only, or export json for patterns, tensions and audit events.")
        kinds = ("reflections",)
    data_kinds = tuple(k for k in kinds if k in importer.DATA_KINDS)
    if not data_kinds:
        raise UsageError("--only names no kind that can be imported.",
                         "Audit events are never imported; use reflections, patterns or tensions.")
    from_stdin = path == "-"
    if not from_stdin:
        p = Path(path)
        if not p.exists():
            raise UsageError(f"no file {path}.", "Check the path, or give - to read stdin.")
        if p.is_dir():
            raise UsageError(f"{path} is a folder, not an export file.")
    # Asking on a terminal only works when the file does not come through stdin.
    interactive = stdin_is_tty() and not from_stdin

    with st.open_store(create=True) as store:
        def passphrase() -> str:  # asked only when the database's own key does not open the file
            return keymod.import_passphrase(st.settings.env, interactive).value

        if from_stdin:
            doc, encrypted = importer.read_document(sys.stdin.buffer, fmt, dek=store.key.dek if store.key is not None else None,
                                                    passphrase=passphrase)
        else:
            try:
                fh = open(path, "rb")  # noqa: SIM115
            except OSError as exc:
                raise UsageError(f"cannot read {path}: {exc.strerror}.") from None
            with fh:
                doc, encrypted = importer.read_document(fh, fmt, dek=store.key.dek if store.key is not None else None, passphrase=passphrase)
        importer.check_mode(doc, mode)  # a windowed file is refused before any question
        if mode == "replace" and not dry_run and not yes:
            if not interactive:
                raise UsageError("refusing to replace the journal without confirmation.",
                                 "Add --yes to replace from a script (or try --dry-run first).")
            planned = importer.apply_import(store, doc, mode=mode, kinds=data_kinds, dry_run=True)

            def listed(values: dict) -> str:
                return ", ".join(counted(values.get(k, 0), k) for k in data_kinds)

            question = (f"Replace the journal {store.path}: delete {listed(planned.deleted)}, then add "
                        f"{listed(planned.added)} from {path}? (A copy of the journal as it is now is kept "
                        "beside it.)")
            if not confirm(question):
                st.out.note("Nothing imported.")
                raise typer.Exit(0)
        n = len(doc.records["reflections"]) if "reflections" in data_kinds else 0
        progress = _LazyProgress(st.out, "importing", n) if n else None
        try:
            result = importer.apply_import(store, doc, mode=mode, kinds=data_kinds, dry_run=dry_run,
                                           progress=progress, source="stdin" if from_stdin else "file")
        finally:
            if progress is not None:
                progress.close()
        result.encrypted_source = encrypted
    if result.before:  # on stderr, so that --json stays one value (as `backup restore` names its copy)
        st.out.note(f"the replaced journal is kept as {result.before}")
    if as_json:
        st.out.json(result.to_dict())
        return
    shown = importer.DATA_KINDS

    def line(label: str, values: dict) -> str:
        return f"{label}: " + ", ".join(counted(values.get(k, 0), k) for k in shown)

    prefix = "Would import (dry run) — " if dry_run else ""
    st.out.result(prefix + line("added", result.added))
    st.out.result(line("updated", result.updated))
    st.out.result(line("skipped", result.skipped))
    if mode == "replace":
        st.out.result(line("deleted first", result.deleted))
    if result.stay_deleted:
        st.out.note(f"{counted(result.stay_deleted, 'reflections')} in the file "
                    f"{'was' if result.stay_deleted == 1 else 'were'} deleted in this journal after "
                    f"{'its' if result.stay_deleted == 1 else 'their'} last change and "
                    f"{'was' if result.stay_deleted == 1 else 'were'} not brought back (counted as skipped).")
    if result.skipped.get("audit_events"):
        n = result.skipped["audit_events"]
        st.out.note(f"{counted(n, 'audit_events')} in the file {'was' if n == 1 else 'were'} not copied "
                    "(this import is recorded as one event of its own).")
    if result.dropped_occurrences:
        st.out.note(f"{result.dropped_occurrences} pattern occurrences name reflections that are not in "
                    "this journal and were left out.")
    if (result.added["patterns"] or result.updated["patterns"] or result.added["tensions"]
            or result.updated["tensions"]) and not dry_run:
        st.out.note("Run `mirror patterns analyze` to bring patterns and tensions up to date.")

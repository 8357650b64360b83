"""`mirror key`: encryption at rest, the passphrase and the cached key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mirror_cli.cli.options import JsonOpt, group, state
from mirror_cli.cli.output import plural

app = group(
    "Encryption at rest: turn it on or off, change the passphrase, rotate the data key, cache or forget the key.\n\n"
    "Passphrases are never taken from the command line: MIRROR_PASSPHRASE_FILE, MIRROR_PASSPHRASE, "
    "the OS keyring (the derived key) or a prompt; new ones from MIRROR_NEW_PASSPHRASE_FILE, "
    "MIRROR_NEW_PASSPHRASE or a prompt asked twice. A lost passphrase cannot be recovered by anyone."
)

ForceOpt = Annotated[bool, typer.Option("--force", help="Go ahead even though `mirror audit verify` fails "
                                                        "(the audit event records it).")]
AllowWeakOpt = Annotated[bool, typer.Option("--allow-weak", help="Accept a new passphrase shorter than 8 "
                                                                 "characters or found weak.")]


def _interactive() -> bool:
    from mirror_cli.cli.output import stdin_is_tty

    return stdin_is_tty()


def _open(st):
    store = st.open_store(unlock=False)
    return store


def _warn(st, warnings) -> None:
    for w in warnings:
        st.out.warn(w)


def _kdf_text(kdf) -> str:
    if not kdf:
        return ""
    return f"{kdf['algorithm']} {kdf['memory_cost'] // 1024} MiB, t={kdf['iterations']}, p={kdf['lanes']}"


@app.command()
def status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Whether the database is encrypted, unlocked (a key at hand without a prompt), and the keyring."""
    from mirror_cli.crypto import manage as keyops

    st = state(ctx)
    with _open(st) as store:
        result = keyops.status(store, st.settings.env)
    if as_json:
        st.out.json(result.to_dict())
        return
    _warn(st, result.warnings)
    lines = [f"database:  {result.database}"]
    if result.encrypted:
        lines.append(f"encrypted: yes (key id {result.key_id}; {_kdf_text(result.kdf)})")
        lines.append(f"unlocked:  yes (key from {result.source})" if result.unlocked
                     else f"unlocked:  no ({result.problem})")
    else:
        lines.append("encrypted: no")
    backend = f"{result.keyring_backend}; " if result.keyring_backend else ""
    if result.keyring_available:
        cached = {True: "a key is cached for this database", False: "no key cached", None: "unreadable"}
        lines.append(f"keyring:   available ({backend}{cached[result.key_cached]})")
    else:
        lines.append(f"keyring:   not available ({backend}use MIRROR_PASSPHRASE_FILE)")
    st.out.data("\n".join(lines))


@app.command()
def enable(ctx: typer.Context, force: ForceOpt = False, allow_weak: AllowWeakOpt = False,
           as_json: JsonOpt = False) -> None:
    """Encrypt the database with a new passphrase (every existing row, in one transaction)."""
    from mirror_cli.crypto import manage as keyops

    st = state(ctx)
    with _open(st) as store:
        # Drawn from the first reflection on, after any passphrase prompt (a bar would cover it).
        bar, shown = st.out.progress("encrypting", store.count("reflections"), unit="reflections"), []

        def progress(done: int) -> None:
            if not shown:
                shown.append(bar.__enter__())
            bar(done)

        try:
            result = keyops.enable(store, st.settings.env, interactive=_interactive(), force=force,
                                   allow_weak=allow_weak, progress=progress if bar.enabled else None)
        finally:
            if shown:
                bar.__exit__(None, None, None)
    _warn(st, result.warnings)
    left = _plaintext_copies(st, result.db_id)
    if as_json:
        st.out.json({**result.to_dict(), "plaintext_copies": [*left.plain_backups, *left.asides]})
        return
    n = result.converted.get("reflections", 0)
    cached = ("the key is cached in the OS keyring" if result.key_cached
              else "no OS keyring: give the passphrase with MIRROR_PASSPHRASE_FILE or a prompt")
    st.out.result(f"Encrypted {plural(n, 'reflection')} (key id {result.key_id}); {cached}.")
    st.out.note("Keep the passphrase safe: if it is lost, nobody can recover this journal. "
                "`mirror key export FILE` writes a key-recovery file (useless without the passphrase).")
    if left.plain_backups or left.asides:
        st.out.warn(f"{left.describe(plain_only=True)} may still hold the journal unencrypted; mirror does not "
                    "remove them. Make an encrypted backup (`mirror backup create`), then delete them: "
                    + " ".join([*left.plain_backups, *left.asides]))


def _plaintext_copies(st, db_id: str):
    """The copies mirror made before `key enable` that may still hold the journal's plaintext."""
    from mirror_cli.journal.copies import find_copies

    return find_copies(st.settings.db_path, st.settings.backups_dir, db_id)


@app.command()
def disable(ctx: typer.Context, force: ForceOpt = False, as_json: JsonOpt = False) -> None:
    """Decrypt the database back to plaintext (asks for the current passphrase)."""
    from mirror_cli.crypto import manage as keyops

    st = state(ctx)
    with _open(st) as store:
        result = keyops.disable(store, st.settings.env, interactive=_interactive(), force=force)
    _warn(st, result.warnings)
    if as_json:
        st.out.json(result.to_dict())
        return
    st.out.result(f"Decrypted {plural(result.converted.get('reflections', 0), 'reflection')}; the database is no "
                  "longer encrypted" + ("; the cached key was forgotten." if result.key_forgotten else "."))


@app.command()
def change(
    ctx: typer.Context,
    remote: Annotated[Optional[str], typer.Option("--remote", help="Change the passphrase of this sync remote "
                                                                   "instead (re-wraps its key; no data object changes).")] = None,
    allow_weak: AllowWeakOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Change the passphrase (re-wraps the data key; nothing is re-encrypted: see `mirror key rotate`).

    Sync remotes that use the journal's passphrase are re-wrapped under the new one too."""
    from mirror_cli.crypto import manage as keyops
    from mirror_cli.crypto.passphrase import KeyCache

    st = state(ctx)
    if remote is not None:
        _change_remote(st, remote, allow_weak, as_json)
        return

    def carry(old: str, new: str) -> list[dict]:
        from mirror_cli.remotes.url import open_remote
        from mirror_cli.sync import rewrap

        return rewrap.carry(store, old, new, lambda cfg: open_remote(cfg.url, options=cfg.options), KeyCache())

    with _open(st) as store:
        result = keyops.change(store, st.settings.env, interactive=_interactive(), allow_weak=allow_weak,
                               carry=carry)
    _warn(st, result.warnings)
    if as_json:
        st.out.json(result.to_dict())
        return
    st.out.result("Passphrase changed" + ("; the cached key was replaced." if result.key_cached else "."))
    for r in result.remotes:
        if r["rewrapped"]:
            st.out.result(f"Remote {r['remote']}: its key is now opened by the new passphrase (other devices ask "
                          "for it once).")
        else:
            st.out.note(f"Remote {r['remote']} unchanged: {r['reason']}.")
    st.out.result(CHANGE_LIMITS)


def _change_remote(st, name: str, allow_weak: bool, as_json: bool) -> None:
    import os

    from mirror_cli.crypto.passphrase import KeyCache, new_passphrase, refuse_weak
    from mirror_cli.remotes.url import open_remote
    from mirror_cli.sync import config, rewrap

    with st.open_store() as store:
        cfg = config.get_remote(store, name)
        remote = open_remote(cfg.url, options=cfg.options)
        try:
            new = new_passphrase(os.environ, _interactive())
            refuse_weak(new, allow_weak=allow_weak)
            result = rewrap.change(store, cfg, remote, os.environ, new.value, interactive=_interactive(),
                                   prompt=None, cache=KeyCache())
        finally:
            remote.close()
    if as_json:
        st.out.json(result)
        return
    st.out.result(f"Remote {name}: its key is now opened by the new passphrase; no data object changed. Other "
                  "devices ask for it once.")


CHANGE_LIMITS = ("This re-wrapped the data key under the new passphrase; it did not replace the key. An old copy "
                 "of the key record (an old `mirror key export` file, an old backup, a .before-restore-* file) "
                 "with the old passphrase still opens everything, written before and after this change. "
                 "Run `mirror key rotate` for a new data key.")


@app.command()
def rotate(
    ctx: typer.Context,
    new_passphrase: Annotated[bool, typer.Option(
        "--new-passphrase", help="Also set a new passphrase (MIRROR_NEW_PASSPHRASE_FILE, MIRROR_NEW_PASSPHRASE "
                                 "or a prompt asked twice); without it the current one keeps working.")] = False,
    allow_weak: AllowWeakOpt = False,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Make a new random data key and re-seal everything under it (one transaction).

    For when a passphrase or key file may have leaked: old key files, old backups' headers and old
    passphrases then open nothing written afterwards."""
    from mirror_cli.crypto import rotate as keyrotate

    st = state(ctx)
    with _open(st) as store:
        result = keyrotate.rotate(store, st.settings.env, interactive=_interactive(), new_passphrase=new_passphrase,
                                  allow_weak=allow_weak, force=force)
    _warn(st, result.warnings)
    if as_json:
        st.out.json(result.to_dict())
        return
    n = result.converted.get("reflections", 0)
    passphrase = "a new passphrase" if result.new_passphrase else "the same passphrase"
    st.out.result(f"Rotated the data key: {plural(n, 'reflection')} re-sealed under a new key (key id {result.key_id}), "
                  f"opened by {passphrase}" + ("; the cached key was replaced." if result.key_cached else "."))
    st.out.note("Old key files (`mirror key export`), old backups and .before-restore-* files open nothing written "
                "from now on; they still open what they held. Run `mirror key export` again for a new key file.")


@app.command()
def lock(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Forget the key cached in the OS keyring for this database."""
    from mirror_cli.crypto import manage as keyops

    st = state(ctx)
    with _open(st) as store:
        result = keyops.lock(store)
    if as_json:
        st.out.json(result.to_dict())
    elif result.forgotten:
        st.out.result("Locked: the cached key was removed from the OS keyring.")
    elif result.keyring_available:
        st.out.result("Locked: no key was cached for this database.")
    else:
        st.out.result("Locked: there is no OS keyring here, so no key was cached.")


@app.command()
def unlock(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Derive the key from the passphrase and cache it in the OS keyring (exit 4 without one)."""
    from mirror_cli.crypto import manage as keyops

    st = state(ctx)
    with _open(st) as store:
        result = keyops.unlock(store, st.settings.env, interactive=_interactive())
    _warn(st, result.warnings)
    if as_json:
        st.out.json(result.to_dict())
    else:
        st.out.result("Unlocked: the key is cached in the OS keyring until `mirror key lock`.")


@app.command("export")
def export_(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Where to write the key-recovery file (mode 0600); - for stdout.")],
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a key-recovery file: the wrapped data key, KDF parameters and database id."""
    from mirror_cli.crypto import manage as keyops
    from mirror_cli.errors import UsageError

    st = state(ctx)
    if str(path) == "-" and as_json:
        raise UsageError("`key export -` writes the key file itself to stdout; --json cannot go there too.")
    if str(path) != "-":
        from mirror_cli.localfs import refuse_database_target

        refuse_database_target(path, st.settings.db_path, option="key export")
    with _open(st) as store:
        result = keyops.export_key(store, path, st.settings.env, interactive=_interactive(), overwrite=force)
    _warn(st, result.warnings)
    if result.path == "-":
        return
    if as_json:
        st.out.json(result.to_dict())
    else:
        st.out.result(f"Wrote {result.path} (opens only with the passphrase).")


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A file written by `mirror key export`.")],
    as_json: JsonOpt = False,
) -> None:
    """Adopt a key-recovery file on a fresh, empty database (after the passphrase opens it)."""
    from mirror_cli.crypto import manage as keyops

    st = state(ctx)
    with st.open_store(unlock=False, create=True) as store:  # adopting a key starts a journal, as reflect does
        result = keyops.import_key(store, path, st.settings.env, interactive=_interactive())
    _warn(st, result.warnings)
    if as_json:
        st.out.json(result.to_dict())
    else:
        st.out.result(f"Imported the key of database {result.db_id}; this database is now encrypted with it.")

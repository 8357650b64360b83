"""`mirror remote`, `mirror sync` and `mirror conflicts`: end-to-end encrypted sync (CONTRACT.md, "Sync")."""

from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

from mirror_cli.cli.options import DryRunOpt, JsonOpt, YesOpt, group, state
from mirror_cli.cli.output import plural

remote_app = group("Remotes this journal syncs with: a folder (USB disk, Syncthing/Dropbox folder), S3 or PostgreSQL.")


def _cache(st):
    from mirror_cli.crypto.passphrase import KeyCache

    return KeyCache()


def _open(url: str, options: dict, *, mkdir: bool = False):
    from mirror_cli.remotes.url import open_remote

    return open_remote(url, mkdir=mkdir, options=options)


@remote_app.command("add")
def remote_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A short name: letters, digits, '-' or '_'.")],
    url: Annotated[str, typer.Argument(help="A folder, file://..., s3://BUCKET/PREFIX or postgresql://HOST/DB.")],
    endpoint_url: Annotated[Optional[str], typer.Option("--endpoint-url", help="S3-compatible endpoint.")] = None,
    region: Annotated[Optional[str], typer.Option("--region", help="S3 region.")] = None,
    profile: Annotated[Optional[str], typer.Option("--profile", help="AWS profile.")] = None,
    key_only: Annotated[bool, typer.Option("--key-only", help="Keep no passphrase envelope on the remote; print a recovery code instead.")] = False,
    label: Annotated[Optional[str], typer.Option("--label", help="This device's name as other devices see it (sealed).")] = None,
    mkdir: Annotated[bool, typer.Option("--mkdir", help="Create the folder if it does not exist.")] = False,
    allow_weak: Annotated[bool, typer.Option("--allow-weak", help="Accept a weak passphrase for a new remote.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a remote; an empty one is set up (its key sealed under the sync passphrase)."""
    from mirror_cli.cli.output import stdin_is_tty
    from mirror_cli.crypto.passphrase import new_passphrase, refuse_weak
    from mirror_cli.remotes.url import redact
    from mirror_cli.sync import access, config
    from mirror_cli.sync.keys import recovery_code

    st = state(ctx)
    config.check_name(name)
    if url.startswith("file://") or "://" not in url:
        url = url if "://" in url else os.path.abspath(os.path.expanduser(url))
    options = {k: v for k, v in (("endpoint_url", endpoint_url), ("region", region), ("profile", profile)) if v}
    with st.open_store(create=True) as store:
        with store.write():
            config.add_remote(store, name, url, options)
            if label:
                store.set_meta("device_label", label.strip()[:64])
        try:
            remote = _open(url, options, mkdir=mkdir)
            try:
                conditional = access.honours_conditional_writes(remote)
                rid = access.read_bootstrap(remote)
                code = None
                if rid is None:
                    passphrase = None
                    if not key_only:
                        found = access.sync_passphrase(os.environ)
                        passphrase = found or new_passphrase(os.environ, stdin_is_tty())
                        refuse_weak(passphrase, allow_weak=allow_weak)
                    rid, opened = access.initialise_opened(remote, passphrase, key_only=key_only)
                    access.remember(_cache(st), rid, opened)  # the first sync need not derive it again
                    if key_only:
                        code = recovery_code(opened.key)
                    state_word = "set up"
                else:
                    state_word = "found"
            finally:
                remote.close()
        except BaseException:
            with store.write():
                config.remove_remote(store, name)
            raise
    result = {"name": name, "url": redact(url), "remote": state_word}
    if code:
        result["recovery_code"] = code
    if not conditional:
        st.out.warn(f"{redact(url)} ignores conditional writes (create-if-absent): sync stays correct without "
                    "them, but a journal copied to a second machine is only noticed once both have synced.")
    if as_json:
        st.out.json(result)
        return
    st.out.result(f"Remote {name} {state_word} at {redact(url)}. Run `mirror sync {name}` to sync.")
    if code:
        st.out.data(f"Recovery code (write it down; a new device needs it, mirror keeps no copy on the remote):\n{code}")


@remote_app.command("list")
def remote_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List this journal's remotes."""
    from mirror_cli.remotes.url import redact
    from mirror_cli.sync import config

    st = state(ctx)
    with st.open_store(unlock=False) as store:
        rows = []
        for r in config.all_remotes(store):
            devices = store.conn.execute("SELECT count(*) FROM sync_peers WHERE remote = ?", (r.name,)).fetchone()[0]
            rows.append({"name": r.name, "url": redact(r.url), "devices": int(devices) + (1 if r.remote_id else 0),
                         "last_sync": r.last_sync, "paused": r.paused})
    if as_json:
        st.out.json(rows)
    elif rows:
        st.out.table(["name", "url", "devices", "last sync", "paused"],
                     [(r["name"], r["url"], r["devices"], r["last_sync"] or "never", "yes" if r["paused"] else "")
                      for r in rows])
    else:
        st.out.note("No remotes. Add one with `mirror remote add NAME URL`.")


@remote_app.command("remove")
def remote_remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The remote's name.")]) -> None:
    """Forget a remote (nothing on the remote is changed; `remote wipe` empties it)."""
    from mirror_cli.sync import config

    st = state(ctx)
    with st.open_store(unlock=False) as store:
        with store.write():
            config.remove_remote(store, name)
    st.out.result(f"Removed remote {name}; its objects were left as they are.")


@remote_app.command("devices")
def remote_devices(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The remote's name.")],
                   as_json: JsonOpt = False) -> None:
    """The devices that sync through a remote, and when each last did."""
    report = _run(ctx, [name], dry_run=True, push=True, pull=True, conflict=None, quiet=True)[0]
    devices = report["devices"]
    st = state(ctx)
    if as_json:
        st.out.json(devices)
    else:
        st.out.table(["device", "id", "last synced", "stale", "key gen", "revoked"],
                     [(d["label"] + (" (this one)" if d.get("this_device") else ""), d["device"],
                       _local_time(d["last_seen"]), "yes" if d["stale"] else "", d.get("generation") or "",
                       "yes" if d.get("revoked") else "") for d in devices])


def _rotate(ctx, name: str, *, revoke: Optional[str], wipe_device: bool, as_json: bool) -> None:
    from mirror_cli.cli.output import stdin_is_tty
    from mirror_cli.sync import config, engine, rotate

    st = state(ctx)
    with st.open_store() as store:
        cfg = config.get_remote(store, name)
        remote = _open(cfg.url, cfg.options)
        try:
            with engine.SyncLock(store.path):
                opts = engine.Options(interactive=stdin_is_tty(), env=os.environ, cache=_cache(st))
                result = rotate.rotate(store, cfg, remote, opts, revoke=revoke, wipe_device=wipe_device)
        finally:
            remote.close()
    if as_json:
        st.out.json(result.to_dict())
        return
    for r in result.revoked:
        st.out.result(f"Revoked {r['label']} ({r['device']}) from remote {name}"
                      + (", and asked it to wipe its journal." if result.wipe_device else "."))
    st.out.result(f"Remote {name} now uses key generation {result.generation} (key id {result.key_id}); "
                  f"{result.deleted} object(s) of the old key deleted.")
    for note in result.notes:
        if note == rotate.KEPT:
            st.out.warn(note)
        else:
            st.out.note(note)


@remote_app.command("rotate")
def remote_rotate(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The remote's name.")],
                  as_json: JsonOpt = False) -> None:
    """Give a remote a new key (after losing a device): pulls first, then re-uploads this journal under it."""
    _rotate(ctx, name, revoke=None, wipe_device=False, as_json=as_json)


@remote_app.command("revoke")
def remote_revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The remote's name.")],
    device: Annotated[str, typer.Argument(help="The device: its label or id (`mirror remote devices`).")],
    wipe_device: Annotated[bool, typer.Option("--wipe-device", help="Ask the device to delete its journal on its next sync (only a device that still obeys mirror does).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Stop a device from syncing: a new key it does not hold (a stolen device keeps what it already synced)."""
    _rotate(ctx, name, revoke=device, wipe_device=wipe_device, as_json=as_json)


@remote_app.command("wipe")
def remote_wipe(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The remote's name.")],
                yes: YesOpt = False) -> None:
    """Delete every object of a remote (needs its key, so nobody wipes the wrong place by accident)."""
    from mirror_cli.cli.output import confirm, stdin_is_tty
    from mirror_cli.errors import UsageError
    from mirror_cli.sync import wipe

    st = state(ctx)
    if not yes:
        if not stdin_is_tty():
            raise UsageError("refusing to wipe a remote without confirmation.", "Add --yes.")
        if not confirm(f"Delete every object of remote {name} (every device's copy there)?"):
            st.out.note("Nothing deleted.")
            raise typer.Exit(0)
    with st.open_store() as store:
        from mirror_cli.sync import config

        cfg = config.get_remote(store, name)
        remote = _open(cfg.url, cfg.options)
        try:
            count, left = wipe.wipe(store, cfg, remote, os.environ, interactive=stdin_is_tty(), cache=_cache(st))
        finally:
            remote.close()
    st.out.result(f"Wiped remote {name}: {plural(count, 'object')} deleted.")
    for line in left:
        st.out.warn(line)


def _local_time(iso_text: str | None) -> str:
    if not iso_text:
        return "never"
    from mirror_cli.ids import parse_iso

    return parse_iso(iso_text).astimezone().strftime("%Y-%m-%d %H:%M")


def _run(ctx, names, *, dry_run, push, pull, conflict, rejoin=False, quiet=False, only=None, compact=False):
    from mirror_cli.cli.output import stdin_is_tty
    from mirror_cli.errors import UsageError
    from mirror_cli.sync import config, quiet as quiet_sync
    from mirror_cli.sync.merge import POLICIES

    st = state(ctx)
    policy = conflict or st.settings.get("sync.conflict", "local-wins")
    if policy not in POLICIES:
        raise UsageError(f"unknown conflict policy {policy!r}: use local-wins or newest-wins.")
    kinds: frozenset[str] = frozenset()
    if only is not None:
        from mirror_cli.sync import derived

        kinds = derived.parse_kinds(only)
    reports = []
    with st.open_store() as store:
        remotes = [config.get_remote(store, n) for n in names] if names else \
            [r for r in config.all_remotes(store) if not r.paused]
        if not remotes:
            raise UsageError("this journal has no remote to sync with.", "Add one with `mirror remote add NAME URL`.")
        with quiet_sync.SyncLock(store.path):
            for cfg in remotes:
                if cfg.paused and not rejoin:
                    from mirror_cli.errors import OperationError

                    raise OperationError(f"remote {cfg.name} is paused (after `delete --all --remote keep`).",
                                         f"`mirror sync {cfg.name} --rejoin` resumes it on purpose.")
                remote = _open(cfg.url, cfg.options)
                try:
                    if not (rejoin or compact or kinds):  # nothing new anywhere: one listing, no key (quiet.py)
                        found = quiet_sync.check(store, cfg.name, remote, dry_run=dry_run, push=push, pull=pull)
                        if found is not None:
                            reports.append(found)
                            continue
                    from mirror_cli.sync import engine

                    opts = engine.Options(push=push, pull=pull, policy=policy, dry_run=dry_run, rejoin=rejoin,
                                          compact=compact, kinds=kinds,
                                          interactive=stdin_is_tty(), env=os.environ, cache=_cache(st))
                    with st.out.progress("syncing", None) if not quiet else _null() as bar:
                        if bar is not None and getattr(bar, "enabled", False):
                            opts.progress = lambda what, done, total: bar(done, total)
                        if rejoin:
                            engine.rejoin(store, cfg, remote, opts)
                            cfg = config.get_remote(store, cfg.name)
                        report = engine.Sync(store, cfg, remote, opts).run()
                        if not dry_run and (report.pulled["reflections"] or report.deleted["reflections"]):
                            _recompute(store)
                        reports.append(report.to_dict())
                finally:
                    remote.close()
    return reports


def _recompute(store) -> None:
    """Patterns and tensions follow the reflections a pull changed, on a journal analysed before
    (one never analysed stays so: `mirror patterns analyze` starts it). Imported here, not in the
    engine: a sync that pulled nothing never loads the pattern engine."""
    from mirror_cli.patterns import analysis
    from mirror_cli.patterns.stored import analysis_meta

    if analysis_meta(store) is not None:
        analysis.analyze(store)


def _null():
    import contextlib

    return contextlib.nullcontext()


def sync(
    ctx: typer.Context,
    remote: Annotated[Optional[str], typer.Argument(help="The remote to sync with (default: every remote).")] = None,
    push_only: Annotated[bool, typer.Option("--push", help="Only send this device's changes.")] = False,
    pull_only: Annotated[bool, typer.Option("--pull", help="Only take other devices' changes.")] = False,
    only: Annotated[Optional[str], typer.Option("--only", help="Also sync these derived kinds: patterns,tensions (reflections always sync).")] = None,
    conflict: Annotated[Optional[str], typer.Option("--conflict", help="local-wins (default) or newest-wins.")] = None,
    dry_run: DryRunOpt = False,
    compact: Annotated[bool, typer.Option("--compact", help="Write a checkpoint now (else one is written once 128 of this device's segments are not in one); its own older objects are collected after 7 days on a folder.")] = False,
    rejoin: Annotated[bool, typer.Option("--rejoin", help="Upload this journal to an empty or wiped remote, or resume a paused one.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Sync this journal with its remotes, end-to-end encrypted."""
    from mirror_cli.errors import UsageError

    if push_only and pull_only:
        raise UsageError("--push and --pull together are a plain sync: give one or neither.")
    reports = _run(ctx, [remote] if remote else [], dry_run=dry_run, push=not pull_only, pull=not push_only,
                   conflict=conflict, rejoin=rejoin, only=only, compact=compact)
    st = state(ctx)
    if as_json:
        st.out.json(reports[0] if len(reports) == 1 else reports)
        return
    for r in reports:
        _say(st, r)


def _say(st, r: dict) -> None:
    pulled, pushed, deleted = r["pulled"]["reflections"], r["pushed"]["reflections"], r["deleted"]["reflections"]
    verb = "Would sync" if r["dry_run"] else "Synced"
    line = f"{verb} with {r['remote']}: {pulled} in, {pushed} out, {deleted} deleted"
    if r["conflicts"]:
        line += f", {plural(len(r['conflicts']), 'conflict')} kept as revisions (see `mirror conflicts`)"
    derived = [f"{word} {r['pulled'].get(word, 0) + r['deleted'].get(word, 0)} in, {r['pushed'].get(word, 0)} out"
               for word in ("patterns", "tensions")
               if r["pulled"].get(word) or r["pushed"].get(word) or r["deleted"].get(word)]
    if derived:
        line += "; " + ", ".join(derived)
    st.out.result(line + ".")
    if r["incomplete"]:
        st.out.note(f"Waiting for {plural(r['waiting_objects'], 'object')} still in transit to the folder; "
                    "the next sync continues.")
    for d in r["devices"]:
        if d["stale"] and not d.get("this_device"):
            st.out.note(f"{d['label']}: last synced {_local_time(d['last_seen'])}.")
    for note in dict.fromkeys(r.get("notes", [])):
        st.out.note(note)
    for name in r["foreign"][:5]:
        st.out.note(f"ignored a file that is not mirror's on the remote: {name}")


conflicts_app = group("Values that lost a concurrent edit on another device, kept so no text is lost.",
                      invoke_without_command=True, no_args_is_help=False)


@conflicts_app.callback()
def conflicts_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List conflict revisions."""
    if ctx.invoked_subcommand is not None:
        return
    from mirror_cli.sync import conflicts

    st = state(ctx)
    with st.open_store() as store:
        rows = conflicts.listing(store)
    if as_json:
        st.out.json(rows)
    elif rows:
        st.out.table(["id", "entry", "field", "kept", "other", "from"],
                     [(r["cid"], r["record_id"], r["field"], _short(r["kept"]), _short(r["other"]), r["other_device"])
                      for r in rows])
    else:
        st.out.note("No conflicts.")


def _short(value) -> str:
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return text if len(text) <= 40 else text[:39] + "…"


@conflicts_app.command("resolve")
def conflicts_resolve(
    ctx: typer.Context,
    cid: Annotated[int, typer.Argument(help="The conflict's id (from `mirror conflicts`).")],
    keep: Annotated[str, typer.Option("--keep", help="kept (the value in the journal now) or other.")] = "other",
) -> None:
    """Pick a revision: `--keep other` puts the other value in the entry (synced as a new edit)."""
    from mirror_cli.sync import conflicts

    st = state(ctx)
    with st.open_store() as store:
        message = conflicts.resolve(store, cid, keep)
    st.out.result(message)

"""`mirror remote wipe`: delete every object of a remote, heads first (other devices stop reading),
then segments, envelopes and the bootstrap last; then what the provider keeps beyond the current
objects (older S3 versions, where allowed), and say what may survive elsewhere."""

from __future__ import annotations

from collections.abc import Mapping

from mirror_cli.crypto.passphrase import KeyCache
from mirror_cli.db.store import Store
from mirror_cli.remotes.base import Remote, RemoteError
from mirror_cli.sync import access, config

ORDER = {"h/": 0, "s/": 1, "c/": 2, "k/": 3}
GENERAL = ("copies outside mirror's reach may remain: a synced folder's history (Dropbox 30-day history, "
           "Syncthing .stversions), S3 object versions, database backups of a PostgreSQL remote.")


def is_sync_object(name: str) -> bool:
    """A name mirror's sync writes (the bootstrap, envelopes, heads, segments, checkpoint chunks)."""
    return name == access.BOOTSTRAP or (name[:2] in ORDER and len(name) == 28)


def wipe(store: Store, cfg: config.RemoteConfig, remote: Remote, env: Mapping[str, str], *, interactive: bool,
         cache: KeyCache | None) -> tuple[int, list[str]]:
    rid = access.read_bootstrap(remote)
    if rid is not None:  # proves the key first: nobody wipes the wrong place by accident
        access.open_key(remote, rid, env, interactive=interactive, prompt=None, cache=cache)
    names = [i.name for i in remote.list("")]
    ours = sorted((n for n in names if n[:2] in ORDER), key=lambda n: ORDER[n[:2]])
    remote.delete(ours)
    if rid is not None:
        remote.delete([access.BOOTSTRAP])
    with store.write():
        config.forget_state(store, cfg.name)
    purge = getattr(remote, "purge_history", None)
    if purge is None:
        return len(ours) + (1 if rid is not None else 0), [GENERAL]
    try:
        left = purge(is_sync_object)
    except RemoteError as exc:
        left = [f"older versions of the objects could not be purged: {exc}", GENERAL]
    return len(ours) + (1 if rid is not None else 0), left

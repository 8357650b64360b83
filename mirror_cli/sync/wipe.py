"""`mirror remote wipe`: delete every object of a remote, heads first (other devices stop reading),
then segments, envelopes and the bootstrap last; say what may survive elsewhere."""

from __future__ import annotations

from collections.abc import Mapping

from mirror_cli.crypto.passphrase import KeyCache
from mirror_cli.db.store import Store
from mirror_cli.remotes.base import Remote
from mirror_cli.sync import access, config


def wipe(store: Store, cfg: config.RemoteConfig, remote: Remote, env: Mapping[str, str], *, interactive: bool,
         cache: KeyCache | None) -> tuple[int, list[str]]:
    rid = access.read_bootstrap(remote)
    if rid is not None:  # proves the key first: nobody wipes the wrong place by accident
        access.open_key(remote, rid, env, interactive=interactive, prompt=None, cache=cache)
    names = [i.name for i in remote.list("")]
    order = {"h/": 0, "s/": 1, "c/": 2, "k/": 3}
    ours = sorted((n for n in names if n[:2] in order), key=lambda n: order[n[:2]])
    remote.delete(ours)
    if rid is not None:
        remote.delete([access.BOOTSTRAP])
    with store.write():
        config.forget_state(store, cfg.name)
    left = ["copies outside mirror's reach may remain: a synced folder's history (Dropbox 30-day history, "
            "Syncthing .stversions), S3 object versions, database backups of a PostgreSQL remote."]
    return len(ours) + (1 if rid is not None else 0), left

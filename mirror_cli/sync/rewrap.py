"""A new passphrase for a remote: re-wrap its key, nothing else (docs/formats/sync.md, "Passphrase change").

A new envelope ``k/<new>`` (new salt) is written, then the old one is deleted; no head, segment or
checkpoint changes, because the remote key does not. Other devices keep syncing with their cached
KEK while the old envelope exists, then ask for the new passphrase once.

* :func:`carry` — after ``mirror key change``: every remote of the journal whose envelope the
  journal's old passphrase opens is re-wrapped under the new one (the default: remotes use the
  journal's passphrase);
* :func:`change` — ``mirror key change --remote NAME``: the remote's key as a sync opens it (cached
  KEK or passphrase sources), a new passphrase from ``MIRROR_NEW_PASSPHRASE[_FILE]`` or a prompt.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import closing
from typing import Any

from mirror_cli.crypto.kdf import derive_kek
from mirror_cli.crypto.passphrase import KeyCache
from mirror_cli.db.store import Store
from mirror_cli.errors import MirrorError, VerificationError
from mirror_cli.remotes.base import Remote
from mirror_cli.sync import access, config
from mirror_cli.sync.keys import RemoteKey, b32, derive_envelope_kek, open_envelope, seal_envelope


def rewrap(remote: Remote, remote_id: str, keys: list[tuple[str, RemoteKey]], new_passphrase: str,
           cache: KeyCache | None) -> list[str]:
    """Seal each key under *new_passphrase* (one new salt), then delete the envelopes it replaces;
    returns the new envelopes' names."""
    params = access.new_envelope_params()
    kek = derive_kek(new_passphrase, params)
    written = []
    for key in {k.key_id: k for _, k in keys}.values():  # one new envelope per key
        name = "k/" + b32(os.urandom(20))[:26]
        remote.put_new(name, seal_envelope(kek, params, key, remote_id))
        written.append(name)
    remote.delete([old for old, _ in keys])
    if keys:
        access.remember(cache, remote_id, access.Opened(keys[-1][1], "passphrase", kek))
    return written


def _check(remote: Remote, cfg: config.RemoteConfig) -> str:
    rid = access.read_bootstrap(remote)
    if rid is None or (cfg.remote_id is not None and rid != cfg.remote_id):
        raise access.RemoteEmpty(f"remote {cfg.name} is empty or was replaced; its passphrase was not changed.",
                                 f"Run `mirror sync {cfg.name}` to see why.")
    return rid


def carry(store: Store, old_passphrase: str, new_passphrase: str, open_remote: Callable[[config.RemoteConfig], Remote],
          cache: KeyCache | None) -> list[dict[str, Any]]:
    """Re-wrap every remote of the journal that uses its (old) passphrase; one outcome per remote.
    A remote that cannot be reached is reported, not fatal: the journal's passphrase already changed."""
    out = []
    for cfg in config.all_remotes(store):
        try:
            with closing(open_remote(cfg)) as remote:
                rid = _check(remote, cfg)
                keys = []
                for name, env in access.envelopes(remote):
                    key = open_envelope(derive_envelope_kek(old_passphrase, env), env, rid)
                    if key is not None:
                        keys.append((name, key))
                if not keys:
                    out.append({"remote": cfg.name, "rewrapped": False,
                                "reason": "it uses its own passphrase (or a recovery code)"})
                    continue
                rewrap(remote, rid, keys, new_passphrase, cache)
                out.append({"remote": cfg.name, "rewrapped": True, "reason": None})
        except (MirrorError, OSError) as exc:
            out.append({"remote": cfg.name, "rewrapped": False,
                        "reason": f"{exc} (run `mirror key change --remote {cfg.name}` later)"})
    return out


def change(store: Store, cfg: config.RemoteConfig, remote: Remote, env, new_passphrase: str, *, interactive: bool,
           prompt, cache: KeyCache | None) -> dict[str, Any]:
    """`mirror key change --remote NAME`: re-wrap the remote's current key under *new_passphrase*."""
    rid = _check(remote, cfg)
    envs = access.envelopes(remote)
    if not envs:
        raise VerificationError(f"remote {cfg.name} keeps no passphrase envelope (it was added with --key-only).",
                                "It has no passphrase to change.")
    opened = access.open_key(remote, rid, env, interactive=interactive, prompt=prompt, cache=cache)
    if cfg.key_id is not None and cfg.gen == opened.key.gen and opened.key.key_id != cfg.key_id:
        raise VerificationError(f"remote {cfg.name} now uses another key than the one this journal pinned.",
                                "Nothing was changed.")
    same = [(name, e) for name, e in envs if e.gen == opened.key.gen]
    written = rewrap(remote, rid, [(name, opened.key) for name, _ in same], new_passphrase, cache)
    with store.write():
        store.append_event("sync.passphrase_changed", {"remote": cfg.name, "generation": opened.key.gen})
    return {"remote": cfg.name, "rewrapped": True, "envelopes": len(written), "generation": opened.key.gen}

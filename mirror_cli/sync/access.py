"""Opening a remote: its bootstrap object and its key (docs/formats/sync.md, "Keys").

Passphrase sources, first wins: ``MIRROR_SYNC_PASSPHRASE_FILE``, ``MIRROR_SYNC_PASSPHRASE``, the
journal's own (``MIRROR_PASSPHRASE_FILE``, ``MIRROR_PASSPHRASE``), the keyring's cached KEK of the
remote (service ``mirror``, user ``remote:<remote id>``), a prompt on a terminal. Otherwise exit 4.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mirror_cli.crypto.passphrase import KeyCache, KeyringFailure, Passphrase, _from_env, passphrase_from_env
from mirror_cli.errors import InvalidInputError, LockedError, OperationError, VerificationError
from mirror_cli.remotes.base import Exists, NotFound, Remote
from mirror_cli.sync.keys import (Envelope, RemoteKey, b32, derive_envelope_kek, new_envelope_params,
                                  new_remote_key, open_envelope, parse_envelope, parse_recovery_code,
                                  seal_envelope)
from mirror_cli.crypto.kdf import derive_kek

BOOTSTRAP = "mirror-remote.json"
FORMAT = "mirror-remote"
VERSION = 1
SYNC_FILE, SYNC_ENV = "MIRROR_SYNC_PASSPHRASE_FILE", "MIRROR_SYNC_PASSPHRASE"
RECOVERY_ENV = "MIRROR_SYNC_RECOVERY_CODE"
PROBE_PREFIX = "mirror-probe-"  # a short-lived object of `remote add`; any left behind are only foreign names


class RemoteEmpty(OperationError):
    """The remote has no bootstrap: never initialised, wiped or replaced (exit 1, nothing changed)."""


def read_bootstrap(remote: Remote) -> str | None:
    """The remote's id, or None when it has no bootstrap object."""
    try:
        data = remote.get(BOOTSTRAP)
    except NotFound:
        return None
    return parse_bootstrap(data)


def parse_bootstrap(data: bytes) -> str:
    """The remote id in a bootstrap object; not mirror's -> exit 3, a newer format -> exit 5."""
    try:
        body = json.loads(data[:4096])
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise ValueError
        version = body.get("version")
    except (ValueError, RecursionError):
        raise VerificationError(f"{BOOTSTRAP} on the remote is not mirror's.",
                                "Check the remote's URL; nothing was changed.") from None
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        raise InvalidInputError(f"the remote was written by a newer mirror (format version {version}).",
                                "Upgrade mirror on this device; nothing was changed.")
    rid = body.get("remote_id")
    if version != VERSION or not isinstance(rid, str) or len(rid) != 26 or not rid.isalnum():
        raise VerificationError(f"{BOOTSTRAP} on the remote is damaged.", "Nothing was changed.")
    return rid


def sync_passphrase(env: Mapping[str, str]) -> Passphrase | None:
    return _from_env(env, SYNC_FILE, SYNC_ENV) or passphrase_from_env(env)


def envelopes(remote: Remote, read: Mapping[str, bytes] | None = None) -> list[tuple[str, Envelope]]:
    """The key envelopes (*read*: those already read, by name, when the caller listed the remote)."""
    if read is not None:
        return [(name, parse_envelope(data, name)) for name, data in sorted(read.items()) if name.startswith("k/")]
    return [(info.name, parse_envelope(remote.get(info.name), info.name)) for info in remote.list("k/")]


@dataclass
class Opened:
    key: RemoteKey
    source: str
    kek: bytes | None = None


def open_key(remote: Remote, remote_id: str, env: Mapping[str, str], *, interactive: bool,
             prompt: Callable[[str], str] | None, cache: KeyCache | None,
             recovery: Callable[[], str | None] | None = None,
             read: Mapping[str, bytes] | None = None) -> Opened:
    """The remote key: from a cached KEK, a passphrase source, or a recovery code; exit 4 otherwise."""
    envs = envelopes(remote, read)
    user = "remote:" + remote_id
    if envs and cache is not None:
        try:
            kek = cache.load(user)
        except KeyringFailure:
            kek = None
        if kek is not None:
            for _, e in envs:
                key = open_envelope(kek, e, remote_id)
                if key is not None:
                    return Opened(key, "keyring", kek)
    found = sync_passphrase(env)
    if found is None and interactive and envs:
        import getpass

        answer = (prompt or getpass.getpass)("Sync passphrase for this remote: ")
        if answer:
            found = Passphrase(answer, "prompt")
    if not envs:
        if cache is not None:
            try:
                rk = cache.load(user)
            except KeyringFailure:
                rk = None
            if rk is not None:
                return Opened(RemoteKey.from_rk(rk, 1), "keyring")
        code = recovery() if recovery is not None else env.get(RECOVERY_ENV)
        if not code and interactive:
            import getpass

            code = (prompt or getpass.getpass)("Recovery code of this remote: ")
        if code:
            return Opened(parse_recovery_code(code), "recovery code")
        raise LockedError("this remote keeps no passphrase envelope (it was added with --key-only).",
                          "Set MIRROR_SYNC_RECOVERY_CODE to the recovery code printed when it was added.")
    if found is None:
        raise LockedError("syncing needs the remote's passphrase and none was given.",
                          "Set MIRROR_SYNC_PASSPHRASE_FILE or MIRROR_SYNC_PASSPHRASE (or the journal's "
                          "MIRROR_PASSPHRASE_FILE / MIRROR_PASSPHRASE), or run `mirror sync` in a terminal.")
    for _, e in sorted(envs, key=lambda item: -item[1].gen):
        kek = derive_envelope_kek(found.value, e)
        key = open_envelope(kek, e, remote_id)
        if key is not None:
            return Opened(key, found.source, kek)
    raise LockedError(f"wrong passphrase (from {found.source}): it does not open this remote's key.",
                      "Use the passphrase the remote was created with (`mirror remote add` on the first device).")


def remember(cache: KeyCache | None, remote_id: str, opened: Opened) -> None:
    """Cache the envelope's KEK in the OS keyring (best effort: no keyring is fine)."""
    secret = opened.key.rk if opened.source == "recovery code" else opened.kek
    if cache is None or secret is None or opened.source == "keyring":
        return
    try:
        cache.store("remote:" + remote_id, secret)
    except (KeyringFailure, LockedError):
        pass


def honours_conditional_writes(remote: Remote) -> bool:
    """Whether the store honours create-if-absent: a probe object written twice with ``put_new`` (the
    second must find it there), then deleted. Some S3 look-alikes ignore ``If-None-Match``; sync stays
    correct without it (one writer per object; the chain check catches a cloned device identity), it
    only loses that early tripwire, so such a store is accepted with a warning."""
    name = PROBE_PREFIX + b32(os.urandom(10))
    remote.put_new(name, b"first")
    try:
        remote.put_new(name, b"second")
    except Exists:
        return True
    finally:
        remote.delete([name])
    return False


def initialise(remote: Remote, passphrase: Passphrase | None, *, key_only: bool = False) -> tuple[str, RemoteKey]:
    """Make an empty remote mirror's: a bootstrap (create-if-absent) and the first key envelope."""
    remote_id, opened = initialise_opened(remote, passphrase, key_only=key_only)
    return remote_id, opened.key


def initialise_opened(remote: Remote, passphrase: Passphrase | None, *,
                      key_only: bool = False) -> tuple[str, Opened]:
    """:func:`initialise`, also returning what a device may cache (the envelope's KEK, or RK)."""
    remote_id = b32(os.urandom(20))[:26]
    key = new_remote_key()
    kek = None
    if not key_only:
        assert passphrase is not None
        params = new_envelope_params()
        kek = derive_kek(passphrase.value, params)
        remote.put_new("k/" + b32(os.urandom(20))[:26], seal_envelope(kek, params, key, remote_id))
    body = json.dumps({"format": FORMAT, "version": VERSION, "remote_id": remote_id}, sort_keys=True).encode()
    remote.put_new(BOOTSTRAP, body)
    return remote_id, Opened(key, "recovery code" if key_only else "passphrase", kek)

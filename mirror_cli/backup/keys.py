"""The data key of an encrypted backup: where verify and restore look for it (:func:`backup_key`)."""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Mapping
from typing import Any

from mirror_cli import crypto
from mirror_cli.backup.format import NoKeyError, damaged
from mirror_cli.crypto import passphrase as keys
from mirror_cli.errors import LockedError


class KeyRequest:
    """How to get the data key of an encrypted backup (see :func:`backup_key`); after a success it
    also holds what opened it (:attr:`kek` or :attr:`local_kek`, :attr:`source`), for restore."""

    def __init__(self, env: Mapping[str, str], *, interactive: bool = False, prompt: Any = None,
                 cache: Any = None, dek: bytes | None = None, local_meta: Mapping[str, Any] | None = None,
                 local_db_id: str | None = None) -> None:
        self.env, self.interactive, self.prompt, self.cache = env, interactive, prompt, cache
        self.dek, self.local_meta, self.local_db_id = dek, local_meta, local_db_id
        self.kek: bytes | None = None  # a passphrase-derived key that opens the backup's own key record
        self.local_kek: bytes | None = None  # ... or, instead, the local database's record (a changed passphrase)
        self.source: str | None = None


def backup_key(header: Any, req: KeyRequest) -> bytes:
    """The data key of an encrypted backup's container *header*.

    Sources: a loaded data key with the same key id; MIRROR_PASSPHRASE_FILE /
    MIRROR_PASSPHRASE; the key cached in the OS keyring for the backup's
    database id; a prompt on a terminal. The passphrase is tried against the
    backup's own key record, then against the local database's record when
    that database is the same one (a passphrase changed since the backup
    re-wrapped the same data key). None available -> NoKeyError; wrong -> LockedError.
    """
    kid = header.key_id  # None only for a database key record written before key ids existed

    def matches(dek: bytes) -> bool:
        return kid is None or hmac.compare_digest(crypto.key_id(dek), kid)

    if req.dek is not None and kid is not None and matches(req.dek):
        req.source = "loaded key"
        return req.dek
    records = [(header.kdf, header.wrapped_key)]
    if req.local_meta and req.local_db_id == header.db_id:
        with contextlib.suppress(Exception):
            lm = crypto.CryptoMeta.from_dict(req.local_meta)
            if lm.key_id in (None, kid):
                records.append((lm.kdf, lm.wrapped_key))

    def remember(i: int, kek: bytes, source: str) -> None:
        if i == 0:
            req.kek = kek
        else:
            req.local_kek = kek
        req.source = source

    def try_passphrase(value: str, source: str) -> bytes | None:
        for i, (kdf, wrapped) in enumerate(records):
            kek = crypto.derive_kek(value, kdf)
            try:
                dek = crypto.unwrap_data_key(kek, wrapped, header.db_id, source=source)
            except LockedError:
                continue
            if not matches(dek):
                raise damaged("the encrypted header's key id does not match its wrapped key")
            remember(i, kek, source)
            return dek
        return None

    found = keys.passphrase_from_env(req.env)
    if found is not None:
        dek = try_passphrase(found.value, found.source)
        if dek is None:
            raise LockedError(f"wrong passphrase (from {found.source}): it does not open this backup.",
                              "Give the passphrase that was current when the backup was made.")
        return dek
    cache = req.cache if req.cache is not None else keys.KeyCache()
    cached = None
    with contextlib.suppress(keys.KeyringFailure):
        cached = cache.load(header.db_id)
    if cached is not None:
        for i, (_kdf, wrapped) in enumerate(records):
            try:
                dek = crypto.unwrap_data_key(cached, wrapped, header.db_id, source=keys.SOURCE_KEYRING)
            except LockedError:
                continue
            if matches(dek):
                remember(i, cached, keys.SOURCE_KEYRING)
                return dek
    if req.interactive:
        for attempt in range(keys.PROMPT_ATTEMPTS):
            answer = keys._ask(req.prompt, "Passphrase for this backup: " if attempt == 0
                               else "Wrong passphrase, try again: ")
            if answer is None:
                break
            dek = try_passphrase(answer, keys.SOURCE_PROMPT)
            if dek is not None:
                return dek
        else:
            raise LockedError("wrong passphrase (from prompt): it does not open this backup.",
                              "Give the passphrase that was current when the backup was made.")
    raise NoKeyError("this backup is encrypted and no passphrase was given.",
                     "Set MIRROR_PASSPHRASE_FILE (a file whose first line is the passphrase) or "
                     "MIRROR_PASSPHRASE, or run the command in a terminal to be asked.")

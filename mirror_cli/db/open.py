"""Opening the database for a command: resolve, open, migrate, finish an overdue scrub, unlock.

:func:`open_store` opens (and migrates) the configured database; :func:`unlock_store` loads the
key of an encrypted one into ``store.key`` and returns what the CLI shows (:class:`Unlocked`:
where the key came from, and warnings such as keyring trouble or a passphrase file others can read).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mirror_cli.crypto import passphrase
from mirror_cli.crypto.unlocked import UnlockedKey
from mirror_cli.db.scrub import SCRUB_PENDING, retry_scrub
from mirror_cli.db.store import Store
from mirror_cli.localfs import mark_encrypted
from mirror_cli.settings import Settings


@dataclass(frozen=True)
class Unlocked:
    """What unlocking found, for the CLI to show (the key itself is ``store.key``)."""

    source: str  # MIRROR_PASSPHRASE_FILE, MIRROR_PASSPHRASE, "keyring" or "prompt"
    warnings: tuple[str, ...] = ()


def open_store(settings: Settings, *, migrate: bool = True, create: bool = False) -> Store:
    """Open the configured database (migrated unless *migrate* is False), still locked; a missing one
    is created only when *create* (a command that writes), else a UsageError naming it.

    A set ``MIRROR_PASSPHRASE[_FILE]`` alone does not make a plaintext journal refuse writes: it is
    also the passphrase of a sync remote or of another journal, and a journal made while it was set
    would refuse its second entry. A journal whose key record was removed is caught by what the file
    still shows (``db.keyless``: sealed values, a keyed audit run left open)."""
    store = Store.open(settings.db_path, migrate=migrate, create=create)
    if store.meta(SCRUB_PENDING) is not None:  # an earlier wipe was cut short (a full disk): finish it
        retry_scrub(store)
    return store


def unlock_store(store: Store, settings: Settings, *, interactive: bool = False) -> Unlocked:
    """Load the data key of encrypted *store* into ``store.key`` (file, env, keyring, prompt).

    No key -> LockedError (exit 4). Keyring trouble that did not stop the unlock (a failing
    backend, a stale cached key) comes back in ``.warnings``, for the CLI to show.
    """
    found = passphrase.unlock(json.loads(store.meta("crypto")), store.db_id, settings.env,
                              interactive=interactive)
    store.key = UnlockedKey.from_dek(found.dek, found.source)
    mark_encrypted(store.db_id)  # from now on, this journal without its key record is refused a plain write
    return Unlocked(found.source, tuple(found.warnings))

"""Unlocking an encrypted journal for a command: its data key into ``store.key``.

:func:`unlock_store` loads the key (file, environment, keyring, prompt) and returns what the CLI
shows (:class:`Unlocked`: where the key came from, and warnings such as keyring trouble or a
passphrase file others can read). A module of its own, apart from :mod:`.open`, so that a
plaintext journal's commands do not load the passphrase and keyring code.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from mirror_cli.crypto import passphrase
from mirror_cli.crypto.unlocked import UnlockedKey
from mirror_cli.db.store import Store
from mirror_cli.localfs import mark_encrypted
from mirror_cli.settings import Settings


class Unlocked(NamedTuple):
    """What unlocking found, for the CLI to show (the key itself is ``store.key``)."""

    source: str  # MIRROR_PASSPHRASE_FILE, MIRROR_PASSPHRASE, "keyring" or "prompt"
    warnings: tuple[str, ...] = ()


def unlock_store(store: Store, settings: Settings, *, interactive: bool = False) -> Unlocked:
    """Load the data key of encrypted *store* into ``store.key`` (file, env, keyring, prompt).

    No key -> LockedError (exit 4). Keyring trouble that did not stop the unlock (a failing
    backend, a stale cached key) comes back in ``.warnings``, for the CLI to show.
    """
    found = passphrase.unlock(json.loads(store.meta("crypto")), store.db_id, settings.env,
                              interactive=interactive)
    store.key = UnlockedKey.from_dek(found.dek, found.source)
    mark_encrypted(store.db_id, store.path)  # from now on, this journal without its key record is refused a plain write
    return Unlocked(found.source, tuple(found.warnings))

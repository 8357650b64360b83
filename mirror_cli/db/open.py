"""Opening the database for a command: resolve, open, migrate, finish an overdue scrub.

:func:`open_store` opens (and migrates) the configured database; unlocking an encrypted one is
:mod:`.unlock`'s (which loads the key machinery a plaintext journal's commands never need).
"""

from __future__ import annotations

from mirror_cli.db.scrub import SCRUB_PENDING, retry_scrub
from mirror_cli.db.store import Store
from mirror_cli.settings import Settings


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

"""Opening the database for a command: resolve, open, migrate, unlock when needed."""

from __future__ import annotations

from mirror_cli.settings import Settings
from mirror_cli.db.store import Store


def open_store(settings: Settings, *, unlock: bool = True, interactive: bool = False,
               migrate: bool = True, create: bool = True) -> Store:
    """Open the configured database; on an encrypted one, load the key when *unlock*."""
    store = Store.open(settings.db_path, migrate=migrate, create=create)
    if store.meta("scrub_pending") is not None:  # an earlier wipe was cut short (a full disk): finish it
        from mirror_cli.journal.reflections import retry_scrub

        retry_scrub(store)
    if unlock and store.encrypted:
        try:
            unlock_store(store, settings, interactive=interactive)
        except BaseException:
            store.close()
            raise
    return store


def unlock_store(store: Store, settings: Settings, *, interactive: bool = False) -> str:
    """Load the data key into *store* (field codec and audit key). Returns the key's source.

    Keyring trouble that did not stop the unlock (a failing backend, a stale
    cached key) is left in ``store.warnings`` for the CLI to show.
    """
    import json

    from mirror_cli.crypto import passphrase as keys

    result = keys.unlock(json.loads(store.meta("crypto")), store.db_id, settings.env, interactive=interactive)
    install_key(store, result.dek)
    store.key_source = result.source
    store.warnings = tuple(result.warnings)
    return result.source


def install_key(store: Store, dek: bytes) -> None:
    """Make *store* seal and open fields and key audit links with the data key *dek*."""
    from mirror_cli import crypto
    from mirror_cli.crypto.fields import SealedFields

    store.set_fields(SealedFields(crypto.FieldCipher(dek)))
    store.audit_key = crypto.audit_mac_key(dek)
    store.data_key = dek
    store.key_id = crypto.key_id(dek)


def clear_key(store: Store) -> None:
    """Back to plaintext fields and plain audit links (after ``key disable``, or a failed enable)."""
    store.set_fields(None)
    store.audit_key = None
    store.data_key = None
    store.key_id = None

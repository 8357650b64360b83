"""Opening the database for a command: resolve, open, migrate, unlock when needed."""

from __future__ import annotations

from mirror_cli.settings import Settings
from mirror_cli.store import Store


def open_store(settings: Settings, *, unlock: bool = True, interactive: bool = False,
               migrate: bool = True, create: bool = True) -> Store:
    """Open the configured database; on an encrypted one, load the key when *unlock*."""
    store = Store.open(settings.db_path, migrate=migrate, create=create)
    if unlock and store.encrypted:
        try:
            unlock_store(store, settings, interactive=interactive)
        except BaseException:
            store.close()
            raise
    return store


def unlock_store(store: Store, settings: Settings, *, interactive: bool = False) -> str:
    """Load the data key into *store* (field codec and audit key). Returns the key's source."""
    import json

    from mirror_cli import crypto, keys
    from mirror_cli.fields import SealedFields

    result = keys.unlock(json.loads(store.meta("crypto")), store.db_id, settings.env, interactive=interactive)
    store.set_fields(SealedFields(crypto.FieldCipher(result.dek)))
    store.audit_key = crypto.audit_mac_key(result.dek)
    store.data_key = result.dek
    return result.source

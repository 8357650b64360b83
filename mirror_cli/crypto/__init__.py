"""Encryption at rest: keys, sealed fields and encrypted files, with ``cryptography`` only.

Modules, lowest first (each imports only those above it):

* :mod:`.primitives` -- sizes, HKDF purposes and sub-keys, the associated-data encoding (``lp``);
* :mod:`.kdf` -- the key hierarchy: Argon2id parameters and derivation, the data key
  wrapped under the passphrase key, HKDF sub-keys, key ids, the database's key record;
* :mod:`.fields` -- sealed columns: :class:`FieldCipher` and the field codecs
  (``PLAIN``, ``SealedFields``), with the map of which columns are sealed;
* :mod:`.container` -- the streaming AEAD file format of backups and ``export --encrypt``
  (docs/formats/encrypted-container.md);
* :mod:`.unlocked` -- :class:`~.unlocked.UnlockedKey`, the one object that holds a
  database's unlocked data key and what is derived from it (field codec, audit MAC key, key id);
* :mod:`.passphrase` -- where the key comes from: passphrase sources and the OS keyring cache;
* :mod:`.manage` -- the ``mirror key`` operations (enable, disable, change, lock, unlock,
  export, import);
* :mod:`.rotate` -- ``mirror key rotate``: a new data key, every sealed value re-sealed under it.

``manage`` and ``rotate`` are the only modules here that import :mod:`mirror_cli.db`.

The public names of ``kdf``, ``fields`` and ``container`` are re-exported here, so callers
write ``crypto.derive_kek``, ``crypto.FieldCipher``, ``crypto.encrypt_stream``. ``passphrase``,
``unlocked``, ``manage`` and ``rotate`` are imported by name. Importing this package is cheap:
the re-exported names load their module on first use, and ``cryptography`` is imported inside
the functions that need it (start-up path).
"""

# Loaded on first use (PEP 562): `import mirror_cli.crypto.fields`, which every command does, runs this
# file first, and importing the three modules here cost a plain `mirror list` ~8 ms (hashlib, OpenSSL,
# eleven dataclasses) that it never used.
_HOMES: dict[str, str] = {
    **dict.fromkeys("""
        CHUNK_SIZE CONTAINER_CIPHER CONTAINER_FORMAT CONTAINER_VERSION DIGEST_SIZE MAGIC MAGIC_PREFIX
        MAX_CHUNK_SIZE MAX_CHUNKS MAX_HEADER_SIZE NONCE_PREFIX_SIZE PURPOSES STREAM_SALT_SIZE
        ContainerHeader ContainerResult container_key decrypt_stream encrypt_stream is_container
        read_container_header""".split(), 'container'),
    **dict.fromkeys("""
        FIELD_MIN_ENVELOPE FIELD_NONCE_END FIELD_VERSION PLAIN SEALED_COLUMNS FieldCipher PlainFields
        SealedFields occurrence_record_id""".split(), 'fields'),
    **dict.fromkeys("""
        AUDIT_INFO CRYPTO_META_VERSION DEFAULT_ITERATIONS DEFAULT_LANES DEFAULT_MEMORY_KIB FIELD_INFO
        KDF_ALGORITHM KEY_ID_INFO KEY_ID_SIZE KEY_SIZE MAX_ITERATIONS MAX_LANES MAX_MEMORY_KIB MAX_SALT
        MAX_WORK_KIB_PASSES MIN_SALT NONCE_SIZE SALT_SIZE STREAM_INFO TAG_SIZE WRAP_AD_LABEL WRAP_VERSION
        CryptoMeta KdfParams KeyRecord audit_mac_key derive_kek key_id new_data_key new_kdf_params
        new_key_record subkey unwrap_data_key wrap_data_key""".split(), 'kdf'),
}


def __getattr__(name: str) -> object:
    import importlib

    if name in ("container", "fields", "kdf"):  # submodules were attributes once this package was imported
        return importlib.import_module(f"{__name__}.{name}")
    module = _HOMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "AUDIT_INFO", "CHUNK_SIZE", "CONTAINER_CIPHER", "CONTAINER_FORMAT", "CONTAINER_VERSION", "CRYPTO_META_VERSION",
    "DEFAULT_ITERATIONS", "DEFAULT_LANES", "DEFAULT_MEMORY_KIB", "DIGEST_SIZE", "FIELD_INFO", "FIELD_MIN_ENVELOPE",
    "FIELD_NONCE_END", "FIELD_VERSION", "KDF_ALGORITHM", "KEY_ID_INFO", "KEY_ID_SIZE", "KEY_SIZE", "MAGIC",
    "MAGIC_PREFIX", "MAX_CHUNKS", "MAX_CHUNK_SIZE", "MAX_HEADER_SIZE", "MAX_ITERATIONS", "MAX_LANES",
    "MAX_MEMORY_KIB", "MAX_SALT", "MAX_WORK_KIB_PASSES", "MIN_SALT", "NONCE_PREFIX_SIZE", "NONCE_SIZE", "PLAIN",
    "PURPOSES", "SALT_SIZE", "SEALED_COLUMNS", "STREAM_INFO", "STREAM_SALT_SIZE", "TAG_SIZE", "WRAP_AD_LABEL",
    "WRAP_VERSION", "ContainerHeader", "ContainerResult", "CryptoMeta", "FieldCipher", "KdfParams", "KeyRecord",
    "PlainFields", "SealedFields", "audit_mac_key", "container_key", "decrypt_stream", "derive_kek",
    "encrypt_stream", "is_container", "key_id", "new_data_key", "new_kdf_params", "new_key_record",
    "occurrence_record_id", "read_container_header", "subkey", "unwrap_data_key", "wrap_data_key",
]

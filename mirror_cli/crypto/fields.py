"""Sealed fields: how user-content columns are stored, in clear or sealed with the data key.

:data:`PLAIN` stores text as text. When the database is encrypted, the
unlocked key (:class:`mirror_cli.crypto.unlocked.UnlockedKey`) holds a
:class:`SealedFields` that seals each value with :class:`FieldCipher`, bound
to its table, record id and field: a ciphertext copied to another row, table
or column fails to open (exit 3, naming the record), so it can never show one
record's text as another's. :func:`codec` gives the right one for a store.

Field envelope (``FieldCipher``)
================================

::

    0x01 | nonce (12 random bytes) | AES-256-GCM ciphertext | tag (16)

associated data = ``0x01 || lp(table) || lp(record id) || lp(field)`` where
``lp(s)`` is the 4-byte big-endian length of UTF-8 ``s`` followed by it.
Random 96-bit nonces are safe far beyond any journal's size (NIST's 2**32
messages per key). The key is the HKDF field sub-key of the data key
(:mod:`mirror_cli.crypto.kdf`).

Sealed columns and the record id each one is bound to (the associated data)
---------------------------------------------------------------------------

Every module that reads or writes these columns must use exactly these
``(table, record id, field)`` triples, or the envelopes will not open:

=====================  ===========================================  ==========================
table                  record id                                    fields
=====================  ===========================================  ==========================
``reflections``        the reflection id                            ``content``, ``response``,
                                                                    ``tags`` (JSON list text)
``patterns``           the pattern id                               ``name``
``pattern_occurrences`` ``f"{pattern_id}:{reflection_id}"``         ``evidence``
                       (:func:`occurrence_record_id`)
``tensions``           the tension id                               ``data`` (the JSON text)
``analysis_state``     the reflection id                            ``findings`` (JSON text)
``pattern_stats``      the pattern id                               ``timeline`` (JSON text)
``sync_conflicts``     the conflict's ``cid`` as text               ``value`` (JSON text)
``sync_derived``       the row's id                                 ``nkey`` (JSON text)
=====================  ===========================================  ==========================

(``analysis_state`` and ``pattern_stats`` are the pattern engine's caches, migration 0005;
``sync_conflicts`` holds the values that lost a concurrent edit, migration 0007; ``sync_derived`` the
natural keys of synced patterns and tensions, migration 0008.)

A NULL stays NULL (``response``, ``evidence``): only present values are sealed.
Everything else (ids, times, mode, local_only, visibility, rev, confidence
numbers, pattern_type, counts) stays in clear so that SQLite can sort, filter
and sync without the key. :data:`SEALED_COLUMNS` lists the same map for code
that converts whole tables (``mirror key enable|disable``, ``mirror_cli.crypto.manage``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from mirror_cli.crypto.primitives import FIELD_INFO, NONCE_SIZE, TAG_SIZE, lp, subkey
from mirror_cli.errors import LockedError, VerificationError

FIELD_VERSION = 1
FIELD_NONCE_END = 1 + NONCE_SIZE  # a field envelope: version byte, nonce, ciphertext, tag
FIELD_MIN_ENVELOPE = FIELD_NONCE_END + TAG_SIZE

#: The stored text of a tag list (``json.dumps(tags, ensure_ascii=False)``), its encoder built once.
tags_text = json.JSONEncoder(ensure_ascii=False).encode

#: table -> (SQL expression of the record id bound into each envelope, sealed columns)
SEALED_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "reflections": ("id", ("content", "response", "tags")),
    "patterns": ("id", ("name",)),
    "pattern_occurrences": ("pattern_id || ':' || reflection_id", ("evidence",)),
    "tensions": ("id", ("data",)),
    # caches of the pattern analysis (migration 0005, mirror_cli.patterns.stored)
    "analysis_state": ("reflection_id", ("findings",)),
    "pattern_stats": ("pattern_id", ("timeline",)),
    # the losing values of concurrent edits (migration 0007, mirror_cli.sync.local.record_conflicts)
    "sync_conflicts": ("CAST(cid AS TEXT)", ("value",)),
    # the natural keys of patterns and tensions that sync (migration 0008, mirror_cli.sync.derived)
    "sync_derived": ("id", ("nkey",)),
}


def occurrence_record_id(pattern_id: str, reflection_id: str) -> str:
    """The record id a ``pattern_occurrences`` envelope is bound to."""
    return f"{pattern_id}:{reflection_id}"


class PlainFields:
    encrypted = False

    def seal(self, table: str, record_id: str, field: str, value: str) -> Any:
        return value

    def open(self, table: str, record_id: str, field: str, stored: Any) -> str:
        if isinstance(stored, bytes):
            raise VerificationError(
                f"{table} {record_id}: field {field} holds ciphertext but the database is not encrypted.",
                "Run `mirror audit verify` and restore from a backup.",
            )
        return stored

    def open_row(self, table: str, record_id: str, fields: tuple[str, ...], stored: tuple[Any, ...]) -> list[Any]:
        """:meth:`open` of several fields of one record; a NULL (None) stays None."""
        return [None if value is None else self.open(table, record_id, name, value)
                for name, value in zip(fields, stored)]

    def seal_tags(self, table: str, record_id: str, tags: list[str]) -> Any:
        return self.seal(table, record_id, "tags", tags_text(tags))

    def open_tags(self, table: str, record_id: str, stored: Any) -> list[str]:
        return json.loads(self.open(table, record_id, "tags", stored))


PLAIN = PlainFields()


class SealedFields(PlainFields):
    encrypted = True

    def __init__(self, cipher: Any) -> None:
        self.cipher = cipher

    def seal(self, table: str, record_id: str, field: str, value: str) -> Any:
        return self.cipher.seal(table, record_id, field, value)

    def open(self, table: str, record_id: str, field: str, stored: Any) -> str:
        if not isinstance(stored, bytes):
            raise VerificationError(
                f"{table} {record_id}: field {field} is stored in clear in an encrypted database.",
                "Run `mirror audit verify`; the row was changed outside mirror.",
            )
        return self.cipher.open(table, record_id, field, stored)

    def open_row(self, table: str, record_id: str, fields: tuple[str, ...], stored: tuple[Any, ...]) -> list[Any]:
        row = getattr(self.cipher, "open_row", None)
        if row is None:  # a reader without the batch form (the backup's opened snapshot)
            return super().open_row(table, record_id, fields, stored)
        try:
            return row(table, record_id, fields, stored)
        except Exception:
            for name, value in zip(fields, stored):  # name text planted where ciphertext belongs, as open() does
                if value is not None and not isinstance(value, bytes):
                    self.open(table, record_id, name, value)
            raise


def codec(store: Any) -> PlainFields:
    """The codec of *store*'s user-content fields: :data:`PLAIN` on a plaintext database, the
    unlocked key's :class:`SealedFields` on an encrypted one; LockedError when it is encrypted
    and no key is loaded (``store.key`` is None)."""
    key = store.key
    if key is not None:
        return key.fields
    if store.encrypted:
        raise LockedError("this database is encrypted and no key is loaded.",
                          "Set MIRROR_PASSPHRASE_FILE or run `mirror key unlock`.")
    return PLAIN


class FieldCipher:
    """Seal and open single text fields, each bound to (table, record id, field)."""

    __slots__ = ("_aead", "_prefix", "_parts", "_invalid_tag")

    def __init__(self, dek: bytes) -> None:
        from cryptography.exceptions import InvalidTag  # lazy: ~10 ms, off the start-up path
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._invalid_tag = InvalidTag

        self._aead = AESGCM(subkey(dek, FIELD_INFO))  # one AEAD object: no per-call key setup
        self._prefix = bytes([FIELD_VERSION])
        # (table, field) -> encoded AD parts; (table, (field, ...)) -> a tuple of them (open_row)
        self._parts: dict[tuple[Any, Any], Any] = {}

    def __repr__(self) -> str:
        return "FieldCipher(<key hidden>)"

    @property
    def aead(self) -> Any:
        """The AES-256-GCM object under the field subkey, for code that rebuilds envelopes
        this cipher made (a backup's opened fields); everything else uses seal/open."""
        return self._aead

    def associated_data(self, table: str, record_id: str, field_name: str) -> bytes:
        """What binds a field's ciphertext to its table, record and field name."""
        parts = self._parts.get((table, field_name))
        if parts is None:
            if len(self._parts) > 256:  # a handful in practice; never let it grow without bound
                self._parts.clear()
            parts = self._parts[(table, field_name)] = (self._prefix + lp(table), lp(field_name))
        return parts[0] + lp(record_id) + parts[1]

    def seal(self, table: str, record_id: str, field: str, value: str) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return self._prefix + nonce + self._aead.encrypt(nonce, value.encode("utf-8"),
                                                         self.associated_data(table, record_id, field))

    def open(self, table: str, record_id: str, field: str, blob: bytes) -> str:
        if isinstance(blob, bytes) and len(blob) >= FIELD_MIN_ENVELOPE and blob[0] == FIELD_VERSION:
            try:
                return self._aead.decrypt(blob[1:FIELD_NONCE_END], blob[FIELD_NONCE_END:],
                                          self.associated_data(table, record_id, field)).decode("utf-8")
            except (self._invalid_tag, UnicodeDecodeError):
                pass
        raise _undecryptable(table, record_id, field)

    def row_parts(self, table: str, fields: tuple[str, ...]) -> tuple[Callable[..., bytes], tuple[tuple[bytes, bytes], ...]]:
        """For a caller that opens every row of a table in one loop (``sealedrows.rows_json``): the AEAD's
        ``decrypt(nonce, ciphertext, ad)`` and, per field, the associated data before and after the
        record id's part (``lp(record_id)``). Such a caller checks the version byte and length as
        :meth:`open_row` does, and on any failure calls :meth:`open_row`, which raises the error."""
        return self._aead.decrypt, self._row_ads(table, fields)

    def _row_ads(self, table: str, fields: tuple[str, ...]) -> tuple[tuple[bytes, bytes], ...]:
        """Per field: (AD before the record id, AD after it), cached per (table, fields)."""
        ads = self._parts.get((table, fields))
        if ads is None:
            if len(self._parts) > 256:
                self._parts.clear()
            ads = self._parts[(table, fields)] = tuple((self._prefix + lp(table), lp(f)) for f in fields)
        return ads

    def open_row(self, table: str, record_id: str, fields: tuple[str, ...],
                 blobs: tuple[bytes | None, ...]) -> list[str | None]:
        """:meth:`open` for several fields of one record (None stays None); the same checks, less overhead.

        The record id's part of the associated data is encoded once for the
        row, which matters when a command opens every row (search, export).
        """
        ads = self._parts.get((table, fields)) or self._row_ads(table, fields)  # no extra call per row
        rid = lp(record_id)
        decrypt = self._aead.decrypt
        out: list[str | None] = []
        for (before, after), blob in zip(ads, blobs):
            if blob is None:
                out.append(None)
                continue
            try:
                if blob[0] != FIELD_VERSION or len(blob) < FIELD_MIN_ENVELOPE:
                    raise ValueError
                out.append(decrypt(blob[1:FIELD_NONCE_END], blob[FIELD_NONCE_END:], before + rid + after).decode("utf-8"))
            except (self._invalid_tag, UnicodeDecodeError, ValueError, TypeError, IndexError):
                raise _undecryptable(table, record_id, fields[len(out)]) from None
        return out


def _undecryptable(table: str, record_id: str, field: str) -> VerificationError:
    return VerificationError(
        f"{table} {record_id}: field {field} cannot be decrypted; it was altered, damaged, "
        "or moved from another record or field.",
        "Run `mirror audit verify` and restore the record from a backup.")


"""Opened fields: an encrypted backup's snapshot carries its sealed fields opened.

A sealed field is ``0x01 | nonce (12) | AES-256-GCM ciphertext | tag (16)`` (crypto.FieldCipher).
Inside an encrypted backup the snapshot holds it "opened": ``0x81 | the same nonce | the plaintext |
the same tag``, a blob of the same length. The container already encrypts the whole backup, so
nothing is in clear in the file; the plaintext compresses (and is found again in the export),
instead of incompressible ciphertext being stored beside the plaintext export: the backup is
about half the size (98 MB instead of 174 MB for 100,000 reflections). Restore seals each field
again with its own nonce, which gives back the very same ciphertext, and checks that the tag it
computes is the stored one (so every field is authenticated again before the swap).
"""

from __future__ import annotations

import contextlib
import hmac
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mirror_cli import crypto
from mirror_cli.backup.format import damaged
from mirror_cli.crypto import FIELD_MIN_ENVELOPE, FIELD_NONCE_END, FIELD_VERSION, TAG_SIZE
from mirror_cli.crypto.fields import SEALED_COLUMNS
from mirror_cli.errors import VerificationError

OPENED = 0x81  # first byte of an opened field envelope (only inside an encrypted backup's snapshot)


class _FieldError(Exception):
    pass


def _field_udf(dek: bytes, make: Callable[..., bytes], errors: list[str]):
    cipher = crypto.FieldCipher(dek)
    aead, ad = cipher.aead, cipher.associated_data

    def udf(table: str, record_id: str, field_name: str, blob: Any) -> Any:
        if blob is None:
            return None
        try:
            if not isinstance(blob, bytes) or len(blob) < FIELD_MIN_ENVELOPE:
                raise _FieldError(f"{table} {record_id}: field {field_name} is not an envelope")
            return make(aead, ad(table, str(record_id), field_name), blob, table, record_id, field_name)
        except _FieldError as exc:
            errors.append(str(exc))  # SQLite only says "user-defined function raised exception"
            raise

    return udf


def _open_one(aead: Any, ad: bytes, blob: bytes, table: str, rid: Any, name: str) -> bytes:
    from cryptography.exceptions import InvalidTag  # heavy: only once a field is opened

    if blob[0] != FIELD_VERSION:
        raise _FieldError(f"{table} {rid}: field {name} is not sealed")
    try:
        plain = aead.decrypt(blob[1:FIELD_NONCE_END], blob[FIELD_NONCE_END:], ad)
    except InvalidTag:
        raise _FieldError(f"{table} {rid}: field {name} cannot be decrypted") from None
    return bytes([OPENED]) + blob[1:FIELD_NONCE_END] + plain + blob[-TAG_SIZE:]


def _seal_one(aead: Any, ad: bytes, blob: bytes, table: str, rid: Any, name: str) -> bytes:
    if blob[0] != OPENED:
        raise _FieldError(f"{table} {rid}: field {name} is not an opened envelope")
    sealed = aead.encrypt(blob[1:FIELD_NONCE_END], blob[FIELD_NONCE_END:-TAG_SIZE], ad)
    if not hmac.compare_digest(sealed[-TAG_SIZE:], blob[-TAG_SIZE:]):
        raise _FieldError(f"{table} {rid}: field {name} does not match its tag")
    return bytes([FIELD_VERSION]) + blob[1:FIELD_NONCE_END] + sealed


def _map_fields(path: Path, dek: bytes, make: Callable[..., bytes]) -> None:
    """Rewrite every sealed column of the database at *path* through *make* (one transaction)."""
    conn = sqlite3.connect(path, isolation_level=None)
    errors: list[str] = []
    try:
        # A private temp copy (the snapshot being packed, or the file restore is about to swap in): no
        # rollback journal, no fsyncs; a crash leaves a temp file that is thrown away anyway.
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("PRAGMA secure_delete = ON")  # no freed page keeps opened text (restore's reseal)
        conn.create_function("mirror_field", 4, _field_udf(dek, make, errors), deterministic=True)
        have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        conn.execute("BEGIN IMMEDIATE")
        for table, (rid, cols) in SEALED_COLUMNS.items():
            if table not in have:
                continue
            sets = ", ".join(f"{c} = mirror_field('{table}', {rid}, '{c}', {c})" for c in cols)
            conn.execute(f"UPDATE {table} SET {sets}")  # noqa: S608 - names from SEALED_COLUMNS
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise _FieldError(errors[0] if errors else str(exc)) from None
    finally:
        conn.close()


def open_fields(path: Path, dek: bytes) -> None:
    """Open every sealed field of the snapshot at *path* (create, before packing an encrypted backup)."""
    try:
        _map_fields(path, dek, _open_one)
    except _FieldError as exc:
        raise VerificationError(f"cannot back up: a sealed field of the database does not open ({exc}).",
                                "Run `mirror audit verify`; the database was changed outside mirror.") from None


def reseal_fields(path: Path, dek: bytes) -> None:
    """Seal every opened field of the unpacked snapshot at *path* back, checking each tag (restore)."""
    try:
        _map_fields(path, dek, _seal_one)
    except _FieldError as exc:
        raise damaged(f"a field of its snapshot does not seal back to its tag ({exc})") from None

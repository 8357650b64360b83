"""The key hierarchy: Argon2id, the wrapped data key, HKDF sub-keys, key ids, the key record.

``cryptography`` is imported inside the functions that need it, so importing
this module is cheap (``mirror --version`` and commands on an unencrypted
database never load it).

Key hierarchy
=============

::

    passphrase --Argon2id(KdfParams)--> KEK  (32 bytes; the only thing the OS keyring caches)
    KEK --AES-256-GCM, AD = label + db_id--> wrapped data key  (meta "crypto", container headers)
    DEK = data key, 32 random bytes; replaced only by `mirror key rotate` (crypto.rotate)
        HKDF-SHA256(DEK, info="mirror field envelope v1")       -> field key  (fields.FieldCipher)
        HKDF-SHA256(DEK, info="mirror audit chain v1")          -> audit MAC key (HMAC-SHA256 links)
        HKDF-SHA256(DEK, salt=file salt,
                    info="mirror container stream v1 " + purpose) -> stream key of one container
        HKDF-SHA256(DEK, info="mirror key id v1")[:16]          -> key id (public fingerprint)

Changing the passphrase re-wraps the DEK under a new KEK (new salt, new
parameters); nothing else is re-encrypted, and older backups still open with
the data key (or with the passphrase that was current when they were made).
So an old copy of the key record and its passphrase open everything written
later too; ``mirror key rotate`` makes a new DEK and re-seals every field.

Passphrases are normalised to Unicode NFC and encoded as UTF-8 before the KDF,
so the same passphrase typed on macOS (NFD input) and Linux gives the same key.

KDF parameters (measured, see docs/formats/encrypted-container.md)
------------------------------------------------------------------
Argon2id (RFC 9106), 128 MiB, 4 iterations, 4 lanes, 16-byte salt: about
0.3 s on the reference machine (2 shared cores, cryptography 50 / OpenSSL;
0.4-0.9 s while both cores are busy), inside the 0.2-1 s budget of an interactive unlock. RFC 9106's second
recommended option (64 MiB, t=3, p=4) took ~0.15 s there, so we doubled the
memory (the cost that matters against GPUs) and added one pass.
:meth:`KdfParams.from_dict` refuses parameters that would make us allocate
more than 1 GiB or run more than 8 GiB-passes, so a hostile header cannot
exhaust the machine.

Wrapped data key
================

base64 (standard, padded) of ``0x01 | nonce (12) | AES-256-GCM(KEK, DEK) (32 + 16)``,
associated data ``lp("mirror wrapped data key v1") || lp(db_id)``, where
``lp(s)`` is the 4-byte big-endian length of UTF-8 ``s`` followed by it.

The key record (meta ``crypto``) is :class:`CryptoMeta`: format version, KDF
parameters, wrapped key and key id. A wrong passphrase -> :class:`LockedError`
(exit 4); a damaged record -> :class:`VerificationError` (exit 3).
"""

from __future__ import annotations

import base64
import binascii
import os
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from mirror_cli.crypto.primitives import (AUDIT_INFO, FIELD_INFO, KEY_ID_INFO, KEY_ID_SIZE,  # noqa: F401 (re-exported)
                                          KEY_SIZE, NONCE_SIZE, STREAM_INFO, TAG_SIZE, check_key, lp, subkey)
from mirror_cli.errors import InvalidInputError, LockedError, OperationError, UsageError, VerificationError

# -- KDF parameters ----------------------------------------------------------

KDF_ALGORITHM = "argon2id"
DEFAULT_MEMORY_KIB = 128 * 1024  # 128 MiB
DEFAULT_ITERATIONS = 4
DEFAULT_LANES = 4
SALT_SIZE = 16

MIN_SALT, MAX_SALT = 16, 64
MAX_MEMORY_KIB = 1024 * 1024  # 1 GiB
MAX_ITERATIONS = 64
MAX_LANES = 16
MAX_WORK_KIB_PASSES = 8 * 1024 * 1024  # memory_cost * iterations <= 8 GiB-passes (~5 s here)

# -- HKDF purposes (info strings): one per use, never reused ----------------

# (FIELD_INFO, AUDIT_INFO, KEY_ID_INFO, STREAM_INFO: in .constants)

WRAP_VERSION = 1
WRAP_AD_LABEL = "mirror wrapped data key v1"
CRYPTO_META_VERSION = 1

_UNLOCK_HINT = ("Check MIRROR_PASSPHRASE_FILE / MIRROR_PASSPHRASE, or run `mirror key unlock` "
                "to enter it again.")


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def b64e(data: bytes) -> str:
    """Standard, padded base64 as text."""
    return base64.b64encode(data).decode("ascii")


def b64d(text: Any, what: str, error: type[Exception] = InvalidInputError) -> bytes:
    """Strict base64 text -> bytes; anything else raises *error* naming *what*."""
    if not isinstance(text, str):
        raise error(f"{what} is not a base64 string.")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise error(f"{what} is not valid base64.") from None


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _passphrase_bytes(passphrase: str) -> bytes:
    """NFC-normalise and UTF-8-encode; the error never carries the passphrase."""
    if not isinstance(passphrase, str):
        raise UsageError("the passphrase must be text.")
    encoded = None
    try:
        encoded = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    except UnicodeError:
        pass  # raised below, outside the except block, so no exception context holds the text
    if encoded is None:
        raise UsageError("the passphrase is not valid Unicode text (it contains unpaired surrogates).",
                         "Re-enter it, or check the encoding of MIRROR_PASSPHRASE_FILE.")
    if not encoded:
        raise UsageError("the passphrase is empty.", "Choose a non-empty passphrase.")
    return encoded


# ---------------------------------------------------------------------------
# KDF
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KdfParams:
    """Argon2id parameters; validated on construction (hostile input is refused)."""

    algorithm: str
    salt: bytes
    iterations: int
    lanes: int
    memory_cost: int  # KiB

    def __post_init__(self) -> None:
        if self.algorithm != KDF_ALGORITHM:
            raise InvalidInputError(f"unsupported key-derivation algorithm {str(self.algorithm)[:40]!r}.",
                                    "It was made by a newer mirror; upgrade mirror.")
        if not isinstance(self.salt, bytes) or not MIN_SALT <= len(self.salt) <= MAX_SALT:
            raise InvalidInputError(f"the key-derivation salt must be {MIN_SALT} to {MAX_SALT} bytes.")
        for name, value, top in (("iterations", self.iterations, MAX_ITERATIONS),
                                 ("lanes", self.lanes, MAX_LANES),
                                 ("memory_cost", self.memory_cost, MAX_MEMORY_KIB)):
            if not is_int(value) or not 1 <= value <= top:
                raise InvalidInputError(f"key-derivation parameter {name} must be an integer from 1 to {top}.")
        if self.memory_cost < 8 * self.lanes:
            raise InvalidInputError("key-derivation parameter memory_cost must be at least 8 KiB per lane.")
        if self.memory_cost * self.iterations > MAX_WORK_KIB_PASSES:
            raise InvalidInputError("key-derivation parameters ask for more work than mirror allows "
                                    f"(memory_cost x iterations above {MAX_WORK_KIB_PASSES} KiB).")

    def to_dict(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "salt": b64e(self.salt), "iterations": self.iterations,
                "lanes": self.lanes, "memory_cost": self.memory_cost}

    @classmethod
    def from_dict(cls, data: Any) -> KdfParams:
        """Parse and validate; anything absurd or malformed -> InvalidInputError."""
        if not isinstance(data, dict):
            raise InvalidInputError("key-derivation parameters must be a JSON object.")
        missing = [k for k in ("algorithm", "salt", "iterations", "lanes", "memory_cost") if k not in data]
        if missing:
            raise InvalidInputError(f"key-derivation parameters lack {', '.join(missing)}.")
        return cls(algorithm=data["algorithm"], salt=b64d(data["salt"], "the key-derivation salt"),
                   iterations=data["iterations"], lanes=data["lanes"], memory_cost=data["memory_cost"])


def new_kdf_params(*, iterations: int = DEFAULT_ITERATIONS, lanes: int = DEFAULT_LANES,
                   memory_cost: int = DEFAULT_MEMORY_KIB) -> KdfParams:
    """Fresh Argon2id parameters with a new random salt (defaults: see module docstring)."""
    return KdfParams(KDF_ALGORITHM, os.urandom(SALT_SIZE), iterations, lanes, memory_cost)


def derive_kek(passphrase: str, params: KdfParams) -> bytes:
    """Argon2id(passphrase, params) -> 32-byte key-encryption key."""
    secret = _passphrase_bytes(passphrase)
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id  # lazy: ~10 ms, off the start-up path

    try:
        return Argon2id(salt=params.salt, length=KEY_SIZE, iterations=params.iterations,
                        lanes=params.lanes, memory_cost=params.memory_cost).derive(secret)
    except MemoryError:
        raise OperationError(f"not enough memory to derive the key ({params.memory_cost // 1024} MiB needed).",
                             "Close other programs and try again.") from None


# ---------------------------------------------------------------------------
# data key, wrapping, sub-keys
# ---------------------------------------------------------------------------


def new_data_key() -> bytes:
    return os.urandom(KEY_SIZE)


def _wrap_ad(db_id: str) -> bytes:
    if not isinstance(db_id, str) or not db_id:
        raise UsageError("a database id is needed to wrap or unwrap the data key.")
    return lp(WRAP_AD_LABEL) + lp(db_id)


def wrap_data_key(kek: bytes, dek: bytes, db_id: str) -> str:
    """Seal *dek* under *kek* (AES-256-GCM), bound to *db_id*; returns base64 text."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # lazy: ~10 ms, off the start-up path

    kek, dek = check_key(kek, "key-encryption key"), check_key(dek)
    nonce = os.urandom(NONCE_SIZE)
    blob = bytes([WRAP_VERSION]) + nonce + AESGCM(kek).encrypt(nonce, dek, _wrap_ad(db_id))
    return b64e(blob)


def unwrap_data_key(kek: bytes, wrapped: str, db_id: str, *, source: str | None = None) -> bytes:
    """Open a wrapped data key. A wrong KEK (wrong passphrase) -> LockedError.

    *source* (e.g. ``"MIRROR_PASSPHRASE_FILE"``) is named in the message; it is
    the name of where the passphrase came from, never the passphrase.
    """
    from cryptography.exceptions import InvalidTag  # lazy: ~10 ms, off the start-up path
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    kek = check_key(kek, "key-encryption key")
    blob = b64d(wrapped, "the wrapped data key", VerificationError)
    if len(blob) != 1 + NONCE_SIZE + KEY_SIZE + TAG_SIZE or blob[0] != WRAP_VERSION:
        raise VerificationError("the wrapped data key is damaged (wrong length or version).",
                                "Restore the database or file from a backup.")
    try:
        return AESGCM(kek).decrypt(blob[1:1 + NONCE_SIZE], blob[1 + NONCE_SIZE:], _wrap_ad(db_id))
    except InvalidTag:
        pass
    where = f" (from {source})" if source else ""
    raise LockedError(f"wrong passphrase{where}: it does not open this key.", _UNLOCK_HINT)


def audit_mac_key(dek: bytes) -> bytes:
    """The HMAC-SHA256 key of the keyed audit chain."""
    return subkey(dek, AUDIT_INFO)


def key_id(dek: bytes) -> str:
    """A public fingerprint of the data key (base64 of 16 HKDF bytes); reveals nothing about it."""
    return b64e(subkey(dek, KEY_ID_INFO, length=KEY_ID_SIZE))


# ---------------------------------------------------------------------------
# the database's key record (meta "crypto")
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CryptoMeta:
    """What the store keeps in its meta table under ``crypto``."""

    version: int
    kdf: KdfParams
    wrapped_key: str
    key_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": self.version, "kdf": self.kdf.to_dict(), "wrapped_key": self.wrapped_key}
        if self.key_id is not None:
            out["key_id"] = self.key_id
        return out

    @classmethod
    def from_dict(cls, data: Any) -> CryptoMeta:
        """Parse the stored record; a malformed one -> VerificationError (the database was altered)."""
        if not isinstance(data, dict) or not isinstance(data.get("wrapped_key"), str):
            raise VerificationError("the database's key record is damaged.",
                                    "Run `mirror audit verify` and restore from a backup.")
        if data.get("version") != CRYPTO_META_VERSION:
            raise OperationError("the database's key record has a version this mirror does not know.",
                                 "Upgrade mirror.")
        try:
            kdf = KdfParams.from_dict(data.get("kdf"))
        except InvalidInputError as exc:
            raise VerificationError(f"the database's key record is damaged: {exc.message}",
                                    "Run `mirror audit verify` and restore from a backup.") from None
        kid = data.get("key_id")
        return cls(CRYPTO_META_VERSION, kdf, data["wrapped_key"], kid if isinstance(kid, str) else None)


@dataclass(frozen=True)
class KeyRecord:
    """A sealed key record and the keys it holds (``key enable`` / ``key change``)."""

    meta: dict[str, Any]
    dek: bytes = field(repr=False)
    kek: bytes = field(repr=False)


def new_key_record(passphrase: str, db_id: str, *, dek: bytes | None = None,
                   kdf_params: KdfParams | None = None) -> KeyRecord:
    """Wrap *dek* (a new one when None: ``key enable``) under a fresh passphrase KEK.

    ``key change`` passes the current data key: only the wrapping changes.
    """
    params = kdf_params or new_kdf_params()
    dek = new_data_key() if dek is None else check_key(dek)
    kek = derive_kek(passphrase, params)
    meta = CryptoMeta(CRYPTO_META_VERSION, params, wrap_data_key(kek, dek, db_id), key_id(dek))
    return KeyRecord(meta.to_dict(), dek, kek)


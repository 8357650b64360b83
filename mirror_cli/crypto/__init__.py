"""Key hierarchy, field envelopes and the encrypted container (``cryptography`` only).

Importing this module is cheap: ``cryptography`` is imported inside the
functions that need it, so ``mirror --version`` and commands on an
unencrypted database never load it.

Key hierarchy
=============

::

    passphrase --Argon2id(KdfParams)--> KEK  (32 bytes; the only thing the OS keyring caches)
    KEK --AES-256-GCM, AD = label + db_id--> wrapped data key  (meta "crypto", container headers)
    DEK = data key, 32 random bytes, fixed for the life of a database
        HKDF-SHA256(DEK, info="mirror field envelope v1")       -> field key  (FieldCipher)
        HKDF-SHA256(DEK, info="mirror audit chain v1")          -> audit MAC key (HMAC-SHA256 links)
        HKDF-SHA256(DEK, salt=file salt,
                    info="mirror container stream v1 " + purpose) -> stream key of one container
        HKDF-SHA256(DEK, info="mirror key id v1")[:16]          -> key id (public fingerprint)

Changing the passphrase re-wraps the DEK under a new KEK (new salt, new
parameters); nothing else is re-encrypted, and older backups still open with
the data key (or with the passphrase that was current when they were made).

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

Field envelope (``FieldCipher``)
================================

::

    0x01 | nonce (12 random bytes) | AES-256-GCM ciphertext | tag (16)

associated data = ``0x01 || lp(table) || lp(record id) || lp(field)`` where
``lp(s)`` is the 4-byte big-endian length of UTF-8 ``s`` followed by it.
Random 96-bit nonces are safe far beyond any journal's size (NIST's 2**32
messages per key).

Wrapped data key
================

base64 (standard, padded) of ``0x01 | nonce (12) | AES-256-GCM(KEK, DEK) (32 + 16)``,
associated data ``lp("mirror wrapped data key v1") || lp(db_id)``.

Encrypted container (backups, ``export --encrypt``)
===================================================

::

    offset      size  field
    0           8     magic b"MIRRENC\\x01" ("MIRRENC" + format version 1)
    8           4     H = header length, unsigned big-endian, 2..65536
    12          H     header: UTF-8 JSON object (keys below)
    12+H        32    SHA-256 of bytes [0, 12+H): the header digest
    44+H        ...   chunks 0..n-1, each AES-256-GCM(stream key) of up to
                      chunk_size plaintext bytes + a 16-byte tag

Header keys: ``format`` ("mirror-encrypted"), ``version`` (1), ``purpose``
("backup" | "export"), ``cipher`` ("AES-256-GCM"), ``chunk_size`` (bytes of
plaintext per chunk, 1 MiB by default, at most 16 MiB), ``db_id``, ``kdf``
(:meth:`KdfParams.to_dict`), ``wrapped_key`` (the data key wrapped under the
passphrase KEK with ``db_id`` as associated data), ``key_id`` (base64, 16
bytes), ``salt`` (base64, 32 random bytes), ``nonce_prefix`` (base64, 7 random
bytes).

STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015): chunk *i* uses
nonce ``nonce_prefix (7) || i (4, big-endian) || last (1: 0x01 on the final
chunk, else 0x00)`` and associated data = the header digest. Every chunk but
the last holds exactly ``chunk_size`` plaintext bytes; the last holds
0..chunk_size (0 only for an empty plaintext). Hence truncation at any point,
reordering, a flipped bit, an edited header and appended bytes all fail
authentication. The header digest also lets a keyless ``verify`` find a
damaged header.

Errors: input that is not a container, or whose (intact) header is not one
this version can read -> :class:`InvalidInputError` (exit 5); a damaged or
truncated container -> :class:`VerificationError` (exit 3); a wrong passphrase
or missing key -> :class:`LockedError` (exit 4).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import struct
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from mirror_cli.errors import InvalidInputError, LockedError, OperationError, UsageError, VerificationError
from mirror_cli.localfs import read_full

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16

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

FIELD_INFO = "mirror field envelope v1"
AUDIT_INFO = "mirror audit chain v1"
KEY_ID_INFO = "mirror key id v1"
STREAM_INFO = "mirror container stream v1 "  # + purpose

FIELD_VERSION = 1
FIELD_NONCE_END = 1 + NONCE_SIZE  # a field envelope: version byte, nonce, ciphertext, tag
_NONCE_END = FIELD_NONCE_END
FIELD_MIN_ENVELOPE = _MIN_ENVELOPE = _NONCE_END + TAG_SIZE
WRAP_VERSION = 1
WRAP_AD_LABEL = "mirror wrapped data key v1"
CRYPTO_META_VERSION = 1

# -- container ---------------------------------------------------------------

MAGIC_PREFIX = b"MIRRENC"
CONTAINER_VERSION = 1
MAGIC = MAGIC_PREFIX + bytes([CONTAINER_VERSION])
CONTAINER_FORMAT = "mirror-encrypted"
CONTAINER_CIPHER = "AES-256-GCM"
PURPOSES = ("backup", "export")
CHUNK_SIZE = 1024 * 1024
MAX_CHUNK_SIZE = 16 * 1024 * 1024
MAX_HEADER_SIZE = 64 * 1024
STREAM_SALT_SIZE = 32
NONCE_PREFIX_SIZE = 7
MAX_CHUNKS = 2**32
DIGEST_SIZE = 32
KEY_ID_SIZE = 16

_UNLOCK_HINT = ("Check MIRROR_PASSPHRASE_FILE / MIRROR_PASSPHRASE, or run `mirror key unlock` "
                "to enter it again.")


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def _b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64d(text: Any, what: str, error: type[Exception] = InvalidInputError) -> bytes:
    if not isinstance(text, str):
        raise error(f"{what} is not a base64 string.")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise error(f"{what} is not valid base64.") from None


def _lp(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack(">I", len(raw)) + raw


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_key(key: Any, what: str = "data key") -> bytes:
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_SIZE:
        raise UsageError(f"the {what} must be {KEY_SIZE} bytes.")
    return bytes(key)


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
            if not _is_int(value) or not 1 <= value <= top:
                raise InvalidInputError(f"key-derivation parameter {name} must be an integer from 1 to {top}.")
        if self.memory_cost < 8 * self.lanes:
            raise InvalidInputError("key-derivation parameter memory_cost must be at least 8 KiB per lane.")
        if self.memory_cost * self.iterations > MAX_WORK_KIB_PASSES:
            raise InvalidInputError("key-derivation parameters ask for more work than mirror allows "
                                    f"(memory_cost x iterations above {MAX_WORK_KIB_PASSES} KiB).")

    def to_dict(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "salt": _b64e(self.salt), "iterations": self.iterations,
                "lanes": self.lanes, "memory_cost": self.memory_cost}

    @classmethod
    def from_dict(cls, data: Any) -> KdfParams:
        """Parse and validate; anything absurd or malformed -> InvalidInputError."""
        if not isinstance(data, dict):
            raise InvalidInputError("key-derivation parameters must be a JSON object.")
        missing = [k for k in ("algorithm", "salt", "iterations", "lanes", "memory_cost") if k not in data]
        if missing:
            raise InvalidInputError(f"key-derivation parameters lack {', '.join(missing)}.")
        return cls(algorithm=data["algorithm"], salt=_b64d(data["salt"], "the key-derivation salt"),
                   iterations=data["iterations"], lanes=data["lanes"], memory_cost=data["memory_cost"])


def new_kdf_params(*, iterations: int = DEFAULT_ITERATIONS, lanes: int = DEFAULT_LANES,
                   memory_cost: int = DEFAULT_MEMORY_KIB) -> KdfParams:
    """Fresh Argon2id parameters with a new random salt (defaults: see module docstring)."""
    return KdfParams(KDF_ALGORITHM, os.urandom(SALT_SIZE), iterations, lanes, memory_cost)


def derive_kek(passphrase: str, params: KdfParams) -> bytes:
    """Argon2id(passphrase, params) -> 32-byte key-encryption key."""
    secret = _passphrase_bytes(passphrase)
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

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
    return _lp(WRAP_AD_LABEL) + _lp(db_id)


def wrap_data_key(kek: bytes, dek: bytes, db_id: str) -> str:
    """Seal *dek* under *kek* (AES-256-GCM), bound to *db_id*; returns base64 text."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    kek, dek = _check_key(kek, "key-encryption key"), _check_key(dek)
    nonce = os.urandom(NONCE_SIZE)
    blob = bytes([WRAP_VERSION]) + nonce + AESGCM(kek).encrypt(nonce, dek, _wrap_ad(db_id))
    return _b64e(blob)


def unwrap_data_key(kek: bytes, wrapped: str, db_id: str, *, source: str | None = None) -> bytes:
    """Open a wrapped data key. A wrong KEK (wrong passphrase) -> LockedError.

    *source* (e.g. ``"MIRROR_PASSPHRASE_FILE"``) is named in the message; it is
    the name of where the passphrase came from, never the passphrase.
    """
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    kek = _check_key(kek, "key-encryption key")
    blob = _b64d(wrapped, "the wrapped data key", VerificationError)
    if len(blob) != 1 + NONCE_SIZE + KEY_SIZE + TAG_SIZE or blob[0] != WRAP_VERSION:
        raise VerificationError("the wrapped data key is damaged (wrong length or version).",
                                "Restore the database or file from a backup.")
    try:
        return AESGCM(kek).decrypt(blob[1:1 + NONCE_SIZE], blob[1 + NONCE_SIZE:], _wrap_ad(db_id))
    except InvalidTag:
        pass
    where = f" (from {source})" if source else ""
    raise LockedError(f"wrong passphrase{where}: it does not open this key.", _UNLOCK_HINT)


def subkey(dek: bytes, purpose: str, *, salt: bytes | None = None, length: int = KEY_SIZE) -> bytes:
    """HKDF-SHA256 sub-key of the data key; *purpose* is the HKDF info string."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    if not isinstance(purpose, str) or not purpose:
        raise UsageError("a sub-key needs a purpose.")
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt,
                info=purpose.encode("utf-8")).derive(_check_key(dek))


def audit_mac_key(dek: bytes) -> bytes:
    """The HMAC-SHA256 key of the keyed audit chain."""
    return subkey(dek, AUDIT_INFO)


def key_id(dek: bytes) -> str:
    """A public fingerprint of the data key (base64 of 16 HKDF bytes); reveals nothing about it."""
    return _b64e(subkey(dek, KEY_ID_INFO, length=KEY_ID_SIZE))


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
    dek = new_data_key() if dek is None else _check_key(dek)
    kek = derive_kek(passphrase, params)
    meta = CryptoMeta(CRYPTO_META_VERSION, params, wrap_data_key(kek, dek, db_id), key_id(dek))
    return KeyRecord(meta.to_dict(), dek, kek)


# ---------------------------------------------------------------------------
# field envelopes
# ---------------------------------------------------------------------------


class FieldCipher:
    """Seal and open single text fields, each bound to (table, record id, field)."""

    __slots__ = ("_aead", "_prefix", "_parts", "_invalid_tag")

    def __init__(self, dek: bytes) -> None:
        from cryptography.exceptions import InvalidTag
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
            parts = self._parts[(table, field_name)] = (self._prefix + _lp(table), _lp(field_name))
        return parts[0] + _lp(record_id) + parts[1]

    def seal(self, table: str, record_id: str, field: str, value: str) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return self._prefix + nonce + self._aead.encrypt(nonce, value.encode("utf-8"),
                                                         self.associated_data(table, record_id, field))

    def open(self, table: str, record_id: str, field: str, blob: bytes) -> str:
        if isinstance(blob, bytes) and len(blob) >= 1 + NONCE_SIZE + TAG_SIZE and blob[0] == FIELD_VERSION:
            try:
                return self._aead.decrypt(blob[1:_NONCE_END], blob[_NONCE_END:],
                                          self.associated_data(table, record_id, field)).decode("utf-8")
            except (self._invalid_tag, UnicodeDecodeError):
                pass
        raise _undecryptable(table, record_id, field)

    def row_parts(self, table: str, fields: tuple[str, ...]) -> tuple[Callable[..., bytes], tuple[tuple[bytes, bytes], ...]]:
        """For a caller that opens every row of a table in one loop (``sealedrows.rows_json``): the AEAD's
        ``decrypt(nonce, ciphertext, ad)`` and, per field, the associated data before and after the
        record id's part (``_lp(record_id)``). Such a caller checks the version byte and length as
        :meth:`open_row` does, and on any failure calls :meth:`open_row`, which raises the error."""
        return self._aead.decrypt, self._row_ads(table, fields)

    def _row_ads(self, table: str, fields: tuple[str, ...]) -> tuple[tuple[bytes, bytes], ...]:
        """Per field: (AD before the record id, AD after it), cached per (table, fields)."""
        ads = self._parts.get((table, fields))
        if ads is None:
            if len(self._parts) > 256:
                self._parts.clear()
            ads = self._parts[(table, fields)] = tuple((self._prefix + _lp(table), _lp(f)) for f in fields)
        return ads

    def open_row(self, table: str, record_id: str, fields: tuple[str, ...],
                 blobs: tuple[bytes | None, ...]) -> list[str | None]:
        """:meth:`open` for several fields of one record (None stays None); the same checks, less overhead.

        The record id's part of the associated data is encoded once for the
        row, which matters when a command opens every row (search, export).
        """
        ads = self._parts.get((table, fields)) or self._row_ads(table, fields)  # no extra call per row
        rid = _lp(record_id)
        decrypt = self._aead.decrypt
        out: list[str | None] = []
        for (before, after), blob in zip(ads, blobs):
            if blob is None:
                out.append(None)
                continue
            try:
                if blob[0] != FIELD_VERSION or len(blob) < _MIN_ENVELOPE:
                    raise ValueError
                out.append(decrypt(blob[1:_NONCE_END], blob[_NONCE_END:], before + rid + after).decode("utf-8"))
            except (self._invalid_tag, UnicodeDecodeError, ValueError, TypeError, IndexError):
                raise _undecryptable(table, record_id, fields[len(out)]) from None
        return out


def _undecryptable(table: str, record_id: str, field: str) -> VerificationError:
    return VerificationError(
        f"{table} {record_id}: field {field} cannot be decrypted; it was altered, damaged, "
        "or moved from another record or field.",
        "Run `mirror audit verify` and restore the record from a backup.")


# ---------------------------------------------------------------------------
# streaming container
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerHeader:
    version: int
    purpose: str
    chunk_size: int
    db_id: str
    kdf: KdfParams
    wrapped_key: str
    key_id: str
    salt: bytes
    nonce_prefix: bytes
    digest: bytes  # SHA-256 of magic, length and header JSON: the chunks' associated data
    size: int  # bytes before the first chunk

    def to_dict(self) -> dict[str, Any]:
        """The JSON header as written (without digest and size)."""
        return {"format": CONTAINER_FORMAT, "version": self.version, "purpose": self.purpose,
                "cipher": CONTAINER_CIPHER, "chunk_size": self.chunk_size, "db_id": self.db_id,
                "kdf": self.kdf.to_dict(), "wrapped_key": self.wrapped_key, "key_id": self.key_id,
                "salt": _b64e(self.salt), "nonce_prefix": _b64e(self.nonce_prefix)}


@dataclass(frozen=True)
class ContainerResult:
    header: ContainerHeader
    plaintext_bytes: int
    container_bytes: int


def is_container(first_bytes: bytes) -> bool:
    """True when *first_bytes* start like a mirror encrypted container (any version)."""
    return bytes(first_bytes[:len(MAGIC_PREFIX)]) == MAGIC_PREFIX


def _stream_aead(dek: bytes, salt: bytes, purpose: str):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(subkey(dek, STREAM_INFO + purpose, salt=salt))


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", counter, 1 if last else 0)


def _damaged(what: str) -> VerificationError:
    return VerificationError(f"the encrypted file is damaged: {what}.",
                             "Use another copy or backup; this one cannot be trusted.")


def encrypt_stream(src: BinaryIO, dst: BinaryIO, *, dek: bytes, kdf_params: KdfParams, wrapped_key: str,
                   db_id: str, purpose: str, chunk_size: int = CHUNK_SIZE,
                   progress: Callable[[int], None] | None = None) -> ContainerResult:
    """Encrypt all of *src* into *dst* as a container; memory stays at about two chunks.

    *wrapped_key* must be *dek* wrapped under the KEK that *kdf_params* derive
    from the passphrase (the database's key record), so the file opens on a
    fresh machine from the passphrase alone. *progress* gets the plaintext
    bytes done so far after each chunk.
    """
    dek = _check_key(dek)
    if purpose not in PURPOSES:
        raise UsageError(f"container purpose must be one of {', '.join(PURPOSES)}.")
    if not _is_int(chunk_size) or not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise UsageError(f"chunk size must be 1 to {MAX_CHUNK_SIZE} bytes.")
    _b64d(wrapped_key, "the wrapped data key", UsageError)
    salt, prefix = os.urandom(STREAM_SALT_SIZE), os.urandom(NONCE_PREFIX_SIZE)
    header_obj = {"format": CONTAINER_FORMAT, "version": CONTAINER_VERSION, "purpose": purpose,
                  "cipher": CONTAINER_CIPHER, "chunk_size": chunk_size, "db_id": db_id,
                  "kdf": kdf_params.to_dict(), "wrapped_key": wrapped_key, "key_id": key_id(dek),
                  "salt": _b64e(salt), "nonce_prefix": _b64e(prefix)}
    body = json.dumps(header_obj, sort_keys=True, separators=(",", ":")).encode("utf-8")
    if len(body) > MAX_HEADER_SIZE:
        raise UsageError("the container header would be too large (database id too long?).")
    head = MAGIC + struct.pack(">I", len(body)) + body
    digest = hashlib.sha256(head).digest()
    header = ContainerHeader(CONTAINER_VERSION, purpose, chunk_size, db_id, kdf_params, wrapped_key,
                             header_obj["key_id"], salt, prefix, digest, len(head) + DIGEST_SIZE)
    aead = _stream_aead(dek, salt, purpose)

    dst.write(head)
    dst.write(digest)
    written = header.size
    done = 0
    counter = 0
    cur = read_full(src, chunk_size)
    while True:
        nxt = read_full(src, chunk_size) if len(cur) == chunk_size else b""
        last = not nxt
        if counter >= MAX_CHUNKS:
            raise OperationError("the input is too large for one encrypted container.")
        out = aead.encrypt(_nonce(prefix, counter, last), cur, digest)
        dst.write(out)
        written += len(out)
        done += len(cur)
        counter += 1
        if progress is not None:
            progress(done)
        if last:
            break
        cur = nxt
    return ContainerResult(header, done, written)


def read_container_header(fh: BinaryIO) -> ContainerHeader:
    """Read and validate a container header, leaving *fh* at the first chunk.

    Not a container -> InvalidInputError; damaged or truncated header ->
    VerificationError; an intact header this mirror cannot use (unknown
    version, hostile KDF parameters) -> InvalidInputError.
    """
    magic = read_full(fh, len(MAGIC))
    if not is_container(magic):
        raise InvalidInputError("this is not a mirror encrypted file.",
                                "Give a file made by `mirror backup create` or `mirror export --encrypt`.")
    if len(magic) < len(MAGIC):
        raise _damaged("it ends inside the header")
    if magic[-1] != CONTAINER_VERSION:
        raise InvalidInputError(f"this encrypted file has format version {magic[-1]}, which this mirror "
                                "cannot read.", "Upgrade mirror.")
    raw_len = read_full(fh, 4)
    if len(raw_len) < 4:
        raise _damaged("it ends inside the header")
    (length,) = struct.unpack(">I", raw_len)
    if not 2 <= length <= MAX_HEADER_SIZE:
        raise _damaged("the header length is implausible")
    body = read_full(fh, length)
    digest = read_full(fh, DIGEST_SIZE)
    if len(body) < length or len(digest) < DIGEST_SIZE:
        raise _damaged("it ends inside the header")
    computed = hashlib.sha256(magic + raw_len + body).digest()
    if not hmac.compare_digest(computed, digest):
        raise _damaged("the header does not match its checksum")
    return _parse_header(body, digest, len(MAGIC) + 4 + length + DIGEST_SIZE)


def _parse_header(body: bytes, digest: bytes, size: int) -> ContainerHeader:
    def bad(why: str) -> InvalidInputError:
        return InvalidInputError(f"the encrypted file's header is not one mirror can use: {why}.")

    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise bad("it is not JSON") from None
    if not isinstance(obj, dict) or obj.get("format") != CONTAINER_FORMAT:
        raise bad("wrong format name")
    if obj.get("version") != CONTAINER_VERSION:
        raise bad("unknown version")
    if obj.get("cipher") != CONTAINER_CIPHER:
        raise bad("unknown cipher")
    purpose = obj.get("purpose")
    if purpose not in PURPOSES:
        raise bad("unknown purpose")
    chunk_size = obj.get("chunk_size")
    if not _is_int(chunk_size) or not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise bad("implausible chunk size")
    db_id = obj.get("db_id")
    if not isinstance(db_id, str) or not db_id:
        raise bad("no database id")
    kdf = KdfParams.from_dict(obj.get("kdf"))
    wrapped = obj.get("wrapped_key")
    if not isinstance(wrapped, str):
        raise bad("no wrapped key")
    kid = obj.get("key_id")
    if not isinstance(kid, str) or len(_b64d(kid, "key_id")) != KEY_ID_SIZE:
        raise bad("bad key id")
    salt = _b64d(obj.get("salt"), "salt")
    prefix = _b64d(obj.get("nonce_prefix"), "nonce_prefix")
    if len(salt) != STREAM_SALT_SIZE or len(prefix) != NONCE_PREFIX_SIZE:
        raise bad("bad salt or nonce prefix")
    return ContainerHeader(CONTAINER_VERSION, purpose, chunk_size, db_id, kdf, wrapped, kid, salt, prefix,
                           digest, size)


def container_key(header: ContainerHeader, *, dek: bytes | None = None,
                  passphrase: str | Callable[[], str] | None = None) -> bytes:
    """The data key that opens *header*'s chunks: *dek* if it is the right one, else from the passphrase.

    *passphrase* may be a callable, asked only when *dek* does not fit.
    """
    if dek is not None and hmac.compare_digest(key_id(dek), header.key_id):
        return _check_key(dek)
    if passphrase is None:
        if dek is not None:
            raise LockedError("this file was encrypted with another data key (another database, or one "
                              "re-keyed since).", "Give the passphrase that was current when it was made, "
                              "in MIRROR_PASSPHRASE_FILE or MIRROR_PASSPHRASE.")
        raise LockedError("this file is encrypted and no passphrase was given.",
                          "Set MIRROR_PASSPHRASE_FILE or MIRROR_PASSPHRASE to the passphrase that was "
                          "current when it was made.")
    text = passphrase() if callable(passphrase) else passphrase
    kek = derive_kek(text, header.kdf)
    try:
        found = unwrap_data_key(kek, header.wrapped_key, header.db_id)
    except LockedError:  # about this file, not the database: `mirror key unlock` would not help
        raise LockedError("wrong passphrase: it does not open this encrypted file.",
                          "Give the passphrase that was current when the file was made, in "
                          "MIRROR_IMPORT_PASSPHRASE_FILE or MIRROR_IMPORT_PASSPHRASE (or "
                          "MIRROR_PASSPHRASE_FILE / MIRROR_PASSPHRASE).") from None
    if not hmac.compare_digest(key_id(found), header.key_id):
        raise _damaged("the header's key id does not match its wrapped key")
    return found


def decrypt_stream(src: BinaryIO, dst: BinaryIO | None, *, dek: bytes | None = None,
                   passphrase: str | Callable[[], str] | None = None, expected_purpose: str | None = None,
                   progress: Callable[[int], None] | None = None) -> ContainerResult:
    """Decrypt a container from *src* into *dst* (None: verify only).

    Chunks are written as they authenticate, so on an error *dst* holds a
    verified but incomplete prefix: write to a temp file (``atomic_write``)
    and discard it unless this returns. Memory stays at about two chunks.
    """
    header = read_container_header(src)
    if expected_purpose is not None and header.purpose != expected_purpose:
        article = {"backup": "a backup", "export": "an export"}
        raise InvalidInputError(f"this encrypted file holds {article[header.purpose]}, "
                                f"not {article.get(expected_purpose, expected_purpose)}.")
    key = container_key(header, dek=dek, passphrase=passphrase)
    aead = _stream_aead(key, header.salt, header.purpose)
    from cryptography.exceptions import InvalidTag

    def attempt(block: bytes, counter: int, last: bool) -> bytes | None:
        try:
            return aead.decrypt(_nonce(header.nonce_prefix, counter, last), block, header.digest)
        except InvalidTag:
            return None

    n = header.chunk_size + TAG_SIZE
    total = header.size
    done = 0
    counter = 0
    cur = read_full(src, n)
    while True:
        if len(cur) < n:
            nxt, last = b"", True
        else:
            nxt = read_full(src, n)
            last = not nxt
        if len(cur) < TAG_SIZE:
            raise _damaged(f"it is truncated (chunk {counter} is missing or cut short)")
        plain = attempt(cur, counter, last)
        if plain is None:
            if last and attempt(cur, counter, False) is not None:
                raise _damaged(f"it is truncated after chunk {counter}")
            if not last and attempt(cur, counter, True) is not None:
                raise _damaged("unexpected data follows the end of the encrypted stream")
            raise _damaged(f"chunk {counter} (at byte {total}) was altered, reordered or cut short")
        if not last and len(plain) != header.chunk_size:  # cannot happen with an intact file
            raise _damaged(f"chunk {counter} has the wrong size")
        if dst is not None and plain:
            dst.write(plain)
        total += len(cur)
        done += len(plain)
        counter += 1
        if progress is not None:
            progress(done)
        if last:
            return ContainerResult(header, done, total)
        if counter >= MAX_CHUNKS:
            raise _damaged("it has more chunks than the format allows")
        cur = nxt

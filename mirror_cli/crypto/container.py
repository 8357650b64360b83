"""The encrypted container: the streaming AEAD file format of backups and ``export --encrypt``.

Specified in docs/formats/encrypted-container.md (kept in step with this docstring).
``cryptography`` is imported inside the functions that use it (start-up path).

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
bytes). The stream key is the HKDF sub-key of the data key with the file's salt
(:mod:`mirror_cli.crypto.kdf`, "Key hierarchy").

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

import hashlib
import hmac
import json
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from mirror_cli.crypto.kdf import (KEY_ID_SIZE, STREAM_INFO, TAG_SIZE, KdfParams, b64d, b64e, check_key,
                                   derive_kek, is_int, key_id, subkey, unwrap_data_key)
from mirror_cli.errors import InvalidInputError, LockedError, OperationError, UsageError, VerificationError
from mirror_cli.localfs import read_full

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
                "salt": b64e(self.salt), "nonce_prefix": b64e(self.nonce_prefix)}


@dataclass(frozen=True)
class ContainerResult:
    header: ContainerHeader
    plaintext_bytes: int
    container_bytes: int


def is_container(first_bytes: bytes) -> bool:
    """True when *first_bytes* start like a mirror encrypted container (any version)."""
    return bytes(first_bytes[:len(MAGIC_PREFIX)]) == MAGIC_PREFIX


def _stream_aead(dek: bytes, salt: bytes, purpose: str):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # lazy: ~10 ms, off the start-up path

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
    dek = check_key(dek)
    if purpose not in PURPOSES:
        raise UsageError(f"container purpose must be one of {', '.join(PURPOSES)}.")
    if not is_int(chunk_size) or not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise UsageError(f"chunk size must be 1 to {MAX_CHUNK_SIZE} bytes.")
    b64d(wrapped_key, "the wrapped data key", UsageError)
    salt, prefix = os.urandom(STREAM_SALT_SIZE), os.urandom(NONCE_PREFIX_SIZE)
    header_obj = {"format": CONTAINER_FORMAT, "version": CONTAINER_VERSION, "purpose": purpose,
                  "cipher": CONTAINER_CIPHER, "chunk_size": chunk_size, "db_id": db_id,
                  "kdf": kdf_params.to_dict(), "wrapped_key": wrapped_key, "key_id": key_id(dek),
                  "salt": b64e(salt), "nonce_prefix": b64e(prefix)}
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
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested thousands deep
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
    if not is_int(chunk_size) or not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise bad("implausible chunk size")
    db_id = obj.get("db_id")
    if not isinstance(db_id, str) or not db_id:
        raise bad("no database id")
    kdf = KdfParams.from_dict(obj.get("kdf"))
    wrapped = obj.get("wrapped_key")
    if not isinstance(wrapped, str):
        raise bad("no wrapped key")
    kid = obj.get("key_id")
    if not isinstance(kid, str) or len(b64d(kid, "key_id")) != KEY_ID_SIZE:
        raise bad("bad key id")
    salt = b64d(obj.get("salt"), "salt")
    prefix = b64d(obj.get("nonce_prefix"), "nonce_prefix")
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
        return check_key(dek)
    if passphrase is None:
        if dek is not None:
            raise LockedError("this file was encrypted with another data key (its own, another database's, or "
                              "one rotated since).", "Give the passphrase it was made with, in "
                              "MIRROR_IMPORT_PASSPHRASE_FILE or MIRROR_IMPORT_PASSPHRASE.")
        raise LockedError("this file is encrypted and no passphrase was given.",
                          "Set MIRROR_PASSPHRASE_FILE or MIRROR_PASSPHRASE to the passphrase that was "
                          "current when it was made.")
    text = passphrase() if callable(passphrase) else passphrase
    kek = derive_kek(text, header.kdf)
    try:
        found = unwrap_data_key(kek, header.wrapped_key, header.db_id)
    except LockedError:  # about this file, not the database: `mirror key unlock` would not help
        raise LockedError("wrong passphrase: it does not open this encrypted file.",
                          "Give the passphrase the file was made with, in "
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
    from cryptography.exceptions import InvalidTag  # lazy: ~10 ms, off the start-up path

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

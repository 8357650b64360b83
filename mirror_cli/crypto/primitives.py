"""What every crypto module shares: sizes, HKDF purposes and sub-keys, the associated-data encoding.

Split out of :mod:`.kdf` (which re-exports them) so that :mod:`.fields`, which every command
imports for its codec, does not load the key hierarchy (dataclasses, ``unicodedata``, ``base64``)
when the journal is plaintext.
"""

from __future__ import annotations

from typing import Any

from mirror_cli.errors import UsageError

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
KEY_ID_SIZE = 16

# -- HKDF purposes (info strings): one per use, never reused ----------------

FIELD_INFO = "mirror field envelope v1"
AUDIT_INFO = "mirror audit chain v1"
KEY_ID_INFO = "mirror key id v1"
STREAM_INFO = "mirror container stream v1 "  # + purpose


def lp(text: str) -> bytes:
    """Length-prefixed UTF-8 (4-byte big-endian length, then the bytes): associated-data parts."""
    raw = text.encode("utf-8")
    return len(raw).to_bytes(4, "big") + raw  # as struct.pack(">I", ...), without loading struct


def check_key(key: Any, what: str = "data key") -> bytes:
    """*key* as 32 bytes, or UsageError."""
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_SIZE:
        raise UsageError(f"the {what} must be {KEY_SIZE} bytes.")
    return bytes(key)


def subkey(dek: bytes, purpose: str, *, salt: bytes | None = None, length: int = KEY_SIZE) -> bytes:
    """HKDF-SHA256 sub-key of the data key; *purpose* is the HKDF info string."""
    from cryptography.hazmat.primitives import hashes  # lazy: ~10 ms, off the start-up path
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    if not isinstance(purpose, str) or not purpose:
        raise UsageError("a sub-key needs a purpose.")
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt,
                info=purpose.encode("utf-8")).derive(check_key(dek))

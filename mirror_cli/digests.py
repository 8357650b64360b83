"""SHA-256 and HMAC-SHA256 for the audit chain and the schema check, without loading OpenSSL for a plain write.

Importing ``hashlib`` (or ``hmac``, which imports it) loads OpenSSL's libcrypto: about 3 ms of a
~90 ms ``mirror reflect`` on a plaintext journal (the library's relocations at load, its teardown
at exit), to hash a few hundred bytes. CPython ships its own SHA-256 (the one ``hashlib`` falls back
on when OpenSSL is missing; the same function, the same digests), so plain digests use it. The
keyed ones (an encrypted journal, which has loaded ``cryptography`` and OpenSSL anyway) and
:func:`compare_digest` load ``hmac`` and ``hashlib`` on their first call. On an interpreter without
that module, ``hashlib``'s is used.
"""

from __future__ import annotations

try:
    from _sha2 import sha256  # CPython 3.12 and later
except ImportError:  # pragma: no cover - which one exists depends on the Python version
    try:
        from _sha256 import sha256  # CPython 3.11
    except ImportError:
        from hashlib import sha256

__all__ = ["compare_digest", "hmac_sha256", "sha256"]


def hmac_sha256(key: bytes, message: bytes):
    """``hmac.new(key, message, hashlib.sha256)``: OpenSSL's HMAC, loaded on first use."""
    import hashlib
    import hmac

    return hmac.new(key, message, hashlib.sha256)


def compare_digest(a: str | bytes, b: str | bytes) -> bool:
    """``hmac.compare_digest``: constant-time equality of two digests."""
    import hmac

    return hmac.compare_digest(a, b)

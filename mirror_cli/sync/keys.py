"""The remote key (RK) and what is derived from it (docs/formats/sync.md, "Keys").

The remote key is not the journal's data key: a plaintext journal can sync to a
ciphertext-only remote, and a local ``key change`` never touches the remote. RK is 32 random
bytes per key generation, kept on the remote only inside passphrase envelopes (``k/...``,
Argon2id with its own salt) or, for a ``--key-only`` remote, in a recovery code the person
keeps. What a device caches in the OS keyring is the envelope's KEK, never the passphrase.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

from mirror_cli.crypto.kdf import KdfParams, b64d, b64e, derive_kek, lp, new_kdf_params
from mirror_cli.errors import InvalidInputError, LockedError, UsageError, VerificationError

KEY_SIZE = 32
NONCE_SIZE = 12
ENVELOPE_LABEL = "mirror remote key v1"
OBJECTS_INFO = b"mirror sync objects v1"
NAMES_INFO = b"mirror sync names v1"
KEY_ID_INFO = b"mirror sync key id v1"
DIGEST_INFO = b"mirror sync digests v1"
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def _hkdf(key: bytes, info: bytes, length: int = KEY_SIZE) -> bytes:
    from cryptography.hazmat.primitives import hashes  # lazy: off the start-up path
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(key)


def b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


@dataclass(frozen=True)
class RemoteKey:
    """RK of one generation and its derived keys (secrets kept out of repr)."""

    gen: int
    rk: bytes = field(repr=False)
    k_obj: bytes = field(repr=False)
    k_name: bytes = field(repr=False)
    key_id: str

    @classmethod
    def from_rk(cls, rk: bytes, gen: int) -> RemoteKey:
        if not isinstance(rk, bytes) or len(rk) != KEY_SIZE:
            raise UsageError("a remote key is 32 bytes.")
        return cls(gen, rk, _hkdf(rk, OBJECTS_INFO), _hkdf(rk, NAMES_INFO), b32(_hkdf(rk, KEY_ID_INFO, 16)))

    def name(self, *parts: str | int) -> str:
        """N(parts): 26 lowercase base32 characters of HMAC-SHA256(K_name, parts joined by NUL)."""
        msg = b"\x00".join(str(p).encode("utf-8") for p in parts)
        return b32(hmac.new(self.k_name, msg, hashlib.sha256).digest()[:16])


def new_remote_key(gen: int = 1) -> RemoteKey:
    return RemoteKey.from_rk(os.urandom(KEY_SIZE), gen)


# -- passphrase envelopes --------------------------------------------------------------------


def _envelope_ad(remote_id: str, gen: int, kdf: dict[str, Any]) -> bytes:
    params = json.dumps(kdf, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return lp(ENVELOPE_LABEL) + lp(remote_id) + struct.pack(">I", gen) + hashlib.sha256(params).digest()


def seal_envelope(kek: bytes, params: KdfParams, key: RemoteKey, remote_id: str) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    kdf = params.to_dict()
    nonce = os.urandom(NONCE_SIZE)
    wrapped = nonce + AESGCM(kek).encrypt(nonce, key.rk, _envelope_ad(remote_id, key.gen, kdf))
    body = {"v": 1, "gen": key.gen, "kdf": kdf, "wrapped": b64e(wrapped)}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Envelope:
    gen: int
    params: KdfParams
    wrapped: bytes = field(repr=False)
    kdf: dict[str, Any] = field(repr=False)


MAX_ENVELOPE = 4096


def parse_envelope(data: bytes, where: str) -> Envelope:
    """A key envelope read from the remote; anything malformed or hostile -> exit 3 (never trusted)."""
    try:
        if len(data) > MAX_ENVELOPE:
            raise ValueError
        body = json.loads(data)
        if not isinstance(body, dict) or body.get("v") != 1:
            raise ValueError
        gen = body["gen"]
        if not isinstance(gen, int) or isinstance(gen, bool) or not 1 <= gen < 2**31:
            raise ValueError
        params = KdfParams.from_dict(body["kdf"])
        wrapped = b64d(body["wrapped"], "the wrapped remote key")
        if len(wrapped) != NONCE_SIZE + KEY_SIZE + 16:
            raise ValueError
    except (ValueError, KeyError, TypeError, InvalidInputError, RecursionError):
        raise VerificationError(f"the key envelope {where} on the remote is damaged or not mirror's.",
                                "Someone changed the remote; nothing was changed here.") from None
    return Envelope(gen, params, wrapped, body["kdf"])


def derive_envelope_kek(passphrase: str, env: Envelope) -> bytes:
    return derive_kek(passphrase, env.params)


def open_envelope(kek: bytes, env: Envelope, remote_id: str) -> RemoteKey | None:
    """RK from an envelope, or None when *kek* does not open it (wrong passphrase or not ours)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        rk = AESGCM(kek).decrypt(env.wrapped[:NONCE_SIZE], env.wrapped[NONCE_SIZE:],
                                 _envelope_ad(remote_id, env.gen, env.kdf))
    except (InvalidTag, ValueError):
        return None
    return RemoteKey.from_rk(rk, env.gen)


def new_envelope_params() -> KdfParams:
    return new_kdf_params()


# -- recovery codes (--key-only remotes) --------------------------------------------------------


def recovery_code(key: RemoteKey) -> str:
    """RK and its generation as base32 groups of four, with a 4-character checksum at the end."""
    raw = struct.pack(">I", key.gen) + key.rk
    text = b32(raw) + b32(hashlib.sha256(b"mirror recovery v1" + raw).digest())[:4]
    return "-".join(text[i:i + 4] for i in range(0, len(text), 4))


def parse_recovery_code(code: str) -> RemoteKey:
    text = "".join(ch for ch in code.lower() if ch in _B32)
    try:
        body, check = text[:-4], text[-4:]
        raw = base64.b32decode(body.upper() + "=" * (-len(body) % 8))
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != 4 + KEY_SIZE or b32(hashlib.sha256(b"mirror recovery v1" + raw).digest())[:4] != check:
        raise LockedError("that recovery code is not right (a typo, or another remote's code).",
                          "Type it again exactly as `mirror remote add --key-only` printed it.")
    return RemoteKey.from_rk(raw[4:], struct.unpack(">I", raw[:4])[0])

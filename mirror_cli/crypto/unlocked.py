"""The unlocked key of one database: the data key and everything derived from it, in one object.

An :class:`UnlockedKey` is made in one place, :meth:`UnlockedKey.from_dek`, once the data key
has been opened (``mirror_cli.db.open.unlock_store``, the ``mirror key`` operations, a backup
restore). The store holds it as ``store.key`` (None: locked, or a plaintext database); code
that reads or writes user content gets its field codec from :func:`mirror_cli.crypto.fields.codec`.
Nothing here is ever printed: the secrets are left out of the repr. A process that holds a key or a
passphrase writes no core file (:func:`forbid_core_dumps`).
"""

from __future__ import annotations

import resource
from dataclasses import dataclass, field, replace
from typing import Any

from mirror_cli.audit import vouch_key
from mirror_cli.crypto.fields import FieldCipher, SealedFields
from mirror_cli.crypto.kdf import audit_mac_key, check_key, key_id


@dataclass(frozen=True, eq=False)
class UnlockedKey:
    """A database's data key (DEK), its field codec, its audit MAC and vouch keys and its public key id."""

    dek: bytes = field(repr=False)
    fields: SealedFields = field(repr=False)  # seals and opens user-content columns
    audit_key: bytes = field(repr=False)  # HMAC-SHA256 key of the keyed audit chain
    vouch_key: bytes = field(repr=False)  # HMAC-SHA256 key of the row digests the chain vouches for
    key_id: str  # public fingerprint of the DEK (meta "crypto" key_id)
    source: str | None = None  # where it came from: a passphrase variable, "keyring", "prompt"; None: in-process

    @classmethod
    def from_dek(cls, dek: bytes, source: str | None = None) -> UnlockedKey:
        """Derive the field key, audit MAC key and key id of *dek* (HKDF; see ``crypto.kdf``), and the vouch key
        (see ``mirror_cli.audit``)."""
        dek = check_key(dek)
        forbid_core_dumps()
        audit_key = audit_mac_key(dek)
        return cls(dek, SealedFields(FieldCipher(dek)), audit_key, vouch_key(audit_key), key_id(dek), source)

    def with_fields(self, codec: Any) -> UnlockedKey:
        """The same key with another field codec (a backup's snapshot whose fields are already opened)."""
        return replace(self, fields=codec)


def forbid_core_dumps() -> None:
    """From now on this process (and the editor it starts) writes no core file: RLIMIT_CORE's soft limit 0
    (the one the kernel applies; the hard limit is left, so that a process that runs mirror's code in
    its own, such as a test run, can allow core files again for its children).

    A core dump would hold the passphrase and the data key in clear. ``prctl(PR_SET_DUMPABLE, 0)``
    would also keep ptrace and ``/proc/PID/mem`` of the same user out, but Python's standard library
    has no prctl and mirror does not use ctypes; the limit alone stops the core file (``core_pattern``
    helpers such as systemd-coredump and apport honour it too).
    """
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    except (ValueError, OSError):  # a platform without the limit: nothing more to do
        pass

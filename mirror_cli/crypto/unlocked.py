"""The unlocked key of one database: the data key and everything derived from it, in one object.

An :class:`UnlockedKey` is made in one place, :meth:`UnlockedKey.from_dek`, once the data key
has been opened (``mirror_cli.db.unlock.unlock_store``, the ``mirror key`` operations, a backup
restore). The store holds it as ``store.key`` (None: locked, or a plaintext database); code
that reads or writes user content gets its field codec from :func:`mirror_cli.crypto.fields.codec`.
Nothing here is ever printed: the secrets are left out of the repr. A process that holds a key or a
passphrase writes no core file (:func:`forbid_core_dumps`).
"""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass, field, replace
from typing import Any

from mirror_cli.audit import vouch_key
from mirror_cli.crypto.fields import FieldCipher, SealedFields
from mirror_cli.crypto.kdf import audit_mac_key, check_key, key_id


PR_SET_DUMPABLE = 4  # <linux/prctl.h>


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
    its own, such as a test run, can allow core files again for its children). On Linux the process is
    also made non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``), which keeps ptrace and ``/proc/PID/mem`` of
    other processes of the same user out; exec resets it, so the editor is unaffected.

    A core dump or a memory read would hold the passphrase and the data key in clear. The standard
    library has no prctl: this is mirror's one use of ctypes (the libc the interpreter is linked with).
    """
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    except (ValueError, OSError):  # a platform without the limit: nothing more to do
        pass
    if sys.platform.startswith("linux"):
        try:
            import ctypes  # lazy: only a process that holds a key pays for it

            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        except (OSError, AttributeError):  # no libc prctl (musl without it, a sandbox): the limit stays
            pass

"""Field codecs: how user-content fields are stored.

:data:`PLAIN` stores text as text. When the database is encrypted, the store
holds a :class:`SealedFields` that seals each value with the data key, bound
to its table, record id and field (see ``mirror_cli.crypto``).
"""

from __future__ import annotations

import json
from typing import Any


class PlainFields:
    encrypted = False

    def seal(self, table: str, record_id: str, field: str, value: str) -> Any:
        return value

    def open(self, table: str, record_id: str, field: str, stored: Any) -> str:
        if isinstance(stored, bytes):
            from mirror_cli.errors import VerificationError

            raise VerificationError(
                f"{table} {record_id}: field {field} holds ciphertext but the database is not encrypted.",
                "Run `mirror audit verify` and restore from a backup.",
            )
        return stored

    def seal_tags(self, table: str, record_id: str, tags: list[str]) -> Any:
        return self.seal(table, record_id, "tags", json.dumps(tags, ensure_ascii=False))

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
            from mirror_cli.errors import VerificationError

            raise VerificationError(
                f"{table} {record_id}: field {field} is stored in clear in an encrypted database.",
                "Run `mirror audit verify`; the row was changed outside mirror.",
            )
        return self.cipher.open(table, record_id, field, stored)

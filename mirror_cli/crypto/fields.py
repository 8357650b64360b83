"""Field codecs: how user-content fields are stored.

:data:`PLAIN` stores text as text. When the database is encrypted, the store
holds a :class:`SealedFields` that seals each value with the data key, bound
to its table, record id and field (see ``mirror_cli.crypto``, "Field
envelope"): a ciphertext copied to another row, table or column fails to open
(exit 3, naming the record), so it can never show one record's text as another's.

Sealed columns and the record id each one is bound to (the associated data)
---------------------------------------------------------------------------

Every module that reads or writes these columns must use exactly these
``(table, record id, field)`` triples, or the envelopes will not open:

=====================  ===========================================  ==========================
table                  record id                                    fields
=====================  ===========================================  ==========================
``reflections``        the reflection id                            ``content``, ``response``,
                                                                    ``tags`` (JSON list text)
``patterns``           the pattern id                               ``name``
``pattern_occurrences`` ``f"{pattern_id}:{reflection_id}"``         ``evidence``
                       (:func:`occurrence_record_id`)
``tensions``           the tension id                               ``data`` (the JSON text)
``analysis_state``     the reflection id                            ``findings`` (JSON text)
``pattern_stats``      the pattern id                               ``timeline`` (JSON text)
=====================  ===========================================  ==========================

(The last two are the pattern engine's caches, migration 0005.)

A NULL stays NULL (``response``, ``evidence``): only present values are sealed.
Everything else (ids, times, mode, local_only, visibility, rev, confidence
numbers, pattern_type, counts) stays in clear so that SQLite can sort, filter
and sync without the key. :data:`SEALED_COLUMNS` lists the same map for code
that converts whole tables (``mirror key enable|disable``, ``mirror_cli.crypto.manage``).
"""

from __future__ import annotations

import json
from typing import Any

#: The stored text of a tag list (``json.dumps(tags, ensure_ascii=False)``), its encoder built once.
tags_text = json.JSONEncoder(ensure_ascii=False).encode

#: table -> (SQL expression of the record id bound into each envelope, sealed columns)
SEALED_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "reflections": ("id", ("content", "response", "tags")),
    "patterns": ("id", ("name",)),
    "pattern_occurrences": ("pattern_id || ':' || reflection_id", ("evidence",)),
    "tensions": ("id", ("data",)),
    # caches of the pattern analysis (migration 0005, mirror_cli.patterns.stored)
    "analysis_state": ("reflection_id", ("findings",)),
    "pattern_stats": ("pattern_id", ("timeline",)),
}


def occurrence_record_id(pattern_id: str, reflection_id: str) -> str:
    """The record id a ``pattern_occurrences`` envelope is bound to."""
    return f"{pattern_id}:{reflection_id}"


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

    def open_row(self, table: str, record_id: str, fields: tuple[str, ...], stored: tuple[Any, ...]) -> list[Any]:
        """:meth:`open` of several fields of one record; a NULL (None) stays None."""
        return [None if value is None else self.open(table, record_id, name, value)
                for name, value in zip(fields, stored)]

    def seal_tags(self, table: str, record_id: str, tags: list[str]) -> Any:
        return self.seal(table, record_id, "tags", tags_text(tags))

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

    def open_row(self, table: str, record_id: str, fields: tuple[str, ...], stored: tuple[Any, ...]) -> list[Any]:
        row = getattr(self.cipher, "open_row", None)
        if row is None:  # a reader without the batch form (the backup's opened snapshot)
            return super().open_row(table, record_id, fields, stored)
        try:
            return row(table, record_id, fields, stored)
        except Exception:
            for name, value in zip(fields, stored):  # name text planted where ciphertext belongs, as open() does
                if value is not None and not isinstance(value, bytes):
                    self.open(table, record_id, name, value)
            raise

"""Record ids that older mirrors derived from text, and how ``mirror key enable`` re-keys them.

Before keyed jrnl ids, ``mirror import --format jrnl`` named each entry
``jrnl-`` + the first 26 characters of the base32 SHA-256 of its date, time
and *text* (:data:`LEGACY_JRNL_ID`). Such an id, in clear beside an encrypted
journal (in ``reflections``, ``tombstones``, the audit vouches and events), lets
someone with the file and a word list match the text. ``key enable`` renames
each one to :func:`keyed_legacy_id` of it, an HMAC under a key derived (HKDF)
from the data key, before sealing the fields (they are bound to their record
id); an import of the same jrnl file later still finds the entry under that
name (``mirror_cli.exchange.importer``). The audit chain is re-linked afterwards
by ``audit.seal_history``.
"""

from __future__ import annotations

import base64
import hmac
import hashlib
import json
import re
from typing import Any

from mirror_cli import audit
from mirror_cli.crypto.kdf import subkey

LEGACY_JRNL_ID = re.compile(r"jrnl-[A-Z2-7]{26}", re.ASCII)
LEGACY_INFO = "mirror legacy record id v1"  # HKDF info: the key of re-keyed legacy ids

# (table, column, condition): every place a reflection id is stored
_ID_COLUMNS = (
    ("reflections", "id", ""),
    ("pattern_occurrences", "reflection_id", ""),
    ("tensions", "reflection_id", ""),
    ("analysis_state", "reflection_id", ""),
    ("tombstones", "id", " AND kind = 'reflection'"),
    ("audit_vouches", "record_id", " AND kind = 'reflection'"),
)


def legacy_key(dek: bytes) -> bytes:
    return subkey(dek, LEGACY_INFO)


def keyed_legacy_id(key: bytes, legacy_id: str) -> str:
    """The name a text-derived id takes on an encrypted journal (same shape, lower case: never legacy again)."""
    digest = hmac.new(key, legacy_id.encode("ascii"), hashlib.sha256).digest()
    return "jrnl-" + base64.b32encode(digest).decode("ascii")[:26].lower()


def rekey_legacy_ids(conn, dek: bytes) -> int:
    """Rename every text-derived id in the database; call inside ``key enable``'s write, before sealing."""
    found = {rid for (rid,) in conn.execute("SELECT id FROM reflections WHERE id GLOB 'jrnl-*'")}
    found |= {rid for (rid,) in conn.execute("SELECT id FROM tombstones WHERE id GLOB 'jrnl-*'")}
    found |= {rid for (rid,) in conn.execute("SELECT record_id FROM audit_vouches WHERE record_id GLOB 'jrnl-*'")}
    key = legacy_key(dek)
    renamed = {rid: keyed_legacy_id(key, rid) for rid in found if LEGACY_JRNL_ID.fullmatch(rid)}
    if not renamed:
        return 0
    conn.execute("PRAGMA defer_foreign_keys = ON")  # children are renamed in this same transaction
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    pairs = [(new, old) for old, new in renamed.items()]
    for table, column, condition in _ID_COLUMNS:
        if table in present:
            conn.executemany(f"UPDATE {table} SET {column} = ? WHERE {column} = ?{condition}", pairs)  # noqa: S608
    events = []
    for seq, data in conn.execute("SELECT seq, data FROM audit_events WHERE data LIKE '%jrnl-%'").fetchall():
        try:
            events.append((audit.canonical(_renamed(json.loads(data), renamed)).decode(), seq))
        except ValueError:
            continue  # not JSON: audit.seal_history refuses the chain
    conn.executemany("UPDATE audit_events SET data = ? WHERE seq = ?", events)
    return len(renamed)


def _renamed(value: Any, renamed: dict[str, str]) -> Any:
    if isinstance(value, str):
        return renamed.get(value, value)
    if isinstance(value, list):
        return [_renamed(v, renamed) for v in value]
    if isinstance(value, dict):
        return {k: _renamed(v, renamed) for k, v in value.items()}
    return value

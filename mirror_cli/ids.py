"""Identifiers and timestamps.

Ids are ULIDs: 48 bits of milliseconds since the epoch and 80 random bits in
Crockford base32 (26 characters), so they sort by time. Timestamps are ISO-8601
UTC with millisecond precision and a ``Z``, which also sort as text.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def ulid(at: datetime | None = None) -> str:
    ms = int((at or datetime.now(timezone.utc)).timestamp() * 1000)
    value = (max(ms, 0) & ((1 << 48) - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_valid_id(value: str) -> bool:
    return bool(ID_PATTERN.match(value))


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime) -> str:
    """Format as ISO-8601 UTC, millisecond precision, with Z."""
    if dt.tzinfo is None:
        dt = dt.astimezone()
    dt = dt.astimezone(timezone.utc)
    # %Y is not zero-padded for years < 1000 on every platform; ISO-8601 needs four digits.
    return f"{dt.year:04d}" + dt.strftime("-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return iso(utcnow())


def parse_iso(value: str) -> datetime:
    """Parse an ISO-8601 time (``Z`` or offset; naive means local time) to aware UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.astimezone()
    return dt.astimezone(timezone.utc)

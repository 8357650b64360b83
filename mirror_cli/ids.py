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


# -- hybrid logical clock --------------------------------------------------------
# An HLC is 48 bits of Unix milliseconds and a 16-bit counter, written as 16 hex digits, so it
# sorts as text. A local event moves it to max(last, now) (counter +1 when the time part does
# not move); a received stamp can move it ahead of the wall clock, but never more than
# HLC_MAX_AHEAD_MS past now (a device whose clock is a year ahead cannot drag the others).
HLC_MAX_AHEAD_MS = 24 * 3600 * 1000
_HLC = re.compile(r"^[0-9a-f]{16}$")


def now_ms() -> int:
    return int(datetime.now(timezone.utc).timestamp() * 1000)


def is_hlc(value: object) -> bool:
    return isinstance(value, str) and bool(_HLC.match(value))


def hlc_parts(value: str) -> tuple[int, int]:
    raw = int(value, 16)
    return raw >> 16, raw & 0xFFFF


def hlc_text(ms: int, counter: int) -> str:
    return f"{(ms << 16) | counter:016x}"


def hlc_next(last: str | None, now: int | None = None, seen: str | None = None) -> str:
    """The next HLC after *last* (and after a received *seen*, bounded to now + 24 h)."""
    wall = now_ms() if now is None else now
    l_ms, l_c = hlc_parts(last) if last else (0, 0)
    s_ms, s_c = hlc_parts(seen) if seen else (0, 0)
    if s_ms > wall + HLC_MAX_AHEAD_MS:
        s_ms, s_c = 0, 0  # a stamp from a clock far ahead orders its record, never this device's clock
    top = max(l_ms, s_ms, wall)
    if top == l_ms and top == s_ms:
        counter = max(l_c, s_c) + 1
    elif top == l_ms:
        counter = l_c + 1
    elif top == s_ms:
        counter = s_c + 1
    else:
        counter = 0
    if counter > 0xFFFF:
        top, counter = top + 1, 0
    return hlc_text(top, counter)


def hlc_after(value: str) -> str:
    """The smallest HLC after *value* (a new version's stamp must follow the one it replaces)."""
    ms, counter = hlc_parts(value)
    return hlc_text(ms, counter + 1) if counter < 0xFFFF else hlc_text(ms + 1, 0)


def hlc_iso(value: str) -> str:
    """The wall-clock part of an HLC as ISO-8601 UTC (milliseconds, Z)."""
    ms, _ = hlc_parts(value)
    return iso(datetime.fromtimestamp(ms / 1000, timezone.utc))

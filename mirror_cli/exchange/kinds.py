"""Record kinds, the ``--only`` parser and the import document."""

from __future__ import annotations

from mirror_cli.errors import UsageError

#: Section names of the export document, in the order they are written.
KINDS: tuple[str, ...] = ("reflections", "patterns", "tensions", "audit_events")

#: Section name -> JSON Lines ``"type"`` of one record.
RECORD_TYPES: dict[str, str] = {
    "reflections": "reflection",
    "patterns": "pattern",
    "tensions": "tension",
    "audit_events": "audit_event",
}
TYPE_KINDS: dict[str, str] = {v: k for k, v in RECORD_TYPES.items()}

_ALIASES = {
    "reflections": "reflections", "reflection": "reflections",
    "patterns": "patterns", "pattern": "patterns",
    "tensions": "tensions", "tension": "tensions",
    "audit": "audit_events", "audit_events": "audit_events", "audit_event": "audit_events",
}


def parse_kinds(text: str | None) -> tuple[str, ...]:
    """Parse an ``--only`` value (``reflections,patterns,tensions,audit``) into section names.

    ``None`` (no ``--only``) means every kind; a value that names no kind
    (``''``, ``','``) is a usage error. Order follows :data:`KINDS`.
    """
    if text is None:
        return KINDS
    wanted = set()
    for part in text.split(","):
        name = part.strip().lower()
        if not name:
            continue
        if name not in _ALIASES:
            raise UsageError(
                f"unknown kind {part.strip()!r} in --only.",
                "Use a comma list of reflections, patterns, tensions, audit.",
            )
        wanted.add(_ALIASES[name])
    if not wanted:
        raise UsageError(f"--only {text!r} names no kind.",
                         "Use a comma list of reflections, patterns, tensions, audit (or leave --only out for all).")
    return tuple(k for k in KINDS if k in wanted)

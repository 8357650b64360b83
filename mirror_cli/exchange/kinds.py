"""Record kinds, the ``--only`` parser and the import document."""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass
class ImportDocument:
    """A validated import: the header and the normalised records of every kind.

    ``records`` always has the four keys of :data:`KINDS` (empty lists for
    kinds the file does not hold). ``source_format`` is ``json``, ``jsonl`` or ``jrnl``.
    """

    header: dict
    records: dict[str, list[dict]] = field(default_factory=lambda: {k: [] for k in KINDS})
    source_format: str = "json"
    # jrnl: reflection id -> the id an older mirror gave the same entry (derived from its text), so a
    # journal that imported the file before still finds it (mirror_cli.exchange.importer)
    legacy_ids: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {k: len(self.records.get(k, ())) for k in KINDS}

    def only(self, kinds: tuple[str, ...] | list[str] | set[str]) -> ImportDocument:
        """A copy holding only the given kinds (the others become empty)."""
        return ImportDocument(
            header=self.header,
            records={k: (self.records.get(k, []) if k in kinds else []) for k in KINDS},
            source_format=self.source_format,
            legacy_ids=self.legacy_ids if "reflections" in kinds else {},
        )

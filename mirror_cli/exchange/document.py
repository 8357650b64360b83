"""The import document: what reading an import file gives, before anything is written.

Its own module (not :mod:`.kinds`, which every command loads through the record codec) so that
only the commands that import or read import files define it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mirror_cli.exchange.kinds import KINDS


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
    # jrnl: reflection id -> the (date, time, place among that minute's entries) it was made of
    # (mirror_cli.exchange.jrnlids: an entry whose place another took when one moved away)
    jrnl_slots: dict[str, tuple[str, str, int]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {k: len(self.records.get(k, ())) for k in KINDS}

    def only(self, kinds: tuple[str, ...] | list[str] | set[str]) -> ImportDocument:
        """A copy holding only the given kinds (the others become empty)."""
        return ImportDocument(
            header=self.header,
            records={k: (self.records.get(k, []) if k in kinds else []) for k in KINDS},
            source_format=self.source_format,
            legacy_ids=self.legacy_ids if "reflections" in kinds else {},
            jrnl_slots=self.jrnl_slots if "reflections" in kinds else {},
        )

"""Your data, out and in: export and import (CONTRACT.md, "Your data, out and in").

:mod:`.records` is the record codec, the one place that turns a stored row
into an export dict and a JSON text and back, with the limits (the size of
one record, the character rule). :mod:`.export` streams the database's
records through it into a format writer (and seals ``--encrypt`` exports);
:mod:`.importer` reads a file (plain or sealed), has :mod:`.validate` check
every record all or nothing, then writes them in one transaction with one
audit event. :mod:`.detect` tells the formats apart; :mod:`.kinds` names the
record kinds, :mod:`.document` holds what an import file reads as. The formats themselves are pure text code in :mod:`.formats`
(``jsondoc``, ``jsonl``, ``markdown``, ``csvfmt``, ``jrnl``): no database, no key.
"""

from __future__ import annotations

from mirror_cli.exchange.kinds import KINDS, RECORD_TYPES, parse_kinds

__all__ = ["KINDS", "RECORD_TYPES", "parse_kinds"]

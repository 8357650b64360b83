"""Before a write without a key: is this plaintext journal really plaintext?

A journal looks plaintext when its key record (meta ``crypto``) is missing. Anyone who can write
the file can delete that row, and append a plain audit event and a plain row so that the newest of
each looks plaintext too; the next write without a key would then store the journal's text in
clear. :func:`encrypted_leftovers` looks for what such a person leaves behind, and the store refuses
the write (``Store.write``, once per open store) when it finds any:

* a sealed value (a BLOB) anywhere in any sealed column of any table: one probe per table,
  ``SELECT 1 ... WHERE typeof(col) = 'blob' ... LIMIT 1``, which a partial index of exactly that
  WHERE (migration 0009) answers without reading the table's rows (or, *thorough*, every row read);
* a keyed run in the audit chain not closed by a ``key.disabled`` event whose published key
  verifies every event of the run (a closing event forged under a key of the forger's choosing
  does not verify the real events before it).

The columns are those of ``crypto.fields.SEALED_COLUMNS`` (db sits below crypto, so they are
named here again; a test keeps the two lists equal).
"""

from __future__ import annotations

import json
import sqlite3

from mirror_cli import audit
from mirror_cli.digests import compare_digest

#: table -> the columns that hold sealed values once the journal is encrypted
SEALED: dict[str, tuple[str, ...]] = {
    "reflections": ("content", "response", "tags"),
    "patterns": ("name",),
    "pattern_occurrences": ("evidence",),
    "tensions": ("data",),
    "analysis_state": ("findings",),
    "pattern_stats": ("timeline",),
    "sync_conflicts": ("value",),
    "sync_derived": ("nkey",),
}

_EVENTS = "SELECT seq, id, event_type, timestamp, data, previous_hash, event_hash, link FROM audit_events ORDER BY seq"


def encrypted_leftovers(conn: sqlite3.Connection, *, thorough: bool = False) -> str | None:
    """What shows that this journal (without a key record) was encrypted, or None.

    The probes are answered by the partial indexes of migration 0009, which someone who writes the file
    can empty (``writable_schema``, a REINDEX under another WHERE): *thorough* reads the tables themselves
    (``NOT INDEXED``), every row. The store asks for that when the journal file was encrypted on this
    machine once (``localfs.path_marked_encrypted``) yet its db_id is not marked: a changed db_id is
    what such a forger would leave."""
    scan = " NOT INDEXED" if thorough else ""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table, columns in SEALED.items():
        if table not in tables:  # an older schema (`migrate down`)
            continue
        where = " OR ".join(f"typeof({c}) = 'blob'" for c in columns)
        if conn.execute(f"SELECT 1 FROM {table}{scan} WHERE {where} LIMIT 1").fetchone():  # noqa: S608
            return f"the {table} table holds encrypted values"
    if "audit_events" in tables and conn.execute(
            f"SELECT 1 FROM audit_events{scan} WHERE link != '{audit.PLAIN_LINK}' LIMIT 1").fetchone():
        return _open_keyed_run(conn.execute(_EVENTS).fetchall())  # (audit_events_keyed answers the probe)
    return None


def _open_keyed_run(rows: list) -> str | None:
    """The problem with the chain's keyed runs, or None when each is closed by a verifying key.disabled."""
    run: list = []  # the keyed events of the current run, in order
    for row in rows:
        if row[7] != audit.KEYED_LINK:
            if run:
                return _unclosed(run)
            continue
        run.append(row)
        if row[2] in audit.RUN_CLOSERS:  # key.disabled, or key.retired by `key rotate`
            problem = _closed_run_problem(run)
            if problem:
                return problem
            run = []
    return _unclosed(run) if run else None


def _unclosed(run: list) -> str:
    return (f"its audit chain holds keyed events (#{run[0][0]} to #{run[-1][0]}) that no key.disabled "
            "event closes")


def _closed_run_problem(run: list) -> str | None:
    """None when the key published by the run's closing event verifies every event of the run."""
    closing = run[-1]
    try:
        published = json.loads(closing[4]).get(audit.RETIRED_KEY_FIELD)
        key = bytes.fromhex(published) if isinstance(published, str) else b""
    except (ValueError, AttributeError):
        key = b""
    for seq, eid, etype, ts, data, prev, ehash, link in run:
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = None
        fields = {"seq": seq, "id": eid, "event_type": etype, "timestamp": ts, "data": parsed,
                  "previous_hash": prev, "link": link}
        if len(key) != 32 or parsed is None or not compare_digest(audit.link_hash(fields, key), ehash):
            return (f"its audit chain holds keyed events (#{run[0][0]} to #{closing[0]}) that the key.disabled "
                    f"event #{closing[0]} does not verify")
    return None

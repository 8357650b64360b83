"""`mirror audit`: verify the hash chain, read the log."""

from __future__ import annotations

import typer

from mirror_cli.cli.options import group, JsonOpt, LimitOpt, state
from mirror_cli.cli.output import plural

app = group("The tamper-evident audit log of every change.")


@app.command()
def verify(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Check the chain and the data it vouches for (exit 3 and the first bad event on a problem)."""
    from mirror_cli import audit
    from mirror_cli.db import objects

    import sqlite3

    from mirror_cli.errors import VerificationError
    from mirror_cli.db.store import _db_error

    st = state(ctx)
    try:
        with st.open_store() as store:
            report = audit.verify(store.conn, key=(store.key.audit_key if store.key else None), encrypted=store.encrypted)
            if report.ok:  # pages the chain never reads (indexes, free lists, sync state) can be damaged too;
                # integrity_check, not quick_check: it also finds an index that disagrees with its table (an
                # emptied probe index, db/keyless.py), in about the same time
                damage = store.conn.execute("PRAGMA integrity_check(1)").fetchone()
                if damage is not None and damage[0] != "ok":
                    raise sqlite3.DatabaseError("database disk image is malformed")
            planted = objects.differences(store.conn) if report.ok else None
            if planted:  # a trigger planted beside the chain (copying each new entry out) is tampering too
                report = audit.VerifyReport(
                    ok=False, events=report.events, first_bad_seq=None, keyed_events=report.keyed_events,
                    records_checked=report.records_checked,
                    problem=f"the schema was changed outside mirror: {objects.summary(planted)}.")
    except (VerificationError, sqlite3.DatabaseError) as exc:
        error = exc if isinstance(exc, VerificationError) else _db_error(exc, st.settings.db_path)
        if not as_json or not isinstance(error, VerificationError):
            raise error from None
        # A damaged file is a failed verification too: --json still prints its object (exit 3).
        report = audit.VerifyReport(ok=False, events=None, first_bad_seq=None, problem=str(error))
    if as_json:
        st.out.json(report.to_dict())
        if not report.ok:
            raise typer.Exit(3)
    elif not report.ok:
        # CONTRACT.md: on an error nothing goes to stdout (only --json prints its object and exits 3).
        from mirror_cli.errors import VerificationError

        where = f"the audit chain is broken at event #{report.first_bad_seq}: " if report.first_bad_seq else ""
        raise VerificationError(f"{where}{report.problem}",
                                "Restore the database from a backup (`mirror backup list`) if you did not make "
                                "this change yourself.")
    else:
        st.out.result(f"ok: {plural(report.events, 'event')}, {plural(report.records_checked, 'reflection')} "
                      f"{'matches' if report.records_checked == 1 else 'match'} the chain.")


@app.command()
def log(ctx: typer.Context, limit: LimitOpt = None, as_json: JsonOpt = False) -> None:
    """Audit events, newest first."""
    import json

    from mirror_cli import audit

    st = state(ctx)
    with st.open_store(unlock=False) as store:
        events = audit.events(store.conn, limit=limit, newest_first=True)
    if as_json:
        st.out.json([e.to_dict() for e in events])
    else:
        rows = []
        for e in events:
            data = {k: v for k, v in e.data.items() if k != "vouches"}
            rows.append((e.seq, e.timestamp, e.event_type, json.dumps(data, ensure_ascii=False), e.event_hash[:12]))
        st.out.table(("seq", "time", "event", "data", "hash"), rows)

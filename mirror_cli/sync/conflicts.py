"""Conflict revisions: the values that lost a concurrent edit, kept (sealed like user content) so
that no text is lost; listed and resolved by `mirror conflicts`."""

from __future__ import annotations

from typing import Any

from mirror_cli.db.store import Store
from mirror_cli.errors import UsageError
from mirror_cli.journal import reflections as journal
from mirror_cli.sync import local


def _labels(store: Store) -> dict[str, str]:
    return {dev: label for dev, label in store.conn.execute("SELECT dev, label FROM sync_peers") if label}


def listing(store: Store) -> list[dict[str, Any]]:
    labels = _labels(store)
    me = store.meta("device_id")
    out = []
    for cid, kind, rid, field, value, other_dev, detected in store.conn.execute(
            "SELECT cid, kind, id, field, value, other_device, detected_at FROM sync_conflicts ORDER BY cid").fetchall():
        other = local.conflict_value(store, cid, value)
        row = store.conn.execute(local._ROW + " WHERE id = ?", (rid,)).fetchone()
        kept = local.row_values(store, row)[0].get(field) if row is not None else None
        device = "this device" if other_dev == me else labels.get(other_dev, (other_dev or "")[:8])
        out.append({"id": cid, "cid": cid, "kind": kind, "record_id": rid, "field": field, "kept": kept,
                    "other": other, "other_device": device, "detected_at": detected})
    return out


def resolve(store: Store, cid: int, keep: str) -> str:
    if keep not in ("kept", "other"):
        raise UsageError("--keep takes kept or other.")
    row = store.conn.execute("SELECT id, field, value FROM sync_conflicts WHERE cid = ?", (cid,)).fetchone()
    if row is None:
        raise UsageError(f"no conflict {cid}.", "`mirror conflicts` lists them.")
    rid, field, stored = row
    if keep == "other":
        value = local.conflict_value(store, cid, stored)
        exists = store.conn.execute("SELECT 1 FROM reflections WHERE id = ?", (rid,)).fetchone()
        if exists is None:
            raise UsageError(f"reflection {rid} was deleted; its conflict can only be dismissed (--keep kept).")
        if field == "created_at":
            raise UsageError("a different creation time cannot be picked here.", "Use --keep kept to dismiss it.")
        kwargs = {"content": value} if field == "content" else {"response": value or ""} if field == "response" \
            else {"mode": value} if field == "mode" else {"tags": value}
        journal.edit(store, rid, **kwargs)
    with store.write():
        store.conn.execute("DELETE FROM sync_conflicts WHERE cid = ?", (cid,))
    return (f"Conflict {cid} resolved: {rid} {field} now holds the other value (synced as a new edit)."
            if keep == "other" else f"Conflict {cid} dismissed: {rid} keeps its {field}.")

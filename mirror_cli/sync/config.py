"""The remotes a journal syncs with (table ``sync_remotes``): name, URL, options, and what was
pinned at the first sync (the remote's id and key fingerprint)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from mirror_cli.db.store import Store
from mirror_cli.errors import UsageError
from mirror_cli.ids import now_iso

NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass
class RemoteConfig:
    name: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    remote_id: str | None = None
    key_id: str | None = None
    gen: int | None = None
    paused: bool = False
    added_at: str = ""
    last_sync: str | None = None


_COLS = "name, url, options, remote_id, key_id, gen, paused, added_at, last_sync"


def _from_row(row: tuple[Any, ...]) -> RemoteConfig:
    return RemoteConfig(row[0], row[1], json.loads(row[2] or "{}"), row[3], row[4], row[5], bool(row[6]),
                        row[7], row[8])


def check_name(name: str) -> str:
    if not NAME.match(name or ""):
        raise UsageError(f"invalid remote name {name!r}: use 1 to 32 letters, digits, '-' or '_'.")
    return name


def all_remotes(store: Store) -> list[RemoteConfig]:
    return [_from_row(r) for r in store.conn.execute(f"SELECT {_COLS} FROM sync_remotes ORDER BY name")]


def get_remote(store: Store, name: str) -> RemoteConfig:
    row = store.conn.execute(f"SELECT {_COLS} FROM sync_remotes WHERE name = ?", (name,)).fetchone()
    if row is None:
        names = ", ".join(r.name for r in all_remotes(store)) or "none"
        raise UsageError(f"no remote named {name!r} (this journal's remotes: {names}).",
                         "Add one with `mirror remote add NAME URL`.")
    return _from_row(row)


def add_remote(store: Store, name: str, url: str, options: dict[str, Any]) -> RemoteConfig:
    """Call inside write()."""
    check_name(name)
    if store.conn.execute("SELECT 1 FROM sync_remotes WHERE name = ?", (name,)).fetchone():
        raise UsageError(f"a remote named {name!r} exists already.", "Pick another name or `mirror remote remove` it.")
    store.conn.execute("INSERT INTO sync_remotes (name, url, options, added_at) VALUES (?, ?, ?, ?)",
                       (name, url, json.dumps(options, sort_keys=True), now_iso()))
    return get_remote(store, name)


def pin(store: Store, name: str, remote_id: str, key_id: str, gen: int) -> None:
    store.conn.execute("UPDATE sync_remotes SET remote_id = ?, key_id = ?, gen = ? WHERE name = ?",
                       (remote_id, key_id, gen, name))


def set_paused(store: Store, name: str, paused: bool) -> None:
    store.conn.execute("UPDATE sync_remotes SET paused = ? WHERE name = ?", (int(paused), name))


def remove_remote(store: Store, name: str) -> None:
    """Forget a remote and this journal's state for it (nothing on the remote changes)."""
    get_remote(store, name)
    store.conn.execute("DELETE FROM sync_remotes WHERE name = ?", (name,))


def forget_state(store: Store, name: str) -> None:
    """Drop what this journal knew of a remote's objects (after a wipe, before a rejoin)."""
    for table in ("sync_self", "sync_peers", "sync_sent", "sync_outbox", "sync_heads"):
        store.conn.execute(f"DELETE FROM {table} WHERE remote = ?", (name,))  # noqa: S608
    store.conn.execute("UPDATE sync_remotes SET remote_id = NULL, key_id = NULL, gen = NULL WHERE name = ?", (name,))

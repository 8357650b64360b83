"""In-process devices for sync tests: each is a journal file driven through the sync engine, with
Argon2id at its minimum cost (the same code path) and no OS keyring."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import cheap
from mirror_cli.db.store import Store
from mirror_cli.journal import reflections as journal
from mirror_cli.remotes.folder import FolderRemote
from mirror_cli.sync import access, config, engine

PASSPHRASE = "a long enough sync passphrase 7"
ENV = {"MIRROR_SYNC_PASSPHRASE": PASSPHRASE}


@pytest.fixture
def cheap_sync_kdf(monkeypatch):
    monkeypatch.setattr(access, "new_envelope_params", cheap)


class Device:
    """One device: a journal at *path*, a label, and the remotes it syncs with."""

    def __init__(self, path: Path, label: str) -> None:
        self.path = path
        self.label = label
        with Store.open(path) as store:
            with store.write():
                store.set_meta("device_label", label)

    def store(self) -> Store:
        return Store.open(self.path)

    def add_remote(self, name: str, remote: Any, *, url: str = "test://") -> None:
        with self.store() as store:
            with store.write():
                config.add_remote(store, name, url, {})
            if access.read_bootstrap(remote) is None:
                access.initialise(remote, access.sync_passphrase(ENV))
        self._remotes = getattr(self, "_remotes", {})
        self._remotes[name] = remote

    def sync(self, name: str = "home", *, env: dict | None = None, **kwargs: Any) -> engine.Report:
        opts = engine.Options(env=env if env is not None else ENV, **kwargs)
        with self.store() as store, engine.SyncLock(store.path):
            cfg = config.get_remote(store, name)
            if opts.rejoin:
                engine.rejoin(store, cfg, self._remotes[name], opts)
                cfg = config.get_remote(store, name)
            return engine.Sync(store, cfg, self._remotes[name], opts).run()

    # journal operations
    def reflect(self, text: str, **kwargs: Any) -> str:
        with self.store() as store:
            return journal.add(store, text, **kwargs).id

    def edit(self, rid: str, **kwargs: Any) -> None:
        with self.store() as store:
            journal.edit(store, rid, **kwargs)

    def delete(self, rid: str) -> None:
        with self.store() as store:
            journal.delete(store, [rid])

    def set_local_only(self, rid: str, value: bool) -> None:
        with self.store() as store:
            r = journal.get(store, rid)
            r.local_only = value
            with store.write():
                journal.insert_row(store, r, store.tick())
                store.append_event("reflection.edited", {"reflection_id": rid},
                                   [("reflection", rid, None)])

    def entries(self) -> dict[str, dict[str, Any]]:
        """Every reflection as export shows it (local-only ones excluded), by id."""
        with self.store() as store:
            return {r.id: r.to_dict() for r in journal.iter_reflections(store) if not r.local_only}

    def conflicts(self) -> list[tuple[str, str, Any]]:
        with self.store() as store:
            from mirror_cli.sync import conflicts

            return [(c["record_id"], c["field"], c["other"]) for c in conflicts.listing(store)]

    def verify_audit(self) -> bool:
        from mirror_cli import audit

        with self.store() as store:
            return audit.verify(store.conn, key=None, encrypted=False).ok


def folder(tmp_path: Path, name: str = "remote") -> FolderRemote:
    root = tmp_path / name
    root.mkdir(exist_ok=True)
    return FolderRemote(root)


def snapshot(remote_root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(remote_root)): p.read_bytes() for p in sorted(remote_root.rglob("*")) if p.is_file()}


def dump(d: Device) -> str:
    return json.dumps(d.entries(), sort_keys=True)

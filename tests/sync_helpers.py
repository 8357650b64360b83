"""In-process devices for sync tests: each is a journal file driven through the sync engine, with
Argon2id at its minimum cost (the same code path) and no OS keyring.

A device may run with its wall clock skewed (``Device.skew_ms``: every operation and sync of that
device sees ``mirror_cli.ids``' clock moved by it), and a :class:`LaggyHub` gives each device its
own view of a synced folder in which the other devices' objects arrive late and out of order.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from helpers import cheap
from mirror_cli import audit, ids
from mirror_cli.db.store import Store
from mirror_cli.exchange import export, importer
from mirror_cli.journal import reflections as journal
from mirror_cli.remotes.folder import FolderRemote
from mirror_cli.sync import access, config, conflicts, engine

PASSPHRASE = "a long enough sync passphrase 7"
ENV = {"MIRROR_SYNC_PASSPHRASE": PASSPHRASE}


@pytest.fixture
def cheap_sync_kdf(monkeypatch):
    monkeypatch.setattr(access, "new_envelope_params", cheap)


SYNC_ENV = {"MIRROR_SYNC_PASSPHRASE": PASSPHRASE}  # the sync passphrase, as the CLI tests pass it


@pytest.fixture
def shared(tmp_path):
    """An empty folder to use as a folder remote (`mirror remote add NAME FOLDER`)."""
    folder = tmp_path / "shared"
    folder.mkdir()
    return folder


@contextlib.contextmanager
def skewed(ms: int) -> Iterator[None]:
    """mirror's wall clock (``ids.utcnow`` and ``ids.now_ms``, which every timestamp and HLC use)
    moved by *ms* milliseconds for the duration."""
    if not ms:
        yield
        return
    real_utcnow, real_now_ms = ids.utcnow, ids.now_ms
    ids.utcnow = lambda: real_utcnow() + timedelta(milliseconds=ms)
    ids.now_ms = lambda: real_now_ms() + ms
    try:
        yield
    finally:
        ids.utcnow, ids.now_ms = real_utcnow, real_now_ms


class Device:
    """One device: a journal at *path*, a label, the remotes it syncs with, and how far its wall
    clock is off (*skew_ms*, applied to each of its operations and syncs)."""

    def __init__(self, path: Path, label: str, skew_ms: int = 0) -> None:
        self.path = path
        self.label = label
        self.skew_ms = skew_ms
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
        with skewed(self.skew_ms), self.store() as store, engine.SyncLock(store.path):
            cfg = config.get_remote(store, name)
            if opts.rejoin:
                engine.rejoin(store, cfg, self._remotes[name], opts)
                cfg = config.get_remote(store, name)
            return engine.Sync(store, cfg, self._remotes[name], opts).run()

    # journal operations
    def reflect(self, text: str, **kwargs: Any) -> str:
        with skewed(self.skew_ms), self.store() as store:
            return journal.add(store, text, **kwargs).id

    def edit(self, rid: str, **kwargs: Any) -> None:
        with skewed(self.skew_ms), self.store() as store:
            journal.edit(store, rid, **kwargs)

    def delete(self, rid: str) -> None:
        with skewed(self.skew_ms), self.store() as store:
            journal.delete(store, [rid])

    def set_local_only(self, rid: str, value: bool) -> None:
        self._rewrite(rid, local_only=value)

    def backdate(self, rid: str, created_at: str) -> None:
        """Move an entry's creation time (journal.edit has no such option): the row rewritten with a
        new rev, as an edit is."""
        self._rewrite(rid, created_at=created_at, updated_at=None)

    def _rewrite(self, rid: str, **changes: Any) -> None:
        with skewed(self.skew_ms), self.store() as store:
            r = journal.get(store, rid)
            for name, value in changes.items():
                setattr(r, name, ids.now_iso() if value is None else value)
            with store.write():
                journal.insert_row(store, r, store.tick())
                store.append_event("reflection.edited", {"reflection_id": rid},
                                   [("reflection", rid, audit_digest(store, rid))])

    def export_file(self) -> bytes:
        """This journal's reflections as a `mirror export --format json` document."""
        with self.store() as store, store.read():
            return "".join(export.export_text(store, kinds=("reflections",))).encode()

    def import_file(self, data: bytes) -> importer.ImportResult:
        with skewed(self.skew_ms), self.store() as store:
            doc, _ = importer.read_document(data)
            return importer.apply_import(store, doc, kinds=("reflections",))

    def rows(self) -> dict[str, dict[str, Any]]:
        """Every reflection, local-only ones included, by id."""
        with self.store() as store:
            return {r.id: r.to_dict() for r in journal.iter_reflections(store)}

    def exported(self) -> list[dict[str, Any]]:
        """The reflections of `mirror export` minus local-only entries, in export order."""
        with self.store() as store, store.read():
            return [r for r in export.iter_reflections(store) if not r.get("local_only")]

    def entries(self) -> dict[str, dict[str, Any]]:
        """Every reflection as export shows it (local-only ones excluded), by id."""
        with self.store() as store:
            return {r.id: r.to_dict() for r in journal.iter_reflections(store) if not r.local_only}

    def conflicts(self) -> list[tuple[str, str, Any]]:
        with self.store() as store:
            return [(c["record_id"], c["field"], c["other"]) for c in conflicts.listing(store)]

    def verify_audit(self) -> bool:
        with self.store() as store:
            return audit.verify(store.conn, key=None, encrypted=False).ok


def audit_digest(store: Store, rid: str) -> str | None:
    return audit.reflection_digest(store.conn, rid)


def folder(tmp_path: Path, name: str = "remote") -> FolderRemote:
    root = tmp_path / name
    root.mkdir(exist_ok=True)
    return FolderRemote(root)


def snapshot(remote_root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(remote_root)): p.read_bytes() for p in sorted(remote_root.rglob("*")) if p.is_file()}


def dump(d: Device) -> str:
    return json.dumps(d.entries(), sort_keys=True)


# -- a synced folder that delivers late ------------------------------------------------------------


class LaggyHub:
    """A Syncthing/Dropbox-like folder shared by several devices: each device has its own copy
    (a real folder remote, :meth:`view`); what a device writes is in its own copy at once and reaches
    every other copy only after a random number (0..*max_delay*) of later remote operations by
    anyone, in random order, so a head may arrive before the segments it names. A head written
    again before it arrived arrives once, as its newest version (the provider syncs files, not
    histories). :meth:`deliver_all` ends the transit."""

    def __init__(self, root: Path, rng: random.Random, max_delay: int = 12) -> None:
        self.root = root
        self.rng = rng
        self.max_delay = max_delay
        self.ops = 0
        self.views: dict[str, LaggyFolder] = {}
        self.pending: dict[tuple[str, str], tuple[int, bytes]] = {}  # (view, name) -> (due op, bytes)

    def view(self, name: str) -> LaggyFolder:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        self.views[name] = LaggyFolder(self, name, FolderRemote(path))
        return self.views[name]

    def written(self, by: str, name: str, data: bytes) -> None:
        for other in self.views:
            if other != by:
                due = self.ops + self.rng.randint(0, self.max_delay)
                old = self.pending.get((other, name))
                self.pending[(other, name)] = (min(due, old[0]) if old else due, data)

    def tick(self) -> None:
        self.ops += 1
        due = [k for k, (when, _) in self.pending.items() if when <= self.ops]
        self.rng.shuffle(due)
        for key in due:
            self._deliver(key)

    def in_transit(self) -> int:
        return len(self.pending)

    def deliver_all(self) -> None:
        keys = list(self.pending)
        self.rng.shuffle(keys)
        for key in keys:
            self._deliver(key)

    def _deliver(self, key: tuple[str, str]) -> None:
        _, data = self.pending.pop(key)
        self.views[key[0]].inner.put(key[1], data)


class LaggyFolder:
    """One device's copy of a :class:`LaggyHub` folder: the Remote protocol over a real folder,
    with ``may_lag`` (a missing object may still be in transit)."""

    may_lag = True

    def __init__(self, hub: LaggyHub, name: str, inner: FolderRemote) -> None:
        self.hub, self.name, self.inner = hub, name, inner
        self.root = inner.root

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)

    def get(self, name: str) -> bytes:
        self.hub.tick()
        return self.inner.get(name)

    def list(self, prefix: str = "") -> Iterator[Any]:
        self.hub.tick()
        return iter(list(self.inner.list(prefix)))

    def put_new(self, name: str, data: bytes) -> str:
        self.hub.tick()
        tag = self.inner.put_new(name, data)
        self.hub.written(self.name, name, data)
        return tag

    def put(self, name: str, data: bytes) -> str:
        self.hub.tick()
        tag = self.inner.put(name, data)
        self.hub.written(self.name, name, data)
        return tag

    def delete(self, names: Iterable[str]) -> None:
        self.hub.tick()
        self.inner.delete(list(names))


# -- a fresh remote of each kind, and the test's own raw access to it ---------------------------------

REMOTE_KINDS = ("folder", "s3", "postgres")


class Spot:
    """One fresh, empty remote location (:func:`fresh_remote`): its URL, a way to open it as mirror does
    (each device opens its own, as two machines would), and the test's raw access behind mirror's back
    (a malicious or careless store: read, overwrite, delete, roll back, empty, every stored byte)."""

    kind = ""

    def __init__(self, url: str, options: dict[str, str] | None = None) -> None:
        self.url, self.options = url, options or {}
        self._opened: list[Any] = []

    def open(self) -> Any:
        from mirror_cli.remotes.url import open_remote

        remote = open_remote(self.url, options=self.options)
        self._opened.append(remote)
        return remote

    def close(self) -> None:
        for remote in self._opened:
            remote.close()

    def snapshot(self) -> dict[str, bytes]:
        """Every object, by name."""
        raise NotImplementedError

    def write(self, name: str, data: bytes) -> None:
        raise NotImplementedError

    def remove(self, name: str) -> None:
        raise NotImplementedError

    def empty(self) -> None:
        """Delete everything (rm -rf / every object / TRUNCATE)."""
        raise NotImplementedError

    def every_byte(self) -> bytes:
        """Every byte the store keeps for this remote, names included (S3: every version; PG: COPY)."""
        raise NotImplementedError

    def restore(self, snap: dict[str, bytes]) -> None:
        """Make the remote hold exactly *snap* (a rollback to an earlier snapshot)."""
        for name in set(self.snapshot()) - set(snap):
            self.remove(name)
        for name, data in snap.items():
            self.write(name, data)

    def changed_since(self, snap: dict[str, bytes], prefix: str = "") -> list[str]:
        """Names (under *prefix*) that are new or hold other bytes than in *snap*, sorted."""
        return sorted(n for n, d in self.snapshot().items() if n.startswith(prefix) and snap.get(n) != d)


class FolderSpot(Spot):
    kind = "folder"

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True)
        super().__init__(str(root))
        self.root = root

    def snapshot(self) -> dict[str, bytes]:
        return snapshot(self.root)

    def write(self, name: str, data: bytes) -> None:
        (self.root / name).parent.mkdir(parents=True, exist_ok=True)
        (self.root / name).write_bytes(data)

    def remove(self, name: str) -> None:
        (self.root / name).unlink()

    def empty(self) -> None:
        for p in sorted(self.root.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()

    def every_byte(self) -> bytes:
        return b"".join(str(p.relative_to(self.root)).encode() + b"\0" + (p.read_bytes() if p.is_file() else b"")
                        for p in sorted(self.root.rglob("*")))


class S3Spot(Spot):
    kind = "s3"

    def __init__(self, endpoint: str, bucket: str, prefix: str) -> None:
        import s3_server

        super().__init__(f"s3://{bucket}/{prefix}", {"endpoint_url": endpoint})
        self.bucket, self.prefix = bucket, prefix + "/"
        self.s3 = s3_server.client(endpoint)

    def snapshot(self) -> dict[str, bytes]:
        out = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", ()):
                out[obj["Key"][len(self.prefix):]] = self.s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
        return out

    def write(self, name: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=data)

    def remove(self, name: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self.prefix + name)

    def empty(self) -> None:
        for name in self.snapshot():
            self.remove(name)

    def enable_versioning(self) -> None:
        self.s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})

    def versions(self) -> list[tuple[str, str | None]]:
        """(key, version id) of every object version and delete marker in the whole bucket."""
        out = []
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket):
            out += [(v["Key"], v["VersionId"]) for v in [*page.get("Versions", ()), *page.get("DeleteMarkers", ())]]
        return out

    def every_byte(self) -> bytes:
        parts = []
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket):
            for v in page.get("Versions", ()):
                body = self.s3.get_object(Bucket=self.bucket, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
                parts.append(v["Key"].encode() + b"\0" + body)
            parts += [m["Key"].encode() for m in page.get("DeleteMarkers", ())]
        return b"\0".join(parts)

    def drop_versions(self) -> None:
        """Delete every version and delete marker (a versioned bucket is otherwise never empty)."""
        for key, version in self.versions():
            self.s3.delete_object(Bucket=self.bucket, Key=key, VersionId=version)


class PostgresSpot(Spot):
    kind = "postgres"

    def __init__(self, server: str, table: str) -> None:
        import psycopg

        from pg_helpers import with_table

        super().__init__(with_table(server, table))
        self.table = table
        self.conn = psycopg.connect(server, autocommit=True)

    def close(self) -> None:
        super().close()
        self.conn.execute(f"DROP TABLE IF EXISTS {self.table}")
        self.conn.close()

    def snapshot(self) -> dict[str, bytes]:
        try:
            rows = self.conn.execute(f"SELECT name, body FROM {self.table}").fetchall()
        except Exception:  # not created yet: no remote opened it
            return {}
        return {name: bytes(body) for name, body in rows}

    def write(self, name: str, data: bytes) -> None:
        import hashlib

        self.conn.execute(f"INSERT INTO {self.table} (name, body, tag) VALUES (%s, %s, %s) ON CONFLICT (name) DO "
                          "UPDATE SET body = EXCLUDED.body, tag = EXCLUDED.tag",
                          (name, data, hashlib.sha256(data).hexdigest()))

    def remove(self, name: str) -> None:
        self.conn.execute(f"DELETE FROM {self.table} WHERE name = %s", (name,))

    def empty(self) -> None:
        self.conn.execute(f"TRUNCATE {self.table}")

    def every_byte(self) -> bytes:
        """``COPY <table> TO STDOUT`` in binary form (text form would show the bodies as hex)."""
        out = bytearray()
        with self.conn.cursor() as cur, cur.copy(f"COPY {self.table} TO STDOUT (FORMAT BINARY)") as copy:
            for block in copy:
                out += block
        return bytes(out)


@pytest.fixture(params=REMOTE_KINDS)
def fresh_remote(request, tmp_path) -> Iterator[Any]:
    """A factory of fresh, empty remotes of one kind (the test runs once per kind): a folder, a prefix
    of a bucket on the moto server, a new table on the PostgreSQL test server. Each call gives a new
    :class:`Spot`; all are closed (tables dropped, bucket versions removed) after the test."""
    import itertools
    import secrets

    kind, made, counter = request.param, [], itertools.count()
    if kind == "s3":
        endpoint, bucket = request.getfixturevalue("s3_endpoint"), request.getfixturevalue("s3_bucket")
    elif kind == "postgres":
        from pg_helpers import server_url

        server = server_url()

    def make() -> Spot:
        n = next(counter)
        if kind == "folder":
            spot: Spot = FolderSpot(tmp_path / f"remote-{n}")
        elif kind == "s3":
            spot = S3Spot(endpoint, bucket, f"journal-{n}")
        else:
            spot = PostgresSpot(server, f"t_{secrets.token_hex(6)}")
        made.append(spot)
        return spot

    yield make
    for spot in made:
        spot.close()
    if kind == "s3" and made:
        made[0].drop_versions()  # type: ignore[attr-defined] - the bucket fixture then deletes it


class IgnoresConditionalWrites:
    """A store that ignores conditional writes (some S3 look-alikes, s3rver; SYNC.md section 9): the
    Remote protocol over *inner*, except that ``put_new`` silently overwrites what is there."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)

    def put_new(self, name: str, data: bytes) -> str:
        return self.inner.put(name, data)

    def put_file(self, name: str, path: Path, *, exclusive: bool = False) -> str:
        return self.inner.put_file(name, path)

    def put_stream(self, name: str, *, exclusive: bool = False) -> Any:
        return self.inner.put_stream(name)

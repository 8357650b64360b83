"""Devices for the `mirror sync` process tests: each is a MIRROR_HOME driven by real `mirror` processes.

Every command a device runs is checked for the passphrases (SECRETS): none may ever be printed, on
success or on error. A device with ``keyring=True`` caches the remote's KEK in a file keyring (see
keyring_backends.FileKeyring), as a device with an OS keyring does, so only its first sync pays Argon2id."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from helpers import MIRROR

PASSPHRASE = "sync words Quokka-7 ferry lantern"
WRONG = "wrong words Narwhal-3 attic harbor"
SECRETS = (PASSPHRASE, WRONG)
TESTS = Path(__file__).resolve().parent


class Home:
    """One device: its own MIRROR_HOME (and keyring file), syncing through the folder *shared*."""

    def __init__(self, root: Path, name: str, shared: Path, *, keyring: bool = False,
                 passphrase: str | None = PASSPHRASE) -> None:
        self.name, self.shared = name, shared
        self.home = root / name
        self.env = dict(os.environ)
        self.env["MIRROR_HOME"] = str(self.home)
        if passphrase is not None:
            self.env["MIRROR_SYNC_PASSPHRASE"] = passphrase
        if keyring:
            self.env["PYTHON_KEYRING_BACKEND"] = "keyring_backends.FileKeyring"
            self.env["MIRROR_TEST_KEYRING_FILE"] = str(root / f"{name}.keyring.json")
            self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))

    @property
    def db(self) -> Path:
        return self.home / "mirror.db"

    def argv(self, *args: Any) -> list[str]:
        return [*MIRROR, *[str(a) for a in args]]

    def child_env(self, extra: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> dict[str, str]:
        env = {k: v for k, v in self.env.items() if k not in drop}
        env.update(extra or {})
        return env

    def run(self, *args: Any, env: dict[str, str] | None = None, drop: tuple[str, ...] = (),
            timeout: float = 120) -> subprocess.CompletedProcess:
        r = subprocess.run(self.argv(*args), env=self.child_env(env, drop), capture_output=True, text=True,
                           timeout=timeout)
        no_secret(r)
        return r

    def ok(self, *args: Any, **kwargs: Any) -> subprocess.CompletedProcess:
        r = self.run(*args, **kwargs)
        assert r.returncode == 0, (self.name, args, r.returncode, r.stdout, r.stderr)
        return r

    def sync(self, *args: Any, **kwargs: Any) -> subprocess.CompletedProcess:
        return self.ok("sync", *args, **kwargs)

    def add_remote(self, *args: Any) -> None:
        self.ok("remote", "add", "home", self.shared, *args)

    def reflect(self, *args: Any) -> str:
        return self.ok("reflect", *args).stdout.strip()

    def reflections(self) -> list[dict[str, Any]]:
        """What `export --format json` says of the reflections (what must be identical everywhere)."""
        return json.loads(self.ok("export", "--format", "json").stdout)["reflections"]

    def audit_ok(self) -> None:
        r = self.ok("audit", "verify", "--json")
        assert json.loads(r.stdout)["ok"] is True, r.stdout

    def sql(self, query: str, *params: Any) -> list[tuple]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return conn.execute(query, params).fetchall()
        finally:
            conn.close()

    def settled(self) -> None:
        """Nothing staged or waiting in the outbox."""
        assert self.sql("SELECT staged FROM sync_self") == [(None,)] * len(self.sql("SELECT 1 FROM sync_self"))
        assert self.sql("SELECT count(*) FROM sync_outbox") == [(0,)]

    def own_seq(self) -> int:
        rows = self.sql("SELECT seq FROM sync_self WHERE remote = 'home'")
        return int(rows[0][0]) if rows else 0


def no_secret(r: subprocess.CompletedProcess) -> None:
    for secret in SECRETS:
        assert secret not in r.stdout and secret not in r.stderr, (r.args, "printed a passphrase")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below *folder* (temp and dot files included), by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def temps(folder: Path) -> list[str]:
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if p.name.startswith(".")]


def segments(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "s").iterdir() if not p.name.startswith(".")) \
        if (folder / "s").is_dir() else []


def converged(*homes: Home) -> list[dict[str, Any]]:
    """Every device has the same reflections (local-only ones aside) and a sound audit chain, nothing staged, and the shared folder
    holds exactly one segment per sequence number the devices wrote; the reflections."""
    first = [e for e in homes[0].reflections() if not e["local_only"]]
    for h in homes[1:]:
        assert [e for e in h.reflections() if not e["local_only"]] == first, (homes[0].name, h.name)
    for h in homes:
        h.audit_ok()
        h.settled()
    shared = homes[0].shared
    assert len(segments(shared)) == sum(h.own_seq() for h in homes), "a segment written twice, or one lost"
    return first


def write_import_file(path: Path, count: int, prefix: str, *, size: int = 300) -> Path:
    """An export file of *count* reflections (import adds them, with their audit events)."""
    import random

    rng = random.Random(prefix)
    words = "river stone lantern ferry quiet morning letter window garden thread".split()
    rows = []
    for i in range(count):
        text = f"{prefix} {i} " + " ".join(rng.choices(words, k=size // 7))
        stamp = f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:{i % 60:02d}.000Z"
        rows.append({"id": f"01J{prefix.upper()[:3]}{i:020d}"[:26], "created_at": stamp, "updated_at": stamp,
                     "content": text, "response": None, "mode": "REFLECTION", "tags": [], "local_only": False})
    path.write_text(json.dumps({"format": "mirror-export", "version": 1, "exported_at": "2024-12-31T00:00:00.000Z",
                                "tool_version": "0.1.0", "schema_version": 7,
                                "counts": {"reflections": count, "patterns": 0, "tensions": 0, "audit_events": 0},
                                "reflections": rows, "patterns": [], "tensions": [], "audit_events": []}))
    return path

"""`mirror backup restore` while other mirror processes write (issue 12, item 8).

Every acknowledged write (a `reflect` that exited 0 and printed its id) must end up either in the
`.before-restore-*` copy restore keeps or in the restored journal; both pass ``PRAGMA
integrity_check``, and no writer ever sees a malformed database (it may wait, or fail "busy").
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from helpers import MIRROR, cheap
from mirror_cli.crypto import manage as keyops
from mirror_cli.db.store import Store
from mirror_cli.journal import reflections as journal

PW = "correct horse battery staple"

pytestmark = pytest.mark.process


def _ids(db: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert [r[0] for r in conn.execute("PRAGMA integrity_check")] == ["ok"], db
        return {r[0] for r in conn.execute("SELECT id FROM reflections")}
    finally:
        conn.close()


def _kept(folder: Path) -> list[Path]:
    """The `.before-restore-*` copies restore kept in *folder* (each must be one self-contained file)."""
    return sorted(p for p in folder.iterdir() if ".before-restore-" in p.name)


def _backup(run_mirror, out: Path) -> Path:
    r = run_mirror("backup", "create", "--json", "--mkdir", "-o", out)
    assert r.returncode == 0, r.stderr
    return Path(json.loads(r.stdout)["path"])


def _spawn(*args: object) -> subprocess.Popen:
    return subprocess.Popen([*MIRROR, *[str(a) for a in args]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_no_acknowledged_reflection_is_lost_while_restores_run(mirror_home, run_mirror, tmp_path, monkeypatch,
                                                               encrypted):
    """Four writers run `mirror reflect` back to back while restores run every ~0.2 s: each id a writer
    was given is in the live journal or in a kept copy, every copy is intact, no writer saw damage."""
    db = mirror_home / "mirror.db"
    for i in range(3):
        assert run_mirror("reflect", f"seed {i}").returncode == 0
    if encrypted:  # cheap key derivation (its parameters are in the key record the processes read)
        with Store.open(db, create=False) as s:
            keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
        monkeypatch.setenv("MIRROR_PASSPHRASE", PW)
    backup = _backup(run_mirror, tmp_path / "backups")
    acked: set[str] = set()
    failures: list[str] = []
    writers: list[subprocess.Popen | None] = [None] * 4
    restore: subprocess.Popen | None = None
    restores = n = 0
    deadline = time.monotonic() + 12
    next_restore = time.monotonic() + 0.3
    while time.monotonic() < deadline or any(writers) or restore is not None:
        for k, w in enumerate(writers):
            if w is not None and w.poll() is not None:
                out, err = w.communicate()
                if w.returncode == 0:
                    acked.add(json.loads(out)["id"])
                elif w.returncode != 1 or "malformed" in err or "damaged" in err:
                    failures.append(f"reflect exit {w.returncode}: {err.strip()}")
                writers[k] = w = None
            if w is None and time.monotonic() < deadline:
                n += 1
                writers[k] = _spawn("reflect", "--json", f"writer {k} entry {n}")
        if restore is not None and restore.poll() is not None:
            out, err = restore.communicate()
            if restore.returncode == 0:
                restores += 1
            elif restore.returncode != 1 or "malformed" in err or "damaged" in err:
                failures.append(f"restore exit {restore.returncode}: {err.strip()}")
            restore = None
        if restore is None and time.monotonic() >= next_restore and time.monotonic() < deadline:
            restore = _spawn("backup", "restore", "--yes", backup)
            next_restore = time.monotonic() + 0.2
        time.sleep(0.005)
    assert failures == []
    assert restores >= 2 and len(acked) >= 5, (restores, len(acked))  # it ran (a loaded machine runs fewer)
    kept = set()
    copies = _kept(mirror_home)
    assert len(copies) == restores
    for copy in copies:
        kept |= _ids(copy)
    live = _ids(db)
    lost = acked - live - kept
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged reflections are nowhere ({restores} restores)"
    assert run_mirror("audit", "verify").returncode == 0


def test_a_writer_that_opened_the_journal_before_the_restore_saves_into_the_restored_one(mirror_home, run_mirror,
                                                                                         tmp_path):
    """A mirror process that opened the journal (a `reflect` queued behind another writer) and saves after
    a restore: its reflection is in the restored journal, not in a file nobody reads any more."""
    db = mirror_home / "mirror.db"
    assert run_mirror("reflect", "before the backup").returncode == 0
    backup = _backup(run_mirror, tmp_path / "backups")
    assert run_mirror("reflect", "after the backup").returncode == 0
    with Store.open(db, create=False) as store:
        store.conn.execute("SELECT count(*) FROM reflections").fetchone()  # opened, read: as any command does
        r = run_mirror("backup", "restore", "--yes", backup)
        assert r.returncode == 0, r.stderr
        saved = journal.add(store, "saved after the restore")
    live = _ids(db)
    copies = _kept(mirror_home)
    assert len(copies) == 1
    assert saved.id in live
    assert len(_ids(copies[0])) == 2 and len(live) == 2  # the copy: both; live: the backup's one and the new one
    texts = [line for line in run_mirror("list").stdout.splitlines() if "saved after the restore" in line]
    assert texts

"""Many real mirror processes at once: writers racing on a new database, backups taken while 40 write."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
import time

import pytest

from helpers import MIRROR

pytestmark = pytest.mark.process


LANES, PER_LANE = 4, 25


def test_concurrent_reflect_processes(tmp_path, mirror_home):
    """4 lanes x 25 `python -m mirror_cli reflect` processes, started together on a database that does not exist yet."""
    env = dict(os.environ)
    barrier = threading.Barrier(LANES)
    failures: list[str] = []

    def lane(n: int) -> None:
        barrier.wait()
        for i in range(PER_LANE):
            p = subprocess.run([*MIRROR, "reflect", "-t", f"lane{n}", f"lane {n} entry {i}"],
                               env=env, capture_output=True, text=True, timeout=120)
            if p.returncode != 0:
                failures.append(f"lane {n} entry {i}: rc={p.returncode} {p.stderr.strip()}")

    threads = [threading.Thread(target=lane, args=(n,)) for n in range(LANES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []

    listing = json.loads(subprocess.run([*MIRROR, "list", "--json"], env=env,
                                        capture_output=True, text=True, check=True).stdout)
    assert len(listing) == LANES * PER_LANE
    assert sorted(r["content"] for r in listing) == sorted(
        f"lane {n} entry {i}" for n in range(LANES) for i in range(PER_LANE))
    assert len({r["id"] for r in listing}) == LANES * PER_LANE
    verify = subprocess.run([*MIRROR, "audit", "verify", "--json"], env=env,
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout)["events"] == LANES * PER_LANE

    conn = sqlite3.connect(mirror_home / "mirror.db")
    try:
        rows = conn.execute("SELECT seq, previous_hash, event_hash FROM audit_events ORDER BY seq").fetchall()
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == \
            conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
    finally:
        conn.close()
    assert [r[0] for r in rows] == list(range(1, LANES * PER_LANE + 1))
    prev = [r[1] for r in rows]
    assert len(set(prev)) == len(prev)  # no two events hang off the same parent: no fork
    assert all(rows[i][1] == rows[i - 1][2] for i in range(1, len(rows)))


@pytest.mark.slow
def test_backups_taken_while_40_reflect_processes_write_all_verify(journal_db, mirror_home, run_mirror):
    """40 `mirror reflect` processes (text on stdin, released one by one) commit while backups run."""
    import threading

    env = dict(os.environ)
    writers = [subprocess.Popen([*MIRROR, "reflect"], env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE) for _ in range(40)]

    half_saved, half_backed_up = threading.Event(), threading.Event()

    def release() -> None:  # each writer saves when its stdin closes: spread the commits over the backups
        for i, w in enumerate(writers):
            if i == 20:
                # Hold the second half until a backup has begun after the first half committed, so
                # some backup falls strictly between 24 and 44 however slowly processes start.
                for early in writers[:20]:
                    early.wait(timeout=120)
                half_saved.set()
                half_backed_up.wait(timeout=120)
            w.stdin.write(f"concurrent entry {i} #busy\n".encode())
            w.stdin.close()
            time.sleep(0.2)

    releaser = threading.Thread(target=release)
    made = []
    try:
        releaser.start()
        while any(w.poll() is None for w in writers) or len(made) < 3:
            after_half = half_saved.is_set()
            r = run_mirror("backup", "create", "--json")
            assert r.returncode == 0, r.stderr
            made.append(json.loads(r.stdout)["path"])
            if after_half:
                half_backed_up.set()
            if len(made) > 30:
                break
    finally:
        releaser.join()
        for w in writers:
            w.wait(timeout=120)
    assert all(w.returncode == 0 for w in writers), [w.stderr.read() for w in writers if w.returncode]
    r = run_mirror("backup", "create", "--json")  # and one after they all finished
    made.append(json.loads(r.stdout)["path"])
    counts = []
    for path in made:
        r = run_mirror("backup", "verify", "--json", path)
        out = json.loads(r.stdout)
        assert r.returncode == 0 and out["ok"] and out["complete"], out
        counts.append(out["counts"]["reflections"])
    assert counts == sorted(counts) and 4 <= counts[0] and counts[-1] == 44, counts
    assert any(4 < c < 44 for c in counts), counts  # some backups caught the writers half-way
    home = mirror_home.parent / "restored-home"  # the last one restores to all 44, searchable
    r = run_mirror("backup", "restore", "--yes", made[-1], env={"MIRROR_HOME": str(home)})
    assert r.returncode == 0, r.stderr
    r = run_mirror("search", "busy", "--limit", "100", "--json", env={"MIRROR_HOME": str(home)})
    assert len(json.loads(r.stdout)) == 40

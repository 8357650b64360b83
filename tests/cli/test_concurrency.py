"""Many mirror processes at once lose nothing; delete --all leaves no trace in the file."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading

LANES, PER_LANE = 4, 25


def test_concurrent_reflect_processes(tmp_path, mirror_home):
    """4 lanes x 25 `python -m mirror_cli reflect` processes, started together on a database that does not exist yet."""
    env = dict(os.environ)
    barrier = threading.Barrier(LANES)
    failures: list[str] = []

    def lane(n: int) -> None:
        barrier.wait()
        for i in range(PER_LANE):
            p = subprocess.run([sys.executable, "-m", "mirror_cli", "reflect", "-t", f"lane{n}", f"lane {n} entry {i}"],
                               env=env, capture_output=True, text=True, timeout=120)
            if p.returncode != 0:
                failures.append(f"lane {n} entry {i}: rc={p.returncode} {p.stderr.strip()}")

    threads = [threading.Thread(target=lane, args=(n,)) for n in range(LANES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []

    listing = json.loads(subprocess.run([sys.executable, "-m", "mirror_cli", "list", "--json"], env=env,
                                        capture_output=True, text=True, check=True).stdout)
    assert len(listing) == LANES * PER_LANE
    assert sorted(r["content"] for r in listing) == sorted(
        f"lane {n} entry {i}" for n in range(LANES) for i in range(PER_LANE))
    assert len({r["id"] for r in listing}) == LANES * PER_LANE
    verify = subprocess.run([sys.executable, "-m", "mirror_cli", "audit", "verify", "--json"], env=env,
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


MARKER = "zebra-quokka-7781"
TOKEN = "xylomarker7781"  # one FTS token, so a leaked index term would show too


def _scan(home) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for f in sorted(home.iterdir()):
        if f.name.startswith("mirror.db"):
            data = f.read_bytes()
            found[f.name] = [m for m in (MARKER, TOKEN) if m.encode() in data or m.upper().encode() in data]
    return found


def test_delete_all_leaves_no_trace(cli, mirror_home):
    ids = []
    for i in range(30):
        r = cli("reflect", "--json", "--mode", MARKER.upper(), "--response", f"reply {MARKER} {TOKEN} {i}",
                "-t", MARKER, f"entry {i} about {MARKER} and {TOKEN} #{TOKEN} " + "padding " * 50)
        assert r.exit_code == 0, r.stderr
        ids.append(json.loads(r.stdout)["id"])
    assert cli("edit", ids[0], f"edited {MARKER} {TOKEN}").exit_code == 0
    assert cli("delete", ids[1], "--yes").exit_code == 0
    before = _scan(mirror_home)
    assert any(before.values()), "the scan must find the marker before deleting"

    r = cli("delete", "--all", "--yes")
    assert r.exit_code == 0, r.stderr
    after = _scan(mirror_home)
    assert "mirror.db" in after
    assert all(not hits for hits in after.values()), after

    v = cli("audit", "verify", "--json")
    assert v.exit_code == 0
    report = json.loads(v.stdout)
    assert report["ok"] is True and report["events"] == 1
    assert cli("search", TOKEN, "--json").stdout.strip() == "[]"
    # and after opening and closing again (WAL/SHM recreated), still nothing
    assert all(not hits for hits in _scan(mirror_home).values())

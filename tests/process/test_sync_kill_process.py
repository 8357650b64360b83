"""`mirror sync` killed with SIGKILL at each step of a sync (MIRROR_TEST_FAULT) and at random moments of a
big one, then run again: the devices converge, nothing stays staged, no segment is written twice, no temp
file stays in the folder, the audit chains verify (SYNC.md, "Crashes and resumption")."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import pytest

from sync_homes import Home, converged, segments, temps, write_import_file

pytestmark = pytest.mark.process


@pytest.fixture
def pair(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    a = Home(tmp_path, "a", shared, keyring=True)
    b = Home(tmp_path, "b", shared, keyring=True)
    a.add_remote("--label", "laptop")
    b.add_remote("--label", "desktop")
    a.sync()  # each device's KEK is cached from here on
    b.sync()
    return a, b


def killed(home: Home, point: str) -> None:
    r = home.run("sync", env={"MIRROR_TEST_FAULT": point})
    assert r.returncode == -signal.SIGKILL, (point, r.returncode, r.stdout, r.stderr)


def test_sigkill_at_each_step_then_the_next_sync_finishes_the_work(pair):
    a, b = pair
    # before-upload: staged locally, nothing on the remote yet
    a.reflect("one before the upload")
    seen = set(segments(a.shared))
    killed(a, "before-upload")
    assert a.sql("SELECT staged IS NOT NULL FROM sync_self") == [(1,)]
    assert set(segments(a.shared)) == seen
    a.sync()
    a.settled()
    assert len(segments(a.shared)) == len(seen) + 1

    # after-segment: the segment is there, the head still points before it
    a.reflect("one after the segment")
    seq = a.own_seq()
    killed(a, "after-segment")
    assert len(segments(a.shared)) == a.own_seq() + b.own_seq() + 1 and a.own_seq() == seq
    b.sync()  # a reader meanwhile sees the old head and ignores the unreferenced segment
    a.sync()  # the same bytes again under the same name: accepted, then the head
    a.settled()
    assert a.own_seq() == seq + 1

    # after-head: the remote has the new head, the local commit did not happen
    a.reflect("one after the head")
    killed(a, "after-head")
    assert a.sql("SELECT staged IS NOT NULL FROM sync_self") == [(1,)]
    b.sync()  # b already takes it
    a.sync()  # a recognises its own staged head and commits
    a.settled()

    # mid-pull: killed after the first of two segments was merged
    b.reflect("b's first of two")
    b.sync()
    b.reflect("b's second of two")
    b.sync()
    killed(a, "mid-pull")
    b_dev = b.sql("SELECT dev FROM sync_self")[0][0]
    assert a.sql("SELECT applied FROM sync_peers WHERE dev = ?", b_dev) == [(b.own_seq() - 1,)]
    assert "b's second of two" not in {e["content"] for e in a.reflections()}
    a.sync()
    b.sync()
    # what a writer killed inside a write leaves: a temp file; a pushing run removes it once it is old
    # enough not to be another device's upload in flight
    stale, fresh = a.shared / "s" / ".~mirror-00aa11bb22cc33dd.tmp", a.shared / "h" / ".~mirror-44ee55ff66aa77bb.tmp"
    for p in (stale, fresh):
        p.write_bytes(os.urandom(4096))
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    a.reflect("one more, so that a pushes")
    a.sync()
    assert temps(a.shared) == ["h/" + fresh.name]
    fresh.unlink()
    b.sync()
    entries = converged(a, b)
    assert {"one before the upload", "one after the segment", "one after the head", "b's first of two",
            "b's second of two"} <= {e["content"] for e in entries}
    assert temps(a.shared) == []


def _sync_killed_after(home: Home, delay: float) -> int | None:
    proc = subprocess.Popen(home.argv("sync"), env=home.child_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    return proc.wait()


@pytest.mark.slow
def test_sigkill_at_random_moments_of_a_big_sync_then_it_converges(pair, tmp_path):
    a, b = pair
    rng = random.Random(13)
    b.ok("import", write_import_file(tmp_path / "b.json", 2000, "BBB"), "--yes")
    t0 = time.monotonic()
    b.sync()  # pushes 2000: how long a big sync takes here, to spread the kills over a's
    span = time.monotonic() - t0
    a.ok("import", write_import_file(tmp_path / "a.json", 2000, "AAA"), "--yes")
    finished = 0
    for trial in range(10):  # a's syncs pull b's 2000 and push its own 2000
        code = _sync_killed_after(a, rng.uniform(0.2, 1.6 * span))
        if code == 0:
            finished += 1
            a.reflect(f"more after run {trial}")  # so the next run has something to push again
        else:
            assert code == -signal.SIGKILL, (trial, code)
        assert len(set(segments(a.shared))) == len(segments(a.shared))
    left = temps(a.shared)
    for p in a.shared.rglob(".~mirror-*"):  # temps of killed writers, aged past the sweep's grace
        os.utime(p, (time.time() - 3600, time.time() - 3600))
    a.reflect("the last one")
    a.sync()
    b.sync()
    a.sync()
    entries = converged(a, b)
    assert len(entries) == 4000 + finished + 1
    assert temps(a.shared) == [], left

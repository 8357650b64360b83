"""Patterns and tensions across devices: recomputed after a pull by default, and with
`mirror sync --only patterns,tensions` synced by natural keys, never duplicated (SYNC.md "Kinds")."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from sync_helpers import SYNC_ENV, cheap_sync_kdf, shared  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("cheap_sync_kdf")

PASS = SYNC_ENV
ONLY = ("--only", "patterns,tensions")
ANXIOUS = ["I feel anxious about work deadlines again", "anxious and tired, work is too much",
           "I want freedom but I need security"]


def home(tmp_path, name, **extra):
    return {"MIRROR_HOME": str(tmp_path / name), **PASS, **extra}


def ok(r):
    assert r.exit_code == 0, r.stderr
    return r


def patterns(cli, env):
    return sorted((p["pattern_type"], p["name"], p["confidence"], p["support"], p["first_seen"], p["last_seen"])
                  for p in json.loads(ok(cli("patterns", "list", "--json", env=env)).stdout))


def tensions(cli, env):
    return sorted((t["name"], t["position"], t["intensity"], t["count"], t["first_seen"], t["last_seen"])
                  for t in json.loads(ok(cli("tensions", "list", "--json", env=env)).stdout))


def rows(env, table):
    db = sqlite3.connect(Path(env["MIRROR_HOME"]) / "mirror.db")
    try:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
    finally:
        db.close()


def events(cli, env):
    return [e["event_type"] for e in json.loads(ok(cli("audit", "log", "--json", env=env)).stdout)]


def two(cli, tmp_path, shared, *, analyse_a=True):
    a, b = home(tmp_path, "a"), home(tmp_path, "b")
    for text in ANXIOUS:
        ok(cli("reflect", text, env=a))
    if analyse_a:
        ok(cli("patterns", "analyze", env=a))
    ok(cli("remote", "add", "home", str(shared), env=a))
    ok(cli("remote", "add", "home", str(shared), env=b))
    return a, b


def test_a_pull_that_changes_reflections_brings_an_analysed_journal_up_to_date(cli, shared, tmp_path):
    a, b = two(cli, tmp_path, shared)
    ok(cli("sync", env=a))
    ok(cli("sync", env=b))
    assert patterns(cli, b) == [], "b never analysed: a sync does not start it"
    assert "patterns.analyzed" not in events(cli, b)
    ok(cli("reflect", "so anxious today at work", env=b))
    ok(cli("sync", env=b))
    before = patterns(cli, a)
    report = json.loads(ok(cli("sync", "--json", env=a)).stdout)
    assert report["pulled"] == {"reflections": 1} and report["pushed"] == {"reflections": 0}
    after = patterns(cli, a)
    assert dict(((t, n), s) for t, n, _c, s, *_ in after)[("emotion", "anxiety")] == 3
    assert after != before
    status = cli("patterns", "list", env=a)
    assert "changed since the last analysis" not in status.stderr
    assert events(cli, a)[:2] == ["patterns.analyzed", "sync"], "newest first: the sync, then its analysis"
    # nothing of them left: the remote never got a pattern (b has no patterns at all)
    assert patterns(cli, b) == [] and rows(b, "patterns") == 0


def test_only_patterns_tensions_travel_by_natural_key_and_converge(cli, shared, tmp_path):
    a, b = two(cli, tmp_path, shared)
    r = ok(cli("sync", *ONLY, "--json", env=a))
    report = json.loads(r.stdout)
    assert report["pushed"]["reflections"] == 3 and report["pushed"]["patterns"] >= 2 and report["pushed"]["tensions"] >= 1
    r = ok(cli("sync", env=b))  # b receives them without asking for them: they are in the segments
    assert "patterns" in r.stdout and "tensions" in r.stdout
    assert patterns(cli, b) == patterns(cli, a) and tensions(cli, b) == tensions(cli, a)
    # b analyses the same reflections itself: same natural keys, so no second row and nothing to send
    ok(cli("patterns", "analyze", env=b))
    assert patterns(cli, b) == patterns(cli, a)
    report = json.loads(ok(cli("sync", *ONLY, "--json", env=b)).stdout)
    assert report["pushed"] == {"reflections": 0}, "equal analyses are not sent again"
    n_a, n_b = rows(a, "patterns"), rows(b, "patterns")
    # b writes more and analyses; a takes b's totals, and its own recomputation agrees with them
    ok(cli("reflect", "so anxious today at work", env=b))
    ok(cli("patterns", "analyze", env=b))
    report = json.loads(ok(cli("sync", *ONLY, "--json", env=b)).stdout)
    assert report["pushed"]["reflections"] == 1 and report["pushed"]["patterns"] >= 1
    ok(cli("sync", *ONLY, env=a))
    for _ in range(2):
        quiet_a = json.loads(ok(cli("sync", *ONLY, "--json", env=a)).stdout)
        quiet_b = json.loads(ok(cli("sync", *ONLY, "--json", env=b)).stdout)
    assert quiet_a["pushed"] == {"reflections": 0} == quiet_b["pushed"], "settled: nobody sends again"
    assert patterns(cli, a) == patterns(cli, b) and tensions(cli, a) == tensions(cli, b)
    assert dict(((t, n), s) for t, n, _c, s, *_ in patterns(cli, a))[("emotion", "anxiety")] == 3
    assert (rows(a, "patterns"), rows(b, "patterns")) == (n_a, n_b), "never duplicated"
    ok(cli("audit", "verify", env=a))
    ok(cli("audit", "verify", env=b))


def test_a_pattern_gone_on_one_device_goes_everywhere(cli, shared, tmp_path):
    a, b = two(cli, tmp_path, shared)
    ok(cli("sync", *ONLY, env=a))
    ok(cli("sync", env=b))
    assert ("emotion", "anxiety") in {(t, n) for t, n, *_ in patterns(cli, b)}
    ids = [x["id"] for x in json.loads(ok(cli("list", "--json", env=a)).stdout) if "anxious" in x["content"]]
    ok(cli("delete", *ids, "--yes", env=a))
    ok(cli("patterns", "analyze", env=a))
    report = json.loads(ok(cli("sync", *ONLY, "--json", env=a)).stdout)
    assert report["pushed"]["reflections"] == 2 and report["pushed"]["patterns"] >= 1
    report = json.loads(ok(cli("sync", "--json", env=b)).stdout)
    assert report["deleted"]["reflections"] == 2 and report["deleted"].get("patterns", 0) >= 1
    assert ("emotion", "anxiety") not in {(t, n) for t, n, *_ in patterns(cli, b)}
    assert patterns(cli, b) == patterns(cli, a)


def test_local_only_reflections_keep_patterns_home(cli, shared, tmp_path):
    a, b = two(cli, tmp_path, shared)
    ok(cli("reflect", "a secret anxious thought", "--local-only", env=a))
    ok(cli("patterns", "analyze", env=a))
    ok(cli("sync", env=a))
    listing = sorted(p.name for p in shared.rglob("*"))
    r = cli("sync", *ONLY, env=a)
    assert r.exit_code == 2 and "local-only" in r.stderr
    assert sorted(p.name for p in shared.rglob("*")) == listing, "nothing was sent"
    ok(cli("sync", env=b))
    assert rows(b, "patterns") == 0 and rows(b, "tensions") == 0


def test_an_encrypted_journal_keeps_synced_pattern_names_sealed(cli, shared, tmp_path):
    key = {"MIRROR_PASSPHRASE": "the journal's own passphrase 9"}
    a, b = home(tmp_path, "a", **key), home(tmp_path, "b", **key)
    for text in ANXIOUS:
        ok(cli("reflect", text, env=a))
    ok(cli("remote", "add", "home", str(shared), env=a))
    ok(cli("remote", "add", "home", str(shared), env=b))
    for env in (a, b):
        ok(cli("key", "enable", env=env))
    ok(cli("patterns", "analyze", env=a))
    ok(cli("sync", *ONLY, env=a))
    ok(cli("sync", env=b))
    assert patterns(cli, b) == patterns(cli, a) != []
    for env in (a, b):
        raw = b"".join(p.read_bytes() for p in Path(env["MIRROR_HOME"]).glob("mirror.db*"))
        assert b"anxiety" not in raw and b"Stability vs Change" not in raw
    remote = b"".join(p.read_bytes() for p in shared.rglob("*") if p.is_file())
    assert b"anxiety" not in remote and b"Stability" not in remote


def test_a_checkpoint_carries_them_to_a_device_that_joins_later(cli, shared, tmp_path):
    a, _b = two(cli, tmp_path, shared)
    ok(cli("sync", *ONLY, "--compact", env=a))
    for seg in (shared / "s").iterdir():  # only the checkpoint can tell the newcomer now
        seg.unlink()
    c = home(tmp_path, "c")
    ok(cli("remote", "add", "home", str(shared), env=c))
    ok(cli("sync", env=c))
    assert patterns(cli, c) == patterns(cli, a) != [] and tensions(cli, c) == tensions(cli, a)


def test_key_enable_seals_the_natural_keys_synced_before(cli, shared, tmp_path):
    a, b = two(cli, tmp_path, shared)
    ok(cli("sync", *ONLY, env=a))
    ok(cli("sync", env=b))
    key = {"MIRROR_PASSPHRASE": "the journal's own passphrase 9"}
    for env in (a, b):
        assert rows(env, "sync_derived") >= 3
        ok(cli("key", "enable", env={**env, **key}))
        raw = b"".join(p.read_bytes() for p in Path(env["MIRROR_HOME"]).glob("mirror.db*"))
        assert b"anxiety" not in raw and b"Stability vs Change" not in raw
    ok(cli("patterns", "analyze", env={**b, **key}))
    report = json.loads(ok(cli("sync", *ONLY, "--json", env={**b, **key})).stdout)
    assert report["pushed"].get("patterns", 0) >= 2, "a new digest key: every value is stamped anew"
    ok(cli("sync", env={**a, **key}))
    assert patterns(cli, {**a, **key}) == patterns(cli, {**b, **key})

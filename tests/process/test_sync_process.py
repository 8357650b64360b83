"""`mirror sync` as real processes on two or three MIRROR_HOMEs sharing one folder remote (SYNC.md,
"What proves it right"): the happy path and its JSON, conflicts, two syncs at once, an emptied remote.

Kills are in test_sync_kill_process.py; keys, secrets and the plaintext scan in test_sync_keys_process.py.
"""

from __future__ import annotations

import json
import subprocess
import shutil

import pytest

from sync_homes import Home, converged, segments, snapshot

pytestmark = pytest.mark.process

SYNC_KEYS = {"remote", "direction", "dry_run", "pulled", "pushed", "deleted", "conflicts", "incomplete", "devices",
             "bytes_up", "bytes_down"}


@pytest.fixture
def pair(tmp_path):
    """Devices a (laptop) and b (desktop) on one shared folder, each with a keyring, nothing synced yet."""
    shared = tmp_path / "shared"
    shared.mkdir()
    a = Home(tmp_path, "a", shared, keyring=True)
    b = Home(tmp_path, "b", shared, keyring=True)
    a.add_remote("--label", "laptop")
    b.add_remote("--label", "desktop")
    return a, b


def test_two_devices_write_sync_twice_and_agree(pair):
    a, b = pair
    ids = [a.reflect("a morning by the river #walks"), a.reflect("second from a", "--mode", "POST_ACTION"),
           b.reflect("an evening note from b", "--tag", "home")]
    # the first sync of each device, then each once more: everything went everywhere
    r = a.sync("--json")
    report = json.loads(r.stdout)  # one JSON object, nothing else on stdout
    assert isinstance(report, dict) and SYNC_KEYS <= set(report), report
    assert report["remote"] == "home" and report["direction"] == "both" and report["dry_run"] is False
    assert report["pushed"] == {"reflections": 2} and report["pulled"] == {"reflections": 0}
    assert report["conflicts"] == [] and report["incomplete"] is False and report["bytes_up"] > 0
    r = b.sync()
    assert r.stdout.strip() == "Synced with home: 2 in, 1 out, 0 deleted.", r.stdout
    assert r.stderr == ""
    assert a.sync().stdout.strip() == "Synced with home: 1 in, 0 out, 0 deleted."
    report = json.loads(b.sync("--json").stdout)
    assert report["pulled"] == report["pushed"] == report["deleted"] == {"reflections": 0}
    assert sorted(d["label"] for d in report["devices"]) == ["desktop", "laptop"]
    assert all(set(d) >= {"label", "last_seen", "stale", "revoked"} for d in report["devices"])
    found = converged(a, b)
    assert sorted(e["id"] for e in found) == sorted(ids)


def test_a_field_edited_on_both_keeps_one_value_and_the_other_as_a_conflict_on_both(pair):
    a, b = pair
    rid = a.reflect("the first draft")
    a.sync()
    b.sync()
    # both edit the same entry offline
    a.ok("edit", rid, "written on the laptop")
    b.ok("edit", rid, "written on the desktop")
    a.sync()
    report = json.loads(b.sync("--json").stdout)  # local-wins: b keeps its text, a's is a revision
    assert [(c["id"], c["field"]) for c in report["conflicts"]] == [(rid, "content")], report
    assert b.sync().returncode == 0
    a.sync()
    entries = converged(a, b)
    assert [e["content"] for e in entries] == ["written on the desktop"]
    for h in (a, b):
        listed = json.loads(h.ok("conflicts", "--json").stdout)
        assert [(c["kind"], c["field"], c["kept"], c["other"]) for c in listed] == \
            [("reflection", "content", "written on the desktop", "written on the laptop")], (h.name, listed)
        assert {"id", "kind", "field", "kept", "other", "other_device", "detected_at"} <= set(listed[0])
    # a picks the other value: a new edit, which wins everywhere
    cid = json.loads(a.ok("conflicts", "--json").stdout)[0]["id"]
    a.ok("conflicts", "resolve", str(cid), "--keep", "other")
    assert json.loads(a.ok("conflicts", "--json").stdout) == []
    a.sync()
    b.sync()
    entries = converged(a, b)
    assert [e["content"] for e in entries] == ["written on the laptop"]


def test_two_syncs_at_once_on_one_device_never_write_two_segments_with_one_seq(pair):
    a, b = pair
    for i in range(3):
        a.reflect(f"entry {i} before the race")
    outcomes = []
    for round_ in range(2):
        a.reflect(f"entry written in round {round_}")
        procs = [subprocess.Popen(a.argv("sync"), env=a.child_env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        for p in procs:
            out, err = p.communicate(timeout=120)
            outcomes.append((p.returncode, err))
            assert p.returncode in (0, 1), (p.returncode, out, err)
            if p.returncode == 1:
                assert "lock was not obtained" in err, err
        assert any(code == 0 for code, _ in outcomes[-2:]), outcomes
    b.sync()  # b verifies a's whole chain: one segment per seq, each linked to the one before
    a.sync()
    converged(a, b)
    assert len(segments(a.shared)) == a.own_seq() + b.own_seq()


def test_an_emptied_remote_stops_sync_and_deletes_nothing_then_rejoin_uploads(pair, tmp_path):
    a, b = pair
    for i in range(3):
        a.reflect(f"kept {i}")
    b.reflect("kept on b")
    a.sync()
    b.sync()
    a.sync()
    before = converged(a, b)
    for p in a.shared.iterdir():  # rm -rf shared/*
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    r = a.run("sync")
    assert r.returncode == 1 and r.stdout == "" and "empty" in r.stderr, (r.returncode, r.stderr)
    assert a.reflections() == before
    a.ok("sync", "--rejoin")
    assert a.reflections() == before
    assert len(segments(a.shared)) >= 1 and snapshot(a.shared)
    # b still knows the old remote id: the remote was replaced, b stops and keeps everything
    r = b.run("sync")
    assert r.returncode in (1, 3) and r.stdout == "", (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and r.stderr.strip()
    assert b.reflections() == before
    b.audit_ok()
    # a second device joining the re-uploaded remote gets everything back
    c = Home(tmp_path, "c", a.shared, keyring=True)
    c.add_remote()
    c.sync()
    assert c.reflections() == before


def test_patterns_travel_with_only_and_are_recomputed_otherwise(pair):
    a, b = pair
    for text in ("I feel anxious about work deadlines again", "anxious and tired, work is too much"):
        a.reflect(text)
    a.ok("patterns", "analyze")
    report = json.loads(a.sync("--only", "patterns,tensions", "--json").stdout)
    assert report["pushed"]["reflections"] == 2 and report["pushed"]["patterns"] >= 2
    r = b.sync()
    assert "patterns" in r.stdout, r.stdout
    listed = [json.loads(h.ok("patterns", "list", "--json").stdout) for h in (a, b)]
    assert [(p["pattern_type"], p["name"], p["support"]) for p in listed[0]] == \
        [(p["pattern_type"], p["name"], p["support"]) for p in listed[1]] != []
    # b writes another; a (analysed before) is brought up to date by its plain sync, by itself
    b.reflect("so anxious today at work")
    b.sync()
    a.sync()
    support = {p["name"]: p["support"] for p in json.loads(a.ok("patterns", "list", "--json").stdout)}
    assert support["anxiety"] == 3

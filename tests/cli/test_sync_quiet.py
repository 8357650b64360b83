"""A sync with nothing to do anywhere is decided from one listing, without the key (sync/quiet.py);
anything new anywhere runs the full sync."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sync_helpers import SYNC_ENV, cheap_sync_kdf, shared  # noqa: F401 (fixtures)
from mirror_cli.sync import access

pytestmark = pytest.mark.usefixtures("cheap_sync_kdf")

PASS = SYNC_ENV


def ok(r):
    assert r.exit_code == 0, r.stderr
    return r


@pytest.fixture
def pair(cli, shared, tmp_path):
    a, b = ({"MIRROR_HOME": str(tmp_path / n), **PASS} for n in ("a", "b"))
    ok(cli("reflect", "from a", env=a))
    for env in (a, b):
        ok(cli("remote", "add", "home", str(shared), env=env))
    for env in (a, b) * 3:  # settled: each device's last sync found nothing to do
        ok(cli("sync", env=env))
    return a, b


def no_key(monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("the key was opened")
    monkeypatch.setattr(access, "open_key", refuse)


def test_nothing_new_anywhere_needs_one_listing_and_no_key(cli, pair, monkeypatch):
    a, b = pair
    before = json.loads(ok(cli("remote", "list", "--json", env=a)).stdout)[0]["last_sync"]
    no_key(monkeypatch)
    report = json.loads(ok(cli("sync", "--json", env=a)).stdout)
    assert report["pulled"] == report["pushed"] == report["deleted"] == {"reflections": 0}
    assert len(report["devices"]) == 2 and report["incomplete"] is False
    assert [d for d in report["devices"] if d["this_device"]] != []
    assert json.loads(ok(cli("remote", "list", "--json", env=a)).stdout)[0]["last_sync"] > before
    dry = json.loads(ok(cli("sync", "--dry-run", "--json", env=a)).stdout)
    assert dry["dry_run"] is True and dry["pushed"] == {"reflections": 0}


@pytest.mark.parametrize("change", ["local", "peer", "tamper", "compact", "only"])
def test_anything_new_runs_the_full_sync(cli, pair, shared, monkeypatch, change):
    a, b = pair
    if change == "local":
        ok(cli("reflect", "new here", env=a))
    elif change == "peer":
        ok(cli("reflect", "new there", env=b))
        ok(cli("sync", env=b))
    elif change == "tamper":
        head = sorted((shared / "h").iterdir())[0]
        data = bytearray(head.read_bytes())
        data[-1] ^= 1
        head.write_bytes(bytes(data))
    calls = []
    real = access.open_key
    monkeypatch.setattr(access, "open_key", lambda *a_, **k: calls.append(1) or real(*a_, **k))
    extra = {"compact": ["--compact"], "only": ["--only", "patterns"]}.get(change, [])
    r = cli("sync", *extra, "--json", env=a)
    assert calls, "the full sync ran"
    if change == "tamper":
        assert r.exit_code == 3
        return
    report = json.loads(ok(r).stdout)
    if change == "local":
        assert report["pushed"]["reflections"] == 1
    if change == "peer":
        assert report["pulled"]["reflections"] == 1


def test_delete_all_forgets_it(cli, pair, shared, tmp_path):
    a, _b = pair
    ok(cli("delete", "--all", "--yes", "--remote", "keep", "--backups", "keep", env=a))
    db = Path(a["MIRROR_HOME"]) / "mirror.db"
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM meta WHERE key LIKE 'sync_quiet:%'").fetchone()[0] == 0
    finally:
        conn.close()


@pytest.mark.process
def test_a_quiet_sync_loads_neither_keyring_nor_cryptography(tmp_path, shared):
    env = {**os.environ, "MIRROR_HOME": str(tmp_path / "p"), **PASS}  # conftest's keyring stand-in stays

    def mirror(*args):
        return subprocess.run([sys.executable, "-m", "mirror_cli", *args], env=env, capture_output=True, text=True,
                              timeout=120)

    assert mirror("reflect", "hello").returncode == 0
    assert mirror("remote", "add", "home", str(shared)).returncode == 0
    for _ in range(2):
        r = mirror("sync")
        assert r.returncode == 0, r.stderr
    probe = ("import json, runpy, sys\nsys.argv = ['mirror', 'sync', '-q']\n"
             "try:\n    runpy.run_module('mirror_cli', run_name='__main__')\nexcept SystemExit as e:\n    code = e.code\n"
             "sys.stderr.write(json.dumps({'code': code, 'mods': sorted(sys.modules)}))\n")
    env.pop("MIRROR_SYNC_PASSPHRASE")  # nothing to do: no key is needed either
    r = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    out = json.loads(r.stderr.strip().splitlines()[-1])
    assert out["code"] in (0, None)
    heavy = [m for m in out["mods"] if m.split(".")[0] in ("keyring", "cryptography", "boto3", "psycopg")
             or m in ("mirror_cli.sync.engine", "mirror_cli.sync.local")]
    assert heavy == []

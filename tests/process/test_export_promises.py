"""Promises of issue 12 about `mirror export`, run as real `mirror` processes."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import MIRROR, cheap
from mirror_cli.crypto import manage as keyops
from mirror_cli.db.store import Store
from mirror_cli.journal import reflections as journal

pytestmark = pytest.mark.process

PW = "correct horse battery staple"
MARKER = "plaintext-marker-wombat"


def _temps(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))


# -- item 9: a killed `export -o FILE` leaves a temp that the next export removes -------------------

def test_a_temp_left_by_a_killed_export_is_removed_by_the_next_export(mirror_home, run_mirror, tmp_path):
    rng = random.Random(9)
    alphabet = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    with Store.open(mirror_home / "mirror.db") as s:
        with s.write():
            rev = s.tick()
            for i in range(4000):  # a few MB of export: its writing takes long enough to be killed mid-way
                text = f"{MARKER} {i} " + "".join(rng.choices(alphabet, k=800))
                journal.insert_row(s, journal.Reflection(id=f"r{i:06d}", created_at="2024-01-01T00:00:00.000Z",
                                                         updated_at="2024-01-01T00:00:00.000Z", content=text), rev)
        keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap(), force=True)
    out = tmp_path / "exports"
    out.mkdir()
    env = dict(os.environ, MIRROR_PASSPHRASE=PW)

    proc = subprocess.Popen([*MIRROR, "export", "-o", str(out / "journal.json")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:  # mid-way: some of it written, not all
            temps = _temps(out)
            with contextlib.suppress(FileNotFoundError):  # renamed meanwhile: the export finished (asserted below)
                if temps and temps[0].stat().st_size > 0:
                    break
            time.sleep(0.0005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, "the export finished before it could be killed"
    left = _temps(out)
    assert len(left) == 1 and not (out / "journal.json").exists()
    assert left[0].stat().st_mode & 0o777 == 0o600  # the one thing that guarded it until now
    assert MARKER.encode() in left[0].read_bytes()  # what was at stake: plaintext of an encrypted journal

    # A fresh temp is left alone (its writer might still be finishing); one older than a few minutes,
    # whose writer is gone, is removed by the next export into the same folder.
    r = run_mirror("export", "-o", out / "other.json", env={"MIRROR_PASSPHRASE": PW})
    assert r.returncode == 0, r.stderr
    assert _temps(out) == left
    old = time.time() - 3600
    os.utime(left[0], (old, old))
    r = run_mirror("export", "-o", out / "journal.json", env={"MIRROR_PASSPHRASE": PW})
    assert r.returncode == 0, r.stderr
    assert _temps(out) == []
    assert sorted(p.name for p in out.iterdir()) == ["journal.json", "other.json"]

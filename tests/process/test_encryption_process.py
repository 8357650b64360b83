"""An encrypted journal used from cron: a real process reading MIRROR_PASSPHRASE_FILE."""

from __future__ import annotations

import json
import os

import pytest

from helpers import cheap
from mirror_cli.crypto import manage as keyops
from mirror_cli.db.store import Store

PW = "lighthouse keeper 42"

pytestmark = pytest.mark.process


@pytest.fixture
def ids(cli, mirror_home):
    """Two reflections, then the journal encrypted with PW (as tests/cli/test_encrypted_journal.py's `ids`)."""
    a = cli("reflect", "alpha by the sea #walk").stdout.strip()
    b = cli("reflect", "beta in the city", "-t", "work").stdout.strip()
    with Store.open(mirror_home / "mirror.db") as s:
        keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
    return a, b


def test_cron_style_subprocess_with_passphrase_file(run_mirror, ids, tmp_path):
    f = tmp_path / "pass"
    f.write_text(PW + "\n")
    os.chmod(f, 0o600)
    env = {"MIRROR_PASSPHRASE_FILE": str(f)}
    r = run_mirror("reflect", "from cron", env=env)
    assert r.returncode == 0, r.stderr
    r = run_mirror("list", "--json", env=env)
    assert r.returncode == 0 and len(json.loads(r.stdout)) == 3
    r = run_mirror("list", env={"MIRROR_PASSPHRASE": "nope"})
    assert r.returncode == 4 and "Traceback" not in r.stderr

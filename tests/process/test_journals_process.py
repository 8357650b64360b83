"""Two named journals with different passphrases are independent (CONTRACT.md, "Named journals"): each has its
own file, key, cached key, backups and audit chain, run through real `mirror` processes sharing one keyring."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.process

TESTS = Path(__file__).resolve().parents[1]
PW = {"work": "work words Quokka-7 ferry", "home": "home words Narwhal-3 attic"}


@pytest.fixture
def env(tmp_path, mirror_home):
    """A file keyring that outlives each process (as an OS keyring does)."""
    return {"PYTHON_KEYRING_BACKEND": "keyring_backends.FileKeyring",
            "MIRROR_TEST_KEYRING_FILE": str(tmp_path / "keyring.json"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}


def test_two_journals_with_their_own_passphrases_are_independent(run_mirror, env, mirror_home, tmp_path):
    def ok(*args, **extra):
        r = run_mirror(*args, env={**env, **extra})
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        assert not any(pw in r.stdout + r.stderr for pw in PW.values())
        return r

    ids = {}
    for name in PW:
        ids[name] = ok("-j", name, "reflect", f"a {name} thought").stdout.strip()
        ok("-j", name, "key", "enable", MIRROR_NEW_PASSPHRASE=PW[name])
    ok("-j", "work", "reflect", "a second work thought")

    keyring = json.loads(Path(env["MIRROR_TEST_KEYRING_FILE"]).read_text())
    assert len(keyring) == 2  # one cached key per journal, neither overwrote the other

    # Each opens from its own cached key; neither sees the other's reflections.
    listed = {name: [r["id"] for r in json.loads(ok("-j", name, "list", "--json").stdout)] for name in PW}
    assert ids["home"] in listed["home"] and ids["home"] not in listed["work"]
    assert ids["work"] in listed["work"] and len(listed["work"]) == 2 and len(listed["home"]) == 1

    # Forgetting one journal's key leaves the other unlocked; the passphrase of one does not open the other.
    ok("-j", "work", "key", "lock")
    assert ok("-j", "home", "list", "--json").stdout.count('"id"') == 1
    no_key = {**env, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    wrong = run_mirror("-j", "work", "list", env={**no_key, "MIRROR_PASSPHRASE": PW["home"]})
    assert wrong.returncode == 4, wrong.stderr
    ok("-j", "work", "list", MIRROR_PASSPHRASE=PW["work"])

    # Backups and audit chains are per journal: pruning one journal's backups leaves the other's alone.
    for name in PW:
        ok("-j", name, "backup", "create", MIRROR_PASSPHRASE=PW[name])
    backups = {name: json.loads(ok("-j", name, "backup", "list", "--json").stdout) for name in PW}
    assert all(len(b) == 1 for b in backups.values())
    assert backups["work"][0]["path"] != backups["home"][0]["path"]
    ok("-j", "home", "backup", "prune", "--keep-last", "1", MIRROR_PASSPHRASE=PW["home"])
    ok("-j", "work", "delete", "--all", "--yes", "--backups", "delete", MIRROR_PASSPHRASE=PW["work"])
    assert Path(backups["home"][0]["path"]).exists() and not Path(backups["work"][0]["path"]).exists()
    for name in PW:
        assert json.loads(ok("-j", name, "audit", "verify", "--json", MIRROR_PASSPHRASE=PW[name]).stdout)["ok"]
    assert len(json.loads(ok("-j", "home", "list", "--json", MIRROR_PASSPHRASE=PW["home"]).stdout)) == 1

    journals = {j["name"]: j for j in json.loads(ok("journals", "--json").stdout)}
    assert journals["work"]["encrypted"] and journals["home"]["encrypted"]
    assert (journals["work"]["reflections"], journals["home"]["reflections"]) == (0, 1)
    assert journals["default"]["exists"] is False and not (mirror_home / "mirror.db").exists()

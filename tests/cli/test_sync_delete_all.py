"""`mirror delete --all` on a journal that syncs: `--remote wipe|keep` (CONTRACT.md, "Sync")."""

from __future__ import annotations

import json

import pytest

from sync_helpers import SYNC_ENV, cheap_sync_kdf  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("cheap_sync_kdf")

PASS = SYNC_ENV


@pytest.fixture
def two(cli, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    a = {"MIRROR_HOME": str(tmp_path / "a"), **PASS}
    b = {"MIRROR_HOME": str(tmp_path / "b"), **PASS}
    cli("reflect", "written on the laptop", env=a)
    cli("remote", "add", "home", str(shared), env=a)
    cli("sync", env=a)
    cli("remote", "add", "home", str(shared), env=b)
    cli("sync", env=b)
    return a, b, shared


def files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_without_remote_a_script_is_told_to_choose_and_nothing_is_deleted(cli, two):
    a, b, shared = two
    before = files(shared)
    r = cli("delete", "--all", "--yes", env=a)
    assert r.exit_code == 2 and "--remote" in r.stderr and r.stdout == ""
    assert len(json.loads(cli("list", "--json", env=a).stdout)) == 1
    assert files(shared) == before


def test_remote_wipe_empties_the_remote_and_the_other_device_keeps_its_entries(cli, two):
    a, b, shared = two
    r = cli("delete", "--all", "--yes", "--remote", "wipe", "--json", env=a)
    assert r.exit_code == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["remotes"]["action"] == "wipe" and result["remotes"]["objects_deleted"] > 0
    assert files(shared) == []
    assert json.loads(cli("list", "--json", env=a).stdout) == []
    r = cli("sync", env=b)
    assert r.exit_code == 1
    assert len(json.loads(cli("list", "--json", env=b).stdout)) == 1


def test_remote_keep_pauses_it_so_the_next_sync_does_not_download_everything_back(cli, two):
    a, b, shared = two
    r = cli("delete", "--all", "--yes", "--remote", "keep", env=a)
    assert r.exit_code == 0, r.stderr
    assert "paused" in r.stdout
    assert json.loads(cli("remote", "list", "--json", env=a).stdout)[0]["paused"] is True
    r = cli("sync", "home", env=a)
    assert r.exit_code == 1 and "paused" in r.stderr
    assert json.loads(cli("list", "--json", env=a).stdout) == []
    r = cli("sync", env=a)  # every remote: the paused one is skipped... none left to sync
    assert json.loads(cli("list", "--json", env=a).stdout) == []
    r = cli("sync", "home", "--rejoin", env=a)
    assert r.exit_code == 0, r.stderr
    assert len(json.loads(cli("list", "--json", env=a).stdout)) == 1


def test_a_wrong_remote_value_is_a_usage_error(cli, two):
    a, _, _ = two
    assert cli("delete", "--all", "--yes", "--remote", "maybe", env=a).exit_code == 2
    assert cli("delete", "x" * 26, "--remote", "wipe", env=a).exit_code == 2

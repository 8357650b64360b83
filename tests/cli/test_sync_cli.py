"""`mirror remote`, `mirror sync`, `mirror conflicts` in-process: output shapes and errors."""

from __future__ import annotations

import json

import pytest

from sync_helpers import SYNC_ENV, cheap_sync_kdf, shared  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("cheap_sync_kdf")

PASS = SYNC_ENV


def homes(tmp_path, name):
    return {"MIRROR_HOME": str(tmp_path / name), **PASS}


def test_remote_add_sync_and_list_as_json(cli, shared, tmp_path):
    a = homes(tmp_path, "a")
    assert cli("reflect", "hello #there", env=a).exit_code == 0
    r = cli("remote", "add", "home", str(shared), "--label", "laptop", "--json", env=a)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == {"name": "home", "url": str(shared), "remote": "set up"}
    r = cli("sync", "--json", env=a)
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)
    for key in ("remote", "direction", "dry_run", "pulled", "pushed", "deleted", "conflicts", "incomplete",
                "devices", "bytes_up", "bytes_down"):
        assert key in report
    assert report["pushed"] == {"reflections": 1} and report["direction"] == "both"
    listing = json.loads(cli("remote", "list", "--json", env=a).stdout)
    assert listing[0]["name"] == "home" and listing[0]["last_sync"]
    assert set(listing[0]) >= {"name", "url", "devices", "last_sync"}


def test_two_devices_and_a_conflict_through_the_cli(cli, shared, tmp_path):
    a, b = homes(tmp_path, "a"), homes(tmp_path, "b")
    rid = cli("reflect", "base", env=a).stdout.strip()
    cli("remote", "add", "home", str(shared), env=a)
    cli("sync", env=a)
    cli("remote", "add", "home", str(shared), env=b)
    r = cli("sync", env=b)
    assert r.exit_code == 0 and "1 in" in r.stdout
    cli("edit", rid, "laptop words", env=a)
    cli("edit", rid, "desktop words", env=b)
    cli("sync", env=a)
    r = cli("sync", env=b)
    assert "conflict" in r.stdout
    cli("sync", env=a)
    rows = json.loads(cli("conflicts", "--json", env=b).stdout)
    assert [(c["record_id"], c["field"], c["kept"], c["other"]) for c in rows] == [
        (rid, "content", "desktop words", "laptop words")]
    r = cli("conflicts", "resolve", str(rows[0]["id"]), "--keep", "other", env=b)
    assert r.exit_code == 0, r.stderr
    assert json.loads(cli("show", rid, "--json", env=b).stdout)["content"] == "laptop words"
    assert json.loads(cli("conflicts", "--json", env=b).stdout) == []
    cli("sync", env=b)
    cli("sync", env=a)
    assert json.loads(cli("show", rid, "--json", env=a).stdout)["content"] == "laptop words"


def test_sync_without_a_remote_is_a_usage_error(cli, tmp_path):
    a = homes(tmp_path, "a")
    cli("reflect", "x", env=a)
    r = cli("sync", env=a)
    assert r.exit_code == 2 and "remote" in r.stderr and r.stdout == ""


@pytest.mark.parametrize("name", ["", "has space", "x" * 33, "a/b"])
def test_a_bad_remote_name_is_exit_2(cli, shared, tmp_path, name):
    r = cli("remote", "add", name, str(shared), env=homes(tmp_path, "a"))
    assert r.exit_code == 2


def test_a_remote_with_a_password_in_its_url_is_refused(cli, tmp_path):
    r = cli("remote", "add", "pg", "postgresql://me:secret@db.example/journal", env=homes(tmp_path, "a"))
    assert r.exit_code == 2
    assert "secret" not in r.stderr + r.stdout


def test_a_missing_folder_is_refused_and_nothing_is_configured(cli, tmp_path):
    a = homes(tmp_path, "a")
    r = cli("remote", "add", "usb", str(tmp_path / "not-mounted"), env=a)
    assert r.exit_code == 1, r.stderr
    assert json.loads(cli("remote", "list", "--json", env=a).stdout) == []


def test_remote_wipe_empties_the_folder_and_the_other_device_keeps_its_data(cli, shared, tmp_path):
    a, b = homes(tmp_path, "a"), homes(tmp_path, "b")
    cli("reflect", "precious", env=a)
    cli("remote", "add", "home", str(shared), env=a)
    cli("sync", env=a)
    cli("remote", "add", "home", str(shared), env=b)
    cli("sync", env=b)
    r = cli("remote", "wipe", "home", "--yes", env=a)
    assert r.exit_code == 0, r.stderr
    assert [p for p in shared.rglob("*") if p.is_file()] == []
    r = cli("sync", env=b)
    assert r.exit_code == 1 and "--rejoin" in r.stderr
    assert len(json.loads(cli("list", "--json", env=b).stdout)) == 1


def test_remote_remove_forgets_it_and_leaves_the_objects(cli, shared, tmp_path):
    a = homes(tmp_path, "a")
    cli("reflect", "x", env=a)
    cli("remote", "add", "home", str(shared), env=a)
    cli("sync", env=a)
    before = sorted(p.name for p in shared.rglob("*"))
    assert cli("remote", "remove", "home", env=a).exit_code == 0
    assert sorted(p.name for p in shared.rglob("*")) == before
    assert json.loads(cli("remote", "list", "--json", env=a).stdout) == []


def test_remote_devices_lists_both_devices(cli, shared, tmp_path):
    a, b = homes(tmp_path, "a"), homes(tmp_path, "b")
    cli("reflect", "x", env=a)
    cli("remote", "add", "home", str(shared), "--label", "laptop", env=a)
    cli("sync", env=a)
    cli("remote", "add", "home", str(shared), "--label", "desktop", env=b)
    cli("sync", env=b)
    devices = json.loads(cli("remote", "devices", "home", "--json", env=a).stdout)
    assert sorted(d["label"] for d in devices) == ["desktop", "laptop"]
    assert all({"label", "last_seen", "stale", "revoked"} <= set(d) for d in devices)


def test_only_takes_known_kinds(cli, shared, tmp_path):
    a = homes(tmp_path, "a")
    cli("reflect", "x", env=a)
    cli("remote", "add", "home", str(shared), env=a)
    for bad in ("audit", "patterns,moods", ","):
        r = cli("sync", "--only", bad, env=a)
        assert r.exit_code == 2 and "--only takes reflections, patterns and tensions" in r.stderr, bad
    assert list(shared.glob("s/*")) == [], "a refused sync sends nothing"


def test_the_first_sync_lists_this_device_too(cli, shared, tmp_path):
    a = homes(tmp_path, "a")
    cli("reflect", "x", env=a)
    cli("remote", "add", "home", str(shared), "--label", "laptop", env=a)
    report = json.loads(cli("sync", "--json", env=a).stdout)
    assert [(d["label"], d["this_device"]) for d in report["devices"]] == [("laptop", True)]


def test_remote_add_caches_the_key_so_the_first_sync_needs_no_passphrase(cli, shared, tmp_path, monkeypatch):
    import keyring

    from keyring_backends import MemoryKeyring

    backend = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        a = homes(tmp_path, "a")
        cli("reflect", "x", env=a)
        assert cli("remote", "add", "home", str(shared), env=a).exit_code == 0
        assert any(user.startswith("remote:") for _, user in backend.entries)
        no_pass = {"MIRROR_HOME": a["MIRROR_HOME"]}
        monkeypatch.delenv("MIRROR_SYNC_PASSPHRASE", raising=False)
        r = cli("sync", env=no_pass)
        assert r.exit_code == 0, r.stderr
    finally:
        keyring.set_keyring(previous)


def test_backups_beside_the_sync_objects_are_not_foreign_but_a_stray_file_is(cli, shared, tmp_path):
    a = homes(tmp_path, "a")
    cli("reflect", "x", env=a)
    cli("remote", "add", "home", str(shared), env=a)
    assert cli("sync", env=a).exit_code == 0
    r = cli("backup", "create", "-o", "home", "--json", env=a)
    assert r.exit_code == 0, r.stderr
    (shared / "backups").mkdir(exist_ok=True)
    (shared / "backups" / "mirror-20240101T000000.000Z-abcdef.backup").write_bytes(b"not really")
    (shared / "notes.txt").write_text("mine")
    (shared / "x.backup.0123abcd.000.shard").write_bytes(b"a shard")
    (shared / "x.backup.0123abcd.manifest.json").write_bytes(b"{}")
    report = json.loads(cli("sync", "--json", env=a).stdout)
    assert report["foreign"] == ["notes.txt"]

"""`mirror shard create|verify|restore|repair` from the command line."""

from __future__ import annotations

import json
import os
import sys

import pytest


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "payload.bin"
    path.write_bytes(os.urandom(300_000) + b"tail")
    return path


def _create(cli, source, tmp_path, *extra):
    disks = [tmp_path / f"disk{i}" for i in range(3)]
    args = ["shard", "create", source, *extra]
    for d in disks:
        args += ["--to", d]
    result = cli(*args, "--mkdir", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), disks


def test_create_json_shape_and_round_robin(cli, source, tmp_path):
    data, disks = _create(cli, source, tmp_path, "--level", "personal")
    assert (data["k"], data["n"]) == (3, 5)
    assert len(data["shards"]) == 5 and len(data["manifests"]) == 3
    for i, path in enumerate(data["shards"]):
        assert os.path.isabs(path) and path.startswith(str(disks[i % 3]))
        assert os.path.exists(path)
    for path in data["manifests"]:
        assert os.path.isabs(path) and os.path.exists(path)


@pytest.mark.parametrize("order", ["file-first", "file-last"])
def test_to_takes_several_locations_at_once(cli, source, tmp_path, order):
    """`--to A B C`, as the contract writes it (`--to LOCATION...`), is the same as repeating --to."""
    disks = [tmp_path / f"usb{i}" for i in range(3)]
    disks[0].mkdir()  # existing or not yet made, both are locations
    args = (["shard", "create", source, "--level", "personal", "--to", *disks] if order == "file-first"
            else ["shard", "create", "--level", "personal", "--to", *disks[:1], source, *disks[1:]])
    r = cli(*args, "--mkdir", "--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    for i, path in enumerate(data["shards"]):
        assert path.startswith(str(disks[i % 3]) + os.sep)
    assert sorted(os.path.dirname(m) for m in data["manifests"]) == sorted(map(str, disks))


def test_create_refuses_a_missing_file_and_folders_without_to(cli, tmp_path):
    missing = cli("shard", "create", tmp_path / "nope.bin", "--level", "minimal", "--to", tmp_path / "d")
    assert missing.exit_code == 2 and "nope.bin" in missing.stderr and missing.stdout == ""
    no_location = cli("shard", "create", tmp_path / "nope.bin", "--level", "minimal")
    assert no_location.exit_code == 2 and no_location.stdout == ""


def test_locations_may_follow_the_file_without_to(cli, source, tmp_path):
    """`shard create FILE A B` as the usage line [FILE] [LOCATION]... shows it."""
    r = cli("shard", "create", source, tmp_path / "a", tmp_path / "b", "--level", "minimal", "--mkdir", "--json")
    assert r.exit_code == 0, r.stderr
    made = json.loads(r.stdout)
    assert {os.path.dirname(p) for p in made["shards"]} == {str(tmp_path / "a"), str(tmp_path / "b")}


def test_verify_restore_repair_cycle(cli, source, tmp_path):
    data, _ = _create(cli, source, tmp_path, "-k", "2", "-n", "4")
    manifest = data["manifests"][0]
    os.remove(data["shards"][1])
    with open(data["shards"][2], "r+b") as fh:
        fh.seek(5000)
        byte = fh.read(1)
        fh.seek(5000)
        fh.write(bytes([byte[0] ^ 0x01]))
    result = cli("shard", "verify", manifest, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["missing"] == [1] and report["damaged"] == [2]
    assert report["ok"] is False and report["recoverable"] is True and report["intact"] == 2

    out = tmp_path / "restored.bin"
    result = cli("shard", "restore", manifest, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == source.read_bytes()

    result = cli("shard", "repair", manifest)
    assert result.exit_code == 0, result.stderr
    report = json.loads(cli("shard", "verify", manifest, "--json").stdout)
    assert report["ok"] is True and report["intact"] == 4


def test_restore_into_a_folder_named_with_a_trailing_slash(cli, source, tmp_path):
    data, _ = _create(cli, source, tmp_path, "--level", "minimal")
    for target in (tmp_path / "new" / "deeper", tmp_path):  # made for it, or already there
        result = cli("shard", "restore", data["manifests"][0], "-o", f"{target}/", "--json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["path"] == str(target / source.name)
        assert (target / source.name).read_bytes() == source.read_bytes()


def test_unrecoverable_exits_3_and_restore_writes_nothing(cli, source, tmp_path):
    data, _ = _create(cli, source, tmp_path, "--level", "minimal")
    for path in data["shards"][:2]:
        os.remove(path)
    result = cli("shard", "verify", data["manifests"][0], "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["recoverable"] is False
    # Without --json the failure is an error like any other: stderr only, naming what is lost.
    result = cli("shard", "verify", data["manifests"][0])
    assert result.exit_code == 3 and result.stdout == ""
    assert "NOT recoverable" in result.stderr and "shard 0" in result.stderr and "shard 1" in result.stderr
    out = tmp_path / "never.bin"
    result = cli("shard", "restore", data["manifests"][0], "-o", out)
    assert result.exit_code == 3
    assert not out.exists()
    assert result.stdout == ""


@pytest.mark.parametrize("raw", [b'{"format": ' + b"1" * 5000 + b"}",  # more digits than Python converts
                                 b'{"format": "' + b"x" * (5 << 20) + b'"}'])  # larger than any manifest
def test_a_hostile_manifest_is_exit_5_not_a_crash(cli, tmp_path, raw):
    bad = tmp_path / "bad.manifest.json"
    bad.write_bytes(raw)
    for args in (("verify", bad), ("restore", bad, "-o", tmp_path / "out"), ("repair", bad)):
        result = cli("shard", *args)
        assert result.exit_code == 5 and result.stdout == "", (args, result.stderr)
        assert "is not a shard manifest" in result.stderr and "internal error" not in result.stderr
    assert not (tmp_path / "out").exists() and bad.read_bytes() == raw


def test_bad_manifest_exit_5_and_usage_errors(cli, source, tmp_path):
    bad = tmp_path / "bad.manifest.json"
    bad.write_text('{"format": "something-else"}')
    result = cli("shard", "verify", bad)
    assert result.exit_code == 5 and result.stdout == ""
    assert "manifest" in result.stderr
    assert cli("shard", "create", source, "--level", "huge", "--to", tmp_path / "d").exit_code == 2
    assert cli("shard", "create", source, "-k", "4", "-n", "3", "--to", tmp_path / "d").exit_code == 2
    assert cli("shard", "create", source, "--level", "minimal").exit_code == 2
    assert cli("shard", "verify", tmp_path / "missing.json").exit_code == 2


def test_shard_create_is_audited_when_a_database_exists(cli, source, tmp_path):
    assert cli("reflect", "first").exit_code == 0
    _create(cli, source, tmp_path, "--level", "minimal")
    log = json.loads(cli("audit", "log", "--json").stdout)
    assert log[0]["event_type"] == "shard.created"
    assert cli("audit", "verify").exit_code == 0


PW = "correct horse battery staple"
SECRET = "xyzzy-plugh-the-river-secret"


def _journal(mirror_home, encrypted: bool):
    from mirror_cli import crypto
    from mirror_cli.journal import reflections as journal
    from mirror_cli.crypto import manage as keyops
    from mirror_cli.db.store import Store

    with Store.open(mirror_home / "mirror.db") as s:
        for i in range(200):
            journal.add(s, f"entry {i}: {SECRET} by the water, {SECRET.upper()} again")
        if encrypted:
            params = crypto.new_kdf_params(iterations=1, lanes=1, memory_cost=8)
            keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=params)


def test_an_encrypted_journal_without_its_key_stops_before_any_shard_is_written(cli, mirror_home, source, tmp_path):
    """The audit event needs the key: without it the command exits 4 at once, not after the work."""
    _journal(mirror_home, encrypted=True)
    disk = tmp_path / "disk"
    r = cli("shard", "create", source, "--level", "minimal", "--to", disk, "--mkdir")
    assert r.exit_code == 4 and r.stdout == ""
    assert not disk.exists() or list(disk.iterdir()) == []
    made = cli("shard", "create", source, "--level", "minimal", "--to", disk, "--mkdir", "--json",
               env={"MIRROR_PASSPHRASE": PW})
    assert made.exit_code == 0
    manifest = json.loads(made.stdout)["manifests"][0]
    shard0 = json.loads(made.stdout)["shards"][0]
    os.remove(shard0)
    r = cli("shard", "repair", manifest)
    assert r.exit_code == 4 and not os.path.exists(shard0)
    assert cli("shard", "repair", manifest, env={"MIRROR_PASSPHRASE": PW}).exit_code == 0 and os.path.exists(shard0)
    log = json.loads(cli("audit", "log", "--json", env={"MIRROR_PASSPHRASE": PW}).stdout)
    assert [e["event_type"] for e in log[:2]] == ["shard.repaired", "shard.created"]


def _shard_body(path) -> bytes:
    """The blocks of a shard file (between the header and the stripe table)."""
    from mirror_cli.shard import format as fmt

    raw = open(path, "rb").read()
    header = fmt.ShardHeader.unpack(raw[: fmt.HEADER_SIZE])
    return raw[fmt.HEADER_SIZE : fmt.HEADER_SIZE + header.data_length]


@pytest.mark.parametrize("encrypted", [True, False])
def test_create_without_file_shards_a_fresh_backup(cli, mirror_home, tmp_path, encrypted):
    _journal(mirror_home, encrypted)
    disks = [tmp_path / f"usb{i}" for i in (1, 2, 3)]
    args = ["shard", "create", "--level", "personal", "--mkdir", "--json"]
    for d in disks:
        args += ["--to", d]
    result = cli(*args, env={"MIRROR_PASSPHRASE": PW} if encrypted else None)
    assert result.exit_code == 0, result.stderr
    made = json.loads(result.stdout)
    backups = sorted((mirror_home / "backups").glob("*.backup"))
    assert len(backups) == 1 and made["source"] == str(backups[0])
    info = json.loads(cli("backup", "list", "--json").stdout)
    assert info[0]["encrypted"] is encrypted
    # Systematic code: the data shards are the backup file itself, cut in stripes.
    backup_bytes = backups[0].read_bytes()
    joined = b"".join(_shard_body(p) for p in made["shards"][:3])
    assert joined[: len(backup_bytes)] == backup_bytes
    if encrypted:
        # Shards of an encrypted backup carry only ciphertext: no word of the journal in any
        # shard (data or parity) nor in the manifests, in any case.
        for path in made["shards"] + made["manifests"]:
            raw = open(path, "rb").read().lower()
            assert SECRET.encode() not in raw and b"by the water" not in raw, path
    out = tmp_path / "restored.backup"
    for p in made["shards"][:2]:
        os.remove(p)
    assert cli("shard", "restore", made["manifests"][2], "-o", out).exit_code == 0
    assert out.read_bytes() == backup_bytes
    r = cli("backup", "verify", out, "--json", env={"MIRROR_PASSPHRASE": PW} if encrypted else None)
    assert r.exit_code == 0 and json.loads(r.stdout)["ok"] is True


def test_a_missing_location_is_exit_1_before_any_work_unless_mkdir(cli, mirror_home, source, tmp_path):
    """CONTRACT.md: a folder location that does not exist is created only with --mkdir (an unmounted
    USB disk must not fill the local disk); without it, exit 1 naming it, checked before any work."""
    assert cli("reflect", "a journal for the fresh-backup case").exit_code == 0
    here, unplugged = tmp_path / "here", tmp_path / "media" / "usb"
    here.mkdir()
    for args in ([source], []):  # a file to shard, or a fresh backup to make
        r = cli("shard", "create", *args, "--level", "minimal", "--to", here, unplugged)
        assert r.exit_code == 1 and r.stdout == "" and str(unplugged) in r.stderr and "--mkdir" in r.stderr
        assert list(here.iterdir()) == [] and not unplugged.parent.exists()
    assert not (mirror_home / "backups").exists() or list((mirror_home / "backups").glob("*.backup")) == []
    r = cli("shard", "create", source, "--level", "minimal", "--to", here, unplugged, "--mkdir", "--json")
    assert r.exit_code == 0, r.stderr
    assert {os.path.dirname(p) for p in json.loads(r.stdout)["shards"]} == {str(here), str(unplugged)}
    assert unplugged.stat().st_mode & 0o777 == 0o700


def test_locations_may_be_file_urls_and_other_urls_go_through_the_remote_seam(cli, source, tmp_path, monkeypatch):
    disk = tmp_path / "disk"
    disk.mkdir()
    r = cli("shard", "create", source, "--level", "minimal", "--to", disk.as_uri(), "--json")
    assert r.exit_code == 0, r.stderr
    made = json.loads(r.stdout)
    assert all(os.path.dirname(p) == str(disk) for p in made["shards"] + made["manifests"])
    manifest = json.loads(open(made["manifests"][0]).read())
    assert {s["location"] for s in manifest["shards"]} == {str(disk)}  # a plain path, as before URLs
    assert cli("shard", "verify", made["manifests"][0]).exit_code == 0
    monkeypatch.setitem(sys.modules, "boto3", None)  # an install without the mirror-cli[cloud] extra
    r = cli("shard", "create", source, "--level", "minimal", "--to", disk, "s3://bucket/shards")
    assert r.exit_code == 1 and "mirror-cli[cloud]" in r.stderr and r.stdout == ""
    assert len(list(disk.iterdir())) == 3 + 1  # nothing more was written before the refusal


def test_create_without_file_or_database_is_a_usage_error(cli, tmp_path):
    result = cli("shard", "create", "--level", "minimal", "--to", tmp_path / "d", "--mkdir")
    assert result.exit_code == 2 and result.stdout == ""
    assert not (tmp_path / "d").exists()  # --mkdir makes it only for shards about to be written


def test_progress_bar_only_for_big_files_on_a_terminal(monkeypatch):
    from mirror_cli.cli import output, shard as shard_cli

    started = []

    class FakeOut:
        def progress(self, description, total):
            bar = output.Progress(description, total, enabled=False)
            started.append((description, total))
            return bar

    monkeypatch.setattr(output, "is_tty", lambda stream: True)
    with shard_cli._Bar(FakeOut(), "sharding") as bar:
        bar(0, 1000)
        bar(1000, 1000)
    assert started == []  # a small file: no bar
    big = shard_cli.PROGRESS_MIN_BYTES * 3
    with shard_cli._Bar(FakeOut(), "restoring") as bar:
        for done in range(0, big + 1, big // 3):
            bar(done, big)
    assert started == [("restoring", big)]  # one bar, started once
    started.clear()
    monkeypatch.setattr(output, "is_tty", lambda stream: False)  # stdout piped
    with shard_cli._Bar(FakeOut(), "sharding") as bar:
        bar(0, big)
    assert started == []


def test_quiet_and_json_print_only_what_they_should(cli, source, tmp_path):
    r = cli("-q", "shard", "create", source, "--level", "minimal", "--to", tmp_path / "q", "--mkdir")
    assert r.exit_code == 0 and r.stdout == "" and r.stderr == ""
    manifest = next((tmp_path / "q").glob("*.manifest.json"))
    for cmd in (["verify", manifest], ["restore", manifest, "-o", tmp_path / "q.bin"], ["repair", manifest]):
        r = cli("-q", "shard", *cmd)
        assert r.exit_code == 0 and r.stdout == "" and r.stderr == "", cmd
    for cmd in (["verify", manifest], ["restore", manifest, "-o", tmp_path / "o.bin"], ["repair", manifest]):
        r = cli("shard", *cmd, "--json")
        assert r.exit_code == 0, r.stderr
        json.loads(r.stdout)  # exactly one JSON value
        assert r.stderr == ""
    # -q from cron: a set that needs a repair is said on stderr, still exit 0 (recoverable).
    next((tmp_path / "q").glob("*.000.shard")).unlink()
    r = cli("-q", "shard", "verify", manifest)
    assert r.exit_code == 0 and r.stdout == ""
    assert "1 of the 3 shards" in r.stderr and "shard repair" in r.stderr


def test_restore_and_key_export_never_write_over_the_live_database(cli, mirror_home, source, tmp_path):
    from mirror_cli import crypto
    from mirror_cli.crypto import manage as keyops
    from mirror_cli.db.store import Store

    assert cli("reflect", "keep me").exit_code == 0
    db = mirror_home / "mirror.db"
    data, _ = _create(cli, source, tmp_path, "--level", "minimal")
    before = db.read_bytes()
    for target in (db, f"{db}-wal"):
        r = cli("shard", "restore", data["manifests"][0], "-o", target)
        assert r.exit_code == 2 and "database" in r.stderr
    with Store.open(db) as s:
        keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False,
                      kdf_params=crypto.new_kdf_params(iterations=1, lanes=1, memory_cost=8))
    encrypted = db.read_bytes()
    assert encrypted != before
    r = cli("key", "export", db, "--force", env={"MIRROR_PASSPHRASE": PW})
    assert r.exit_code == 2 and db.read_bytes() == encrypted
    assert cli("list", env={"MIRROR_PASSPHRASE": PW}).exit_code == 0


@pytest.mark.parametrize("case", ["typo-then-folders", "typo-then-to", "missing-after-to", "file-as-location"])
def test_which_positional_is_file_and_which_a_location(cli, mirror_home, source, tmp_path, case):
    """A mistyped FILE must never become a new folder holding a fresh backup's shards; a missing
    path after --to is a folder to make; nothing is done before the arguments are known good."""
    assert cli("reflect", "a journal for the fresh-backup case").exit_code == 0
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    typo = tmp_path / "my.bakup"
    args = {"typo-then-folders": [typo, a, b],
            "typo-then-to": [typo, "--to", a],
            "missing-after-to": ["--to", a, b],
            "file-as-location": [source, "--to", a, source]}[case]
    r = cli("shard", "create", "--level", "minimal", *args, "--mkdir", "--json")
    if case == "missing-after-to":
        assert r.exit_code == 0, r.stderr
        assert {os.path.dirname(p) for p in json.loads(r.stdout)["shards"]} == {str(a), str(b)}
    else:
        assert r.exit_code == 2 and r.stdout == ""
        assert not typo.exists() and not b.exists()
        assert json.loads(cli("backup", "list", "--json").stdout) == []  # no backup made for nothing

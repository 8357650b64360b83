"""`mirror shard create|verify|restore|repair` from the command line."""

from __future__ import annotations

import json
import os

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
    result = cli(*args, "--json")
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


def test_unrecoverable_exits_3_and_restore_writes_nothing(cli, source, tmp_path):
    data, _ = _create(cli, source, tmp_path, "--level", "minimal")
    for path in data["shards"][:2]:
        os.remove(path)
    result = cli("shard", "verify", data["manifests"][0], "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["recoverable"] is False
    out = tmp_path / "never.bin"
    result = cli("shard", "restore", data["manifests"][0], "-o", out)
    assert result.exit_code == 3
    assert not out.exists()
    assert result.stdout == ""


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

"""Shards in a bucket (issue 14): `shard create --to s3://... --to DIR`, n-k shards deleted from the
bucket, then verify, restore byte-identical, and repair rewrites them in place."""

from __future__ import annotations

import json
import os

import pytest


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "payload.bin"
    path.write_bytes(os.urandom(300_000) + b"tail")
    return path


def test_shards_in_a_bucket_and_a_folder_survive_losing_n_minus_k_and_are_repaired(cli, source, tmp_path,
                                                                                      s3_endpoint, s3_bucket):
    import s3_server

    disk = tmp_path / "usb"
    disk.mkdir()
    where = [f"s3://{s3_bucket}/one/", f"s3://{s3_bucket}/two/", str(disk)]
    env = {"AWS_ENDPOINT_URL": s3_endpoint}  # a bare s3:// URL takes the standard AWS configuration
    args = ["shard", "create", str(source), "-k", "2", "-n", "4"]
    for w in where:
        args += ["--to", w]
    r = cli(*args, "--json", env=env)
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    manifest = next(m for m in data["manifests"] if not m.startswith("s3://"))
    s3 = s3_server.client(s3_endpoint)
    in_bucket = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket).get("Contents", []))
    shards = [k for k in in_bucket if not k.endswith(".json")]
    assert len(shards) >= 2
    for key in shards[:2]:  # n - k = 2 shards lost from the bucket
        s3.delete_object(Bucket=s3_bucket, Key=key)
    report = json.loads(cli("shard", "verify", manifest, "--json", env=env).stdout)
    assert report["recoverable"] is True and report["intact"] == 2 and len(report["missing"]) == 2
    out = tmp_path / "restored.bin"
    r = cli("shard", "restore", manifest, "-o", str(out), env=env)
    assert r.exit_code == 0, r.stderr
    assert out.read_bytes() == source.read_bytes()
    r = cli("shard", "repair", manifest, env=env)
    assert r.exit_code == 0, r.stderr
    report = json.loads(cli("shard", "verify", manifest, "--json", env=env).stdout)
    assert report["ok"] is True and report["intact"] == 4

"""One shard set over a folder, an S3 bucket and a PostgreSQL table (issue 14): n-k shards lost across
the three (an object deleted, a row deleted, a row with a byte changed), then verify, restore
byte-identical and repair each in its own place; junk in place of shards is damaged, never trusted,
and past n-k it is exit 3 with nothing changed anywhere."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

import s3_server
from mirror_cli.shard.format import HEADER_SIZE
from pg_helpers import fresh_table, pg_url, sql, with_table  # noqa: F401 (fixtures)


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "payload.bin"
    path.write_bytes(os.urandom(300_000) + b"tail")
    return path


@pytest.fixture
def shard_set(cli, source, tmp_path, s3_endpoint, s3_bucket, pg_url, fresh_table):
    """A 3-of-6 set round-robin over a folder, a bucket prefix and a table: shards 0 and 3 on the disk,
    1 and 4 in the bucket, 2 and 5 in the table. The environment the commands need, the manifest on the
    disk, its shard entries, and a look at every byte the set has in the three places."""
    disk = tmp_path / "usb"
    disk.mkdir()
    env = {"AWS_ENDPOINT_URL": s3_endpoint}  # a bare s3:// URL takes the standard AWS configuration
    r = cli("shard", "create", str(source), "-k", "3", "-n", "6", "--to", str(disk), "--to",
            f"s3://{s3_bucket}/shards", "--to", with_table(pg_url, fresh_table), "--json", env=env)
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert len(data["manifests"]) == 3
    manifest = next(m for m in data["manifests"] if m.startswith(str(disk)))
    with open(manifest, encoding="utf-8") as fh:
        shards = json.load(fh)["shards"]
    s3 = s3_server.client(s3_endpoint)

    class Set:
        def __init__(self) -> None:
            self.env, self.manifest, self.shards, self.disk = env, manifest, shards, disk

        def run(self, *args):
            return cli("shard", *args, env=env)

        def key(self, index: int) -> str:
            return f"shards/{shards[index]['file']}"

        def file(self, index: int) -> str:
            return shards[index]["file"]

        def everything(self) -> dict[str, str]:
            seen = {f"disk:{p.name}": hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(disk.iterdir())}
            seen.update({f"s3:{o['Key']}": o["ETag"]
                         for o in s3.list_objects_v2(Bucket=s3_bucket).get("Contents", [])})
            seen.update({f"pg:{name}": digest for name, digest in
                         sql(pg_url, f"SELECT name, md5(body) FROM {fresh_table} ORDER BY name")})
            return seen

    found = Set()
    places = {i: ("disk" if s["location"] == str(disk) else "s3" if s["location"].startswith("s3://") else "pg")
              for i, s in enumerate(shards)}
    assert places == {0: "disk", 1: "s3", 2: "pg", 3: "disk", 4: "s3", 5: "pg"}
    return found, s3, s3_bucket, pg_url, fresh_table


def test_losing_n_minus_k_across_a_folder_a_bucket_and_a_table_then_restore_and_repair(shard_set, source,
                                                                                        tmp_path):
    st, s3, bucket, pg, table = shard_set
    s3.delete_object(Bucket=bucket, Key=st.key(1))
    sql(pg, f"DELETE FROM {table} WHERE name = %s", (st.file(2),))
    sql(pg, f"UPDATE {table} SET body = set_byte(body, 5000, get_byte(body, 5000) # 1) WHERE name = %s",
        (st.file(5),))
    before = st.everything()

    r = st.run("verify", st.manifest, "--json")
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["recoverable"] is True and report["ok"] is False and report["intact"] == 3
    assert report["missing"] == [1, 2] and report["damaged"] == [5]
    out = tmp_path / "restored.bin"
    r = st.run("restore", st.manifest, "-o", str(out), "--json")
    assert r.exit_code == 0, r.stderr
    assert out.read_bytes() == source.read_bytes() and json.loads(r.stdout)["used"] == [0, 3, 4]
    assert st.everything() == before  # verify and restore only read

    r = st.run("repair", st.manifest, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["repaired"] == [1, 2, 5]
    assert s3.head_object(Bucket=bucket, Key=st.key(1))["ContentLength"] == st.shards[1]["bytes"]
    for i in (2, 5):  # each in its own table row again, with the bytes the manifest names
        [(digest,)] = sql(pg, f"SELECT encode(sha256(body), 'hex') FROM {table} WHERE name = %s", (st.file(i),))
        assert digest == st.shards[i]["sha256"]
    report = json.loads(st.run("verify", st.manifest, "--json").stdout)
    assert report["ok"] is True and report["intact"] == 6


def test_junk_in_place_of_shards_is_damaged_and_past_n_minus_k_nothing_changes(shard_set, source, tmp_path):
    st, s3, bucket, pg, table = shard_set
    genuine = s3.get_object(Bucket=bucket, Key=st.key(1))["Body"].read()
    s3.put_object(Bucket=bucket, Key=st.key(1), Body=genuine[:HEADER_SIZE + 10])  # its true header, then cut off
    sql(pg, f"UPDATE {table} SET body = ''::bytea WHERE name = %s", (st.file(2),))  # empty
    (st.disk / st.file(0)).write_bytes(os.urandom(st.shards[0]["bytes"] + 4096))  # too long, random
    before = st.everything()

    r = st.run("verify", st.manifest, "--json")
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["recoverable"] is True and report["damaged"] == [0, 1, 2] and report["missing"] == []
    out = tmp_path / "restored.bin"
    r = st.run("restore", st.manifest, "-o", str(out))
    assert r.exit_code == 0, r.stderr
    assert out.read_bytes() == source.read_bytes()
    assert st.everything() == before
    out.unlink()

    sql(pg, f"UPDATE {table} SET body = decode(repeat('00', 70000), 'hex') WHERE name = %s", (st.file(5),))
    before = st.everything()
    r = st.run("verify", st.manifest, "--json")
    assert r.exit_code == 3 and json.loads(r.stdout)["recoverable"] is False
    for args in (("restore", st.manifest, "-o", str(out)), ("repair", st.manifest)):
        r = st.run(*args)
        assert r.exit_code == 3 and r.stdout == "" and "only 2 of the 6" in r.stderr, (args, r.stderr)
    assert not out.exists()
    assert st.everything() == before


def test_hostile_copies_of_the_manifest_in_the_bucket_and_the_table_are_written_again(shard_set):
    st, s3, bucket, pg, table = shard_set
    name = os.path.basename(st.manifest)
    s3.put_object(Bucket=bucket, Key=f"shards/{name}", Body=b"{" + b" " * (5 << 20) + b"}")  # past any manifest
    sql(pg, f"UPDATE {table} SET body = %s WHERE name = %s", (b'{"k": ' + b"9" * 5000 + b"}", name))  # past int()

    r = st.run("repair", st.manifest, "--json")
    assert r.exit_code == 0, r.stderr
    fixed = json.loads(r.stdout)
    assert fixed["repaired"] == [] and len(fixed["manifests"]) == 2
    good = open(st.manifest, "rb").read()
    assert s3.get_object(Bucket=bucket, Key=f"shards/{name}")["Body"].read() == good
    assert sql(pg, f"SELECT body FROM {table} WHERE name = %s", (name,)) == [(good,)]

"""Shards in PostgreSQL (issue 14): `shard create --to postgresql://...?table=A --to ...?table=B --to DIR`,
n-k shard rows deleted, then verify, restore byte-identical and repair in place; a shard whose row had a
byte changed is found damaged, and rows past n-k lost are exit 3 with nothing changed anywhere."""

from __future__ import annotations

import json
import os
import secrets

import pytest

from pg_helpers import pg_url, sql, with_table  # noqa: F401 (fixture)


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "payload.bin"
    path.write_bytes(os.urandom(300_000) + b"tail")
    return path


@pytest.fixture
def tables(pg_url):
    """Two table names no other test uses, dropped afterwards."""
    names = [f"t_{secrets.token_hex(6)}" for _ in range(2)]
    yield names
    for name in names:
        sql(pg_url, f"DROP TABLE IF EXISTS {name}")


def shards_of(manifest: str) -> list[dict]:
    with open(manifest, encoding="utf-8") as fh:
        return json.load(fh)["shards"]


def table_of(location: str) -> str | None:
    return location.rsplit("table=", 1)[1] if "table=" in location else None


def snapshot(pg_url: str, tables: list[str], disk) -> dict[str, str]:
    """Every row (its md5) of *tables* and every file (its bytes' hash) of *disk*: what a command may not change."""
    seen = {f"{t}:{name}": digest for t in tables
            for name, digest in sql(pg_url, f"SELECT name, md5(body) FROM {t} ORDER BY name")}
    seen.update({f"disk:{p.name}": str(hash(p.read_bytes())) for p in sorted(disk.iterdir())})
    return seen


def flip_a_byte(pg_url: str, table: str, name: str, offset: int = 5000) -> None:
    sql(pg_url, f"UPDATE {table} SET body = set_byte(body, %s, get_byte(body, %s) # 1) WHERE name = %s",
        (offset, offset, name))


def test_shards_in_postgres_tables_survive_losing_n_minus_k_rows_and_are_repaired(cli, source, tmp_path, pg_url,
                                                                                   tables):
    disk = tmp_path / "usb"
    disk.mkdir()
    locations = [with_table(pg_url, tables[0]), with_table(pg_url, tables[1]), str(disk)]
    args = ["shard", "create", str(source), "-k", "2", "-n", "4"]
    for location in locations:
        args += ["--to", location]
    r = cli(*args, "--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert len(data["manifests"]) == 3
    manifest = next(m for m in data["manifests"] if m.startswith(str(disk)))
    shards = shards_of(manifest)
    in_pg = [s for s in shards if table_of(s["location"])]
    assert [s["index"] for s in in_pg] == [0, 1, 3]  # round-robin: 0 and 3 in A, 1 in B, 2 on the disk
    for t in tables:  # each table holds its shards and a copy of the manifest
        names = [n for (n,) in sql(pg_url, f"SELECT name FROM {t} ORDER BY name")]
        assert sum(n.endswith(".shard") for n in names) >= 1 and sum(n.endswith(".json") for n in names) == 1

    for s in in_pg[:2]:  # n - k = 2 shards lost: their rows deleted
        sql(pg_url, f"DELETE FROM {table_of(s['location'])} WHERE name = %s", (s["file"],))
    before = snapshot(pg_url, tables, disk)
    r = cli("shard", "verify", manifest, "--json")
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["recoverable"] is True and report["intact"] == 2
    assert sorted(report["missing"]) == [0, 1] and report["damaged"] == []
    out = tmp_path / "restored.bin"
    r = cli("shard", "restore", manifest, "-o", str(out))
    assert r.exit_code == 0, r.stderr
    assert out.read_bytes() == source.read_bytes()
    assert snapshot(pg_url, tables, disk) == before  # verify and restore only read

    r = cli("shard", "repair", manifest, "--json")
    assert r.exit_code == 0, r.stderr
    assert sorted(json.loads(r.stdout)["repaired"]) == [0, 1]
    for s in in_pg[:2]:  # back in their own tables
        assert sql(pg_url, f"SELECT count(*) FROM {table_of(s['location'])} WHERE name = %s", (s["file"],)) == [(1,)]
    report = json.loads(cli("shard", "verify", manifest, "--json").stdout)
    assert report["ok"] is True and report["intact"] == 4


def test_a_shard_row_with_a_changed_byte_is_damaged_and_rewritten(cli, source, tmp_path, pg_url, tables):
    disk = tmp_path / "usb"
    disk.mkdir()
    r = cli("shard", "create", str(source), "-k", "2", "-n", "4", "--to", with_table(pg_url, tables[0]),
            "--to", str(disk), "--json")
    assert r.exit_code == 0, r.stderr
    manifest = next(m for m in json.loads(r.stdout)["manifests"] if m.startswith(str(disk)))
    shard0 = shards_of(manifest)[0]
    assert table_of(shard0["location"]) == tables[0]
    flip_a_byte(pg_url, tables[0], shard0["file"])
    before = snapshot(pg_url, tables[:1], disk)

    r = cli("shard", "verify", manifest, "--json")
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["damaged"] == [0] and report["missing"] == [] and report["intact"] == 3
    assert "SHA-256 does not match the manifest" in report["shards"][0]["problems"]
    out = tmp_path / "restored.bin"
    r = cli("shard", "restore", manifest, "-o", str(out))
    assert r.exit_code == 0, r.stderr
    assert out.read_bytes() == source.read_bytes()
    assert snapshot(pg_url, tables[:1], disk) == before

    r = cli("shard", "repair", manifest, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["repaired"] == [0]
    [(digest,)] = sql(pg_url, f"SELECT encode(sha256(body), 'hex') FROM {tables[0]} WHERE name = %s",
                      (shard0["file"],))
    assert digest == shard0["sha256"]  # rewritten in place, in its row
    assert json.loads(cli("shard", "verify", manifest, "--json").stdout)["ok"] is True


def test_more_than_n_minus_k_rows_lost_is_exit_3_and_nothing_changes(cli, source, tmp_path, pg_url, tables):
    disk = tmp_path / "usb"
    disk.mkdir()
    r = cli("shard", "create", str(source), "-k", "2", "-n", "4", "--to", with_table(pg_url, tables[0]),
            "--to", str(disk), "--json")
    assert r.exit_code == 0, r.stderr
    manifest = next(m for m in json.loads(r.stdout)["manifests"] if m.startswith(str(disk)))
    in_pg = [s for s in shards_of(manifest) if table_of(s["location"])]  # shards 0 and 2
    sql(pg_url, f"DELETE FROM {tables[0]} WHERE name = %s", (in_pg[0]["file"],))
    flip_a_byte(pg_url, tables[0], in_pg[1]["file"])
    os.remove(disk / shards_of(manifest)[1]["file"])
    before = snapshot(pg_url, tables[:1], disk)

    r = cli("shard", "verify", manifest, "--json")
    assert r.exit_code == 3
    assert json.loads(r.stdout)["recoverable"] is False
    out = tmp_path / "restored.bin"
    for args in (("restore", manifest, "-o", str(out)), ("repair", manifest)):
        r = cli("shard", *args)
        assert r.exit_code == 3 and r.stdout == "" and "only 1 of the 4" in r.stderr, (args, r.stderr)
    assert not out.exists()
    assert snapshot(pg_url, tables[:1], disk) == before

"""mirror migrate status|up|down|history|check, with --to/--steps/--dry-run/--json."""

from __future__ import annotations

import json

import pytest

from mirror_cli.db import migrations
from helpers import dump, raw

LATEST = migrations.discover()[-1].version
ALL = list(range(1, LATEST + 1))


def js(result, code=0):
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return json.loads(result.stdout)


@pytest.fixture
def new_db(mirror_home):
    """An empty database file: only a command that writes creates one (CONTRACT.md, "Named journals")."""
    from mirror_cli.db.store import Store

    Store.open(mirror_home / "mirror.db", migrate=False).close()


def test_status_on_a_new_database(cli, new_db):
    s = js(cli("migrate", "status", "--json"))
    assert s["current_version"] == 0 and s["latest_version"] == LATEST and s["pending"] == ALL
    assert js(cli("migrate", "--json")) == s  # status is the default
    out = cli("migrate").stdout
    assert f"schema version 0 of {LATEST}" in out


def test_up_down_cycle(cli, mirror_home, new_db):
    plan = js(cli("migrate", "up", "--to", "2", "--dry-run", "--json"))
    assert plan["dry_run"] is True and [s["version"] for s in plan["steps"]] == [1, 2]
    assert js(cli("migrate", "status", "--json"))["current_version"] == 0
    assert js(cli("migrate", "up", "--to", "2", "--json"))["to_version"] == 2
    s = js(cli("migrate", "status", "--json"))
    assert (s["current_version"], s["pending"]) == (2, ALL[2:])
    r = cli("migrate", "up")
    assert r.exit_code == 0 and f"-> {LATEST}" in r.stdout
    assert "nothing to do" in cli("migrate", "up").stdout
    rid = cli("reflect", "survives").stdout.strip()
    before = dump(mirror_home / "mirror.db")
    d = js(cli("migrate", "down", "--steps", "2", "--dry-run", "--json"))
    assert [s["version"] for s in d["steps"]] == [LATEST, LATEST - 1]
    assert dump(mirror_home / "mirror.db") == before
    assert js(cli("migrate", "down", "--json"))["to_version"] == LATEST - 1
    assert js(cli("migrate", "down", "--to", "1", "--json"))["to_version"] == 1
    assert js(cli("migrate", "status", "--json"))["current_version"] == 1
    js(cli("migrate", "up", "--json"))
    shown = js(cli("show", rid, "--json"))
    assert shown["content"] == "survives"
    assert js(cli("audit", "verify", "--json"))["ok"] is True


def test_rolling_back_the_first_migration_of_a_journal_asks_first(cli, mirror_home):
    """To version 0 every table goes: refused without --yes when nobody can be asked."""
    rid = cli("reflect", "years of writing").stdout.strip()
    before = dump(mirror_home / "mirror.db")
    for args in (("--to", "0"), ("--steps", str(LATEST))):
        r = cli("migrate", "down", *args)
        assert r.exit_code == 2 and "--yes" in r.stderr and r.stdout == ""
    assert dump(mirror_home / "mirror.db") == before
    assert js(cli("migrate", "down", "--to", "0", "--dry-run", "--json"))["to_version"] == 0  # a dry run only says
    assert js(cli("show", rid, "--json"))["content"] == "years of writing"
    assert js(cli("migrate", "down", "--to", "0", "--yes", "--json"))["to_version"] == 0
    assert js(cli("migrate", "status", "--json"))["current_version"] == 0


def test_an_empty_database_rolls_back_to_0_without_asking(cli, new_db):
    js(cli("migrate", "up", "--json"))
    assert js(cli("migrate", "down", "--to", "0", "--json"))["to_version"] == 0


def test_history(cli):
    cli("reflect", "x")
    h = js(cli("migrate", "history", "--json"))
    assert [r["version"] for r in h] == ALL
    assert all(set(r) >= {"version", "name", "checksum", "applied_at"} for r in h)
    assert [r["checksum"] for r in h] == [m.checksum for m in migrations.discover()]
    lines = cli("migrate", "history").stdout.splitlines()
    assert len(lines) == LATEST and lines[0].startswith("1\tinitial\t")


@pytest.mark.parametrize("args", [["up", "--to", "99"], ["down", "--steps", "0"], ["down", "--to", "-1"],
                                  ["down", "--steps", "1", "--to", "1"], ["sideways"], ["up", "--to", "x"]])
def test_usage_errors(cli, args):
    cli("reflect", "x")
    r = cli("migrate", *args)
    assert r.exit_code == 2 and r.stdout == ""
    assert js(cli("migrate", "status", "--json"))["current_version"] == LATEST


def test_check_ok(cli):
    cli("reflect", "x")
    report = js(cli("migrate", "check", "--json"))
    assert report["ok"] is True
    assert cli("migrate", "check").stdout.startswith("ok")


def test_check_detects_changed_checksum(cli, mirror_home):
    cli("reflect", "x")
    raw(mirror_home / "mirror.db", "UPDATE schema_migrations SET checksum = 'abc' WHERE version = 1")
    report = js(cli("migrate", "check", "--json"), code=3)
    assert report["ok"] is False and report["drift"][0]["version"] == 1
    r = cli("migrate", "check")
    assert r.exit_code == 3 and "0001_initial" in r.stderr and "checksum" in r.stderr and r.stdout == ""


def test_check_detects_foreign_key_violation(cli, mirror_home):
    cli("reflect", "x")
    raw(mirror_home / "mirror.db",
        "INSERT INTO tensions (id, reflection_id, detected_at, data, rev) VALUES ('t1', 'GONE00000001', 'x', '{}', 1)")
    report = js(cli("migrate", "check", "--json"), code=3)
    assert report["foreign_keys"][0]["table"] == "tensions"
    assert report["orphans"][0]["what"] == "tensions without reflection"
    r = cli("migrate", "check")
    assert r.exit_code == 3 and "foreign key" in r.stderr and r.stdout == ""


def test_check_detects_orphan(cli, mirror_home):
    rid = cli("reflect", "x").stdout.strip()
    raw(mirror_home / "mirror.db",
        f"INSERT INTO tombstones (kind, id, deleted_at, rev) VALUES ('reflection', '{rid}', 'x', 1)")
    r = cli("migrate", "check")
    assert r.exit_code == 3 and "orphans" in r.stderr and r.stdout == ""


def test_check_detects_a_table_no_migration_made(cli, mirror_home):
    cli("reflect", "x")
    raw(mirror_home / "mirror.db", "CREATE TABLE planted (x)")
    report = js(cli("migrate", "check", "--json"), code=3)
    assert report["objects"] == [{"type": "table", "name": "planted", "problem": "no migration made it"}]
    r = cli("migrate", "check")
    assert r.exit_code == 3 and "table planted: no migration made it" in r.stderr and r.stdout == ""

"""mirror audit verify/log through the CLI, including tampering done with sqlite3 directly."""

from __future__ import annotations

import json
import sqlite3

import pytest


def js(result, code=0):
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return json.loads(result.stdout)


def raw(db, sql, params=()):
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute(sql, params)
    finally:
        conn.close()


@pytest.fixture
def three(cli):
    """Events 1..3 save A, B, C; event 4 edits B."""
    ids = [cli("reflect", t).stdout.strip() for t in ("alpha", "beta", "gamma")]
    assert cli("edit", ids[1], "beta, edited").exit_code == 0
    return ids


def test_verify_ok_shape(cli, three):
    v = js(cli("audit", "verify", "--json"))
    assert set(v) >= {"ok", "events", "first_bad_seq", "problem"}
    assert (v["ok"], v["events"], v["first_bad_seq"], v["problem"]) == (True, 4, None, None)
    r = cli("audit", "verify")
    assert r.exit_code == 0 and r.stdout.startswith("ok: 4 events")


def test_verify_on_an_empty_database(cli, mirror_home):
    from mirror_cli.db.store import Store

    Store.open(mirror_home / "mirror.db").close()  # only a command that writes creates one
    assert js(cli("audit", "verify", "--json"))["events"] == 0


def test_log(cli, three):
    log = js(cli("audit", "log", "--json"))
    assert [e["seq"] for e in log] == [4, 3, 2, 1]
    assert all(list(e) == ["seq", "id", "event_type", "timestamp", "data", "previous_hash", "event_hash"] for e in log)
    assert [e["event_type"] for e in log] == ["reflection.edited"] + ["reflection.saved"] * 3
    assert [e["seq"] for e in js(cli("audit", "log", "--limit", "2", "--json"))] == [4, 3]
    lines = cli("audit", "log").stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["4", "3", "2", "1"]
    assert "alpha" not in cli("audit", "log").stdout


def _expect_failure(cli, seq, *words):
    v = js(cli("audit", "verify", "--json"), code=3)
    assert v["ok"] is False and v["first_bad_seq"] == seq, v
    for w in words:
        assert w in v["problem"]
    r = cli("audit", "verify")
    # Without --json the failure is an error: stderr only, nothing on stdout (CONTRACT.md).
    assert r.exit_code == 3 and f"#{seq}" in r.stderr and r.stdout == ""
    assert "backup" in r.stderr  # names the next step


def test_audit_row_edited(cli, mirror_home, three):
    raw(mirror_home / "mirror.db", "UPDATE audit_events SET timestamp = '2000-01-01T00:00:00.000Z' WHERE seq = 2")
    _expect_failure(cli, 2, "#2")


def test_reflection_content_edited(cli, mirror_home, three):
    raw(mirror_home / "mirror.db", "UPDATE reflections SET content = 'forged' WHERE id = ?", (three[0],))
    _expect_failure(cli, 1, three[0])


def test_edited_reflection_content_edited_again(cli, mirror_home, three):
    raw(mirror_home / "mirror.db", "UPDATE reflections SET content = 'forged' WHERE id = ?", (three[1],))
    _expect_failure(cli, 4, three[1])


def test_reflection_deleted(cli, mirror_home, three):
    raw(mirror_home / "mirror.db", "DELETE FROM reflections WHERE id = ?", (three[2],))
    _expect_failure(cli, 3, three[2], "removed")


def test_reflection_inserted(cli, mirror_home, three):
    raw(mirror_home / "mirror.db",
        "INSERT INTO reflections (id, created_at, updated_at, content, mode, tags, local_only, rev)"
        " VALUES ('INSERTED0001', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'x', 'R', '[]', 0, 9)")
    _expect_failure(cli, 4, "INSERTED0001", "added")


def test_verify_passes_after_delete_all(cli, mirror_home, three):
    raw(mirror_home / "mirror.db", "UPDATE reflections SET content = 'forged' WHERE id = ?", (three[0],))
    assert cli("delete", "--all", "--yes").exit_code == 0
    v = js(cli("audit", "verify", "--json"))
    assert v["ok"] is True and v["events"] == 1

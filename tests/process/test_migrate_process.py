"""A database newer than this mirror, refused by a real process without changing a byte."""

from __future__ import annotations

import json

import pytest

from helpers import dump, raw

pytestmark = pytest.mark.process


def test_newer_database_is_refused_and_unchanged(cli, run_mirror, mirror_home):
    rid = cli("reflect", "x").stdout.strip()
    db = mirror_home / "mirror.db"
    raw(db, "INSERT INTO schema_migrations VALUES (999, 'future', 'x', '2030-01-01T00:00:00.000Z')")
    before = dump(db)
    for args in (["reflect", "y"], ["list"], ["show", rid], ["audit", "verify"]):
        p = run_mirror(*args)
        assert p.returncode == 1, args
        assert p.stdout == "" and "Traceback" not in p.stderr
        assert "999" in p.stderr and "newer" in p.stderr and "Upgrade" in p.stderr
    r = cli("migrate", "check", "--json")
    assert r.exit_code == 3 and json.loads(r.stdout)["drift"][0]["version"] == 999
    r = cli("migrate", "down")
    assert r.exit_code == 1 and "999" in r.stderr
    assert dump(db) == before

"""Issue 12, item 19: `export -o` and `backup create -o` never follow a symlink planted in a folder others
can write (exit 2, the link's target untouched)."""

from __future__ import annotations

import pytest


@pytest.fixture
def planted(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    return victim, shared


@pytest.mark.parametrize("args", [["export", "-o"], ["export", "--format", "markdown", "-o"],
                                  ["backup", "create", "-o"]], ids=" ".join)
def test_outputs_refuse_a_planted_link(cli, journal_db, planted, args):
    victim, shared = planted
    name = "reflections.md" if "markdown" in args else "out.backup"
    (shared / name).symlink_to(victim)
    target = shared if "markdown" in args else shared / name
    r = cli(*args, target)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert "symbolic link" in r.stderr and r.stdout == ""
    assert victim.read_text() == "precious\n"

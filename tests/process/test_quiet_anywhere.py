"""`-q` is accepted after the subcommand too, where people type it (CONTRACT.md, "Global options")."""

import pytest

from mirror_cli.cli.app import quiet_first

pytestmark = pytest.mark.process


def test_quiet_after_the_subcommand_silences_like_before_it(run_mirror):
    assert run_mirror("reflect", "first").returncode == 0
    for args in (["backup", "create", "-q"], ["-q", "backup", "create"], ["backup", "create", "--quiet"]):
        r = run_mirror(*args)
        assert r.returncode == 0 and r.stdout == "" and r.stderr == "", (args, r.stderr)
    r = run_mirror("reflect", "second", "-q")
    assert r.returncode == 0 and r.stdout == ""


def test_quiet_first_moves_only_what_comes_before_the_double_dash():
    assert quiet_first(["list", "-q", "--json"]) == ["-q", "list", "--json"]
    assert quiet_first(["-q", "list"]) == ["-q", "list"]
    assert quiet_first(["reflect", "--", "-q"]) == ["reflect", "--", "-q"]
    assert quiet_first(["reflect", "-q", "--", "-q"]) == ["-q", "reflect", "--", "-q"]
    assert quiet_first(["list"]) == ["list"]

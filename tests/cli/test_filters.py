"""Filters jrnl users type on `list` (--tag any / --and all, --not-tag, --contains) and the bulk `delete` and
`edit` of what they select (asking with the count on a terminal, --yes in a script); plain and encrypted."""

from __future__ import annotations

import json

import pytest

from mirror_cli.crypto import manage as keyops
from mirror_cli.db.store import Store
from helpers import cheap

PW = "lighthouse keeper 42"


def ok(result):
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def reflect(cli, *args) -> str:
    return json.loads(ok(cli("reflect", "--json", *args)).stdout)["id"]


def ids(cli, *args) -> list[str]:
    return [o["id"] for o in json.loads(ok(cli("list", "--json", *args)).stdout)]


def seal(mirror_home, monkeypatch) -> None:
    with Store.open(mirror_home / "mirror.db") as s:
        keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
    monkeypatch.setenv("MIRROR_PASSPHRASE", PW)


@pytest.fixture(params=["plain", "encrypted"])
def entries(request, cli, mirror_home, monkeypatch):
    e = {
        "work": reflect(cli, "--at", "2024-06-01 09:00", "-t", "work", "standup went long"),
        "both": reflect(cli, "--at", "2024-06-02 09:00", "-t", "work", "#walks after the Standup"),
        "walk": reflect(cli, "--at", "2024-06-03 09:00", "a long walk by the river #walks"),
        "none": reflect(cli, "--at", "2024-06-04 09:00", "Crème brûlée at the café, ÉCLAIRS too"),
        "star": reflect(cli, "--at", "2024-06-05 09:00", "-s", "-t", "work", "a starred day"),
    }
    if request.param == "encrypted":
        seal(mirror_home, monkeypatch)
    return e


def test_tags_any_all_and_not(cli, entries):
    e = entries
    assert ids(cli, "--tag", "work") == [e["star"], e["both"], e["work"]]
    assert ids(cli, "--tag", "work", "--tag", "walks") == [e["star"], e["walk"], e["both"], e["work"]]
    assert ids(cli, "-t", "work", "-t", "#Walks", "--and") == [e["both"]]
    assert ids(cli, "--not-tag", "work") == [e["none"], e["walk"]]
    assert ids(cli, "--not-tag", "work", "--not-tag", "walks") == [e["none"]]
    assert ids(cli, "--tag", "walks", "--not-tag", "work") == [e["walk"]]
    assert ids(cli, "--tag", "work", "--tag", "walks", "--starred") == [e["star"]]
    assert ids(cli, "--tag", "work", "--limit", "2") == [e["star"], e["both"]]


def test_contains_any_case_any_script(cli, entries):
    e = entries
    assert ids(cli, "--contains", "standup") == [e["both"], e["work"]]
    assert ids(cli, "--contains", "STANDUP", "--tag", "walks") == [e["both"]]
    assert ids(cli, "--contains", "éclairs") == [e["none"]]  # non-ASCII folds too
    assert ids(cli, "--contains", "CAFÉ") == [e["none"]]
    assert ids(cli, "--contains", "nowhere") == []
    assert ids(cli, "--contains", "long", "--limit", "1") == [e["walk"]]


def test_bulk_delete_asks_with_the_count(cli, entries, monkeypatch):
    e = entries
    res = cli("delete", "--tag", "work")
    assert res.exit_code == 2 and "refusing to delete 3 reflections" in res.stderr and "--yes" in res.stderr
    assert len(ids(cli)) == 5
    monkeypatch.setattr("mirror_cli.cli.output.stdin_is_tty", lambda: True)
    res = ok(cli("delete", "--tag", "work", input="n\n"))
    assert "Delete 3 reflections? [y/N]" in res.stderr and "Nothing deleted." in res.stderr
    assert len(ids(cli)) == 5
    res = ok(cli("delete", "--tag", "work", "--not-tag", "walks", input="y\n"))
    assert "Delete 2 reflections? [y/N]" in res.stderr and res.stdout == "Deleted 2 reflections.\n"
    assert ids(cli) == [e["none"], e["walk"], e["both"]]
    res = ok(cli("delete", "--contains", "nothing like this"))
    assert "No reflections match; nothing deleted." in res.stderr


def test_bulk_delete_with_yes_and_json(cli, entries):
    e = entries
    res = ok(cli("delete", "--contains", "walk", "--yes", "--json"))
    assert sorted(json.loads(res.stdout)["deleted"]) == sorted([e["walk"], e["both"]])
    assert ids(cli) == [e["star"], e["none"], e["work"]]
    assert ok(cli("audit", "verify"))


def test_bulk_delete_refuses_ids_with_filters(cli, entries):
    res = cli("delete", entries["work"], "--tag", "work", "--yes")
    assert res.exit_code == 2 and "not several" in res.stderr
    res = cli("delete", "--all", "--tag", "work", "--yes")
    assert res.exit_code == 2
    assert len(ids(cli)) == 5


def test_bulk_edit_tags_and_mode(cli, entries, monkeypatch):
    e = entries
    res = cli("edit", "--has-tag", "walks", "--tag", "outside", "--untag", "walks")
    assert res.exit_code == 2 and "refusing to edit 2 reflections" in res.stderr and "--yes" in res.stderr
    monkeypatch.setattr("mirror_cli.cli.output.stdin_is_tty", lambda: True)
    res = ok(cli("edit", "--has-tag", "walks", "--tag", "outside", "--mode", "EVENING", input="y\n"))
    assert "Edit 2 reflections? [y/N]" in res.stderr and res.stdout == "Changed 2 reflections.\n"
    assert ids(cli, "--tag", "outside") == [e["walk"], e["both"]]
    assert ids(cli, "--mode", "EVENING") == [e["walk"], e["both"]]
    res = ok(cli("edit", "--has-tag", "work", "--star", "--yes", "--json"))
    assert sorted(json.loads(res.stdout)["edited"]) == sorted([e["both"], e["work"]])  # one was starred already
    assert ids(cli, "--starred") == [e["star"], e["both"], e["work"]]
    res = ok(cli("edit", "--contains", "river", "--untag", "outside", "--yes"))
    assert ids(cli, "--tag", "outside") == [e["both"]]
    assert ok(cli("audit", "verify"))


def test_bulk_edit_refusals(cli, entries):
    e = entries
    for args in (["--has-tag", "work", "--yes"],  # nothing to change
                 [e["work"], "--has-tag", "work", "--tag", "x", "--yes"],  # an id and filters
                 ["--has-tag", "work", "--at", "2024-01-01", "--yes"],
                 ["--has-tag", "work", "new text", "--yes"]):
        res = cli("edit", *args)
        assert res.exit_code == 2, (args, res.stderr)
    res = cli("edit")
    assert res.exit_code == 2 and "nothing to edit" in res.stderr
    assert ids(cli, "--tag", "x") == []


def test_full_prints_whole_entries_in_local_time(cli, new_york):
    rid = reflect(cli, "--at", "2024-03-10 03:30", "-t", "dst", "--response", "noted",
                  "The clocks jumped\nand I slept through it.\n\nSecond paragraph.")
    reflect(cli, "--at", "2024-03-09 22:00", "the evening before")
    out = ok(cli("list", "--full")).stdout
    assert out.startswith("2024-03-10 03:30 The clocks jumped\nand I slept through it.\n\nSecond paragraph.\n"
                          "> noted\n" f"[{rid}] #dst\n\n2024-03-09 22:00 the evening before\n")
    assert ok(cli("list", "--full", "--contains", "nothing")).stdout == ""
    full = json.loads(ok(cli("list", "--full", "--json")).stdout)
    assert [o["id"] for o in full][0] == rid

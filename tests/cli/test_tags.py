"""`mirror tags [--json]`: every tag with its count, most used first (ties by name), plain and encrypted."""

from __future__ import annotations

import json

import pytest

from mirror_cli.crypto import manage as keyops
from mirror_cli.db.store import Store
from helpers import cheap


def ok(result):
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def seal(mirror_home, monkeypatch) -> None:
    with Store.open(mirror_home / "mirror.db") as s:
        keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": "lighthouse keeper 42"}, interactive=False, kdf_params=cheap())
    monkeypatch.setenv("MIRROR_PASSPHRASE", "lighthouse keeper 42")


@pytest.mark.parametrize("kind", ["plain", "encrypted"])
def test_counts_most_used_first(cli, mirror_home, monkeypatch, kind):
    ok(cli("reflect", "-t", "work", "standup #walks"))
    ok(cli("reflect", "-t", "Work", "-s", "review"))
    ok(cli("reflect", "#walks #walks by the river #zebra"))  # a tag counts once per reflection
    ok(cli("reflect", "-t", "apple", "fruit"))
    if kind == "encrypted":
        seal(mirror_home, monkeypatch)
    got = json.loads(ok(cli("tags", "--json")).stdout)
    assert got == [{"tag": "walks", "count": 2}, {"tag": "work", "count": 2}, {"tag": "apple", "count": 1},
                   {"tag": "starred", "count": 1}, {"tag": "zebra", "count": 1}]
    assert ok(cli("tags")).stdout == "walks    2\nwork     2\napple    1\nstarred  1\nzebra    1\n"


def test_no_tags(cli):
    ok(cli("reflect", "untagged"))
    assert json.loads(ok(cli("tags", "--json")).stdout) == []
    res = ok(cli("tags"))
    assert res.stdout == "" and "no tags yet" in res.stderr

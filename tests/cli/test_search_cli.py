"""`mirror search` through the CLI: snippets, operators, Chinese and Japanese, hostile queries (exit 0 or 2)."""

from __future__ import annotations

import json

import pytest

from helpers import cheap, check_reflection
from mirror_cli.crypto import manage as keyops
from mirror_cli.db.store import Store

PW = "a passphrase for the search test"

HOSTILE = ['"', "*", "NEAR(", "NEAR(a b)", "^", "content:x", "OR", "NOT", "-x", "(", ")", '" OR "', "a OR",
           "{content}:x", "walk^", "-", "東京 OR", "。", "'", "\\"]


@pytest.fixture
def hits(cli):
    ids = []
    for text in ("We went walking by the river", "rain again, walking home",
                 "東京タワーに行った。とても楽しかった", "我住在东京都，天气很好"):
        r = cli("reflect", text, "--json")
        assert r.exit_code == 0, r.output
        ids.append(json.loads(r.stdout)["id"])
    return ids


def _json(cli, *args):
    r = cli("search", "--json", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_json_hits_carry_the_reflection_and_its_snippet(cli, hits):
    (obj,) = _json(cli, "river")
    check_reflection({k: v for k, v in obj.items() if not k.startswith("snippet")})
    assert obj["id"] == hits[0] and obj["snippet"] == "We went walking by the river"
    assert [obj["snippet"][s:e] for s, e in obj["snippet_marks"]] == ["river"]
    (obj,) = _json(cli, "京都")
    assert obj["id"] == hits[3] and [obj["snippet"][s:e] for s, e in obj["snippet_marks"]] == ["京都"]


def test_operators_and_scripts_without_spaces(cli, hits):
    assert [o["id"] for o in _json(cli, "walk", "NOT", "rain")] == [hits[0]]
    assert [o["id"] for o in _json(cli, "walk -rain")] == [hits[0]]  # -word: in quotes, or after --
    assert [o["id"] for o in _json(cli, "--", "walk", "-rain")] == [hits[0]]
    assert {o["id"] for o in _json(cli, "river", "OR", "rain")} == {hits[0], hits[1]}
    assert {o["id"] for o in _json(cli, "wal*")} == {hits[0], hits[1]}
    assert {o["id"] for o in _json(cli, "京")} == {hits[2], hits[3]}
    assert [o["id"] for o in _json(cli, "東京")] == [hits[2]]
    assert [o["id"] for o in _json(cli, "とても楽しかった")] == [hits[2]]
    assert _json(cli, "大阪") == []


def test_piped_output_is_the_snippet_as_text(cli, hits):
    r = cli("search", "楽しかった")
    assert r.exit_code == 0
    fields = r.stdout.rstrip("\n").split("\t")
    assert fields[0] == hits[2] and fields[-1] == "東京タワーに行った。とても楽しかった"
    r = cli("search", "zebra")
    assert r.exit_code == 0 and r.stdout == "" and "No reflection matches" in r.stderr


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_queries_exit_0_or_2_with_a_message(cli, hits, q):
    r = cli("search", q)
    assert r.exit_code in (0, 2), (q, r.output)
    if r.exit_code == 2:
        assert r.stdout == "" and r.stderr.strip() and "Traceback" not in r.stderr
        assert "fts5" not in r.stderr.lower() and "syntax" not in r.stderr.lower()


def test_a_query_of_only_punctuation_says_so(cli, hits):
    r = cli("search", "?!", "--json")
    assert r.exit_code == 2 and r.stdout == "" and "no words" in r.stderr


def test_the_same_on_an_encrypted_journal(cli, hits, mirror_home):
    before = {q: _json(cli, q) for q in ("walk -rain", "京", "東京", "river OR rain", "wal*")}
    with Store.open(mirror_home / "mirror.db") as s:
        keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
    for q, found in before.items():
        r = cli("search", q, "--json", env={"MIRROR_PASSPHRASE": PW})
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout) == found, q

"""`mirror completion` and the values the scripts ask for (issue 15, item 12)."""

from __future__ import annotations

import pytest

from helpers import ROOT

GOOD = "correct horse battery staple"


def _ok(r):
    assert r.exit_code == 0, r.stdout + r.stderr
    return r


@pytest.mark.parametrize("shell, name", [("bash", "mirror.bash"), ("zsh", "mirror.zsh"), ("fish", "mirror.fish")])
def test_completion_prints_the_checked_in_script(cli, shell, name):
    assert _ok(cli("completion", shell)).stdout == (ROOT / "completions" / name).read_text(encoding="utf-8")


def test_completion_refuses_an_unknown_shell(cli):
    r = cli("completion", "tcsh")
    assert r.exit_code == 2 and "unknown shell 'tcsh'" in r.stderr and r.stdout == ""


def test_values_ids_tags_and_modes_of_a_plain_journal(cli):
    _ok(cli("reflect", "first", "--tag", "work", "--mode", "POST_ACTION"))
    _ok(cli("reflect", "second", "--tag", "home"))
    ids = _ok(cli("completion", "--values", "ids")).stdout.split()
    import json

    listed = [r["id"] for r in json.loads(_ok(cli("list", "--json")).stdout)]  # newest first, as listed
    assert ids == listed
    assert _ok(cli("completion", "--values", "tags")).stdout.split() == ["home", "work"]
    assert _ok(cli("completion", "--values", "modes")).stdout.split() == ["POST_ACTION", "REFLECTION"]


def test_values_without_a_journal_are_empty_and_create_nothing(cli, mirror_home):
    assert _ok(cli("completion", "--values", "ids")).stdout == ""
    assert not (mirror_home / "mirror.db").exists()


def test_values_of_an_encrypted_journal_need_no_key_and_give_no_tags(cli, monkeypatch):
    _ok(cli("reflect", "secret", "--tag", "health"))
    _ok(cli("key", "enable", env={"MIRROR_NEW_PASSPHRASE": GOOD}))
    monkeypatch.delenv("MIRROR_PASSPHRASE", raising=False)
    assert len(_ok(cli("completion", "--values", "ids")).stdout.split()) == 1
    assert _ok(cli("completion", "--values", "tags")).stdout == ""

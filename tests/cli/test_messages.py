"""Help and messages (issue 15, item 13): `mirror help`, "did you mean", text typed without `reflect`,
-q after the subcommand, plural grammar, empty results, whole summaries in the top-level help."""

from __future__ import annotations

import json

import pytest

from mirror_cli.cli import output
from mirror_cli.cli.app import COMMANDS


def test_help_shows_the_app_or_a_command(cli):
    top = cli("help")
    assert top.exit_code == 0 and "Commands" in top.stdout and "journals" in top.stdout
    sub = cli("help", "backup", "create")
    assert sub.exit_code == 0 and sub.stdout == cli("backup", "create", "--help").stdout
    assert cli("help", "list").stdout == cli("list", "--help").stdout
    bad = cli("help", "lsit")
    assert bad.exit_code == 2 and "did you mean 'list'" in bad.stderr


@pytest.mark.parametrize("typed,meant", [("lst", "list"), ("refelct", "reflect"), ("serach", "search"),
                                         ("jounrals", "journals"), ("bakup", "backup")])
def test_a_mistyped_command_gets_a_suggestion(cli, typed, meant, mirror_home):
    r = cli(typed)
    assert r.exit_code == 2 and r.stdout == ""
    assert f"did you mean '{meant}'?" in r.stderr
    assert not mirror_home.exists()


@pytest.mark.parametrize("args,line", [
    (["went for a walk"], 'mirror reflect "went for a walk"'),
    (["went", "for", "a", "walk"], 'mirror reflect "went for a walk"'),
    (["it's $5"], "mirror reflect 'it'\"'\"'s $5'"),
])
def test_text_typed_without_reflect_is_not_saved_and_gets_the_line_to_type(cli, mirror_home, args, line):
    r = cli(*args)
    assert r.exit_code == 2 and r.stdout == ""
    assert line in r.stderr and "did you mean" not in r.stderr
    assert not mirror_home.exists()


def test_an_unknown_word_alone_points_to_help(cli):
    r = cli("zzzz")
    assert r.exit_code == 2 and "mirror help" in r.stderr


def test_quiet_after_the_subcommand(cli):
    loud = cli("reflect", "hello")
    assert loud.stdout.strip()
    r = cli("reflect", "again", "-q")
    assert r.exit_code == 0 and r.stdout == ""
    assert cli("reflect", "--", "-q").exit_code == 0  # after --, it is the text
    assert any(x["content"] == "-q" for x in json.loads(cli("list", "--json").stdout))


def test_plural():
    assert output.plural(0, "reflection") == "0 reflections"
    assert output.plural(1, "reflection") == "1 reflection"
    assert output.plural(2, "reflection") == "2 reflections"
    assert output.counted(1, "audit_events") == "1 audit event"
    assert output.counted(3, "tensions") == "3 tensions"


def test_counts_are_singular_for_one(cli):
    cli("reflect", "one more")
    r = cli("audit", "verify")
    assert r.exit_code == 0 and "1 reflection matches the chain" in r.stdout
    rid = json.loads(cli("list", "--json").stdout)[0]["id"]
    assert cli("delete", rid, "--yes").stdout.strip() == "Deleted 1 reflection."


class _Tty:
    """Make stdout look like a terminal (with NO_COLOR: plain, not Rich)."""

    def __init__(self, monkeypatch):
        monkeypatch.setattr(output, "is_tty", lambda stream: True)


def test_empty_results_say_so_on_a_terminal(cli, monkeypatch):
    _Tty(monkeypatch)
    assert cli("list").stdout == ""  # no journal yet: a usage error, not an empty list
    cli("reflect", "a walk #river")
    assert cli("list", "--tag", "nothing").stdout.strip() == "no reflections match"
    assert cli("search", "zebra").stdout.strip() == "no reflections match"
    rid = json.loads(cli("list", "--json").stdout)[0]["id"]
    cli("delete", rid, "--yes")
    assert cli("list").stdout.strip() == "no reflections yet"
    assert json.loads(cli("list", "--json").stdout) == []


def test_empty_results_print_nothing_to_a_pipe(cli):
    cli("reflect", "a walk")
    assert cli("list", "--tag", "nothing").stdout == ""
    assert cli("search", "zebra", "--json").stdout.strip() == "[]"


def test_top_level_summaries_are_whole(cli):
    text = cli("--help").stdout
    assert "such as Control vs Surrender" in text
    for name in COMMANDS:
        assert name in text


def test_a_journal_name_typed_as_a_command_gets_the_j_form(cli, mirror_home):
    """jrnl users type `jrnl work "text"`: mirror names the journal and the line to type, and saves nothing."""
    cli("-j", "work", "reflect", "first")
    r = cli("work", "had a meeting")
    assert r.exit_code == 2 and 'mirror -j work reflect "had a meeting"' in r.stderr
    assert "mirror -j work list" in cli("work").stderr
    assert len(json.loads(cli("-j", "work", "list", "--json").stdout)) == 1

"""The layout a person reads at an 80-column terminal: one line per reflection, cut by display width
(CJK counts two cells), local times with the zone named once; NO_COLOR vs --plain / MIRROR_PLAIN."""

from __future__ import annotations

import json
import re

import pytest
from rich.cells import cell_len

from mirror_cli.cli import output
from mirror_cli.cli.terminal import Oneline, fit, local, short_when, zone_name

CJK = "今日は天気がいいですね、散歩に行きましょう。" * 4
STAMP = "2026-06-03T19:15:00.000Z"


@pytest.mark.parametrize("text", ["a rather long line of Latin text " * 4, CJK, "mixed 混合テキスト and words " * 5])
def test_a_row_fills_80_columns_and_never_more(text, new_york):
    line = Oneline(8, columns=80, this_year=2026)("01HZFRDES0587TMR3Y4ZT1RQ6Q", STAMP, text)
    assert cell_len(line) in (79, 80)  # 79: a two-cell character that did not fit
    assert line.startswith("01HZFRDE  06-03 15:15  ") and line.endswith("…")


def test_short_text_is_whole_and_tags_follow_it(new_york):
    line = Oneline(6, columns=80, this_year=2026)
    assert line("01HZFRDES0587", STAMP, "a walk #river", ["river", "calm"]) == "01HZFR  06-03 15:15  a walk #river #calm"
    assert line("01HZFRDES0587", STAMP, "雨の日") == "01HZFR  06-03 15:15  雨の日"


def test_the_year_is_shown_when_it_is_not_this_year(new_york):
    assert short_when(STAMP, 2026) == "06-03 15:15"
    assert short_when(STAMP, 2027) == "2026-06-03 15:15"
    assert short_when("2027-01-01T03:00:00Z", 2027) == "2026-12-31 22:00"  # local: still last year


def test_fit_cuts_by_display_width():
    assert fit("abcdef", 6) == "abcdef" and fit("abcdefg", 6) == "abcde…"
    assert fit("日本語の文章", 6) == "日本…" and cell_len(fit("日本語の文章", 6)) == 5
    assert fit("日本語", 6) == "日本語" and fit("x", 0) == ""


def test_control_characters_never_reach_the_line(new_york):
    line = Oneline(8, columns=80, this_year=2026)("01HZFRDES0587TMR3Y4ZT1RQ6Q", STAMP, "csi \x1b[2J end")
    assert "\x1b" not in line and "\\x1b[2J" in line


def test_zone_and_local_time(new_york):
    assert zone_name() == "America/New_York"
    assert local(STAMP) == "2026-06-03 15:15" and local(STAMP, seconds=True) == "2026-06-03 15:15:00"


@pytest.fixture
def tty(monkeypatch):
    """stdout looks like a terminal to mirror (not to the pager: CliRunner has no real one)."""
    monkeypatch.setattr(output, "is_tty", lambda stream: True)
    monkeypatch.setenv("COLUMNS", "80")


def _reflect(cli, text, at="2026-06-03 15:15"):
    r = cli("reflect", text, "--at", at)
    assert r.exit_code == 0
    return r.stdout.strip()


def test_list_and_show_at_a_terminal_are_in_local_time_with_the_zone(cli, tty, new_york):
    rid = _reflect(cli, "雨の日の散歩 #walk")
    lines = cli("list").stdout.splitlines()
    assert lines[0] == "times in America/New_York"  # NO_COLOR (tests set it): no escape sequences
    assert re.fullmatch(rf"{rid[:6]}\S*  (2026-)?06-03 15:15  雨の日の散歩 #walk", lines[1]), lines[1]
    shown = cli("show", rid[:8]).stdout
    assert "created:  2026-06-03 15:15:00 (America/New_York)" in shown
    assert "T19:15" not in shown and shown.count("America/New_York") == 1


def test_no_color_keeps_the_layout_plain_gives_tsv(cli, tty, new_york, monkeypatch):
    rid = _reflect(cli, "a walk")
    people = cli("list").stdout
    assert "\t" not in people and "\x1b" not in people and "times in" in people
    for args, env in ((["--plain", "list"], None), (["list", "--plain"], None), (["list"], {"MIRROR_PLAIN": "1"})):
        plain = cli(*args, env=env).stdout
        assert plain == f"{rid}\t2026-06-03T19:15:00.000Z\tREFLECTION\t\ta walk\n", args
    assert "2026-06-03T19:15:00.000Z" in cli("--plain", "show", rid).stdout
    monkeypatch.setenv("MIRROR_PLAIN", "0")
    assert "times in" in cli("list").stdout
    assert json.loads(cli("list", "--json").stdout)[0]["created_at"] == "2026-06-03T19:15:00.000Z"


def test_a_pipe_gets_tsv_with_utc_times(cli, new_york):
    rid = _reflect(cli, "a walk")
    assert cli("list").stdout == f"{rid}\t2026-06-03T19:15:00.000Z\tREFLECTION\t\ta walk\n"
    assert "created:  2026-06-03T19:15:00.000Z" in cli("show", rid).stdout


def test_short_ids_grow_until_they_tell_reflections_apart(cli, tty, tmp_path):
    ids = ["01AAAAAAAAAAAAAAAAAAAAAAA1", "01AAAAAAAAAAAAAAAAAAAAAAA2", "01BBBBBBBBBBBBBBBBBBBBBBBB"]
    header = {"type": "header", "format": "mirror-export", "version": 1, "counts": {"reflections": 3}}
    records = [{"type": "reflection", "id": i, "created_at": "2026-06-03T19:15:00.000Z",
                "updated_at": "2026-06-03T19:15:00.000Z", "content": f"n{n}", "response": None,
                "mode": "REFLECTION", "tags": [], "local_only": False} for n, i in enumerate(ids)]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [header, *records]))
    r = cli("import", path)
    assert r.exit_code == 0, r.stderr
    shown = [line.split()[0] for line in cli("list").stdout.splitlines()[1:]]
    assert sorted(shown) == sorted(ids)  # the first two differ only in their last character
    _reflect(cli, "one of mirror's own")
    assert len(cli("list").stdout.splitlines()[1].split()[0]) == 26  # every id as long: columns stay aligned


def test_file_names_and_paths_are_never_cut_at_80_columns(cli, tty, tmp_path, new_york):
    _reflect(cli, "something to keep")
    deep = tmp_path / ("a-rather-long-folder-name-" * 3) / "shards-on-the-second-disk"
    made = json.loads(cli("shard", "create", "--level", "minimal", "--to", deep, "--mkdir", "--json").stdout)
    shown = cli("shard", "verify", made["manifests"][0]).stdout
    for shard in made["shards"]:
        path = shard["path"] if isinstance(shard, dict) else shard
        assert any(str(path) in line for line in shown.splitlines()), (path, shown)
    assert cli("backup", "create", "--no-encrypt", "-q").exit_code == 0
    listed = cli("backup", "list").stdout
    name = json.loads(cli("backup", "list", "--json").stdout)[0]["path"].rpartition("/")[2]
    assert any(name in line for line in listed.splitlines()) and "…" not in listed
    assert "times in America/New_York" in listed
    # One line per backup, as `list` has reflections: nothing folds at 80 columns (found living with it for
    # a week: the table wrapped the time onto a second line).
    row = next(line for line in listed.splitlines() if name in line)
    assert re.fullmatch(r"(\d{4}-)?\d\d-\d\d \d\d:\d\d +[\d.]+ [kMG]?B +no +" + re.escape(name), row), row
    assert all(cell_len(line) <= 80 for line in listed.splitlines()[1:])  # the folder, on top, may wrap


def test_show_of_several_names_the_zone_once_and_json_gives_an_array(cli, tty, new_york):
    a = _reflect(cli, "the first one\nwith a second line")
    b = _reflect(cli, "the second one #tea", at="2026-06-04 08:00")
    shown = cli("show", a[:8], b, a).stdout  # an id given twice is shown once
    assert shown.count("times in America/New_York") == 1 and "(America/New_York)" not in shown
    assert shown.count("id:       ") == 2 and "with a second line" in shown and "tags:     tea" in shown
    assert "created:  2026-06-04 08:00:00" in shown
    both = json.loads(cli("show", a, b, "--json").stdout)
    assert [r["id"] for r in both] == [a, b]
    assert json.loads(cli("show", a, "--json").stdout)["id"] == a  # one ID: its object, as the contract says
    r = cli("show", a, "nosuchid")
    assert r.exit_code == 2 and r.stdout == ""  # nothing shown when one of them is not there


def test_search_at_80_columns_names_the_zone_once_and_wraps_the_match(cli, tty, new_york):
    _reflect(cli, "a walk by the river #walk")
    _reflect(cli, "川沿いの散歩。" * 12 + "river", at="2026-06-04 08:00")
    lines = cli("search", "river").stdout.splitlines()
    assert lines[0] == "times in America/New_York"
    heads = [line for line in lines if re.match(r"\S{6,}  (2026-)?06-0\d \d\d:\d\d  ", line)]
    under = [line for line in lines if line.startswith("    ")]
    assert len(heads) == 2 and len(under) == 2 and "river" in under[1]
    assert all(cell_len(line) <= 80 for line in lines)
    assert "\x1b" not in "".join(lines)  # NO_COLOR: the match is not emphasised, nothing else changes


def test_hit_lines_emphasise_the_match_when_colour_is_on(new_york):
    from mirror_cli.cli.search import hit_lines
    from mirror_cli.journal.find import Found
    from mirror_cli.journal.reflections import Reflection
    from mirror_cli.journal.snippets import Snippet

    r = Reflection("01HZFRDES0587TMR3Y4ZT1RQ6Q", STAMP, STAMP, "we walked to 東京タワー", tags=["walk"])
    out = list(hit_lines([Found(r, Snippet("we walked to 東京タワー", ((13, 15),), "content"))], 8, columns=80, colour_on=True))
    assert "times in America/New_York" in out[0]
    narrow = list(hit_lines([Found(r, Snippet("川沿いの散歩。" * 8, ((0, 2),), "content"))], 8, columns=40))
    assert len(narrow) > 3 and all(cell_len(line) <= 40 for line in narrow)  # Japanese folds by display width
    assert re.search(r"\x1b\[[0-9;]*1;4m東京", out[2]) or re.search(r"\x1b\[1m\x1b\[4m東京", out[2]), out[2]


def test_an_empty_result_says_so_on_stderr_when_piped(cli, new_york):
    """Found living with it for a week: `list --on-this-day` with nothing to show printed nothing at all."""
    _reflect(cli, "only this year")
    r = cli("list", "--on-this-day")
    assert r.exit_code == 0 and r.stdout == "" and "No reflections match." in r.stderr
    assert cli("-q", "list", "--on-this-day").stderr == ""  # -q: nothing but errors
    r = cli("list", "--tag", "nosuchtag", "--json")
    assert r.stdout.strip() == "[]" and r.stderr == ""  # --json: the empty array is the answer

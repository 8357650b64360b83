"""`mirror edit`: --at (another time), -t/--untag, --mode, --star/--unstar; an edit that changes nothing
writes nothing; a time in the future or before 1970 is asked about at a terminal, warned about in a script."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from helpers import check_reflection
from mirror_cli.db.store import Store


def ok(result):
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def as_json(result):
    return check_reflection(json.loads(ok(result).stdout))


def reflect(cli, *args):
    return as_json(cli("reflect", "--json", *args))


def events(home) -> list[str]:
    with Store.open(home / "mirror.db") as store:
        return [r[0] for r in store.conn.execute("SELECT event_type FROM audit_events ORDER BY seq")]


def test_at_moves_a_reflection_to_another_time(cli, new_york):
    a = reflect(cli, "--at", "2026-03-01 10:00", "first")
    b = reflect(cli, "--at", "2026-03-02 10:00", "second")
    moved = as_json(cli("edit", a["id"], "--at", "2026-03-03 21:15", "--json"))
    assert moved["id"] == a["id"] and moved["content"] == "first"
    assert moved["created_at"] == "2026-03-04T02:15:00.000Z"  # 21:15 in New York, in UTC
    assert moved["updated_at"] > a["updated_at"]
    listed = json.loads(ok(cli("list", "--json")).stdout)
    assert [o["id"] for o in listed] == [a["id"], b["id"]]  # newest first, by the new time
    assert as_json(cli("show", a["id"], "--json")) == moved
    moved = as_json(cli("edit", a["id"][:8], "--at", "yesterday at 21:00", "--json"))
    expected = datetime.combine(datetime.now().astimezone().date() - timedelta(days=1),
                                datetime.min.time().replace(hour=21)).astimezone(timezone.utc)
    assert moved["created_at"] == expected.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_tags_mode_and_star(cli, mirror_home):
    r = reflect(cli, "-t", "walk", "by the #river")
    assert r["tags"] == ["walk", "river"]
    e = as_json(cli("edit", r["id"], "-t", "Evening", "--tag", "#calm", "--untag", "walk", "--mode", "NIGHT", "--json"))
    assert e["tags"] == ["river", "evening", "calm"] and e["mode"] == "NIGHT" and e["content"] == r["content"]
    e = as_json(cli("edit", r["id"], "-s", "--untag", "calm", "--untag", "evening", "--json"))
    assert e["tags"] == ["river", "starred"]
    e = as_json(cli("edit", r["id"], "--unstar", "--json"))
    assert e["tags"] == ["river"]
    s = reflect(cli, "--star", "a good day")
    assert s["tags"] == ["starred"]
    assert as_json(cli("edit", r["id"], "--star", "--json"))["tags"] == ["river", "starred"]
    assert events(mirror_home).count("reflection.edited") == 4


def test_new_text_keeps_t_tags_and_the_star(cli):
    r = reflect(cli, "-s", "-t", "work", "a #draft")
    e = as_json(cli("edit", r["id"], "--json", "the final words #done"))
    assert e["tags"] == ["work", "starred", "done"]


@pytest.mark.parametrize("args", [("--mode", "REFLECTION"), ("--untag", "absent"), ("-t", "walk"), ("--unstar",),
                                  ("--at", "2026-03-01T10:00:00Z"), ("-t", "#Walk", "--mode", " REFLECTION ")])
def test_an_edit_that_changes_nothing_says_so_and_writes_nothing(cli, mirror_home, args):
    r = reflect(cli, "--at", "2026-03-01T10:00:00Z", "-t", "walk", "same")
    before = events(mirror_home)
    res = ok(cli("edit", r["id"], *args, "--json"))
    assert "Nothing changed" in res.stderr
    assert json.loads(res.stdout) == r  # updated_at too: nothing was written
    assert events(mirror_home) == before  # no audit event
    assert "Nothing changed" in ok(cli("edit", r["id"], "same")).stderr  # the same text as well


def test_bad_edits_are_usage_errors_and_change_nothing(cli, mirror_home):
    r = reflect(cli, "text")
    before = events(mirror_home)
    for args in (("--star", "--unstar"), ("--at", "someday"), ("--at", "9999-12-31"), ("--at", "2026-02-30")):
        res = cli("edit", r["id"], *args)
        assert res.exit_code == 2 and res.stdout == "", args
    assert events(mirror_home) == before
    assert as_json(cli("show", r["id"], "--json")) == r


def test_a_future_or_pre_1970_time_warns_in_a_script(cli):
    r = reflect(cli, "text")
    res = ok(cli("edit", r["id"], "--at", "1969-07-20 20:17", "--json"))
    assert "warning: --at '1969-07-20 20:17' is 1969-07-20 20:17 local time, which is before 1970." in res.stderr
    assert json.loads(res.stdout)["created_at"] < "1970"
    res = ok(cli("edit", r["id"], "--at", "3000-01-01", "--json"))
    assert "in the future" in res.stderr and json.loads(res.stdout)["created_at"] > "2999"


@pytest.fixture
def at_a_terminal(monkeypatch):
    from mirror_cli.cli import output

    monkeypatch.setattr(output, "stdin_is_tty", lambda: True)


def test_a_future_time_is_asked_about_at_a_terminal(cli, mirror_home, at_a_terminal):
    r = reflect(cli, "text")
    res = ok(cli("edit", r["id"], "--at", "tomorrow 9pm", input="n\n"))
    assert "which is in the future. Use it? [y/N]" in res.stderr and "Nothing changed." in res.stderr
    assert as_json(cli("show", r["id"], "--json")) == r
    res = ok(cli("edit", r["id"], "--at", "tomorrow 9pm", "--json", input="y\n"))
    assert json.loads(res.stdout)["created_at"] > r["created_at"]
    res = ok(cli("reflect", "--at", "1960-01-01", "old", input="n\n"))
    assert "before 1970. Use it? [y/N]" in res.stderr and "Nothing saved." in res.stderr and res.stdout == ""
    assert len(json.loads(ok(cli("list", "--json")).stdout)) == 1
    assert ok(cli("reflect", "--at", "1960-01-01", "old", input="y\n")).stdout.strip()
    assert len(json.loads(ok(cli("list", "--json")).stdout)) == 2

"""mirror reflect/list/show/edit/search/delete through the CLI, with the contract's JSON shapes."""

from __future__ import annotations

import json
import re
import stat
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import check_reflection


def ok(result):
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def as_json(result):
    ok(result)
    return json.loads(result.stdout)


def reflect(cli, *args, input=None):
    return check_reflection(as_json(cli("reflect", "--json", *args, input=input)))


def test_reflect_prints_the_id_and_creates_private_files(cli, mirror_home):
    r = ok(cli("reflect", "hello", "there"))
    rid = r.stdout.strip()
    assert re.fullmatch(r"[0-9A-Z]{26}", rid)
    assert r.stderr == ""
    shown = as_json(cli("show", rid, "--json"))
    assert shown["content"] == "hello there"
    assert stat.S_IMODE((mirror_home / "mirror.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(mirror_home.stat().st_mode) == 0o700


def test_reflect_options_and_json_shape(cli):
    obj = reflect(cli, "--mode", "POST_ACTION", "-t", "Work", "--tag", "#focus", "--response", "well done",
                  "--local-only", "shipped it #Proud")
    assert obj["mode"] == "POST_ACTION"
    assert obj["tags"] == ["work", "focus", "proud"]
    assert obj["response"] == "well done"
    assert obj["local_only"] is True
    assert obj["content"] == "shipped it #Proud"
    assert as_json(cli("show", obj["id"], "--json")) == obj
    plain = reflect(cli, "defaults")
    assert (plain["mode"], plain["tags"], plain["response"], plain["local_only"]) == ("REFLECTION", [], None, False)


def test_reflect_from_stdin(cli):
    obj = reflect(cli, input="from a pipe\nsecond line #piped\n")
    assert obj["content"] == "from a pipe\nsecond line #piped"
    assert obj["tags"] == ["piped"]


def test_reflect_nothing_saves_nothing(cli, mirror_home):
    r = ok(cli("reflect", input="   \n"))
    assert r.stdout == "" and "nothing saved" in r.stderr.lower()
    r = ok(cli("reflect", "--json", input=""))
    assert json.loads(r.stdout) is None and "nothing saved" in r.stderr.lower()  # still one JSON value
    assert not (mirror_home / "mirror.db").exists()  # nothing saved, no journal created


def test_reflect_refuses_more_stdin_than_one_reflection_holds(cli, monkeypatch):
    """`yes | mirror reflect` read until memory ran out (MemoryError, exit 1)."""
    from mirror_cli.cli import reflect as reflect_cli

    monkeypatch.setattr(reflect_cli, "_STDIN_LIMIT", 1000)
    r = cli("reflect", input="y\n" * 600)
    assert r.exit_code == 2 and "longer than" in r.stderr and r.stdout == ""
    assert ok(cli("reflect", input="y\n" * 400)).stdout.strip()
    assert len(as_json(cli("list", "--json"))) == 1


def test_reflect_invalid_utf8_on_stdin(cli, mirror_home):
    r = cli("reflect", input=b"\xff\xfe bad")
    assert r.exit_code == 2 and r.stdout == ""
    assert not (mirror_home / "mirror.db").exists()  # nothing saved, no journal created


def test_reflect_at_iso_and_yesterday(cli):
    obj = reflect(cli, "--at", "2026-01-02T03:04:05Z", "iso")
    assert obj["created_at"] == "2026-01-02T03:04:05.000Z"
    obj = reflect(cli, "--at", "2026-01-02T03:04:05+02:00", "offset")
    assert obj["created_at"] == "2026-01-02T01:04:05.000Z"
    obj = reflect(cli, "--at", "yesterday 21:00", "last night")
    expected = datetime.combine(datetime.now().astimezone().date() - timedelta(days=1),
                                datetime.min.time().replace(hour=21)).astimezone(timezone.utc)
    assert obj["created_at"] == expected.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.mark.parametrize("bad", ["not a time", "2026-02-30", "9999-12-31"])
def test_reflect_bad_at_is_usage_error(cli, bad, mirror_home):
    r = cli("reflect", "--at", bad, "text")
    assert r.exit_code == 2 and r.stdout == "" and "--at" in r.stderr
    assert not (mirror_home / "mirror.db").exists()  # nothing saved, no journal created


def test_reflect_uses_config_default_mode(cli):
    ok(cli("config", "set", "reflect.default_mode", "EVENING"))
    assert reflect(cli, "x")["mode"] == "EVENING"
    assert reflect(cli, "--mode", "MORNING", "y")["mode"] == "MORNING"


def test_list_newest_first_and_filters(cli):
    a = reflect(cli, "--at", "2026-03-01T10:00:00Z", "-t", "a", "first")
    c = reflect(cli, "--at", "2026-03-03T10:00:00Z", "--mode", "POST_ACTION", "third #b")
    b = reflect(cli, "--at", "2026-03-02T10:00:00Z", "-t", "a", "-t", "b", "second")
    ids = lambda *args: [o["id"] for o in as_json(cli("list", "--json", *args))]  # noqa: E731
    assert ids() == [c["id"], b["id"], a["id"]]
    assert ids("--limit", "2") == [c["id"], b["id"]]
    assert ids("-n", "1") == [c["id"]]
    assert ids("--tag", "a") == [b["id"], a["id"]]
    assert ids("--tag", "a", "--tag", "#B") == [c["id"], b["id"], a["id"]]  # any of them, as jrnl
    assert ids("--tag", "a", "--tag", "#B", "--and") == [b["id"]]
    assert ids("--mode", "POST_ACTION") == [c["id"]]
    assert ids("--since", "2026-03-02") == [c["id"], b["id"]]
    assert ids("--until", "2026-03-02") == [b["id"], a["id"]]  # a date includes that whole day
    assert ids("--since", "2026-03-02T00:00Z", "--until", "2026-03-02T23:59Z") == [b["id"]]
    for obj in as_json(cli("list", "--json")):
        check_reflection(obj)
    lines = ok(cli("list")).stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == [c["id"], b["id"], a["id"]]
    assert ok(cli("list", "--tag", "nope")).stdout == ""
    assert as_json(cli("list", "--json", "--tag", "nope")) == []


@pytest.mark.parametrize("args", [["--limit", "0"], ["--limit", "x"], ["--since", "whenever"], ["--until", "13:99"]])
def test_list_bad_options(cli, args):
    r = cli("list", *args)
    assert r.exit_code == 2 and r.stdout == ""


def test_show_and_edit_by_prefix(cli):
    a = reflect(cli, "--at", "2026-04-01T00:00:00Z", "first text")
    b = reflect(cli, "--at", "2026-04-01T00:00:00Z", "second text")
    assert a["id"][:10] == b["id"][:10]
    n = next(i for i in range(10, 26) if a["id"][:i] != b["id"][:i]) + 1
    assert as_json(cli("show", a["id"][:n], "--json"))["id"] == a["id"]
    assert as_json(cli("show", a["id"][:n].lower(), "--json"))["id"] == a["id"]
    for ref in (a["id"][:6], a["id"][:5], "ZZZZZZZZZZ", "not valid!"):
        r = cli("show", ref)
        assert r.exit_code == 2 and r.stdout == "" and r.stderr.startswith("mirror: "), ref
    r = cli("edit", a["id"][:6], "new")
    assert r.exit_code == 2
    text = ok(cli("show", a["id"])).stdout
    assert a["id"] in text and "first text" in text
    edited = as_json(cli("edit", a["id"][:n], "--json", "changed", "#now"))
    assert edited["content"] == "changed #now" and edited["tags"] == ["now"]
    assert edited["created_at"] == a["created_at"] and edited["updated_at"] > a["updated_at"]
    out = ok(cli("edit", a["id"], "--response", "a reply", "--mode", "NEW")).stdout.strip()
    assert out == a["id"]
    shown = as_json(cli("show", a["id"], "--json"))
    assert (shown["content"], shown["response"], shown["mode"]) == ("changed #now", "a reply", "NEW")
    shown = as_json(cli("edit", a["id"], "--response", "", "--json"))
    assert shown["response"] is None
    assert as_json(cli("audit", "verify", "--json"))["ok"] is True


def test_edit_from_stdin_and_empty_text(cli):
    a = reflect(cli, "before")
    assert as_json(cli("edit", a["id"], "--json", input="after\n"))["content"] == "after"
    r = cli("edit", a["id"], input="  \n")
    assert r.exit_code == 2 and r.stdout == ""
    assert as_json(cli("show", a["id"], "--json"))["content"] == "after"


def test_search_ranked_with_phrases(cli):
    few = reflect(cli, "a long day at work and later a short walk with the dog and lots more words here")
    many = reflect(cli, "walk walk walk in the park")
    phrase = reflect(cli, "we took a long walk by the sea")
    found = [o["id"] for o in as_json(cli("search", "walk", "--json"))]
    assert found[0] == many["id"] and set(found) == {few["id"], many["id"], phrase["id"]}
    assert [o["id"] for o in as_json(cli("search", '"long walk"', "--json"))] == [phrase["id"]]
    assert {o["id"] for o in as_json(cli("search", "long", "walk", "--json"))} == {few["id"], phrase["id"]}
    assert len(as_json(cli("search", "walk", "--limit", "2", "--json"))) == 2
    assert as_json(cli("search", "nothingmatches", "--json")) == []
    for obj in as_json(cli("search", "walk", "--json")):  # the reflection object, then the snippet
        assert list(obj)[-2:] == ["snippet", "snippet_marks"] and "walk" in obj["snippet"].lower()
        check_reflection({k: v for k, v in obj.items() if not k.startswith("snippet")})
    assert ok(cli("search", "sea")).stdout.split("\t")[0] == phrase["id"]
    r = cli("search", '""')
    assert r.exit_code == 2 and r.stdout == ""
    edited = as_json(cli("edit", phrase["id"], "--json", "we took a long walk by the lake"))
    assert [o["id"] for o in as_json(cli("search", '"long walk" lake', "--json"))] == [edited["id"]]


def test_delete_ids(cli):
    a, b, c = (reflect(cli, t) for t in ("one", "two", "three"))
    r = ok(cli("delete", a["id"], c["id"][:20], "--yes"))
    assert "2" in r.stdout
    assert [o["id"] for o in as_json(cli("list", "--json"))] == [b["id"]]
    assert as_json(cli("delete", b["id"], "-y", "--json")) == {"deleted": [b["id"]]}
    assert as_json(cli("audit", "verify", "--json"))["ok"] is True


def test_delete_refuses_without_yes_when_not_a_terminal(cli):
    a = reflect(cli, "keep me")
    for args in ([a["id"]], ["--all"]):
        r = cli("delete", *args, input="y\n")
        assert r.exit_code == 2 and r.stdout == "" and "--yes" in r.stderr
    assert [o["id"] for o in as_json(cli("list", "--json"))] == [a["id"]]
    assert as_json(cli("audit", "verify", "--json"))["events"] == 1


@pytest.mark.parametrize("args", [[], ["SOMEID123", "--all"], ["ZZZZZZZZ", "--yes"]])
def test_delete_usage_errors(cli, args):
    reflect(cli, "keep me")
    r = cli("delete", *args)
    assert r.exit_code == 2 and r.stdout == ""
    assert len(as_json(cli("list", "--json"))) == 1


def test_delete_all(cli):
    for i in range(3):
        reflect(cli, f"entry {i} #t")
    out = as_json(cli("delete", "--all", "--yes", "--json"))
    assert out["deleted_all"] is True and out["counts"]["reflections"] == 3
    assert as_json(cli("list", "--json")) == []
    v = as_json(cli("audit", "verify", "--json"))
    assert (v["ok"], v["events"], v["first_bad_seq"], v["problem"]) == (True, 1, None, None)
    log = as_json(cli("audit", "log", "--json"))
    assert [e["event_type"] for e in log] == ["data.deleted_all"]


def test_quiet_silences_confirmations_not_data(cli):
    r = ok(cli("-q", "reflect", "quiet one"))
    assert r.stdout == "" and r.stderr == ""
    assert len(as_json(cli("-q", "list", "--json"))) == 1


# -- dates (the editor and the terminal, as real processes: tests/process/test_editor_tty.py) ---


def test_reflect_at_9999_is_a_usage_error(cli):
    r = cli("reflect", "--at", "9999-12-31", "x")
    assert r.exit_code == 2 and "out of range" in r.stderr


@pytest.mark.parametrize("at", ["0001-01-01", "1969-12-31", "2999-01-01", "tomorrow"])
def test_reflect_at_before_1970_or_in_the_future_warns_in_a_script(cli, at):
    """As `import` keeps such times, --at keeps them, with a warning (a question at a terminal:
    tests/cli/test_edit.py)."""
    r = cli("reflect", "--json", "--at", at, "x")
    assert r.exit_code == 0 and "warning: --at" in r.stderr
    assert ("before 1970" if at < "1970" else "in the future") in r.stderr
    created = json.loads(r.stdout)["created_at"]
    assert created < "1970" if at < "1970" else created > datetime.now(timezone.utc).isoformat()


def test_filters_take_any_date(cli):
    rid = cli("reflect", "--at", "2020-01-01", "x").stdout.strip()
    for args in (("--since", "1900-01-01"), ("--since", "0001-01-01", "--until", "9999-12-31")):
        r = cli("list", *args, "--json")
        assert r.exit_code == 0 and [o["id"] for o in json.loads(r.stdout)] == [rid]
    assert json.loads(cli("list", "--until", "1900-01-01", "--json").stdout) == []


# -- round trips --------------------------------------------------------------------------------

text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=120)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=text.filter(lambda s: s.strip()), response=st.one_of(st.none(), text.filter(lambda s: s.strip())))
def test_reflect_show_round_trip(cli, body, response):
    args = ["reflect", "--json"] + (["--response", response] if response is not None else [])
    r = cli(*args, input=body.encode("utf-8"))
    if r.exit_code == 2:  # a #hashtag longer than 100 characters is refused, and says so
        assert "tag" in r.stderr and r.stdout == ""
        return
    saved = as_json(r)
    shown = as_json(cli("show", saved["id"], "--json"))
    assert shown == saved
    assert shown["content"] == body.strip()
    assert shown["response"] == (response.strip() if response is not None and response.strip() else None)


def test_reflect_opens_again_when_the_journal_was_encrypted_meanwhile(cli, monkeypatch):
    from mirror_cli.journal import reflections as journal
    from mirror_cli.db.store import EncryptedMeanwhile

    real, calls = journal.add, []

    def racing(store, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise EncryptedMeanwhile("encrypted meanwhile")
        return real(store, *args, **kwargs)

    monkeypatch.setattr(journal, "add", racing)
    r = cli("reflect", "saved on the second try")
    assert r.exit_code == 0 and len(calls) == 2
    assert [x["content"] for x in json.loads(cli("list", "--json").stdout)] == ["saved on the second try"]


MARKER = "zebra-quokka-7781"


TOKEN = "xylomarker7781"  # one FTS token, so a leaked index term would show too


def _scan(home) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for f in sorted(home.iterdir()):
        if f.name.startswith("mirror.db"):
            data = f.read_bytes()
            found[f.name] = [m for m in (MARKER, TOKEN) if m.encode() in data or m.upper().encode() in data]
    return found


def test_delete_all_leaves_no_trace(cli, mirror_home):
    ids = []
    for i in range(30):
        r = cli("reflect", "--json", "--mode", MARKER.upper(), "--response", f"reply {MARKER} {TOKEN} {i}",
                "-t", MARKER, f"entry {i} about {MARKER} and {TOKEN} #{TOKEN} " + "padding " * 50)
        assert r.exit_code == 0, r.stderr
        ids.append(json.loads(r.stdout)["id"])
    assert cli("edit", ids[0], f"edited {MARKER} {TOKEN}").exit_code == 0
    assert cli("delete", ids[1], "--yes").exit_code == 0
    before = _scan(mirror_home)
    assert any(before.values()), "the scan must find the marker before deleting"

    r = cli("delete", "--all", "--yes")
    assert r.exit_code == 0, r.stderr
    after = _scan(mirror_home)
    assert "mirror.db" in after
    assert all(not hits for hits in after.values()), after

    v = cli("audit", "verify", "--json")
    assert v.exit_code == 0
    report = json.loads(v.stdout)
    assert report["ok"] is True and report["events"] == 1
    assert cli("search", TOKEN, "--json").stdout.strip() == "[]"
    # and after opening and closing again (WAL/SHM recreated), still nothing
    assert all(not hits for hits in _scan(mirror_home).values())

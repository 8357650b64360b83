"""jrnl's plain-text journal, in and out (issue 15, item 6; CONTRACT.md `import`/`export`).

JOURNAL is the file jrnl 4.6 wrote for three `jrnl "..."` commands (its default timeformat `%F %r`);
JSON is what `jrnl --export json` printed for the same journal. Both must give the same reflections
under the same ids, and `export --format jrnl` must read back as jrnl's grammar reads it.
"""

from __future__ import annotations

import json

import pytest

JOURNAL = """[2024-06-03 09:15:00 AM] Morning walk.
Felt @calm and #Rested after it.

[2024-06-03 09:00:00 PM] Long day *

[2024-06-03 09:00:00 PM] Second entry same minute with @work
"""
JSON = {"tags": {"@work": 1, "#rested": 1, "@calm": 1}, "entries": [
    {"title": "Morning walk.", "body": "Felt @calm and #Rested after it.", "date": "2024-06-03",
     "time": "09:15", "tags": ["#rested", "@calm"], "starred": False},
    {"title": "Long day", "body": "", "date": "2024-06-03", "time": "21:00", "tags": [], "starred": True},
    {"title": "Second entry same minute with @work", "body": "", "date": "2024-06-03", "time": "21:00",
     "tags": ["@work"], "starred": False}]}


def _ok(r):
    assert r.exit_code == 0, r.stdout + r.stderr
    return r


def _rows(cli):
    return sorted((r["id"], r["created_at"], r["content"], sorted(r["tags"]))
                  for r in json.loads(_ok(cli("list", "--json")).stdout))


def _import(cli, path, *extra):
    return json.loads(_ok(cli("import", path, "--yes", "--json", *extra)).stdout)


def test_text_journal_imports_as_its_json_export_does(cli, tmp_path, new_york):
    text, doc = tmp_path / "journal.txt", tmp_path / "journal.json"
    text.write_text(JOURNAL, encoding="utf-8")
    doc.write_text(json.dumps(JSON), encoding="utf-8")
    assert _import(cli, text)["added"]["reflections"] == 3  # auto-detected
    rows = _rows(cli)
    assert [r[2] for r in rows if "work" in r[3]] == ["Second entry same minute with @work"]
    assert {r[1] for r in rows} == {"2024-06-03T13:15:00.000Z", "2024-06-04T01:00:00.000Z"}
    assert ("Morning walk.\nFelt @calm and #Rested after it.") in [r[2] for r in rows]
    assert ["starred"] in [r[3] for r in rows] and ["calm", "rested"] in [r[3] for r in rows]
    again = _import(cli, doc, "--format", "jrnl")  # the JSON export of the same journal: nothing new
    assert again["added"]["reflections"] == 0 and again["updated"]["reflections"] == 0
    assert _rows(cli) == rows


def test_an_entry_edited_in_jrnl_is_updated_not_duplicated(cli, tmp_path):
    path = tmp_path / "journal.txt"
    path.write_text(JOURNAL, encoding="utf-8")
    _import(cli, path)
    before = {r[0] for r in _rows(cli)}
    path.write_text(JOURNAL.replace("Long day *", "Long day, but good @home *"), encoding="utf-8")
    result = _import(cli, path, "--format", "jrnl")
    assert result["added"]["reflections"] == 0 and result["updated"]["reflections"] == 1
    rows = _rows(cli)
    assert {r[0] for r in rows} == before
    assert ["home", "starred"] in [r[3] for r in rows]


def test_export_jrnl_writes_jrnl_text_that_imports_back(cli, tmp_path, new_york):
    path = tmp_path / "journal.txt"
    path.write_text(JOURNAL, encoding="utf-8")
    _import(cli, path)
    _ok(cli("reflect", "Notes\n[2024-01-01 10:00] a line that looks like an entry", "--tag", "v1.0"))
    out = _ok(cli("export", "--format", "jrnl")).stdout
    entries = out.split("\n\n")
    assert entries[0] == "[2024-06-03 09:15] Morning walk.\nFelt @calm and #Rested after it."
    assert entries[1] == "[2024-06-03 21:00] Long day *"
    assert entries[2] == "[2024-06-03 21:00] Second entry same minute with @work"
    assert entries[3].endswith("] Notes\n [2024-01-01 10:00] a line that looks like an entry\n@v1-0\n")
    back = tmp_path / "back.txt"
    back.write_text(out, encoding="utf-8")
    before = _rows(cli)
    result = _import(cli, back)
    assert result["added"]["reflections"] == 0  # jrnl's own by their ids, mirror's by minute and words
    assert _rows(cli) == before  # the mirror-made one keeps its text and tags (jrnl's copy adds "@v1-0")


def test_a_round_trip_through_jrnl_adds_nothing_twice(cli, tmp_path, new_york):
    """Found living with it for a week: entries written in mirror, and one moved with `edit --at`, came back
    from `export --format jrnl` as new reflections (jrnl keeps no ids)."""
    path = tmp_path / "journal.txt"
    path.write_text(JOURNAL, encoding="utf-8")
    _import(cli, path)
    mine = _ok(cli("reflect", "Slept well. #sleep", "--at", "2024-06-04 07:30")).stdout.strip()
    _ok(cli("reflect", "Two in one minute", "--at", "2024-06-04 07:30"))
    moved = next(r[0] for r in _rows(cli) if r[2] == "Long day")
    _ok(cli("edit", moved, "--at", "2024-06-05 20:00"))
    before = _rows(cli)
    back = tmp_path / "back.txt"
    _ok(cli("export", "--format", "jrnl", "-o", back))
    result = _import(cli, back)
    assert result["added"]["reflections"] == 0 and result["updated"]["reflections"] == 0
    assert _rows(cli) == before and mine in {r[0] for r in before}
    # Words changed in jrnl: that one is a new entry (jrnl keeps no id for it to be found by).
    back.write_text(back.read_text(encoding="utf-8").replace("Two in one minute", "Three in one minute"),
                    encoding="utf-8")
    assert _import(cli, back)["added"]["reflections"] == 1


def test_an_entry_moved_onto_the_place_of_one_moved_away_is_itself(cli, tmp_path, new_york):
    """Found by review: Alpha moved into the minute that Charlie-one left, onto Charlie-one's place (and id);
    Charlie-one's own entry then found its reflection taken, and came back as a new one."""
    path = tmp_path / "journal.txt"
    path.write_text("[2024-06-03 09:15] Alpha walk.\n\n[2024-06-03 21:00] Charlie zero\n\n"
                    "[2024-06-03 21:00] Charlie one\n", encoding="utf-8")
    _import(cli, path)
    ids = {r[2]: r[0] for r in _rows(cli)}
    _ok(cli("edit", ids["Charlie one"], "--at", "2024-06-05 20:00"))
    _ok(cli("edit", ids["Alpha walk."], "--at", "2024-06-03T21:00:30-04:00"))
    before = _rows(cli)
    back = tmp_path / "back.txt"
    _ok(cli("export", "--format", "jrnl", "-o", back))
    result = _import(cli, back)
    assert result["added"]["reflections"] == 0 and result["updated"]["reflections"] == 0
    assert _rows(cli) == before


def test_export_jrnl_refuses_other_kinds(cli):
    r = cli("export", "--format", "jrnl", "--only", "patterns")
    assert r.exit_code == 2 and "reflections only" in r.stderr


@pytest.mark.parametrize("text, words", [
    ("gAAAAABkX2l0aGVuY3J5cHRlZA==\n", "encrypted jrnl journal"),
    ("Dear diary\n[2024-06-03 09:15] late\n", "text comes before"),
    ("[Jun 03 2024 09:15] other time format\n", "no entry starts"),
])
def test_text_journal_that_cannot_be_read_names_the_json_export(cli, tmp_path, text, words):
    path = tmp_path / "journal.txt"
    path.write_text(text, encoding="utf-8")
    r = cli("import", path, "--format", "jrnl", "--yes")
    assert r.exit_code == 5, r.stdout + r.stderr
    assert words in r.stderr and "jrnl --export json" in r.stderr
    assert json.loads(_ok(cli("list", "--json")).stdout) == []

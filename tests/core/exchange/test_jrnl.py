from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from mirror_cli.errors import InvalidInputError
from mirror_cli.exchange.formats.jrnl import jrnl_id, jrnl_to_reflections, read_jrnl
from helpers import DATA

FIXTURE = DATA / "jrnl_export.json"


@pytest.fixture
def tz(monkeypatch):
    """Set the process time zone (POSIX TZ strings: no tzdata needed); restored afterwards."""
    before = os.environ.get("TZ")

    def set_tz(value: str) -> None:
        monkeypatch.setenv("TZ", value)
        time.tzset()

    yield set_tz
    if before is None:
        monkeypatch.delenv("TZ", raising=False)
    else:
        monkeypatch.setenv("TZ", before)
    time.tzset()


def _entry(**kw):
    return {"title": "T", "body": "", "date": "2024-03-01", "time": "09:15", "tags": [], "starred": False, **kw}


# The fixture is a real `jrnl --export json` (jrnl 4.6), made by tests/data/make_jrnl_fixture.sh.
EXPECTED_NEW_YORK = [
    {"id": "jrnl-xuov3apnbvedyrgttwzaq72sjl", "created_at": "2024-03-01T14:15:00.000Z",
     "updated_at": "2024-03-01T14:15:00.000Z",
     "content": "Started the new job today.\nFelt nervous but @work went fine. #career",
     "response": None, "mode": "REFLECTION", "tags": ["career", "work"], "local_only": False},
    {"id": "jrnl-jb4plf7chbf5m2v4esjeamhojm", "created_at": "2024-03-02T02:40:00.000Z",
     "updated_at": "2024-03-02T02:40:00.000Z",
     "content": "Best evening in months.\nDinner with Ana, long walk by the river.",
     "response": None, "mode": "REFLECTION", "tags": ["starred"], "local_only": False},
    {"id": "jrnl-4uxgoezown25qntr5g3svqiwbe", "created_at": "2024-03-02T12:05:00.000Z",
     "updated_at": "2024-03-02T12:05:00.000Z",
     "content": "Morning pages.\nLine one of the body.\n\nLine three after a blank line, with \"quotes\" & <angle> brackets.",
     "response": None, "mode": "REFLECTION", "tags": [], "local_only": False},
    {"id": "jrnl-bqtwmsprculcvftamjzmfelpqu", "created_at": "2024-03-04T04:59:00.000Z",
     "updated_at": "2024-03-04T04:59:00.000Z",
     "content": "Überlegungen: café, naïve façade — 日本語 and emoji 🙂 @café",
     "response": None, "mode": "REFLECTION", "tags": ["café"], "local_only": False},
    {"id": "jrnl-5f5lnrqzv3nbxciwjm5szznhn6", "created_at": "2024-03-04T17:00:00.000Z",
     "updated_at": "2024-03-04T17:00:00.000Z", "content": "Just a title.",
     "response": None, "mode": "REFLECTION", "tags": [], "local_only": False},
]


def test_real_jrnl_export_to_reflections(tz):
    tz("EST5EDT,M3.2.0,M11.1.0")
    doc = read_jrnl(FIXTURE.read_bytes())
    assert doc.source_format == "jrnl"
    assert doc.records["reflections"] == EXPECTED_NEW_YORK
    assert doc.counts() == {"reflections": 5, "patterns": 0, "tensions": 0, "audit_events": 0}


def test_reconversion_gives_identical_ids_in_any_time_zone(tz):
    tz("EST5EDT,M3.2.0,M11.1.0")
    first = read_jrnl(FIXTURE.read_bytes()).records["reflections"]
    tz("JST-9")
    second = read_jrnl(FIXTURE.read_bytes()).records["reflections"]
    assert [r["id"] for r in first] == [r["id"] for r in second]
    assert second[0]["created_at"] == "2024-03-01T00:15:00.000Z"  # 09:15 in Tokyo
    tz("UTC0")
    assert read_jrnl(FIXTURE.read_bytes()).records["reflections"][0]["created_at"] == "2024-03-01T09:15:00.000Z"


def test_local_time_follows_daylight_saving(tz):
    tz("EST5EDT,M3.2.0,M11.1.0")
    [winter, summer] = jrnl_to_reflections({"entries": [_entry(date="2024-01-15"), _entry(date="2024-07-15")]})
    assert winter["created_at"] == "2024-01-15T14:15:00.000Z"
    assert summer["created_at"] == "2024-07-15T13:15:00.000Z"


def test_content_tags_and_star_rules(tz):
    tz("UTC0")
    [r] = jrnl_to_reflections({"entries": [_entry(title="Title  ", body="  body line\n\n  ", starred=True,
                                                  tags=["@Work", "#idea", "@Work", "#"])]})
    assert r["content"] == "Title  \n  body line"
    assert r["tags"] == ["Work", "idea", "starred"]
    [r] = jrnl_to_reflections({"entries": [_entry(title="Only title \n", body=" \n")]})
    assert r["content"] == "Only title"


def test_ids_depend_on_date_time_and_place_only():
    """CONTRACT.md: ids are derived from date, time and the entry's place among those of the same minute."""
    assert jrnl_id("2024-03-01", "09:15", 0) == jrnl_id("2024-03-01", "09:15", 0)
    assert len({jrnl_id("2024-03-01", "09:15", 0), jrnl_id("2024-03-02", "09:15", 0),
                jrnl_id("2024-03-01", "09:16", 0), jrnl_id("2024-03-01", "09:15", 1)}) == 4
    assert jrnl_id("2024-03-01", "09:15", 0).startswith("jrnl-") and len(jrnl_id("d", "t", 0)) == 31
    a = jrnl_to_reflections({"entries": [_entry(starred=False)]})[0]["id"]
    b = jrnl_to_reflections({"entries": [_entry(starred=True, tags=["@x"], title="other text")]})[0]["id"]
    assert a == b


def test_identical_entries_are_two_reflections():
    recs = jrnl_to_reflections({"entries": [_entry(tags=["@a"]), _entry(tags=["@b"], starred=True)]})
    assert [r["tags"] for r in recs] == [["a"], ["b", "starred"]] and recs[0]["id"] != recs[1]["id"]


def test_identical_entries_are_each_added(tmp_path):
    from mirror_cli.exchange import importer
    from mirror_cli.db.store import Store

    raw = json.dumps({"entries": [_entry(), _entry(), _entry(title="other")]}).encode()
    doc = read_jrnl(raw)
    assert len(doc.records["reflections"]) == 3
    with Store.open(tmp_path / "m.db") as s:
        result = importer.apply_import(s, doc)
    assert result.added["reflections"] == 3 and result.skipped["reflections"] == 0


def test_missing_body_tags_and_starred_are_defaults():
    [r] = jrnl_to_reflections({"entries": [{"title": "x", "date": "2024-03-01", "time": "09:15"}]})
    assert r["content"] == "x" and r["tags"] == []


@pytest.mark.parametrize("obj, fragment", [
    ([], 'no "entries" list'),
    ({"tags": {}}, 'no "entries" list'),
    ({"format": "mirror-export", "version": 1}, "is a mirror export, not a jrnl export"),
    ({"entries": ["x"]}, "entries[0] must be an object"),
    ({"entries": [_entry(date="03/01/2024")]}, 'entries[0]: "date" is not a date'),
    ({"entries": [_entry(date="2024-02-30")]}, 'entries[0]: "date" and "time" are not a valid local time'),
    ({"entries": [_entry(time="9h")]}, 'entries[0]: "time" is not a time'),
    ({"entries": [_entry(time="25:00")]}, 'entries[0]: "date" and "time" are not a valid local time'),
    ({"entries": [{"title": "x", "time": "09:00"}]}, 'entries[0]: "date" is missing'),
    ({"entries": [_entry(title=3)]}, 'entries[0]: "title" must be a string'),
    ({"entries": [_entry(), _entry(body="a\u0000")]}, 'entries[1]: "body" contains a NUL character'),
    ({"entries": [_entry(tags="@a")]}, 'entries[0]: "tags" must be a list of strings'),
    ({"entries": [_entry(starred="yes")]}, 'entries[0]: "starred" must be true or false'),
])
def test_invalid_jrnl_files(obj, fragment):
    with pytest.raises(InvalidInputError) as info:
        read_jrnl(json.dumps(obj).encode())
    assert fragment in str(info.value) and info.value.exit_code == 5


@pytest.mark.parametrize("raw", [b"", b"\xff", b"{", b"[" * 100_000])
def test_hostile_bytes(raw):
    with pytest.raises(InvalidInputError):
        read_jrnl(raw)


def test_text_journal_reads_as_jrnl_splits_it():
    from mirror_cli.exchange.formats.jrnltext import parse_text

    # One line followed by a newline is one title: jrnl splits at a sentence only a text without newline.
    doc = parse_text("[2024-06-03 9:05 PM] One. Two @A and @a.\n\n[2024-06-04 07:00] Star *\nbody #x/y\n")
    assert doc["entries"] == [
        {"date": "2024-06-03", "time": "21:05", "title": "One. Two @A and @a.", "body": "", "tags": ["@a"],
         "starred": False},
        {"date": "2024-06-04", "time": "07:00", "title": "Star", "body": "body #x/y", "tags": ["#x/y"],
         "starred": True}]
    assert parse_text("[2024-06-03 09:15] One. Two")["entries"][0]["title"] == "One."


def test_text_journal_with_windows_line_ends_reads_the_same():
    from mirror_cli.exchange.formats.jrnltext import parse_text

    text = "[2024-06-03 09:15] Title *\nbody @x\n\n[2024-06-03 10:00] Next\n"
    assert parse_text(text.replace("\n", "\r\n")) == parse_text(text)

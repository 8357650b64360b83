"""Promises of issue 12 about the journal commands, run in-process."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# -- item 6: a reading command on a journal that does not exist creates nothing ------------------

READING = [
    ["list"], ["list", "--json"], ["show", "ABCDEF"], ["search", "word"], ["export"],
    ["export", "--format", "jsonl"], ["audit", "verify"], ["audit", "verify", "--json"], ["audit", "log"],
    ["patterns"], ["patterns", "list"], ["patterns", "show", "x"], ["patterns", "evolution"],
    ["tensions"], ["tensions", "list"], ["tensions", "map"], ["tensions", "show", "x"],
    ["migrate", "status"], ["migrate", "check"], ["migrate", "history"],
    ["backup", "create"], ["key", "status"],
    # commands that change an existing journal have nothing to change either
    ["edit", "ABCDEF", "text"], ["delete", "--all", "--yes"], ["delete", "ABCDEF", "--yes"],
    ["key", "enable"], ["key", "lock"], ["migrate", "up"], ["patterns", "analyze"], ["tensions", "analyze"],
]


@pytest.mark.parametrize("args", READING, ids=lambda a: " ".join(a))
def test_a_command_on_a_mistyped_db_creates_nothing(cli, tmp_path, args):
    missing = tmp_path / "typo" / "jornal.db"
    r = cli("--db", missing, *args)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert str(missing) in r.stderr
    assert r.stdout == ""
    assert not missing.parent.exists()


def test_a_reading_command_on_the_default_journal_creates_nothing(cli, mirror_home):
    r = cli("list")
    assert r.exit_code == 2
    assert str(mirror_home / "mirror.db") in r.stderr
    assert not (mirror_home / "mirror.db").exists()


def test_config_path_needs_no_journal(cli, tmp_path):
    missing = tmp_path / "nope.db"
    r = cli("--db", missing, "config", "path", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["database"] == str(missing)
    assert not missing.exists()


def test_writing_commands_still_create_the_journal(cli, tmp_path):
    db = tmp_path / "new" / "journal.db"
    assert cli("--db", db, "reflect", "first").exit_code == 0
    assert db.is_file()
    exported = cli("--db", db, "export").stdout
    other = tmp_path / "other.db"
    r = cli("--db", other, "import", "-", input=exported)
    assert r.exit_code == 0, r.stderr
    assert other.is_file()


# -- item 4: one NUL rule on both sides (what reflect takes, export | import takes back) ----------

def test_reflect_refuses_a_nul_byte_on_stdin(cli, mirror_home):
    cli("reflect", "first")
    r = cli("reflect", input=b"a\x00b")
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert "NUL" in r.stderr and "nothing was saved" in r.stderr
    assert r.stdout == ""
    assert len(json.loads(cli("list", "--json").stdout)) == 1


def test_edit_refuses_a_nul_byte_and_keeps_the_text(cli):
    rid = cli("reflect", "before").stdout.strip()
    r = cli("edit", rid, input=b"after\x00")
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert "NUL" in r.stderr
    assert json.loads(cli("show", rid, "--json").stdout)["content"] == "before"


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(blacklist_categories=("Cs",)) | st.just("\x00"), min_size=1, max_size=40)
       .filter(lambda t: t.strip()))
def test_what_reflect_accepts_export_import_takes_back(cli, tmp_path_factory, text):
    tmp = tmp_path_factory.mktemp("nul")
    a, b = tmp / "a.db", tmp / "b.db"
    assert cli("--db", a, "reflect", "plain text").exit_code == 0
    saved = cli("--db", a, "reflect", "-t", "x", input=text.encode("utf-8"))
    assert saved.exit_code in (0, 2), saved.stderr
    exported = cli("--db", a, "export", "--format", "jsonl")
    assert exported.exit_code == 0, exported.stderr
    imported = cli("--db", b, "import", "-", "--format", "jsonl", input=exported.stdout)
    assert imported.exit_code == 0, imported.stderr

"""Named journals (CONTRACT.md, "Named journals"): -j/--journal, MIRROR_JOURNAL, the config's `journals:`,
`mirror journals`, and reading commands that never create a journal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mirror_cli import settings


def js(result, code=0):
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return json.loads(result.stdout)


def test_a_named_journal_is_its_own_file(cli, mirror_home):
    rid = cli("-j", "work", "reflect", "standup notes").stdout.strip()
    assert (mirror_home / "journals" / "work.db").is_file() and not (mirror_home / "mirror.db").exists()
    assert [r["id"] for r in js(cli("--journal", "work", "list", "--json"))] == [rid]
    cli("reflect", "a walk by the river")
    assert [r["content"] for r in js(cli("list", "--json"))] == ["a walk by the river"]


def test_environment_selects_and_flags_win(cli, mirror_home, monkeypatch, tmp_path):
    cli("-j", "work", "reflect", "in work")
    cli("reflect", "in default")
    monkeypatch.setenv("MIRROR_JOURNAL", "work")
    assert [r["content"] for r in js(cli("list", "--json"))] == ["in work"]
    assert [r["content"] for r in js(cli("-j", "default", "list", "--json"))] == ["in default"]
    assert js(cli("--db", mirror_home / "mirror.db", "config", "path", "--json"))["journal"] is None
    p = js(cli("config", "path", "--json"))
    assert (p["journal"], p["database"], p["backups"]) == ("work", str(mirror_home / "journals" / "work.db"),
                                                          str(mirror_home / "backups" / "work"))
    assert "journal: work" in cli("config", "path").stdout


@pytest.mark.parametrize("args,env", [
    (["--db", "x.db", "-j", "work"], {}),
    ([], {"MIRROR_DB": "x.db", "MIRROR_JOURNAL": "work"}),
])
def test_a_file_and_a_name_together_are_refused(cli, args, env, monkeypatch):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    r = cli(*args, "list")
    assert r.exit_code == 2 and r.stdout == ""


def test_a_flag_beats_the_other_kind_in_the_environment(cli, mirror_home, monkeypatch, tmp_path):
    monkeypatch.setenv("MIRROR_DB", str(tmp_path / "env.db"))
    assert js(cli("-j", "work", "config", "path", "--json"))["database"] == str(mirror_home / "journals" / "work.db")
    monkeypatch.delenv("MIRROR_DB")
    monkeypatch.setenv("MIRROR_JOURNAL", "work")
    assert js(cli("--db", tmp_path / "f.db", "config", "path", "--json"))["database"] == str(tmp_path / "f.db")


@pytest.mark.parametrize("name", ["Work", "-x", "_x", "a" * 33, "a/b", "..", "wörk", "a b", ""])
def test_bad_names_are_usage_errors(cli, mirror_home, name, monkeypatch):
    r = cli("-j", name, "reflect", "text") if name else cli("list", env={"MIRROR_JOURNAL": " "})
    if not name:
        return  # an empty variable is as good as unset
    assert r.exit_code == 2 and r.stdout == ""
    assert not (mirror_home / "journals").exists()


def test_names_that_are_journal_names(cli):
    for name in ("a", "0", "a" * 32, "my-notes_2"):
        assert settings.check_journal_name(name) == name


@pytest.mark.parametrize("args", [["list"], ["show", "abcdef"], ["search", "x"], ["export"], ["audit", "verify"],
                                  ["patterns"], ["key", "status"], ["migrate", "status"]])
def test_reading_a_missing_journal_names_it_and_creates_nothing(cli, mirror_home, args):
    r = cli("-j", "ghost", *args)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert "ghost" in r.stderr and r.stdout == ""
    assert not (mirror_home / "journals").exists() and not (mirror_home / "mirror.db").exists()


def test_backup_list_of_a_lost_journal_still_lists_its_folder(cli, mirror_home):
    """As for the default journal: with its file gone, `backup list` shows what there is to restore."""
    cli("-j", "lost", "reflect", "x")
    made = json.loads(cli("-j", "lost", "backup", "create", "--json").stdout)["path"]
    (mirror_home / "journals" / "lost.db").unlink()
    assert [b["path"] for b in js(cli("-j", "lost", "backup", "list", "--json"))] == [made]
    assert not (mirror_home / "journals" / "lost.db").exists()


def test_import_creates_a_named_journal(cli, mirror_home, tmp_path):
    cli("reflect", "to be moved")
    dump = tmp_path / "x.json"
    dump.write_text(cli("export").stdout)
    r = cli("-j", "copy", "import", dump, "--json")
    assert r.exit_code == 0, r.stderr
    assert [x["content"] for x in js(cli("-j", "copy", "list", "--json"))] == ["to be moved"]


def test_config_names_a_journal_file(cli, mirror_home, tmp_path):
    elsewhere = tmp_path / "synced" / "diary.db"
    r = cli("config", "set", "journals.diary.database", str(elsewhere))
    assert r.exit_code == 0 and "not a setting" not in r.stderr
    cli("-j", "diary", "reflect", "kept elsewhere")
    assert elsewhere.is_file()
    listed = {j["name"]: j for j in js(cli("journals", "--json"))}
    assert listed["diary"]["database"] == str(elsewhere) and listed["diary"]["reflections"] == 1


@pytest.mark.parametrize("text", ["journals: [a, b]\n", "journals:\n  Bad:\n    database: x.db\n",
                                  "journals:\n  w:\n    database: 5\n", "journals:\n  default:\n    database: x\n"])
def test_a_wrong_journals_section_is_a_usage_error(cli, mirror_home, text):
    mirror_home.mkdir(parents=True, exist_ok=True)
    (mirror_home / "config.yaml").write_text(text)
    r = cli("list")
    assert r.exit_code == 2 and "journals" in r.stderr


def test_journals_lists_each_with_count_and_encryption(cli, mirror_home):
    assert js(cli("journals", "--json")) == [{"name": "default", "database": str(mirror_home / "mirror.db"),
                                             "reflections": None, "encrypted": None, "exists": False,
                                             "current": True}]
    cli("reflect", "one")
    for text in ("a", "b"):
        cli("-j", "work", "reflect", text)
    listed = js(cli("-j", "work", "journals", "--json"))
    assert [(j["name"], j["reflections"], j["encrypted"], j["current"]) for j in listed] == [
        ("default", 1, False, False), ("work", 2, False, True)]
    assert all(set(j) >= {"name", "database", "reflections", "encrypted"} for j in listed)
    text = cli("journals").stdout
    assert "work" in text and str(mirror_home / "journals" / "work.db") in text
    # Listing migrates nothing and writes nothing.
    before = (mirror_home / "journals" / "work.db").stat().st_mtime_ns
    cli("journals")
    assert (mirror_home / "journals" / "work.db").stat().st_mtime_ns == before


def test_backups_of_another_journal_are_never_touched(cli, mirror_home):
    cli("reflect", "default text")
    cli("-j", "work", "reflect", "work text")
    mine = js(cli("backup", "create", "--json"))["path"]
    theirs = js(cli("-j", "work", "backup", "create", "--json"))["path"]
    assert str(mirror_home / "backups" / "work") in theirs and "/work/" not in mine
    assert [b["path"] for b in js(cli("-j", "work", "backup", "list", "--json"))] == [theirs]
    cli("-j", "work", "backup", "create")
    cli("backup", "prune", "--keep-last", "1")
    assert Path(theirs).exists()
    cli("-j", "work", "delete", "--all", "--yes", "--backups", "delete")
    assert Path(mine).exists() and not Path(theirs).exists()
    assert [b["path"] for b in js(cli("backup", "list", "--json"))] == [mine]

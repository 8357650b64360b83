"""`mirror export` and `mirror import` through the CLI: formats, exit codes, encryption, pipes."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from pathlib import Path

import pytest

from mirror_cli import crypto
from mirror_cli.crypto import manage as keyops
from mirror_cli.db.store import Store
from helpers import cheap

PW = "river stones and tea"


@pytest.fixture
def journal_home(cli):
    cli("reflect", "Anxious before the #work meeting, stressed and tired.", "--response", "Breathe.")
    cli("reflect", "Long walk with my sister, calm and grateful. #family")
    cli("reflect", "=SUM(A1) looks like a formula; commas, \"quotes\" and\nnew lines.", "-t", "odd")
    cli("reflect", "# Not a heading\n```\nunclosed fence", "--mode", "POST_ACTION")
    r = cli("patterns", "analyze")
    assert r.exit_code == 0, r.stderr


def audit_types(cli) -> list[str]:
    r = cli("audit", "log", "--json")
    return [e["event_type"] for e in json.loads(r.stdout)]


# --------------------------------------------------------------------------- export


def test_default_export_is_json_on_stdout(cli, journal_home):
    r = cli("export")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["format"] == "mirror-export" and doc["version"] == 1
    assert doc["counts"]["reflections"] == 4 == len(doc["reflections"])
    assert set(doc) >= {"reflections", "patterns", "tensions", "audit_events"}
    assert r.stderr == ""
    last = json.loads(cli("audit", "log", "--json", "--limit", "1").stdout)
    event = last[0] if isinstance(last, list) else last
    assert event["event_type"] == "export.completed"
    assert event["data"]["format"] == "json" and event["data"]["counts"]["reflections"] == 4
    assert "Anxious" not in json.dumps(event)


def test_jsonl_export(cli, journal_home):
    r = cli("export", "--format", "jsonl", "--only", "reflections,tensions")
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert lines[0]["type"] == "header"
    assert {x["type"] for x in lines[1:]} <= {"reflection", "tension"}
    assert sum(x["type"] == "reflection" for x in lines) == 4


def test_only_since_until(cli, journal_home):
    cli("reflect", "old one", "--at", "2020-01-02T10:00:00Z")
    r = cli("export", "--only", "reflections", "--until", "2021-01-01")
    doc = json.loads(r.stdout)
    assert [x["content"] for x in doc["reflections"]] == ["old one"]
    assert "patterns" not in doc and doc["until"].startswith("2021-01-02")
    r = cli("export", "--only", "reflections", "--since", "2021-01-01")
    assert len(json.loads(r.stdout)["reflections"]) == 4
    assert cli("export", "--only", "bogus").exit_code == 2
    assert cli("export", "--format", "xml").exit_code == 2


def test_since_until_limit_every_kind_and_the_export_imports_into_an_empty_journal(cli, journal_home, tmp_path):
    r = cli("reflect", "Zebra stripes, anxious and stressed about the zebra. #zebra", "--at", "2024-03-01T10:00:00Z")
    assert r.exit_code == 0, r.stderr
    assert cli("patterns", "analyze").exit_code == 0
    everything = json.loads(cli("export").stdout)
    assert any(p["name"] == "zebra" for p in everything["patterns"]) and everything["audit_events"]
    r = cli("export", "--since", "2024-01-01", "--until", "2024-12-31")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    ids = [x["id"] for x in doc["reflections"]]
    assert len(ids) == 1
    assert doc["patterns"] and all(o["reflection_id"] in ids for p in doc["patterns"] for o in p["occurrences"])
    assert all(p["occurrences"] for p in doc["patterns"])
    assert len(doc["patterns"]) < len(everything["patterns"])
    assert doc["tensions"] == [] and doc["audit_events"] == []  # detected and recorded now, after the window
    assert doc["counts"] == {"reflections": 1, "patterns": len(doc["patterns"]), "tensions": 0, "audit_events": 0}
    md = cli("export", "--format", "markdown", "--since", "2024-01-01", "--until", "2024-12-31").stdout
    assert "sister" not in md and "zebra" in md.lower()
    window = tmp_path / "2024.json"
    window.write_text(r.stdout)
    r = cli("--db", tmp_path / "empty.db", "import", window, "--json")
    assert r.exit_code == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["added"] == {"reflections": 1, "patterns": len(doc["patterns"]), "tensions": 0, "audit_events": 0}
    assert result["dropped_occurrences"] == 0 and not any(result["skipped"].values())
    listed = json.loads(cli("--db", tmp_path / "empty.db", "patterns", "list", "--json").stdout)
    assert {p["name"] for p in listed} == {p["name"] for p in doc["patterns"]}
    assert cli("--db", tmp_path / "empty.db", "audit", "verify").exit_code == 0


def test_markdown_document_parses_and_keeps_its_outline(cli, journal_home):
    from markdown_it import MarkdownIt

    r = cli("export", "--format", "markdown")
    assert r.exit_code == 0, r.stderr
    tokens = MarkdownIt("commonmark").parse(r.stdout)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert not any(h.startswith("Not a heading") for h in headings)
    assert sum(1 for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h3") >= 4
    assert "Long walk with my sister" in r.stdout


def test_markdown_folder(cli, journal_home, tmp_path):
    out = tmp_path / "md-export"
    r = cli("export", "--format", "markdown", "-o", out)
    assert r.exit_code == 0, r.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["README.md", "patterns.md", "reflections.md", "tensions.md"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in out.iterdir())
    assert r.stdout == "" and "Exported 4 reflections" in r.stderr
    # A path with an extension is one document.
    one = tmp_path / "journal.md"
    assert cli("export", "--format", "markdown", "-o", one).exit_code == 0
    assert one.is_file() and "Long walk" in one.read_text()


def test_csv_to_stdout_reads_back_with_the_csv_module(cli, journal_home):
    r = cli("export", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout, newline="")))
    assert len(rows) == 4
    odd = next(x for x in rows if "formula" in x["content"])
    assert odd["content"].startswith("'=SUM(A1)")  # the formula guard
    assert "\nnew lines." in odd["content"]
    assert json.loads(odd["tags"]) == ["odd"]


def test_csv_folder(cli, journal_home, tmp_path):
    out = tmp_path / "csv-out"
    out.mkdir()
    r = cli("export", "--format", "csv", "-o", out)
    assert r.exit_code == 0, r.stderr
    files = sorted(p.name for p in out.iterdir())
    assert "reflections.csv" in files and "patterns.csv" in files
    with open(out / "reflections.csv", newline="", encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == 4


def test_json_to_a_file_is_private_and_a_folder_is_refused(cli, journal_home, tmp_path):
    target = tmp_path / "j.json"
    r = cli("export", "-o", target)
    assert r.exit_code == 0 and r.stdout == ""
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert json.loads(target.read_text())["counts"]["reflections"] == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".j.json")]  # no temp left
    assert cli("export", "-o", tmp_path).exit_code == 2


@pytest.mark.parametrize("args", [[], ["--format", "jsonl"], ["--encrypt"]])
def test_a_one_file_export_refuses_a_path_ending_in_a_slash(cli, journal_home, tmp_path, monkeypatch, args):
    """json and jsonl (and --encrypt) write one file: `-o new/` is refused as an existing folder is."""
    monkeypatch.setenv("MIRROR_NEW_PASSPHRASE", PW)
    existing = cli("export", *args, "-o", tmp_path)
    assert existing.exit_code == 2 and existing.stdout == ""
    r = cli("export", *args, "-o", f"{tmp_path / 'newdir'}/")
    assert r.exit_code == 2 and r.stdout == ""
    assert "names a folder" in r.stderr
    assert r.stderr.replace(f"{tmp_path / 'newdir'}/", str(tmp_path)) == existing.stderr
    assert not (tmp_path / "newdir").exists()


def test_markdown_to_a_path_with_a_dot_and_a_slash_writes_a_folder(cli, journal_home, tmp_path):
    r = cli("export", "--format", "markdown", "-o", f"{tmp_path / 'journal.d'}/")
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "journal.d" / "reflections.md").is_file()


# --------------------------------------------------------------------------- import


def test_import_json_result_and_idempotent_merge(cli, journal_home, tmp_path, monkeypatch):
    exported = tmp_path / "e.json"
    cli("export", "-o", exported)
    monkeypatch.setenv("MIRROR_HOME", str(tmp_path / "second"))
    r = cli("import", exported, "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) >= {"dry_run", "added", "updated", "skipped"}
    assert out["dry_run"] is False and out["added"]["reflections"] == 4
    assert out["added"]["patterns"] > 0 and out["skipped"]["audit_events"] > 0
    again = json.loads(cli("import", exported, "--json").stdout)
    assert sum(again["added"].values()) == 0 and sum(again["updated"].values()) == 0
    assert again["skipped"]["reflections"] == 4
    assert cli("audit", "verify").exit_code == 0
    assert audit_types(cli).count("data.imported") == 2
    assert cli("patterns", "analyze").exit_code == 0


def test_newer_updated_at_replaces(cli, tmp_path):
    def write(content, updated):
        p = tmp_path / f"{updated}.json"
        p.write_text(json.dumps({"format": "mirror-export", "version": 1, "reflections": [
            {"id": "same-id", "created_at": "2024-01-01T00:00:00Z", "updated_at": updated,
             "content": content, "mode": "REFLECTION"}]}))
        return p

    cli("import", write("first", "2024-01-01T00:00:00Z"))
    r = json.loads(cli("import", write("second", "2024-02-01T00:00:00Z"), "--json").stdout)
    assert r["updated"]["reflections"] == 1
    r = json.loads(cli("import", write("older", "2024-01-15T00:00:00Z"), "--json").stdout)
    assert r["skipped"]["reflections"] == 1
    assert json.loads(cli("show", "same-id", "--json").stdout)["content"] == "second"


def test_dry_run_changes_nothing(cli, journal_home, tmp_path):
    exported = tmp_path / "e.json"
    cli("export", "-o", exported, "--only", "reflections")
    before = cli("export", "--only", "reflections").stdout
    events = audit_types(cli)
    r = cli("import", exported, "--mode", "replace", "--dry-run", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["dry_run"] is True
    after = cli("export", "--only", "reflections").stdout
    assert json.loads(after)["reflections"] == json.loads(before)["reflections"]
    now = audit_types(cli)  # newest first: the export just above, then what was there
    assert now[1:] == events and now[0] == "export.completed"
    assert "data.imported" not in now


def test_replace_needs_yes_when_not_at_a_terminal(cli, journal_home, tmp_path):
    f = tmp_path / "one.json"
    f.write_text(json.dumps({"format": "mirror-export", "version": 1, "reflections": [
        {"id": "only-one", "created_at": "2024-01-01T00:00:00Z", "content": "alone", "mode": "REFLECTION"}]}))
    r = cli("import", f, "--mode", "replace")
    assert r.exit_code == 2 and "--yes" in r.stderr
    assert len(json.loads(cli("list", "--json").stdout)) == 4
    r = cli("import", f, "--mode", "replace", "--yes", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["deleted"]["reflections"] == 4
    assert [x["id"] for x in json.loads(cli("list", "--json").stdout)] == ["only-one"]
    assert cli("audit", "verify").exit_code == 0


def test_replace_only_patterns_keeps_the_links_to_reflections(cli, journal_home, tmp_path):
    exported = tmp_path / "journal.json"
    assert cli("export", "-o", exported).exit_code == 0
    before = json.loads(cli("patterns", "list", "--json").stdout)
    assert before
    r = cli("import", exported, "--mode", "replace", "--only", "patterns", "--yes")
    assert r.exit_code == 0, r.stderr
    assert "not in this journal" not in r.stderr
    after = json.loads(cli("patterns", "list", "--json").stdout)
    assert {(p["pattern_type"], p["name"]) for p in after} == {(p["pattern_type"], p["name"]) for p in before}
    assert len(json.loads(cli("list", "--json").stdout)) == 4
    assert cli("audit", "verify").exit_code == 0


def test_bad_record_in_the_middle_exit_5_names_record_and_field(cli, journal_home, tmp_path):
    recs = [{"id": f"r{i}", "created_at": "2024-01-01T00:00:00Z", "content": f"t{i}", "mode": "M"} for i in range(5)]
    recs[2]["local_only"] = "yes"
    f = tmp_path / "bad.json"
    f.write_text(json.dumps({"format": "mirror-export", "version": 1, "reflections": recs}))
    before = cli("export", "--only", "reflections").stdout
    r = cli("import", f)
    assert r.exit_code == 5
    assert "reflections[2]" in r.stderr and "r2" in r.stderr and '"local_only"' in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert json.loads(cli("export", "--only", "reflections").stdout)["reflections"] == json.loads(before)["reflections"]


def test_missing_file_and_bad_options_are_usage_errors(cli, tmp_path):
    assert cli("import", tmp_path / "nope.json").exit_code == 2
    f = tmp_path / "x.json"
    f.write_text("{}")
    assert cli("import", f, "--mode", "sideways").exit_code == 2
    assert cli("import", f, "--format", "yaml").exit_code == 2
    assert cli("import", f, "--only", "audit").exit_code == 2


def test_import_from_stdin(cli, journal_home, tmp_path, monkeypatch):
    text = cli("export", "--format", "jsonl").stdout
    monkeypatch.setenv("MIRROR_HOME", str(tmp_path / "second"))
    r = cli("import", "-", "--json", input=text)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["format"] == "jsonl"
    assert len(json.loads(cli("list", "--json").stdout)) == 4


# --------------------------------------------------------------------------- encryption


@pytest.fixture
def encrypted_home(cli, journal_home, mirror_home):
    with Store.open(mirror_home / "mirror.db") as s:
        keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
    return mirror_home


def test_encrypted_database_export_needs_the_key(cli, encrypted_home):
    r = cli("export")
    assert r.exit_code == 4 and r.stdout == ""
    r = cli("export", env={"MIRROR_PASSPHRASE": PW})
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert any("Long walk" in x["content"] for x in doc["reflections"])


def test_plain_database_export_never_asks_for_a_key(cli, journal_home):
    assert cli("export", "--format", "jsonl").exit_code == 0


def test_encrypt_round_trip_from_a_plain_database(cli, journal_home, tmp_path, monkeypatch):
    sealed = tmp_path / "journal.mirrorenc"
    r = cli("export", "--encrypt", "-o", sealed, env={"MIRROR_PASSPHRASE": PW})
    assert r.exit_code == 0, r.stderr
    blob = sealed.read_bytes()
    assert blob.startswith(b"MIRRENC\x01") and b"sister" not in blob
    monkeypatch.setenv("MIRROR_HOME", str(tmp_path / "elsewhere"))
    assert cli("import", sealed).exit_code == 4  # no passphrase
    assert cli("import", sealed, env={"MIRROR_PASSPHRASE": "wrong"}).exit_code == 4
    damaged = tmp_path / "damaged.mirrorenc"
    bad = bytearray(blob)
    bad[len(bad) // 2] ^= 0x40
    damaged.write_bytes(bytes(bad))
    r = cli("import", damaged, env={"MIRROR_PASSPHRASE": PW})
    assert r.exit_code == 3, r.stderr
    assert json.loads(cli("list", "--json").stdout) == []
    r = cli("import", sealed, "--json", env={"MIRROR_PASSPHRASE": PW})
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["encrypted"] is True and out["added"]["reflections"] == 4


def test_encrypt_round_trip_from_an_encrypted_database(cli, encrypted_home, tmp_path, monkeypatch):
    sealed = tmp_path / "enc.mirrorenc"
    r = cli("export", "--encrypt", "--format", "jsonl", "-o", sealed, env={"MIRROR_PASSPHRASE": PW})
    assert r.exit_code == 0, r.stderr
    with open(sealed, "rb") as fh:
        header = crypto.read_container_header(fh)
    with Store.open(encrypted_home / "mirror.db") as s:
        meta = json.loads(s.meta("crypto"))
    # the file's own key (issue 12, item 16), not the database's data key
    assert header.wrapped_key != meta["wrapped_key"] and header.key_id != meta["key_id"]
    assert header.purpose == "export"
    # A fresh machine: the database's passphrase opens the export.
    monkeypatch.setenv("MIRROR_HOME", str(tmp_path / "fresh"))
    r = cli("import", sealed, "--json", env={"MIRROR_PASSPHRASE": PW})
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["added"]["reflections"] == 4
    assert cli("import", sealed, env={"MIRROR_PASSPHRASE": "not it"}).exit_code == 4


def test_a_file_sealed_under_another_passphrase_imports_into_an_encrypted_database(cli, encrypted_home, tmp_path,
                                                                                   monkeypatch):
    """The database opens with one passphrase, the file with another: MIRROR_IMPORT_PASSPHRASE[_FILE]
    gives the file's, so cron can do it (one MIRROR_PASSPHRASE could not serve both)."""
    sealed = tmp_path / "enc.mirrorenc"
    assert cli("export", "--encrypt", "-o", sealed, env={"MIRROR_PASSPHRASE": PW}).exit_code == 0
    monkeypatch.setenv("MIRROR_HOME", str(tmp_path / "other"))
    other = "the other machine's passphrase"
    assert cli("reflect", "mine").exit_code == 0
    with Store.open(tmp_path / "other" / "mirror.db") as s:
        keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": other}, interactive=False, kdf_params=cheap())
    r = cli("import", sealed, env={"MIRROR_PASSPHRASE": other})
    assert r.exit_code == 4 and "MIRROR_IMPORT_PASSPHRASE" in r.stderr
    pw_file = tmp_path / "file-pw"
    pw_file.write_text(PW + "\n")
    pw_file.chmod(0o600)
    r = cli("import", sealed, "--json", env={"MIRROR_PASSPHRASE": other, "MIRROR_IMPORT_PASSPHRASE_FILE": str(pw_file)})
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["added"]["reflections"] == 4
    assert len(json.loads(cli("list", "--json", env={"MIRROR_PASSPHRASE": other}).stdout)) == 5


# --------------------------------------------------------------------------- the pipe


# --------------------------------------------------------------------------- progress bar

# Runs the real CLI with the bar's delay set to zero (the journals here export in milliseconds).


@pytest.mark.parametrize("args", [["-f", "json", "-o", "out.json"], ["-f", "jsonl", "-o", "out.json"],
                                  ["-f", "markdown", "-o", "folder"], ["-f", "csv", "-o", "folder"]])
def test_an_export_that_fails_midway_leaves_files_as_they_were(cli, tmp_path, args):
    for i in range(3):
        cli("reflect", f"entry {i}")
    db = Store.open(Path(os.environ["MIRROR_HOME"]) / "mirror.db")
    with db:
        last = db.conn.execute("SELECT id FROM reflections ORDER BY created_at DESC LIMIT 1").fetchone()[0]
        db.conn.execute("UPDATE reflections SET content = ? WHERE id = ?", (b"\x01" + b"\x00" * 40, last))
    target = tmp_path / args[-1]
    if target.suffix:
        target.write_text("the previous export\n")
    else:
        target.mkdir()
        (target / "reflections.md").write_text("previous\n")
        (target / "reflections.csv").write_text("previous\n")
    before = sorted((p.name, p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file())
    r = cli("export", *args[:-1], str(target))
    assert r.exit_code == 3 and last in r.stderr and "Traceback" not in r.stderr
    assert sorted((p.name, p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()) == before
    assert "export.completed" not in audit_types(cli)


# --------------------------------------------------------------------------- -o: the database, links, pipes, stdout


def _db_files(home: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in home.iterdir() if p.name.startswith("mirror.db")}


@pytest.mark.parametrize("name", ["mirror.db", "mirror.db-wal", "mirror.db-shm", "link", "hard"])
def test_export_refuses_the_live_database_and_its_sidecars(cli, mirror_home, tmp_path, name):
    cli("reflect", "still here after the export")
    (tmp_path / "link").symlink_to(mirror_home / "mirror.db")
    os.link(mirror_home / "mirror.db", tmp_path / "hard")
    target = tmp_path / name if name in ("link", "hard") else mirror_home / name
    before = _db_files(mirror_home)
    events = audit_types(cli)
    for fmt in ("json", "jsonl", "markdown", "csv"):
        r = cli("export", "--format", fmt, "-o", target)
        assert r.exit_code == 2 and "database" in r.stderr and r.stdout == "", (fmt, r.stderr)
    assert _db_files(mirror_home) == before
    assert audit_types(cli) == events  # refused before the export began
    listed = cli("list", "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout)[0]["content"] == "still here after the export"


def test_export_into_a_folder_refuses_a_file_that_is_the_database(cli, tmp_path):
    db = tmp_path / "out" / "reflections.csv"
    db.parent.mkdir()
    assert cli("--db", db, "reflect", "an odd database name").exit_code == 0
    before = db.read_bytes()
    r = cli("--db", db, "export", "--format", "csv", "-o", db.parent)
    assert r.exit_code == 2 and "database" in r.stderr
    assert db.read_bytes() == before and cli("--db", db, "list").exit_code == 0


def test_export_dash_is_stdout(cli, journal_home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for fmt in ("json", "jsonl"):
        r = cli("export", "--format", fmt, "-o", "-")
        assert r.exit_code == 0 and r.stdout.startswith('{"'), r.stderr
    assert not (tmp_path / "-").exists()


def test_export_follows_a_symlink_and_keeps_it(cli, journal_home, tmp_path):
    real = tmp_path / "exports" / "2024.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    r = cli("export", "-o", link)
    assert r.exit_code == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert json.loads(real.read_text())["counts"]["reflections"] == 4
    assert str(real) in r.stderr  # the note names the file written


def test_export_writes_into_a_fifo(cli, journal_home, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader is there (the export fits the pipe buffer)
    try:
        r = cli("export", "--format", "jsonl", "-o", fifo)
        assert r.exit_code == 0, r.stderr
        data = b""
        while True:
            try:
                chunk = os.read(rfd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        os.close(rfd)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert json.loads(data.splitlines()[0])["type"] == "header" and len(data.splitlines()) > 4


# --------------------------------------------------------------------------- --encrypt and --only


@pytest.mark.parametrize("fmt", ["markdown", "csv"])
def test_encrypt_is_refused_with_markdown_and_csv(cli, journal_home, tmp_path, fmt):
    target = tmp_path / "sealed.bin"
    r = cli("export", "--format", fmt, "--encrypt", "-o", target, env={"MIRROR_NEW_PASSPHRASE": PW})
    assert r.exit_code == 2 and "json" in r.stderr and "jsonl" in r.stderr and r.stdout == ""
    assert not target.exists()
    assert "export.completed" not in audit_types(cli)


@pytest.mark.parametrize("value", ["", " ", ",", " , "])
def test_only_naming_no_kind_is_a_usage_error(cli, journal_home, tmp_path, value):
    r = cli("export", "--only", value)
    assert r.exit_code == 2 and "--only" in r.stderr and r.stdout == ""
    f = tmp_path / "j.json"
    f.write_text(cli("export").stdout)
    assert cli("import", f, "--only", value).exit_code == 2


def test_csv_in_one_stream_refuses_kinds_it_cannot_hold(cli, journal_home, tmp_path):
    for only in ("audit", "patterns", "reflections,tensions"):
        r = cli("export", "--format", "csv", "--only", only)
        assert r.exit_code == 2 and "FOLDER" in r.stderr and r.stdout == "", only
        target = tmp_path / "one.csv"
        assert cli("export", "--format", "csv", "--only", only, "-o", target).exit_code == 2
        assert not target.exists()
    r = cli("export", "--format", "csv", "--only", "reflections")
    assert r.exit_code == 0 and r.stdout.startswith("id,created_at")
    folder = tmp_path / "audit-only"
    assert cli("export", "--format", "csv", "--only", "audit", "-o", folder).exit_code == 0
    assert sorted(p.name for p in folder.iterdir()) == ["audit_events.csv"]


# --------------------------------------------------------------------------- the JSON Lines round trip


def _one_reflection_doc(content: str) -> dict:
    rec = {"id": "big-one", "created_at": "2024-05-01T09:30:00.000Z", "updated_at": "2024-05-01T09:30:00.000Z",
           "content": content, "response": None, "mode": "REFLECTION", "tags": ["t"], "local_only": False}
    return {"format": "mirror-export", "version": 1, "reflections": [rec]}, rec


def _jsonl_line_bytes(rec: dict) -> int:
    """The line `export --format jsonl` writes for *rec*, measured independently of mirror's code."""
    body = json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
    return len(('{"type":"reflection",' + body[1:]).encode("utf-8"))


def test_import_refuses_a_record_its_jsonl_export_could_not_read_back(cli, tmp_path, monkeypatch):
    from mirror_cli.exchange import records

    limit = 4096
    monkeypatch.setattr(records, "MAX_LINE", limit)
    doc, rec = _one_reflection_doc("")
    n = limit - _jsonl_line_bytes(rec)
    doc, rec = _one_reflection_doc("é" * (n // 2) + "x" * (n % 2))  # two bytes a character: UTF-8 counted
    assert _jsonl_line_bytes(rec) == limit
    at_edge = tmp_path / "edge.json"
    at_edge.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    # At the limit: imported, exported as JSON Lines (that line is exactly the limit), imported again.
    r = cli("import", at_edge)
    assert r.exit_code == 0, r.stderr
    out = tmp_path / "edge.jsonl"
    assert cli("export", "--format", "jsonl", "--only", "reflections", "-o", out).exit_code == 0
    assert len(out.read_bytes().splitlines()[1]) == limit
    r = cli("--db", tmp_path / "second.db", "import", out)
    assert r.exit_code == 0, r.stderr
    assert json.loads(cli("--db", tmp_path / "second.db", "show", "big-one", "--json").stdout)["content"] == rec["content"]

    # One byte over, or escapes that take the line over: refused, exit 5, nothing changed.
    fresh = tmp_path / "fresh.db"
    for content in (rec["content"] + "x", "\x01" * (limit // 6)):
        over_doc, over = _one_reflection_doc(content)
        assert _jsonl_line_bytes(over) > limit
        f = tmp_path / "over.json"
        f.write_text(json.dumps(over_doc), encoding="utf-8")
        r = cli("--db", fresh, "import", f)
        assert r.exit_code == 5 and "reflections[0] (id big-one)" in r.stderr and "too large" in r.stderr
        assert json.loads(cli("--db", fresh, "list", "--json").stdout) == []


def test_a_read_only_database_still_exports_and_backs_up(cli, journal_home, tmp_path, monkeypatch):
    """Exporting wrote everything, then exited 1 because its audit event could not be written; the
    export and the backup now succeed and say they went unrecorded."""
    import sqlite3

    from mirror_cli.db.store import Store as RealStore

    real = RealStore.append_event

    def read_only(self, event_type, data=None, vouches=()):
        if event_type in ("export.completed", "backup.created"):
            raise sqlite3.OperationalError("attempt to write a readonly database")
        return real(self, event_type, data, vouches)

    monkeypatch.setattr(RealStore, "append_event", read_only)
    r = cli("export", "-o", tmp_path / "out.json")
    assert r.exit_code == 0 and "read-only" in r.stderr
    assert len(json.loads((tmp_path / "out.json").read_text())["reflections"]) == 4
    r = cli("backup", "create", "-o", tmp_path / "b.backup", "--json")
    assert r.exit_code == 0 and "read-only" in r.stderr and json.loads(r.stdout)["path"]
    assert cli("backup", "verify", tmp_path / "b.backup").exit_code == 0

"""Promises of `mirror export` / `mirror import` that issue 12 found broken (CONTRACT.md, "Your data, out and in")."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest


def _db() -> Path:
    return Path(os.environ["MIRROR_HOME"]) / "mirror.db"


def _ids(cli) -> list[str]:
    r = cli("list", "--json")
    assert r.exit_code == 0, r.stderr
    return sorted(x["id"] for x in json.loads(r.stdout))


@pytest.fixture
def dated(cli):
    """Five reflections over three years."""
    for at, text in (("2023-06-01T09:00:00Z", "an old one"), ("2023-07-01T09:00:00Z", "another old one"),
                     ("2024-05-01T09:00:00Z", "inside the window"), ("2024-05-02T09:00:00Z", "inside too"),
                     ("2025-03-01T09:00:00Z", "a late one")):
        r = cli("reflect", text, "--at", at)
        assert r.exit_code == 0, r.stderr
    return _ids(cli)


# --------------------------------------------------------------------------- item 3: replace with a windowed file


@pytest.mark.parametrize("extra", [["--yes"], ["--dry-run"], ["--yes", "--only", "reflections"]])
def test_replace_refuses_a_windowed_export_and_changes_nothing(cli, dated, tmp_path, extra):
    f = tmp_path / "window.json"
    r = cli("export", "--since", "2024-01-01", "--until", "2024-12-31", "-o", f)
    assert r.exit_code == 0, r.stderr
    assert len(json.loads(f.read_text())["reflections"]) == 2
    r = cli("import", f, "--mode", "replace", *extra)
    assert r.exit_code == 2, r.stdout + r.stderr
    assert "window" in r.stderr and "--mode merge" in r.stderr and r.stdout == ""
    assert _ids(cli) == dated
    assert not list(_db().parent.glob("*.before-replace-*"))


def test_merge_of_a_windowed_export_still_works(cli, dated, tmp_path):
    f = tmp_path / "window.jsonl"
    assert cli("export", "-f", "jsonl", "--since", "2024-01-01", "-o", f).exit_code == 0
    r = cli("import", f, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["skipped"]["reflections"] == 3 and _ids(cli) == dated


def test_replace_keeps_a_copy_of_the_journal_it_replaces(cli, dated, tmp_path):
    f = tmp_path / "one.json"
    f.write_text(json.dumps({"format": "mirror-export", "version": 1, "reflections": [
        {"id": "only-one", "created_at": "2024-01-01T00:00:00Z", "content": "alone", "mode": "REFLECTION"}]}))
    r = cli("import", f, "--mode", "replace", "--yes", "--json")
    assert r.exit_code == 0, r.stderr
    kept = list(_db().parent.glob("mirror.db.before-replace-*"))
    assert len(kept) == 1 and json.loads(r.stdout)["before"] == str(kept[0])
    assert str(kept[0]) in r.stderr
    assert stat.S_IMODE(kept[0].stat().st_mode) == 0o600
    conn = sqlite3.connect(f"file:{kept[0]}?mode=ro", uri=True)
    try:
        assert sorted(x for (x,) in conn.execute("SELECT id FROM reflections")) == dated
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()
    assert _ids(cli) == ["only-one"]
    # A second replace within the same second keeps a second copy, not over the first.
    assert cli("import", f, "--mode", "replace", "--yes").exit_code == 0
    assert len(list(_db().parent.glob("mirror.db.before-replace-*"))) == 2


def test_replace_question_names_what_is_deleted_and_added(cli, dated, tmp_path, monkeypatch):
    from mirror_cli.cli import output

    monkeypatch.setattr(output, "stdin_is_tty", lambda: True)
    f = tmp_path / "one.json"
    f.write_text(json.dumps({"format": "mirror-export", "version": 1, "reflections": [
        {"id": "only-one", "created_at": "2024-01-01T00:00:00Z", "content": "alone", "mode": "REFLECTION"}]}))
    r = cli("import", f, "--mode", "replace", "--only", "reflections", input="n\n")
    assert r.exit_code == 0, r.stderr
    assert "delete 5 reflections, then add 1 reflection" in r.stderr and "Nothing imported." in r.stderr
    assert _ids(cli) == dated
    assert not list(_db().parent.glob("*.before-replace-*"))


# --------------------------------------------------------------------------- item 5: deleted entries stay deleted


def test_merging_an_older_export_does_not_bring_back_a_deleted_reflection(cli, dated, tmp_path):
    f = tmp_path / "old.json"
    assert cli("export", "-o", f).exit_code == 0
    gone = dated[0]
    assert cli("delete", gone, "--yes").exit_code == 0
    r = cli("import", f)
    assert r.exit_code == 0, r.stderr
    assert "added: 0 reflections" in r.stdout and "skipped: 5 reflections" in r.stdout
    assert "1 reflection in the file was deleted in this journal" in r.stderr
    assert gone not in _ids(cli) and len(_ids(cli)) == 4
    r = cli("import", f, "--json", "--dry-run")
    out = json.loads(r.stdout)
    assert out["stay_deleted"] == 1 and out["added"]["reflections"] == 0


def test_a_copy_changed_after_the_deletion_comes_back(cli, dated, tmp_path):
    f = tmp_path / "old.json"
    assert cli("export", "-o", f).exit_code == 0
    gone = dated[0]
    assert cli("delete", gone, "--yes").exit_code == 0
    doc = json.loads(f.read_text())
    for rec in doc["reflections"]:
        if rec["id"] == gone:
            rec["updated_at"], rec["content"] = "2099-01-01T00:00:00.000Z", "edited elsewhere after the deletion"
    f.write_text(json.dumps(doc))
    r = cli("import", f, "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["added"]["reflections"] == 1 and out["stay_deleted"] == 0
    assert gone in _ids(cli)
    assert cli("audit", "verify").exit_code == 0


def test_delete_all_forgets_the_deletions_too(cli, dated, tmp_path):
    f = tmp_path / "old.json"
    assert cli("export", "-o", f).exit_code == 0
    assert cli("delete", dated[0], "--yes").exit_code == 0
    assert cli("delete", "--all", "--yes").exit_code == 0
    conn = sqlite3.connect(_db())
    try:
        assert conn.execute("SELECT count(*) FROM tombstones").fetchone()[0] == 0
    finally:
        conn.close()
    assert cli("import", f).exit_code == 0
    assert _ids(cli) == dated


# --------------------------------------------------------------------------- honest errors: hostile numbers and nesting

HUGE = "1" + "0" * 400  # 10**400: JSON allows it; float() of it overflows


def _pattern(confidence="0.5", occ_confidence="0.5", occ_intensity="null") -> str:
    return ('{"id":"pat1","pattern_type":"emotion","name":"anxiety","confidence":' + confidence
            + ',"first_seen":null,"last_seen":null,"occurrences":[{"reflection_id":"r1","evidence":null,'
            '"confidence":' + occ_confidence + ',"intensity":' + occ_intensity + '}]}')


def _tension(position="0.5", intensity="0.5") -> str:
    return ('{"id":"ten1","name":"A vs B","axis_a":"A","axis_b":"B","position":' + position
            + ',"intensity":' + intensity + ',"reflection_id":null,"detected_at":"2024-01-01T00:00:00Z"}')


@pytest.mark.parametrize("section, record, named", [
    ("patterns", _pattern(confidence=HUGE), 'patterns[0] (id pat1): "confidence"'),
    ("patterns", _pattern(occ_confidence=HUGE), 'patterns[0] (id pat1): "occurrences[0].confidence"'),
    ("patterns", _pattern(occ_intensity=HUGE), 'patterns[0] (id pat1): "occurrences[0].intensity"'),
    ("patterns", _pattern(occ_intensity="-" + HUGE), 'patterns[0] (id pat1): "occurrences[0].intensity"'),
    ("tensions", _tension(position=HUGE), 'tensions[0] (id ten1): "position"'),
    ("tensions", _tension(intensity=HUGE), 'tensions[0] (id ten1): "intensity"'),
])
@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_a_huge_number_is_invalid_input_naming_record_and_field(cli, tmp_path, section, record, named, fmt):
    if fmt == "json":
        text = '{"format":"mirror-export","version":1,"' + section + '":[' + record + "]}"
    else:
        kind = section[:-1]
        text = '{"type":"header","format":"mirror-export","version":1}\n{"type":"' + kind + '",' + record[1:] + "\n"
    f = tmp_path / f"huge.{fmt}"
    f.write_text(text)
    r = cli("import", f)
    assert r.exit_code == 5, r.stderr
    assert named in r.stderr and "between 0 and 1" in r.stderr and HUGE not in r.stderr
    assert "internal error" not in r.stderr and r.stdout == ""


@pytest.mark.parametrize("text", [
    '{"format":"mirror-export","version":1,"reflections":' + "[" * 100_000 + "]" * 100_000 + "}",
    '{"type":"header","format":"mirror-export","version":1}\n{"type":"tension","name":'
    + "[" * 100_000 + "]" * 100_000 + "}\n",
    '{"tags":[],"entries":[{"date":"2024-01-01","time":"10:00","title":"t","body":"","tags":[],"x":'
    + "[" * 100_000 + "]" * 100_000 + "}]}",
])
def test_a_deeply_nested_import_is_invalid_input(cli, tmp_path, text):
    f = tmp_path / "deep.json"
    f.write_text(text)
    r = cli("import", f)
    assert r.exit_code == 5, r.stderr
    assert "too deeply" in r.stderr or "nests" in r.stderr


# --------------------------------------------------------------------------- honest errors: export to stdout


EXPORTS = [[], ["-f", "jsonl"], ["-f", "markdown"], ["-f", "csv"], ["--only", "reflections,audit"]]


@pytest.mark.parametrize("args", EXPORTS)
def test_export_to_stdout_prints_nothing_when_it_cannot_be_recorded(cli, dated, monkeypatch, args):
    from mirror_cli.db import store as store_mod

    monkeypatch.setattr(store_mod, "BUSY_TIMEOUT_MS", 200)
    holder = sqlite3.connect(_db(), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock: the event cannot be appended
        r = cli("export", *args)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert r.exit_code == 1, r.stdout
    assert r.stdout == "" and "locked" in r.stderr


def test_encrypted_export_to_stdout_prints_nothing_when_it_cannot_be_recorded(cli, dated, monkeypatch):
    from mirror_cli.db.store import Store
    from mirror_cli.errors import OperationError

    def fail(self, *a, **k):
        raise OperationError("cannot write the database: the disk is full.")

    monkeypatch.setenv("MIRROR_NEW_PASSPHRASE", "river stones and tea")
    monkeypatch.setattr(Store, "append_event", fail)
    r = cli("export", "--encrypt")
    assert r.exit_code == 1 and r.stdout_bytes == b"" and "disk is full" in r.stderr


@pytest.mark.parametrize("args, kinds", [
    ([], {"reflections", "patterns", "tensions", "audit_events"}),
    (["-f", "jsonl"], {"reflections", "patterns", "tensions", "audit_events"}),
    (["-f", "markdown"], {"reflections", "patterns", "tensions"}),
    (["-f", "csv"], {"reflections"}),
    (["--only", "reflections,audit"], {"reflections", "audit_events"})])
def test_export_to_stdout_is_recorded_with_what_it_holds(cli, dated, args, kinds):
    r = cli("export", *args)
    assert r.exit_code == 0, r.stderr
    event = json.loads(cli("audit", "log", "--json", "--limit", "1").stdout)
    event = event[0] if isinstance(event, list) else event
    assert event["event_type"] == "export.completed" and event["data"]["destination"] == "stdout"
    assert set(event["data"]["counts"]) == kinds and event["data"]["counts"]["reflections"] == 5
    if "-f" not in args or "jsonl" in args:
        head = json.loads(r.stdout.splitlines()[0] if "jsonl" in args else r.stdout)
        # The document is the snapshot the event counted, taken before the event itself.
        assert head["counts"] == event["data"]["counts"] and "export.completed" not in r.stdout


def test_an_encrypted_file_whose_header_nests_thousands_deep_is_invalid_input(cli, tmp_path):
    import hashlib
    import struct

    from mirror_cli.crypto import container

    body = ('{"a":' * 3000 + "1" + "}" * 3000).encode()
    raw_len = struct.pack(">I", len(body))
    path = tmp_path / "deep.mirror"
    path.write_bytes(container.MAGIC + raw_len + body + hashlib.sha256(container.MAGIC + raw_len + body).digest())
    assert cli("reflect", "x").exit_code == 0
    r = cli("import", str(path))
    assert r.exit_code == 5, r.stderr
    assert "internal error" not in r.stderr

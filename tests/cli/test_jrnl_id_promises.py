"""jrnl-imported ids are no text oracles (issue 12, item 13; CONTRACT.md `import`).

Older mirrors named a jrnl entry after the SHA-256 of its date, time and text
(the attacker's formula below), in clear beside an encrypted journal.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3

GOOD = "correct horse battery staple"
SECRET = "Positive pregnancy test"
WORDS = ("Went for a walk", SECRET, "Took sertraline 50mg", "Called mum")
ENTRY = {"title": SECRET, "body": "", "date": "2024-03-01", "time": "09:15", "tags": [], "starred": False}


def text_id(date: str, time: str, content: str) -> str:
    """The id older mirrors gave a jrnl entry (what the attacker computes for each guess)."""
    digest = hashlib.sha256(f"jrnl\x00{date}\x00{time}\x00{content}".encode()).digest()
    return "jrnl-" + base64.b32encode(digest).decode("ascii")[:26]


GUESSES = {text_id(ENTRY["date"], ENTRY["time"], w) for w in WORDS}


def _clear_text(db) -> str:
    """Every id and event the file shows without the key."""
    conn = sqlite3.connect(db)
    try:
        parts = [r for (r,) in conn.execute("SELECT id FROM reflections")]
        parts += [r for (r,) in conn.execute("SELECT id FROM tombstones")]
        parts += [r for (r,) in conn.execute("SELECT record_id FROM audit_vouches")]
        parts += [r for (r,) in conn.execute("SELECT data FROM audit_events")]
    finally:
        conn.close()
    return "\n".join(parts)


def _write(tmp_path, entries, name="jrnl.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"tags": {}, "entries": entries}), encoding="utf-8")
    return path


def _ok(r):
    assert r.exit_code == 0, r.stdout + r.stderr
    return r


def _verify(cli, env=None):
    assert json.loads(_ok(cli("audit", "verify", "--json", env=env)).stdout)["ok"] is True


def _texts(cli, env=None):
    return sorted(r["content"] for r in json.loads(_ok(cli("list", "--json", env=env)).stdout))


def test_a_jrnl_id_reveals_nothing_of_the_text(cli, mirror_home, tmp_path):
    env = {"MIRROR_PASSPHRASE": GOOD}
    _ok(cli("reflect", "first"))
    _ok(cli("key", "enable", env={"MIRROR_NEW_PASSPHRASE": GOOD}))
    _ok(cli("import", _write(tmp_path, [ENTRY]), "--format", "jrnl", env=env))
    clear = _clear_text(mirror_home / "mirror.db")
    assert "jrnl-" in clear and not any(g in clear for g in GUESSES)


def test_key_enable_renames_ids_derived_from_text(cli, mirror_home, tmp_path):
    """A journal that an older mirror filled from jrnl (ids = digests of the text), then encrypted."""
    legacy = text_id(ENTRY["date"], ENTRY["time"], SECRET)
    other = text_id("2024-03-02", "10:00", "Went for a walk")
    _ok(cli("reflect", "first"))
    doc = json.loads(_ok(cli("export", "--format", "json")).stdout)
    base = doc["reflections"][0]
    doc["reflections"] = [{**base, "id": legacy, "content": SECRET, "tags": []},
                          {**base, "id": other, "content": "Went for a walk", "tags": []}]
    doc["counts"]["reflections"] = 2
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    _ok(cli("import", path))
    _ok(cli("delete", other, "--yes"))
    assert legacy in _clear_text(mirror_home / "mirror.db")  # the oracle, as older mirrors left it

    _ok(cli("key", "enable", env={"MIRROR_NEW_PASSPHRASE": GOOD}))
    env = {"MIRROR_PASSPHRASE": GOOD}
    clear = _clear_text(mirror_home / "mirror.db")
    assert legacy not in clear and other not in clear and not any(g in clear for g in GUESSES)
    _verify(cli, env)
    assert _texts(cli, env) == sorted(["first", SECRET])
    # the same jrnl export imported again still finds the entry: nothing added, the deleted one stays deleted
    again = _write(tmp_path, [ENTRY, {**ENTRY, "title": "Went for a walk", "date": "2024-03-02", "time": "10:00"}])
    _ok(cli("import", again, "--format", "jrnl", env=env))
    assert _texts(cli, env) == sorted(["first", SECRET])
    _verify(cli, env)


def test_reimport_adds_nothing_and_an_entry_edited_in_jrnl_is_updated(cli, tmp_path):
    two = [ENTRY, {**ENTRY, "title": "Called mum"}]  # two entries of the same minute
    _ok(cli("import", _write(tmp_path, two), "--format", "jrnl"))
    _ok(cli("import", _write(tmp_path, two), "--format", "jrnl"))
    assert _texts(cli) == sorted([SECRET, "Called mum"])
    _ok(cli("import", _write(tmp_path, [ENTRY, {**ENTRY, "title": "Called dad"}]), "--format", "jrnl"))
    assert _texts(cli) == sorted([SECRET, "Called dad"])
    _verify(cli)

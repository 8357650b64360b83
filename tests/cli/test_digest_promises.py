"""Audit digests are no text oracles (issue 12, item 13).

An attacker holds the journal's file (encrypted) and a word list, and knows the
stored row format: for each candidate text they rebuild the row from the columns
that stay in clear and look for its digest among the audit vouches.
"""

from __future__ import annotations

import json
import sqlite3

from mirror_cli import audit

GOOD = "correct horse battery staple"
SECRETS = ("Took sertraline 50mg", "Positive pregnancy test")
WORDS = ("Went for a walk", *SECRETS, "Called mum", "Took sertraline 100mg")


def _db(home):
    return home / "mirror.db"


def _guesses(db) -> set[str]:
    """Every digest the attacker can make: each candidate text in each row's clear columns."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT id, created_at, updated_at, mode, local_only FROM reflections").fetchall()
    finally:
        conn.close()
    out = set()
    for rid, created, updated, mode, local in rows:
        for when in {created, updated}:
            for text in WORDS:
                out.add(audit.row_digest((rid, when, when, text, None, mode, "[]", local)))
    return out


def _vouched(db) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        digests = {d for (d,) in conn.execute("SELECT digest FROM audit_vouches WHERE digest IS NOT NULL")}
        data = " ".join(d for (d,) in conn.execute("SELECT data FROM audit_events"))
    finally:
        conn.close()
    return digests | {w for w in data.replace('"', " ").split() if len(w) == 64}


def _verify(cli, env=None):
    r = cli("audit", "verify", "--json", env=env)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["ok"] is True


def _show_id(cli, env=None):
    return json.loads(cli("list", "--json", env=env).stdout)


def test_the_attack_works_on_a_plain_journal(cli, mirror_home):
    """The attacker's model of the row is right: on a plain journal (text in clear anyway) it matches."""
    assert cli("reflect", SECRETS[0]).exit_code == 0
    assert _guesses(_db(mirror_home)) & _vouched(_db(mirror_home))


def test_key_enable_leaves_no_digest_of_earlier_text(cli, mirror_home):
    for text in SECRETS:
        assert cli("reflect", text).exit_code == 0
    rid = _show_id(cli)[0]["id"]
    assert cli("edit", rid, "Went for a walk").exit_code == 0
    r = cli("key", "enable", env={"MIRROR_NEW_PASSPHRASE": GOOD})
    assert r.exit_code == 0, r.stderr
    assert not _guesses(_db(mirror_home)) & _vouched(_db(mirror_home))
    _verify(cli, {"MIRROR_PASSPHRASE": GOOD})


def test_digests_written_on_an_encrypted_journal_are_keyed(cli, mirror_home):
    env = {"MIRROR_PASSPHRASE": GOOD}
    assert cli("reflect", "Went for a walk").exit_code == 0
    assert cli("key", "enable", env={"MIRROR_NEW_PASSPHRASE": GOOD}).exit_code == 0
    assert cli("reflect", SECRETS[1], env=env).exit_code == 0
    conn = sqlite3.connect(_db(mirror_home))
    try:
        row = conn.execute(f"SELECT {audit.REFLECTION_SELECT} FROM reflections ORDER BY rowid DESC").fetchone()
        (digest,) = conn.execute("SELECT digest FROM audit_vouches ORDER BY seq DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    assert digest != audit.row_digest(row)  # not the SHA-256 of the stored row: an HMAC under the key
    _verify(cli, env)


def test_audit_verify_passes_through_enable_disable_change(cli, mirror_home):
    env = {"MIRROR_PASSPHRASE": GOOD}
    assert cli("reflect", SECRETS[0]).exit_code == 0
    assert cli("reflect", "Went for a walk").exit_code == 0
    gone = _show_id(cli)[0]["id"]
    assert cli("delete", gone, "--yes").exit_code == 0
    assert cli("key", "enable", env={"MIRROR_NEW_PASSPHRASE": GOOD}).exit_code == 0
    _verify(cli, env)
    assert cli("reflect", "Called mum", env=env).exit_code == 0
    _verify(cli, env)
    assert cli("key", "change", env={**env, "MIRROR_NEW_PASSPHRASE": "another good passphrase"}).exit_code == 0
    env = {"MIRROR_PASSPHRASE": "another good passphrase"}
    _verify(cli, env)
    assert cli("key", "disable", env=env).exit_code == 0
    _verify(cli)
    assert cli("reflect", SECRETS[1]).exit_code == 0
    r = cli("key", "enable", env={"MIRROR_NEW_PASSPHRASE": GOOD})
    assert r.exit_code == 0, r.stderr
    _verify(cli, {"MIRROR_PASSPHRASE": GOOD})
    assert not _guesses(_db(mirror_home)) & _vouched(_db(mirror_home))

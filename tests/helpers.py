"""Helpers shared by the tests (fixtures live in conftest.py): paths, cheap key derivation, the argv of a
real mirror process, the contract's error shape, raw SQLite access."""

from __future__ import annotations

import re
import sqlite3
import sys
from pathlib import Path

from mirror_cli import crypto

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"
ROOT = TESTS.parent  # the repository


def cheap() -> crypto.KdfParams:
    """Argon2id at its minimum cost: fast tests, the same code path as production."""
    return crypto.new_kdf_params(iterations=1, lanes=1, memory_cost=8)


cheap_params = cheap

# The argv prefix of a real mirror process (tests/process/ only; in-process tests use the `cli` fixture).
MIRROR = (sys.executable, "-m", "mirror_cli")


def assert_error(proc_or_result, code):
    """A failure as the contract wants it: exit *code*, nothing on stdout, one message and no traceback on stderr.

    Takes a subprocess result (returncode) or a CliRunner result (exit_code)."""
    rc = getattr(proc_or_result, "returncode", getattr(proc_or_result, "exit_code", None))
    assert rc == code, (rc, proc_or_result.stdout, proc_or_result.stderr)
    assert proc_or_result.stdout == ""
    assert "Traceback" not in proc_or_result.stderr
    assert proc_or_result.stderr.strip()


def dump(db) -> list[str]:
    """The whole SQLite database as SQL text, to compare before and after."""
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def raw(db, *sql) -> None:
    """Run *sql* statements on *db* behind mirror's back (foreign keys off)."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = OFF")
        for s in sql:
            conn.execute(s)
    finally:
        conn.close()


# The JSON shape of one reflection (CONTRACT.md), as `reflect|show|list --json` print it.
REFLECTION_KEYS = ["id", "created_at", "updated_at", "content", "response", "mode", "tags", "local_only"]
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def check_reflection(obj):
    """Assert *obj* has the contract's keys in order and well-formed times; return it."""
    assert list(obj) == REFLECTION_KEYS
    assert STAMP.match(obj["created_at"]) and STAMP.match(obj["updated_at"])
    assert isinstance(obj["tags"], list) and isinstance(obj["local_only"], bool)
    assert obj["response"] is None or isinstance(obj["response"], str)
    return obj

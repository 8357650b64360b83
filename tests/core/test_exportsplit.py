"""mirror_cli.exportsplit: an encrypted export built on two processes gives the same text, or falls back."""

from __future__ import annotations

import io
import re
import sqlite3
import stat
import sys
from datetime import datetime, timezone

import pytest

from mirror_cli import crypto, exportsplit
from mirror_cli.journal import reflections as journal
from mirror_cli.crypto import manage as keyops
from mirror_cli.errors import VerificationError
from mirror_cli.exchange import export
from mirror_cli.exchange.formats.jsondoc import _encode
from mirror_cli.db.store import Store

TEXTS = ['plain', 'quote " and \\ backslash', "new\nline\ttab\x00nul", "émoji 🙂 \u2028 sep", "</script>", "x" * 3000]
N = 60


def _add(s: Store, i: int, created: str | None = None) -> None:
    text = TEXTS[i % len(TEXTS)]
    journal.insert_row(s, journal.Reflection(
        id=f"R{i:03d}", created_at=created or f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}.000Z",
        updated_at="2024-02-01T00:00:00.000Z", content=f"{text} {i}", response=None if i % 3 else text,
        tags=[t for t in TEXTS[:i % 4] if "\n" not in t] + (["back\\slash"] if i % 7 == 0 else []),
        local_only=bool(i % 2)), s.tick())


@pytest.fixture
def store(tmp_path, monkeypatch):
    s = Store.open(tmp_path / "sealed.db")
    with s.write():
        for i in range(N):
            # a few rows share a creation time (the boundary may fall among them)
            _add(s, i, "2024-01-01T00:00:30.000Z" if 28 <= i <= 36 else None)
    expected = [_encode(r.to_dict()) for r in journal.list_reflections(s, oldest_first=True)]
    keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": "pw"}, interactive=False, force=True,
                  kdf_params=crypto.new_kdf_params(iterations=1, lanes=1, memory_cost=8))
    assert s.data_key is not None
    s.expected = expected
    monkeypatch.setattr(exportsplit, "PARALLEL_MIN_ROWS", 2)
    monkeypatch.setattr(exportsplit, "_cores", lambda: 2)
    yield s
    s.close()


@pytest.fixture
def spy(monkeypatch):
    """Records what the helper's answers were judged: same_state and complete results."""
    seen: dict[str, list] = {"same_state": [], "complete": [], "started": []}
    same_state, complete, start = (exportsplit._Helper.same_state, exportsplit._Helper.complete,
                                   exportsplit._Helper.start.__func__)

    def spy_same(self):
        seen["same_state"].append(result := same_state(self))
        return result

    def spy_complete(self, done):
        seen["complete"].append(result := complete(self, done))
        return result

    def spy_start(cls, *args):
        seen["started"].append(helper := start(cls, *args))
        return helper

    monkeypatch.setattr(exportsplit._Helper, "same_state", spy_same)
    monkeypatch.setattr(exportsplit._Helper, "complete", spy_complete)
    monkeypatch.setattr(exportsplit._Helper, "start", classmethod(spy_start))
    return seen


def _texts(store, since=None, until=None) -> list[str]:
    with store.read():
        return list(export.iter_reflection_json(store, since, until))


def _wrapper(tmp_path, monkeypatch, body: str) -> None:
    """Make the helper start through a shell script (*body* runs it as "$REAL" "$@")."""
    script = tmp_path / "helper.sh"
    script.write_text(f'#!/bin/sh\nREAL="{sys.executable}"\n{body}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(sys, "executable", str(script))


def test_two_processes_give_the_text_of_one(store, spy):
    assert _texts(store) == store.expected
    assert spy["same_state"] == [True] and spy["complete"] == [True]


def test_a_time_window_on_two_processes(store, spy):
    since = datetime(2024, 1, 1, 0, 0, 10, tzinfo=timezone.utc)
    until = datetime(2024, 1, 1, 0, 0, 50, tzinfo=timezone.utc)
    monkeypatch_min = exportsplit.PARALLEL_MIN_ROWS
    assert monkeypatch_min == 2
    want = [t for t in store.expected if "2024-01-01T00:00:10" <= re.search(r'"created_at":"([^"]*)"', t)[1]
            < "2024-01-01T00:00:50"]
    assert len(want) == 40
    assert _texts(store, since, until) == want
    assert spy["complete"] == [True]


def test_the_whole_export_document_is_byte_identical(store, spy, monkeypatch):
    def document():
        out = io.StringIO()
        export.write_stream(store, out)
        return re.sub(r'"exported_at":"[^"]*"', "", out.getvalue())

    two = document()
    monkeypatch.setattr(exportsplit, "PARALLEL_MIN_ROWS", 10**9)
    assert document() == two
    assert spy["complete"] == [True]  # only the first export started a helper


def test_small_journals_and_one_cpu_use_one_process(store, spy, monkeypatch):
    monkeypatch.setattr(exportsplit, "PARALLEL_MIN_ROWS", N + 1)
    assert _texts(store) == store.expected
    monkeypatch.setattr(exportsplit, "PARALLEL_MIN_ROWS", 2)
    monkeypatch.setattr(exportsplit, "_cores", lambda: 1)
    assert _texts(store) == store.expected
    assert spy["started"] == []


def test_a_helper_that_cannot_start_falls_back(store, spy, monkeypatch):
    import subprocess

    def refuse(*args, **kwargs):
        raise OSError("no processes left")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    assert _texts(store) == store.expected
    assert spy["started"] == [None]


@pytest.mark.parametrize("body", [
    'exit 1',  # dies at once
    '"$REAL" "$@" | head -c 9000',  # cut short in the middle of its records: the rest is built here
    '"$REAL" "$@" | head -n 4',  # the header and a few whole records, then nothing
    '"$REAL" "$@"; exit 1',  # everything, but a failing exit status
    'cat >/dev/null; printf \'{"marker": [], "bound": "x"}\\n{"id":"forged"}\\n\\n{"done": 1}\\n\'',  # another state
])
def test_a_helper_that_fails_or_lies_changes_nothing(store, spy, monkeypatch, tmp_path, body):
    _wrapper(tmp_path, monkeypatch, body)
    assert _texts(store) == store.expected
    assert spy["complete"] in ([], [False])


def test_a_write_during_the_export_is_not_seen(store, spy, monkeypatch, tmp_path):
    """The export is the snapshot of its read transaction, even when the helper reads after a write."""
    flag = tmp_path / "go"
    _wrapper(tmp_path, monkeypatch, f'while [ ! -e "{flag}" ]; do sleep 0.01; done\nexec "$REAL" "$@"')
    with store.read():
        texts = export.iter_reflection_json(store)
        got = [next(texts)]  # the helper is started and waits
        other = Store.open(store.path)
        from mirror_cli.db import open as session

        session.install_key(other, store.data_key)
        with other.write():
            _add(other, N + 1, "2030-01-01T00:00:00.000Z")  # a new row in the helper's part
            journal.insert_row(other, journal.Reflection(  # and an edit of one
                id="R059", created_at="2024-01-01T00:00:59.000Z", updated_at="2025-01-01T00:00:00.000Z",
                content="edited", response=None, tags=[], local_only=False), other.tick())
        other.close()
        flag.touch()
        got += list(texts)
    assert got == store.expected
    assert spy["same_state"] == [False]
    after = _texts(store)
    assert len(after) == N + 1 and '"content":"edited"' in after[-2]


def test_a_damaged_row_in_the_helpers_part_is_reported_by_name(store, spy):
    con = sqlite3.connect(store.path)
    blob = bytearray(con.execute("SELECT content FROM reflections WHERE id = 'R055'").fetchone()[0])
    blob[-1] ^= 0x80
    con.execute("UPDATE reflections SET content = ? WHERE id = 'R055'", (bytes(blob),))
    con.commit()
    con.close()
    with pytest.raises(VerificationError, match="reflections R055: field content"):
        _texts(store)
    assert spy["complete"] == [False]  # the helper failed on it; this process reported it


def test_a_bounded_buffer_still_gives_every_record(store, spy, monkeypatch):
    monkeypatch.setattr(exportsplit, "BUFFER_BYTES", 1)  # the helper waits on the pipe after each read
    assert _texts(store) == store.expected
    assert spy["complete"] == [True]

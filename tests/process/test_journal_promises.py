"""Promises of issue 12 about the journal commands, run as real `mirror` processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.process

BAD = os.fsdecode(b"\xff\xfe bad")  # what Python makes of a non-UTF-8 argument: lone surrogates


def mirror(*args: str, input: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run mirror with arguments passed as raw bytes (a non-UTF-8 argument stays what the shell gave)."""
    argv = [sys.executable, "-m", "mirror_cli", *args]
    return subprocess.run([os.fsencode(a) for a in argv], input=input, capture_output=True, timeout=120,
                          env={**os.environ, **(env or {})})


# -- item 24: a non-UTF-8 argument is a usage error, not an internal one ------------------------

@pytest.mark.parametrize("args", [
    ["reflect", BAD], ["reflect", "-t", BAD, "text"], ["reflect", "--mode", BAD, "text"],
    ["reflect", "--response", BAD, "text"], ["search", BAD], ["list", "-t", BAD], ["list", "--mode", BAD],
], ids=lambda a: " ".join(x.replace(BAD, "BAD") for x in a))
def test_a_non_utf8_argument_is_a_usage_error(args):
    assert mirror("reflect", "first").returncode == 0
    r = mirror(*args)
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2, err
    assert "not valid UTF-8" in err and "internal" not in err
    listed = json.loads(mirror("list", "--json").stdout)
    assert [x["content"] for x in listed] == ["first"]


def test_edit_with_a_non_utf8_argument_changes_nothing():
    rid = mirror("reflect", "first").stdout.decode().strip()
    r = mirror("edit", rid, BAD)
    assert r.returncode == 2
    assert b"not valid UTF-8" in r.stderr
    assert json.loads(mirror("show", rid, "--json").stdout)["content"] == "first"


# -- item 2 (and 19, first part): the editor's draft is kept until the text is committed ---------

def on_tty(*args: str, env: dict) -> tuple[int, str, str]:
    """Run mirror with stdin on a terminal (so that it opens the editor)."""
    import pty

    master, slave = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "mirror_cli", *args], stdin=slave, capture_output=True,
                              env={**os.environ, **env}, timeout=120)
    finally:
        os.close(slave)
        os.close(master)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


@pytest.fixture
def editor(tmp_path):
    """An editor that writes *text* (bytes) into the draft and records the draft's path, mode and env."""
    def make(text: bytes) -> tuple[dict, Path]:
        body = tmp_path / "body.bin"
        body.write_bytes(text)
        seen = tmp_path / "seen"
        script = tmp_path / "editor.sh"
        script.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{seen}.path"\nstat -c %a "$(dirname "$1")" > "{seen}.mode"\n'
                          f'env > "{seen}.env"\ncat "{body}" > "$1"\n')
        script.chmod(0o700)
        return {"VISUAL": str(script)}, seen
    return make


def kept_draft(err: str) -> Path:
    import re

    found = re.search(r"kept in (\S+);", err)
    assert found, err
    return Path(found.group(1))


def test_a_failed_save_keeps_the_draft_and_says_how_to_retry(tmp_path, editor):
    env, seen = editor(b"a long evening of writing #lost\n")
    folder = tmp_path / "not-a-db"
    folder.mkdir()  # the save fails after the editor: --db names a folder
    code, out, err = on_tty("--db", str(folder), "reflect", env=env)
    assert code == 2 and out == ""
    draft = kept_draft(err)
    assert draft.read_text() == "a long evening of writing #lost\n"
    assert f"mirror reflect < {draft}" in err
    db = tmp_path / "journal.db"
    with open(draft, "rb") as fh:  # the retry the message gives works
        r = subprocess.run([sys.executable, "-m", "mirror_cli", "--db", str(db), "reflect", "--json"], stdin=fh,
                           capture_output=True, timeout=120)
    assert r.returncode == 0 and json.loads(r.stdout)["content"] == "a long evening of writing #lost"
    shutil.rmtree(draft.parent)


def test_an_editor_that_saves_latin1_keeps_the_draft(tmp_path, editor):
    env, _ = editor("café au lait".encode("latin-1"))
    code, out, err = on_tty("reflect", env=env)
    assert code == 2 and "UTF-8" in err
    draft = kept_draft(err)
    assert draft.read_bytes() == "café au lait".encode("latin-1") and "iconv" in err
    shutil.rmtree(draft.parent)


def test_a_saved_draft_is_removed_and_lives_in_a_private_ram_folder(tmp_path, editor):
    env, seen = editor(b"saved at last\n")
    code, out, err = on_tty("reflect", env={**env, "MIRROR_PASSPHRASE": "x" * 12,
                                            "MIRROR_NEW_PASSPHRASE_FILE": "/nowhere"})
    assert code == 0, err
    draft = Path(Path(f"{seen}.path").read_text())
    assert not draft.exists() and not draft.parent.exists()  # erased once committed
    assert Path(f"{seen}.mode").read_text().strip() == "700"
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        assert draft.parent.parent == Path("/dev/shm")  # RAM, not the shared /tmp on disk
    names = [line.split("=", 1)[0] for line in Path(f"{seen}.env").read_text().splitlines()]
    assert "VISUAL" in names and not [n for n in names if "PASSPHRASE" in n]  # the editor gets no passphrase

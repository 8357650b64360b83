"""The editor and the terminal: real mirror processes with a pseudo-terminal as stdin (reflect, edit, delete)."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import MIRROR, check_reflection

pytestmark = pytest.mark.process


def _run_on_tty(args, env, answer: bytes | None = None, timeout=60):
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([*MIRROR, *args], stdin=slave, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)
        os.close(slave)
        slave = None
        if answer is not None:
            os.write(master, answer)
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.05)[0]:
                try:
                    os.read(master, 1024)
                except OSError:
                    break
        out, err = proc.communicate(timeout=max(1, deadline - time.monotonic()))
        return proc.returncode, out.decode(), err.decode()
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)



@pytest.fixture
def editor(tmp_path):
    """An EDITOR that records what it was given and writes a fixed text."""
    script = tmp_path / "fake-editor.sh"
    seen = tmp_path / "editor-saw.txt"
    script.write_text(f'#!/bin/sh\ncp "$1" "{seen}"\nprintf "written in the editor #edited\\n" > "$1"\n')
    script.chmod(0o700)
    return script, seen



def test_reflect_and_edit_with_editor_on_a_terminal(editor, run_mirror):
    script, seen = editor
    env = dict(os.environ, EDITOR=str(script))
    code, out, err = _run_on_tty(["reflect", "--json"], env)
    assert code == 0, err
    obj = check_reflection(json.loads(out))
    assert obj["content"] == "written in the editor #edited" and obj["tags"] == ["edited"]
    assert seen.read_text() == ""
    ok_proc = run_mirror("edit", obj["id"], "--response", "r")  # no editor needed for option-only edits
    assert ok_proc.returncode == 0
    # edit with no TEXT opens the editor on the current text
    script.write_text(f'#!/bin/sh\ncp "$1" "{seen}"\nprintf "rewritten\\n" > "$1"\n')
    code, out, err = _run_on_tty(["edit", obj["id"], "--json"], env)
    assert code == 0, err
    assert json.loads(out)["content"] == "rewritten"
    assert seen.read_text() == "written in the editor #edited\n"



def test_failing_editor_saves_nothing(tmp_path, run_mirror, mirror_home):
    script = tmp_path / "bad-editor.sh"
    script.write_text('#!/bin/sh\nprintf "half" > "$1"\nexit 3\n')
    script.chmod(0o700)
    code, out, err = _run_on_tty(["reflect"], dict(os.environ, VISUAL=str(script)))
    assert code == 1 and out == "" and "Traceback" not in err
    assert not (mirror_home / "mirror.db").exists()  # nothing saved, no journal created
    kept = Path(re.search(r"kept in (\S+);", err).group(1))  # what the editor wrote is kept (issue 12, item 2)
    assert kept.read_text() == "half"
    shutil.rmtree(kept.parent)



def test_an_editor_that_saves_latin1_is_a_usage_error(tmp_path, run_mirror, mirror_home):
    script = tmp_path / "latin1-editor.sh"
    script.write_text('#!/bin/sh\nprintf "caf\\351" > "$1"\n')
    script.chmod(0o700)
    code, out, err = _run_on_tty(["reflect"], dict(os.environ, VISUAL=str(script)))
    assert code == 2 and out == "" and "UTF-8" in err and "internal" not in err
    assert not (mirror_home / "mirror.db").exists()  # nothing saved, no journal created
    shutil.rmtree(Path(re.search(r"kept in (\S+);", err).group(1)).parent)  # kept (issue 12, item 2)



def test_delete_asks_on_a_terminal(run_mirror):
    rid = run_mirror("reflect", "keep me").stdout.strip()
    code, out, err = _run_on_tty(["delete", rid], dict(os.environ), answer=b"n\n")
    assert code == 0 and "Nothing deleted" in err
    assert [o["id"] for o in json.loads(run_mirror("list", "--json").stdout)] == [rid]
    code, out, err = _run_on_tty(["delete", rid], dict(os.environ), answer=b"y\n")
    assert code == 0, err
    assert json.loads(run_mirror("list", "--json").stdout) == []



@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_a_terminated_edit_leaves_no_draft(tmp_path, run_mirror, signame):
    """A closed terminal (SIGHUP) or `kill` (SIGTERM) while the editor is open: the draft holding
    the reflection's text is removed (Python's default for both signals skipped every cleanup)."""
    import signal

    rid = run_mirror("reflect", "secret original text").stdout.strip()
    script = tmp_path / "slow-editor.sh"
    started = tmp_path / "started"
    script.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{started}.tmp"\nmv "{started}.tmp" "{started}"\nsleep 30\n')
    script.chmod(0o700)
    master, slave = pty.openpty()
    sig = getattr(signal, signame)
    proc = subprocess.Popen([*MIRROR, "edit", rid], stdin=slave, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ, VISUAL=str(script)),
                            start_new_session=True,
                            # as from a terminal: under `nohup` (a CI runner) SIGHUP is inherited ignored,
                            # and mirror rightly keeps it so
                            preexec_fn=lambda: signal.signal(sig, signal.SIG_DFL))
    os.close(slave)
    try:
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        draft = Path(started.read_text())  # wherever mirror put it (RAM, or the journal's folder)
        assert draft.is_file(), "the editor never started"
        proc.send_signal(getattr(signal, signame))  # to mirror alone; its editor sleeps on
        code = proc.wait(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the editor, which still holds mirror's pipes
        os.close(master)
    err = proc.stderr.read().decode()
    assert code == 128 + getattr(signal, signame), err
    assert not draft.exists() and not draft.parent.exists()
    assert json.loads(run_mirror("show", rid, "--json").stdout)["content"] == "secret original text"



def test_an_edit_saved_meanwhile_is_not_overwritten(tmp_path, run_mirror):
    """Two edits of one reflection: the one whose editor was open longer used to overwrite the other
    silently. Now it saves nothing, keeps the draft and names it on stderr, and exits 1."""
    rid = run_mirror("reflect", "the original").stdout.strip()
    script = tmp_path / "racing-editor.sh"
    script.write_text(f'#!/bin/sh\n"{sys.executable}" -m mirror_cli edit {rid} "saved meanwhile" >/dev/null\n'
                      'printf "typed in the editor\\n" > "$1"\n')
    script.chmod(0o700)
    code, out, err = _run_on_tty(["edit", rid], dict(os.environ, VISUAL=str(script)))
    assert code == 1 and out == "" and "changed by another mirror process" in err
    kept = Path(re.search(r"kept in (\S+);", err).group(1))  # the draft is kept, not lost, and named
    assert kept.read_text() == "typed in the editor\n" and f"mirror edit {rid} < {kept}" in err
    shutil.rmtree(kept.parent)
    assert json.loads(run_mirror("show", rid, "--json").stdout)["content"] == "saved meanwhile"

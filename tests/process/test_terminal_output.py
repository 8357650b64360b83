"""Tables and one-line rows for people at a terminal (NO_COLOR: the same without colour); tab-separated
lines when piped or with --plain / MIRROR_PLAIN (real subprocesses)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess

import pytest

from helpers import MIRROR

pytestmark = pytest.mark.process

ESC = re.compile(rb"\x1b\[")
BOX = "┃".encode()  # rich's heavy table border


def _on_tty(args, env, timeout=60) -> tuple[int, bytes]:
    """Run mirror with stdout and stderr on a pseudo-terminal; return (code, everything printed)."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([*MIRROR, *args], stdin=subprocess.DEVNULL,
                                stdout=slave, stderr=slave, env=env)
        os.close(slave)
        slave = None
        out = b""
        while True:
            ready = select.select([master], [], [], timeout)[0]
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        return proc.wait(timeout=timeout), out
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)


@pytest.fixture
def journal(run_mirror):
    for text in ("first entry #walk", "second entry"):
        assert run_mirror("reflect", text).returncode == 0


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm-256color"
    env["COLUMNS"] = "120"
    env["MIRROR_PAGER"] = ""  # no pager here: tests/process/test_pager.py runs less
    env.update(extra)
    return env


@pytest.mark.parametrize("args", [["list"], ["audit", "log"], ["migrate", "history"]])
def test_terminal_gets_a_rich_table(journal, args):
    code, out = _on_tty(args, _env())
    assert code == 0
    assert b"\t" not in out
    if args == ["list"]:  # one line per reflection, as `git log --oneline`, under the zone's name
        lines = re.sub(rb"\x1b\[[0-9;]*m", b"", out).decode().splitlines()
        assert lines[0].startswith("times in ") and len(lines) == 3
        assert "second entry" in lines[1] and "first entry #walk" in lines[2]
        assert ESC.search(out)  # colour
    else:
        assert BOX in out


@pytest.mark.parametrize("args", [["list"], ["audit", "log"], ["migrate", "history"], ["--help"],
                                  ["list", "--bogus"]])
def test_no_color_on_a_terminal_has_no_colour_but_keeps_the_layout(journal, args):
    """no-color.org: NO_COLOR takes the colour away, not the layout (no tab-separated lines)."""
    code, out = _on_tty(args, _env(NO_COLOR="1"))
    assert code == (2 if "--bogus" in args else 0)
    assert not ESC.search(out), out[:200]
    assert b"\t" not in out
    if args == ["list"]:
        lines = out.decode().splitlines()
        assert lines[0].startswith("times in ") and len(lines) == 3
    elif args[0] in ("audit", "migrate"):
        assert BOX in out


@pytest.mark.parametrize("how", [["--plain", "list"], ["list", "--plain"], ["MIRROR_PLAIN=1", "list"]])
def test_plain_on_a_terminal_is_what_scripts_get(journal, how):
    env = _env(NO_COLOR="1")
    args = [a for a in how if "=" not in a]
    env.update(a.split("=", 1) for a in how if "=" in a)
    code, out = _on_tty(args, env)
    assert code == 0 and not ESC.search(out)
    lines = out.decode().splitlines()
    assert len(lines) == 2 and all(line.count("\t") == 4 for line in lines)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", line.split("\t")[1]) for line in lines)


@pytest.mark.parametrize("args", [["list"], ["audit", "log"], ["search", "entry"], ["--help"]])
def test_piped_output_is_plain_even_without_no_color(journal, args):
    proc = subprocess.run([*MIRROR, *args], env=_env(), capture_output=True, timeout=60)
    assert proc.returncode == 0
    assert not ESC.search(proc.stdout) and not ESC.search(proc.stderr)
    assert BOX not in proc.stdout


HOSTILE = "osc \x1b]0;PWNED\x07 csi \x1b[2J c1 \x9b31m markup [/x] [bold]loud[/bold] end"


@pytest.mark.parametrize("no_color", [False, True])
def test_journal_text_never_sends_a_terminal_control_sequence(run_mirror, no_color):
    """Text is shown with its control characters as \\xNN on a terminal (rich table, plain lines and
    `show`), and Rich never reads it as markup; a pipe gets the text exactly as stored."""
    rid = run_mirror("reflect", input=HOSTILE).stdout.strip()
    env = _env(NO_COLOR="1") if no_color else _env()
    for args in (["show", rid], ["list"], ["search", "csi"]):
        code, out = _on_tty(args, env)
        assert code == 0, out
        assert b"\x1b]0;" not in out and b"\x1b[2J" not in out and "\x9b".encode() not in out and b"\x07" not in out
        assert b"\\x1b]0;PWNED\\x07" in out
        assert b"[/x]" in out and b"[bold]loud[/bold]" in out
    assert json.loads(run_mirror("show", rid, "--json").stdout)["content"] == HOSTILE
    assert HOSTILE in run_mirror("show", rid).stdout  # piped: as stored


def test_search_emphasises_the_match_on_a_terminal_only(run_mirror):
    assert run_mirror("reflect", "we walked to 東京タワー in the rain").returncode == 0
    code, out = _on_tty(["search", "東京"], _env())
    assert code == 0 and BOX not in out and b"times in" in out  # rows as `list` has them, the match under each
    assert re.search(rb"\x1b\[[0-9;]*1;4m" + "東京".encode(), out), out  # bold underline, then the match
    code, out = _on_tty(["search", "東京"], _env(NO_COLOR="1"))
    assert code == 0 and not ESC.search(out) and "東京タワー".encode() in out

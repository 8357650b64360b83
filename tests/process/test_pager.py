"""`mirror list` on an 80-column terminal pages through less, with short ids and local times (a pty)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import termios
import time

import pytest

from helpers import MIRROR

pytestmark = [pytest.mark.process,
              pytest.mark.skipif(shutil.which("less") is None, reason="less is not installed")]

SGR = re.compile(rb"\x1b\[[0-9;?]*[a-zA-Z=>]|\x1b[=>]")


def _read_until(master: int, done, timeout: float = 60) -> bytes:
    out, end = b"", time.monotonic() + timeout
    while time.monotonic() < end and not done(out):
        if select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


def _terminal(args, env):
    """mirror on an 80x24 pseudo-terminal (stdin too: less reads its keys there)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen([*MIRROR, *args], stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)
    os.close(slave)
    return proc, master


@pytest.fixture
def forty(cli, new_york):
    for i in range(40):
        assert cli("reflect", f"entry number {i:02d} " + "walked by the river " * 5,
                   "--at", f"2026-03-{1 + i % 28:02d} 09:{i:02d}" if i < 20 else f"2025-11-{1 + i % 28:02d} 22:{i:02d}").exit_code == 0


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "PAGER", "MIRROR_PAGER", "LESS", "COLUMNS")}
    env.update(TERM="xterm-256color", TZ="America/New_York", LINES="24", **extra)
    return env


def test_list_pages_through_less_with_short_ids_and_local_times(forty):
    text, waiting = _first_screen(["list"], b"entry number 19")
    assert waiting, "less waits for a key: the list was paged"
    assert "times in America/New_York" in text
    rows = [line for line in text.splitlines() if "entry number" in line]
    assert 15 <= len(rows) <= 24 and "entry number 39" not in text  # one screen, not all 40
    # 2026 is "this year" only in 2026: take the year into account either way.
    this_year = time.localtime().tm_year
    row = rows[0]
    assert re.match(r"[0-9A-Z]{6,12}  (2026-)?03-\d\d 09:\d\d  entry number", row), row
    assert row.startswith(next(r for r in rows).split()[0]) and len(row.split()[0]) < 26
    if this_year == 2026:
        assert re.search(r"  03-\d\d 09:\d\d  ", row)
    assert all(len(line) <= 80 for line in rows)


def test_the_shown_short_id_is_what_show_takes(forty, cli):
    proc, master = _terminal(["list", "--no-pager"], _env(COLUMNS="80"))
    try:
        out = _read_until(master, lambda out: False, 60)  # to the end: the terminal closes
        assert proc.wait(timeout=30) == 0  # --no-pager: all 40 rows, nothing waits for a key
    finally:
        os.close(master)
    text = SGR.sub(b"", out).decode().replace("\r", "")
    rows = [line for line in text.splitlines() if "entry number" in line]
    assert len(rows) == 40
    assert sum(bool(re.match(r"\S+  2025-11-\d\d 22:\d\d  entry", row)) for row in rows) == 20  # another year
    short = next(row for row in rows if "entry number 00" in row).split()[0]
    assert "entry number 00" in cli("show", short).stdout


def test_mirror_pager_and_pager_choose_the_pager(forty, tmp_path):
    seen = tmp_path / "paged.txt"
    for env in (_env(MIRROR_PAGER=f"tee {seen}", PAGER="false"), _env(PAGER=f"tee {seen}")):
        seen.unlink(missing_ok=True)
        proc, master = _terminal(["list"], env)
        try:
            _read_until(master, lambda out: False, 60)
            assert proc.wait(timeout=30) == 0
        finally:
            os.close(master)
        assert seen.read_text().count("entry number") == 40


def _first_screen(args, marker: bytes):
    """The first screen of `mirror ARGS` on the 80x24 terminal, and whether less was still waiting."""
    proc, master = _terminal(args, _env())
    try:
        screen = _read_until(master, lambda out: marker in out, 60)
        screen += _read_until(master, lambda out: False, 1.5)
        waiting = proc.poll() is None
        os.write(master, b"q")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return SGR.sub(b"", screen).decode().replace("\r", ""), waiting


def test_search_pages_like_list_with_the_match_under_each_hit(forty):
    text, waiting = _first_screen(["search", "river", "--limit", "40"], b"walked by")
    assert waiting, "less waits for a key: the hits were paged"
    lines = text.splitlines()
    assert sum("times in America/New_York" in line for line in lines) == 1  # the zone, once
    heads = [line for line in lines if re.match(r"[0-9A-Z]{6,12}  (20\d\d-)?\d\d-\d\d \d\d:\d\d  entry number", line)]
    matches = [line for line in lines if line.startswith("    ") and "river" in line]
    assert heads and matches and len(heads) < 40  # one screen, not all 40 hits
    assert all(len(line) <= 80 for line in lines)


def test_show_of_several_reflections_pages_them_in_full(forty, cli):
    ids = [line.split("\t")[0] for line in cli("list", "--limit", "6").stdout.splitlines()]
    text, waiting = _first_screen(["show", *ids], b"id:")
    assert waiting
    assert text.count("times in America/New_York") == 1 and "(America/New_York)" not in text
    assert text.count("id:       ") >= 2 and ids[0] in text


def test_delete_asks_on_the_terminal_showing_what_it_would_delete(forty, cli):
    rid = cli("list", "--limit", "1").stdout.split("\t")[0]
    proc, master = _terminal(["delete", rid[:10]], _env())
    try:
        asked = SGR.sub(b"", _read_until(master, lambda out: b"[y/N]" in out, 60)).decode()
        assert "entry number" in asked and "Delete" in asked  # its date and first line, then the question
        assert re.search(r"\d\d:\d\d", asked)
        os.write(master, b"n\r")
        said = SGR.sub(b"", _read_until(master, lambda out: False, 5)).decode()
        assert proc.wait(timeout=30) == 0 and "othing" in said  # declined: nothing deleted, and it says so
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert rid in cli("show", rid, "--json").stdout

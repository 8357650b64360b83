"""Exit codes, errors on stderr and broken standard streams, seen from a real `python -m mirror_cli` process."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import MIRROR, assert_error

pytestmark = pytest.mark.process


def test_success_is_0(run_mirror):
    p = run_mirror("reflect", "fine")
    assert p.returncode == 0 and p.stderr == ""



def test_version(run_mirror):
    from mirror_cli import __version__

    p = run_mirror("--version")
    assert p.returncode == 0 and p.stdout == f"mirror {__version__}\n"
    # the same through Typer's eager option (any other argument list than exactly --version)
    p = run_mirror("-q", "--version")
    assert p.returncode == 0 and p.stdout == f"mirror {__version__}\n"



@pytest.mark.parametrize("args", [["frobnicate"], ["list", "--frob"], ["reflect", "--at"], ["show"],
                                  ["list", "--limit", "-3"], ["migrate", "down", "--steps", "x"],
                                  ["config", "get"], ["audit", "log", "--limit", "0"], ["search"]])
def test_usage_errors_are_2(run_mirror, args):
    assert_error(run_mirror(*args), 2)



def test_unwritable_database_path_is_1(run_mirror, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    p = run_mirror("--db", blocker / "mirror.db", "reflect", "x")
    assert_error(p, 1)
    assert str(blocker) in p.stderr



def test_database_is_a_folder_is_2(run_mirror, tmp_path):
    assert_error(run_mirror("--db", tmp_path, "list"), 2)



def test_not_a_database_is_2(run_mirror, tmp_path):
    bad = tmp_path / "junk.db"
    bad.write_bytes(b"definitely not sqlite" * 100)
    p = run_mirror("--db", bad, "list")
    assert_error(p, 2)
    assert str(bad) in p.stderr



def test_audit_failure_is_3_with_json_on_stdout(run_mirror, mirror_home):
    run_mirror("reflect", "x")
    conn = sqlite3.connect(mirror_home / "mirror.db", isolation_level=None)
    conn.execute("UPDATE audit_events SET event_type = 'forged'")
    conn.close()
    p = run_mirror("audit", "verify", "--json")
    assert p.returncode == 3 and '"first_bad_seq": 1' in p.stdout and "Traceback" not in p.stderr



def test_mirror_debug_shows_the_traceback(run_mirror, tmp_path):
    bad = tmp_path / "junk.db"
    bad.write_bytes(b"definitely not sqlite" * 100)
    quiet = run_mirror("--db", bad, "list")
    assert quiet.returncode == 2 and "Traceback" not in quiet.stderr
    assert len(quiet.stderr.strip().splitlines()) <= 2  # one or two plain lines
    loud = run_mirror("--db", bad, "list", env={"MIRROR_DEBUG": "1"})
    assert "Traceback" in loud.stderr and "UsageError" in loud.stderr
    assert loud.returncode == 2  # the traceback is extra: the exit code stays the contract's
    assert loud.stderr.strip().splitlines()[-2:] == quiet.stderr.strip().splitlines()[-2:]



def test_python_dash_m_and_the_console_script_agree(run_mirror):

    script = Path(sys.executable).with_name("mirror")
    assert script.exists() or shutil.which("mirror"), "the console script `mirror` is installed"
    via_script = subprocess.run([str(script if script.exists() else shutil.which("mirror")), "--version"],
                                capture_output=True, text=True, timeout=60)
    assert via_script.returncode == 0 and via_script.stdout == run_mirror("--version").stdout



def test_missing_show_id_message_names_the_id(run_mirror):
    run_mirror("reflect", "a journal to look in")
    p = run_mirror("show", "ABCDEFGHJK")
    assert_error(p, 2)
    assert "ABCDEFGHJK" in p.stderr



def _damaged_copies(run_mirror, mirror_home, tmp_path):
    """A real journal, then two damaged copies: cut in half, and three pages overwritten mid-file."""
    for i in range(30):
        assert run_mirror("reflect", f"entry {i} " + "words " * 400).returncode == 0
    data = (mirror_home / "mirror.db").read_bytes()
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(data[: len(data) // 2])
    garbled = bytearray(data)
    # three pages that hold reflections (not pages of empty tables, whose damage is invisible and harmless)
    conn = sqlite3.connect(mirror_home / "mirror.db")
    try:
        pages = sorted(p for (p,) in conn.execute("SELECT pageno FROM dbstat WHERE name = 'reflections'"))
    finally:
        conn.close()
    for pageno in pages[len(pages) // 2: len(pages) // 2 + 3]:
        page = pageno - 1
        garbled[page * 4096 + 100: page * 4096 + 4000] = b"\xab" * 3900
    scribbled = tmp_path / "scribbled.db"
    scribbled.write_bytes(bytes(garbled))
    return truncated, scribbled



def test_verify_and_check_on_a_damaged_file(run_mirror, mirror_home, tmp_path):
    """Exit 3; with --json the report object still comes out on stdout, without it only stderr."""

    truncated, scribbled = _damaged_copies(run_mirror, mirror_home, tmp_path)
    for args in (("list",), ("reflect", "x")):
        assert_error(run_mirror("--db", truncated, *args), 3)
    for bad in (truncated, scribbled):
        before = bad.read_bytes()
        v = run_mirror("--db", bad, "audit", "verify", "--json")
        assert v.returncode == 3 and "Traceback" not in v.stderr, v.stderr
        report = json.loads(v.stdout)
        assert report["ok"] is False and report["problem"] and str(bad) in report["problem"]
        c = run_mirror("--db", bad, "migrate", "check", "--json")
        assert c.returncode == 3 and "Traceback" not in c.stderr, c.stderr
        report = json.loads(c.stdout)
        assert report["ok"] is False and report["integrity"]
        for args in (("audit", "verify"), ("migrate", "check")):
            assert_error(run_mirror("--db", bad, *args), 3)
        assert bad.read_bytes() == before  # checking changed nothing



def _journal(home):
    """An empty journal at the default place: only a command that writes creates one."""
    from mirror_cli.db.store import Store

    Store.open(home / "mirror.db").close()


@pytest.mark.parametrize("args", [["--version"], ["config", "path"], ["list"], ["reflect", "into a closed pipe"]])
def test_a_reader_that_went_away_is_no_error(args, tmp_path, mirror_home):
    """`mirror config path | true`: Python's own flush at exit printed "Exception ignored ...
    BrokenPipeError" and exited 120 (buffered stdout, as for any user without PYTHONUNBUFFERED)."""

    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    _journal(mirror_home)
    r, w = os.pipe()
    os.close(r)  # the reader is gone before mirror writes a byte
    try:
        proc = subprocess.run([*MIRROR, *args], stdout=w, stderr=subprocess.PIPE,
                              env=env, timeout=60)
    finally:
        os.close(w)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""



@pytest.mark.parametrize("args", [["--version"], ["--help"], ["config", "path"]])
def test_a_full_device_is_one_line_exit_1(args):

    with open("/dev/full", "w") as full:  # Linux, where CI runs
        proc = subprocess.run([*MIRROR, *args], stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") <= 2 and "space" in proc.stderr



@pytest.mark.parametrize("args", [["config", "path"], ["export"], ["reflect", "lost?"]])
def test_a_closed_stdout_does_nothing_and_exits_1(args, run_mirror, mirror_home):
    """Like `echo hi >&-`: an export into a closed stdout "succeeded" (exit 0, recorded, nothing
    written); it was an internal error before that."""

    _journal(mirror_home)
    proc = subprocess.run([*MIRROR, *args], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=60, close_fds=True,
                          preexec_fn=lambda: __import__("os").close(1))
    assert proc.returncode == 1 and "standard output is closed" in proc.stderr and "internal" not in proc.stderr
    assert json.loads(run_mirror("list", "--json").stdout) == []



@pytest.mark.parametrize("args, code", [(["reflect"], 0), (["import", "-"], 5), (["list"], 0)])
def test_a_closed_stdin_reads_as_empty(args, code, mirror_home):
    """`mirror reflect <&-` was an internal error (sys.stdin is None); it reads as an empty input."""

    _journal(mirror_home)
    proc = subprocess.run([*MIRROR, *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60, close_fds=True,
                          preexec_fn=lambda: __import__("os").close(0))
    assert proc.returncode == code, proc.stderr
    assert "internal" not in proc.stderr

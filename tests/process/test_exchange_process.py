"""`mirror export` and `mirror import` as real processes: hostile files, pipes between two journals, progress
bars and questions on a terminal, -o /proc/self/fd/1."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import DATA, MIRROR

PW = "river stones and tea"

pytestmark = pytest.mark.process


@pytest.mark.parametrize("raw", [
    b"\xc3\x28 not utf-8",
    b"[" * 50000,
    b'{"format":"mirror-export","version":1,"reflections":[{"id":"a\\u0000","created_at":"x"}]}',
    b'{"type":"header","format":"mirror-export","version":1}\n{"type":"reflection","id":7}\n',
    b'{"format":"mirror-export","version":1,"reflections":{"not":"a list"}}',
    b"\x00" * 1000,
    b"MIRRENC\x01garbage",
])
def test_hostile_input_exit_5_or_3_without_traceback(run_mirror, tmp_path, raw):
    f = tmp_path / "hostile.bin"
    f.write_bytes(raw)
    r = run_mirror("import", f)
    assert r.returncode in (3, 5), r.stderr
    assert "Traceback" not in r.stderr and r.stderr.startswith("mirror: ")



def test_huge_line_is_refused(run_mirror, tmp_path):
    f = tmp_path / "huge.jsonl"
    with open(f, "wb") as fh:
        fh.write(b'{"type":"header","format":"mirror-export","version":1}\n{"type":"reflection","content":"')
        fh.write(b"a" * (65 * 1024 * 1024))
        fh.write(b'"}\n')
    r = run_mirror("import", f)
    assert r.returncode == 5 and "longer than" in r.stderr



def test_real_jrnl_export_with_tz(run_mirror):
    env = {"TZ": "EST5EDT,M3.2.0,M11.1.0"}
    r = run_mirror("import", DATA / "jrnl_export.json", "--json", env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["format"] == "jrnl" and out["added"]["reflections"] == 5
    listed = json.loads(run_mirror("list", "--json", env=env).stdout)
    first = next(x for x in listed if x["content"].startswith("Started the new job"))
    assert first["created_at"] == "2024-03-01T14:15:00.000Z" and first["tags"] == ["career", "work"]
    # Importing again in another time zone adds nothing (ids come from date, time and text).
    again = json.loads(run_mirror("import", DATA / "jrnl_export.json", "--json", env={"TZ": "UTC0"}).stdout)
    assert again["added"]["reflections"] == 0 and again["skipped"]["reflections"] == 5



def test_encrypt_to_stdout_is_binary(run_mirror, tmp_path):
    env = {"MIRROR_HOME": str(tmp_path / "h"), "MIRROR_PASSPHRASE": PW}
    run_mirror("reflect", "piped secret", env=env)
    r = subprocess.run([*MIRROR, "export", "--encrypt"], capture_output=True,
                       env={**os.environ, **env}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"MIRRENC\x01") and b"piped secret" not in r.stdout
    env2 = {"MIRROR_HOME": str(tmp_path / "h2"), "MIRROR_PASSPHRASE": PW}
    r2 = subprocess.run([*MIRROR, "import", "-", "--json"], input=r.stdout,
                        capture_output=True, env={**os.environ, **env2}, timeout=120)
    assert r2.returncode == 0, r2.stderr
    assert json.loads(r2.stdout)["added"]["reflections"] == 1



def test_move_a_journal_through_a_pipe(run_mirror, tmp_path):
    a = {**os.environ, "MIRROR_HOME": str(tmp_path / "old-machine")}
    b = {**os.environ, "MIRROR_HOME": str(tmp_path / "new-machine")}
    for text in ("first thought #work", "second thought, anxious #work", "third: calm walk"):
        subprocess.run([*MIRROR, "reflect", text], env=a, check=True, capture_output=True)
    subprocess.run([*MIRROR, "patterns", "analyze"], env=a, check=True, capture_output=True)
    exporter = subprocess.Popen([*MIRROR, "export"], env=a, stdout=subprocess.PIPE)
    importer = subprocess.run([*MIRROR, "import", "-", "--json"], env=b,
                              stdin=exporter.stdout, capture_output=True, text=True, timeout=120)
    exporter.stdout.close()
    assert exporter.wait(timeout=120) == 0
    assert importer.returncode == 0, importer.stderr
    assert json.loads(importer.stdout)["added"]["reflections"] == 3

    def sections(env):
        out = subprocess.run([*MIRROR, "export"], env=env, capture_output=True,
                             text=True, check=True).stdout
        doc = json.loads(out)
        return {k: doc[k] for k in ("reflections", "patterns", "tensions")}

    assert sections(a) == sections(b)
    verify = subprocess.run([*MIRROR, "audit", "verify"], env=b, capture_output=True)
    assert verify.returncode == 0



_NO_DELAY = ("import sys, mirror_cli.cli.exchange as e; e.PROGRESS_DELAY = 0.0; "
             "from mirror_cli.cli.app import main; sys.argv[0] = 'mirror'; main()")



def _drain(master: int, proc: subprocess.Popen, timeout: float) -> bytes:
    """Everything the child writes to the terminal, until it exits and nothing more comes.

    The parent keeps its own copy of the slave end open meanwhile: a Linux pty
    whose last slave is closed can report EIO before the kernel has handed
    over the last bytes the child wrote (seen under load).
    """
    import select
    import time

    seen = b""
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        if select.select([master], [], [], 0.05)[0]:
            seen += os.read(master, 65536)
            quiet_since = None
        elif proc.poll() is not None:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 0.3:
                break
    return seen



def _stderr_on_tty(args, env, timeout=120, *, stdout_tty=False) -> tuple[int, bytes, bytes]:
    """Run mirror with stderr on a pseudo-terminal; return (code, stdout, what the terminal got, less ANSI codes).

    *stdout_tty*: stdout on the same terminal too (a person at a terminal); its
    output is then part of what the terminal got.
    """
    import pty
    import tempfile

    master, slave = pty.openpty()
    stdout = tempfile.TemporaryFile()  # not a pipe: a large stdout must not wait for this reader
    try:
        proc = subprocess.Popen([sys.executable, "-c", _NO_DELAY, *map(str, args)], stdin=subprocess.DEVNULL,
                                stdout=slave if stdout_tty else stdout, stderr=slave, env=env)
        seen = _drain(master, proc, timeout)
        code = proc.wait(timeout=timeout)
        stdout.seek(0)
        return code, stdout.read(), re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", seen)
    finally:
        stdout.close()
        os.close(slave)
        os.close(master)



def _tty_env(tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update({"TERM": "xterm-256color", "COLUMNS": "120", "MIRROR_HOME": str(tmp_path / "home")}, **extra)
    return env



@pytest.fixture
def big_file(tmp_path) -> Path:
    """An export of 2,100 reflections (the importer reports progress every 2,048)."""
    recs = [{"id": f"r{i:05d}", "created_at": f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}.{i // 3600:03d}Z",
             "content": f"entry {i}", "mode": "REFLECTION"} for i in range(2100)]
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"format": "mirror-export", "version": 1, "reflections": recs}))
    return path



def test_progress_bar_counts_records_on_a_terminal(tmp_path, big_file):
    env = _tty_env(tmp_path)
    code, _, seen = _stderr_on_tty(["import", big_file], env, stdout_tty=True)
    assert code == 0, seen
    assert b"importing" in seen and b"2048/2100 records" in seen
    code, _, seen = _stderr_on_tty(["export", "-o", tmp_path / "out.json"], env, stdout_tty=True)
    assert code == 0, seen
    assert b"exporting json" in seen and b"records" in seen and b"kB" not in seen
    assert b"Exported 2100 reflections" in seen



def test_no_progress_bar_when_piped_to_stdout_with_no_color_or_quiet(tmp_path, big_file):
    env = _tty_env(tmp_path)
    assert _stderr_on_tty(["import", big_file], env)[0] == 0
    code, out, seen = _stderr_on_tty(["export"], env)  # the document goes to stdout (a pipe here)
    assert code == 0 and json.loads(out)["counts"]["reflections"] == 2100
    assert seen == b""
    code, _, seen = _stderr_on_tty(["export", "-o", tmp_path / "a.json"], {**env, "NO_COLOR": "1"}, stdout_tty=True)
    assert code == 0 and b"records" not in seen and b"Exported 2100 reflections" in seen
    code, _, seen = _stderr_on_tty(["-q", "export", "-o", tmp_path / "b.json"], env, stdout_tty=True)
    assert code == 0 and seen == b""
    # stdout redirected to a file (`mirror export -o x > log`): no bar, only the note (CONTRACT: a
    # non-terminal stdout turns progress bars off)
    code, _, seen = _stderr_on_tty(["export", "-o", tmp_path / "d.json"], env)
    assert code == 0 and b"records" not in seen and b"Exported 2100 reflections" in seen
    # stderr not a terminal: no bar, only the note
    r = subprocess.run([sys.executable, "-c", _NO_DELAY, "export", "-o", str(tmp_path / "c.json")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stderr.startswith("Exported 2100 reflections") and r.stderr.count("\n") == 1



def _answer_on_tty(args, env, answer: bytes, timeout=120) -> tuple[int, bytes, bytes]:
    """Run mirror with stdin and stderr on a pseudo-terminal, type *answer* at the question."""
    import pty
    import select
    import tempfile

    master, slave = pty.openpty()
    stdout = tempfile.TemporaryFile()
    try:
        proc = subprocess.Popen([*MIRROR, *map(str, args)], stdin=slave,
                                stdout=stdout, stderr=slave, env=env)
        seen = b""
        while b"[y/N]" not in seen and select.select([master], [], [], timeout)[0]:
            seen += os.read(master, 65536)
        os.write(master, answer)
        seen += _drain(master, proc, timeout)
        code = proc.wait(timeout=timeout)
        stdout.seek(0)
        return code, stdout.read(), seen
    finally:
        stdout.close()
        os.close(slave)
        os.close(master)



def test_replace_asks_on_a_terminal(run_mirror, tmp_path):
    env = {**os.environ, "MIRROR_HOME": str(tmp_path / "home")}
    for text in ("kept unless I say yes", "another one"):
        assert run_mirror("reflect", text, env=env).returncode == 0
    f = tmp_path / "one.json"
    f.write_text(json.dumps({"format": "mirror-export", "version": 1, "reflections": [
        {"id": "only-one", "created_at": "2024-01-01T00:00:00Z", "content": "alone", "mode": "REFLECTION"}]}))
    code, out, seen = _answer_on_tty(["import", f, "--mode", "replace"], env, b"n\n")
    assert code == 0 and b"Replace every reflections, patterns, tensions" in seen and b"Nothing imported." in seen
    assert len(json.loads(run_mirror("list", "--json", env=env).stdout)) == 2
    code, out, seen = _answer_on_tty(["import", f, "--mode", "replace"], env, b"y\n")
    assert code == 0, seen
    assert b"deleted first: 2 reflections" in out
    assert [x["id"] for x in json.loads(run_mirror("list", "--json", env=env).stdout)] == ["only-one"]
    assert run_mirror("audit", "verify", env=env).returncode == 0



def test_export_to_proc_self_fd_1_writes_to_stdout(run_mirror, tmp_path):
    assert run_mirror("reflect", "through fd 1").returncode == 0
    r = run_mirror("export", "--format", "jsonl", "-o", "/proc/self/fd/1")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[1])["content"] == "through fd 1"
    f = tmp_path / "redirected.jsonl"
    with open(f, "w") as fh:  # fd 1 a regular file: written atomically at its real path
        r = subprocess.run([*MIRROR, "export", "-f", "jsonl", "-o", "/proc/self/fd/1"],
                           stdout=fh, stderr=subprocess.PIPE, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(f.read_text().splitlines()[1])["content"] == "through fd 1"

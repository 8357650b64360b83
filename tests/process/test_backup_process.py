"""mirror backup create as a real process: SIGKILLed at random moments, and its progress bar on a terminal."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import MIRROR, cheap
from mirror_cli.crypto import manage as keyops
from mirror_cli.db.store import Store
from mirror_cli.journal import reflections as journal

PW = "correct horse battery staple"

pytestmark = pytest.mark.process


def _kill_when_named(proc: subprocess.Popen, folder: Path, before: set[str], delay: float) -> None:
    """SIGKILL *proc* *delay* s after a new file with a backup's name shows up in *folder* (polled)."""
    from mirror_cli.backup import format as bformat

    while proc.poll() is None:
        names = set(os.listdir(folder)) if folder.exists() else set()
        if any(bformat.NAME_RE.match(n) for n in names - before):
            time.sleep(delay)
            break
        time.sleep(0.0002)
    proc.send_signal(signal.SIGKILL)



@pytest.mark.slow
def test_sigkill_never_leaves_a_backup_that_verifies_unless_it_was_complete(mirror_home, run_mirror, tmp_path):
    """20 backups killed with SIGKILL: half at random moments of a run, half the instant a file named like a
    backup appears (a writer that wrote under the final name would be caught there, half-written)."""
    from mirror_cli.backup import format as bformat, restore as brestore, workspace

    rng = random.Random(5)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,"
    with Store.open(mirror_home / "mirror.db") as s, s.write():
        rev = s.tick()
        for i in range(6000):  # mostly incompressible text: the backup file is several MB, its writing takes a while
            journal.insert_row(s, journal.Reflection(id=f"r{i:06d}", created_at=f"2024-01-01T00:00:{i % 60:02d}.000Z",
                                                     updated_at="2024-01-01T00:00:00.000Z",
                                                     content="".join(rng.choices(alphabet, k=1000))), rev)
    out = tmp_path / "killed"
    env = dict(os.environ)
    # how long one backup takes here, to spread the kills over it
    t0 = time.monotonic()
    r = run_mirror("backup", "create", "--json", "-o", tmp_path / "timing")
    span = time.monotonic() - t0
    assert r.returncode == 0 and json.loads(r.stdout)["bytes"] > 4_000_000
    for trial in range(20):
        before = set(os.listdir(out)) if out.exists() else set()
        proc = subprocess.Popen([*MIRROR, "backup", "create", "-o", out], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        if trial % 2:
            _kill_when_named(proc, out, before, rng.uniform(0, 0.001))
        else:
            time.sleep(rng.uniform(0, span))
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        for p in out.iterdir() if out.exists() else []:
            if p.name == workspace.LOCK_NAME:
                continue
            if bformat.NAME_RE.match(p.name):  # only a finished backup gets its final name
                report = brestore.verify(p)
                assert report.ok and report.complete, (trial, p.name, report.problem)
            elif p.is_file():  # a temp file: cut short (fails), or killed between its fsync and its rename
                # (a whole backup, under a temp name that list and prune never count; the next create removes it)
                assert p.name.startswith((".mirror-", ".~mirror-")) and p.name.endswith(".tmp"), (trial, p.name)
                report = brestore.verify(p)
                assert not report.ok or report.complete, (trial, p.name)
            else:  # the work folder of a killed run: nothing inside verifies either
                for q in p.rglob("*"):
                    if q.is_file():
                        assert not brestore.verify(q).ok, (trial, q)
    # the next backup clears what killed ones left behind
    assert run_mirror("backup", "create", "-o", out).returncode == 0
    leftovers = [p.name for p in out.iterdir() if p.name != workspace.LOCK_NAME and not bformat.NAME_RE.match(p.name)]
    assert leftovers == []



def _run_on_a_terminal(argv: list[str], env: dict[str, str], timeout: float = 120, *,
                       stdout_to_file: Path | None = None) -> tuple[int, bytes]:
    """Run *argv* with stdin, stdout and stderr on one pseudo-terminal; (exit code, everything it wrote).

    With *stdout_to_file*, stdout goes to that file instead (a terminal session piping its output).
    """
    import pty
    import select

    main, side = pty.openpty()
    out_fh = open(stdout_to_file, "wb") if stdout_to_file else None  # noqa: SIM115
    proc = subprocess.Popen(argv, env=env, stdin=side, stdout=out_fh or side, stderr=side, close_fds=True)
    if out_fh:
        out_fh.close()
    os.close(side)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(main)
    return proc.wait(timeout=10), out



@pytest.mark.slow
def test_progress_bar_on_a_terminal_for_a_large_database_and_never_under_cron(mirror_home, run_mirror, tmp_path):
    from mirror_cli.cli.backup import PROGRESS_MIN_BYTES

    db = mirror_home / "mirror.db"
    rng = random.Random(3)
    with Store.open(db) as s, s.write():
        rev = s.tick()
        for i in range(5000):
            text = "".join(rng.choices("abcdefghij klmnop", k=7000))
            journal.insert_row(s, journal.Reflection(id=f"r{i:06d}", created_at="2024-01-01T00:00:00.000Z",
                                                     updated_at="2024-01-01T00:00:00.000Z", content=text), rev)
    assert db.stat().st_size >= PROGRESS_MIN_BYTES
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm"
    code, seen = _run_on_a_terminal([*MIRROR, "backup", "create", "-o", tmp_path / "tty"], env)
    assert code == 0, seen
    assert b"backing up" in seen and b"\x1b[" in seen  # rich drew (and then cleared) a bar
    assert b"backup " in seen  # and the result line still came

    r = run_mirror("backup", "create", "-o", tmp_path / "cron")  # pipes, as under cron
    assert r.returncode == 0 and "backing up" not in r.stderr and "\x1b[" not in r.stdout + r.stderr
    code, seen = _run_on_a_terminal([*MIRROR, "-q", "backup", "create", "-o", tmp_path / "quiet"], env)
    assert code == 0 and seen == b""
    # `mirror backup create --json > file` on a terminal: stdout is not one, so no bar either
    code, seen = _run_on_a_terminal([*MIRROR, "backup", "create", "--json", "-o", tmp_path / "piped"], env,
                                    stdout_to_file=tmp_path / "out.json")
    assert code == 0 and seen == b"" and json.loads((tmp_path / "out.json").read_text())["path"]



_WITH_RAM = ("import sys; from pathlib import Path; import mirror_cli.backup.workspace as b; "
             "b.RAM_DIR = Path(sys.argv.pop(1)); "
             "from mirror_cli.cli.app import main; sys.argv[0] = 'mirror'; main()")



def _holding(root: Path, needle: bytes) -> list[str]:
    hits = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                with open(os.path.join(dirpath, name), "rb") as fh:
                    if needle in fh.read():
                        hits.append(os.path.join(dirpath, name))
            except OSError:  # removed meanwhile
                pass
    return hits



@pytest.mark.slow
def test_a_killed_encrypted_backup_never_puts_plaintext_in_the_backups_folder_or_tmp(mirror_home, run_mirror,
                                                                                     tmp_path):
    """Encrypted backups into a watched folder (a synced one), SIGKILLed at random moments: no file there, nor in
    TMPDIR, ever holds the journal's text; the working folders the kills left (in RAM, or beside the database when
    RAM is missing) are removed by the next backup."""
    from mirror_cli.backup import format as bformat, workspace

    marker = b"plaintext-marker-quokka"
    rng = random.Random(11)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,"
    db = mirror_home / "mirror.db"
    with Store.open(db) as s:
        with s.write():
            rev = s.tick()
            for i in range(4000):
                text = f"{marker.decode()} {i} " + "".join(rng.choices(alphabet, k=800))
                journal.insert_row(s, journal.Reflection(id=f"r{i:06d}", created_at="2024-01-01T00:00:00.000Z",
                                                         updated_at="2024-01-01T00:00:00.000Z", content=text), rev)
        # (rows inserted directly, as in the SIGKILL test above: the audit chain does not vouch for them)
        keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap(), force=True)
    assert marker not in db.read_bytes()  # sealed: the database itself holds no plaintext
    ram, systmp, out = tmp_path / "shm", tmp_path / "systmp", tmp_path / "synced"
    ram.mkdir()
    systmp.mkdir()
    env = dict(os.environ, MIRROR_PASSPHRASE=PW, TMPDIR=str(systmp))

    def start(ram_dir: Path) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", _WITH_RAM, str(ram_dir), "backup", "create", "-o", str(out)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    t0 = time.monotonic()
    first = start(ram)
    seen = []
    while first.poll() is None:
        seen += _holding(out, marker)
    span = time.monotonic() - t0
    assert first.returncode == 0, first.stderr.read()
    left, in_private = [], 0
    for trial in range(8):
        ram_dir = ram if trial % 2 else tmp_path / "no-shm"  # without RAM the work goes beside the database
        proc = start(ram_dir)
        # Most kills at a random moment; two (in RAM) as soon as a working folder holds the
        # opened text (on a loaded machine random moments alone could all miss that window).
        targeted = trial % 4 == 1
        deadline = time.monotonic() + (120 if targeted else rng.uniform(0.1, span))
        while proc.poll() is None and time.monotonic() < deadline:
            seen += _holding(out, marker) + _holding(systmp, marker)
            if targeted and any(_holding(p, marker) for p in (*ram.iterdir(), *mirror_home.iterdir())
                                if p.name.startswith(workspace.WORK_PREFIX)):
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        seen += _holding(out, marker) + _holding(systmp, marker)
        now_left = [p for p in (*ram.iterdir(), *mirror_home.iterdir()) if p.name.startswith(workspace.WORK_PREFIX)]
        assert all((p.stat().st_mode & 0o777) == 0o700 for p in now_left)
        # (looked at now: the next trial's start removes what this kill left)
        in_private += sum(bool(_holding(p, marker)) for p in now_left)
        left += now_left
    assert seen == []
    # the plaintext was there, where the kills left it: in the private folders, not in the watched one
    assert left and in_private > 0
    last = start(ram)
    assert last.wait() == 0, last.stderr.read()
    assert not any(p.exists() for p in left)  # the next backup removed what the killed ones left
    assert [p.name for p in out.iterdir() if p.name != workspace.LOCK_NAME and not bformat.NAME_RE.match(p.name)] == []
    path = sorted(p for p in out.iterdir() if bformat.NAME_RE.match(p.name))[-1]
    r = subprocess.run([sys.executable, "-c", _WITH_RAM, str(ram), "backup", "verify", "--json", str(path)], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(r.stdout)["complete"], r.stderr
    assert os.listdir(systmp) == [] and os.listdir(ram) == []

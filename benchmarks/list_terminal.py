#!/usr/bin/env python3
"""`mirror list` for a person at an 80-column terminal: time to the first row, total time, peak RSS.

    python benchmarks/list_terminal.py [--n 50000] [-- extra list arguments]

Runs `mirror list` with stdout and stderr on a pseudo-terminal (80x24, TERM=xterm-256color), the
pager set to `cat` (so the whole listing is drawn, and mirror's own memory is what is measured),
reading the terminal as fast as it can. First row: the first byte mirror writes.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import build_db  # noqa: E402


def run_on_pty(argv: list[str], env: dict[str, str]) -> tuple[float, float, int, int]:
    """(seconds to first output byte, seconds in all, peak RSS in kB, bytes shown)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    t = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    pid = proc.pid
    os.close(slave)
    first, seen = None, 0
    while True:
        if not select.select([master], [], [], 600)[0]:
            break
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:
            break
        if not chunk:
            break
        if first is None:
            first = time.perf_counter() - t
        seen += len(chunk)
    _, status, usage = os.wait4(pid, 0)
    total = time.perf_counter() - t
    os.close(master)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed")
    return first or total, total, usage.ru_maxrss, seen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir", default=str(Path(__file__).parent / ".work"))
    ap.add_argument("extra", nargs="*")
    args = ap.parse_args()
    work = Path(args.workdir)
    work.mkdir(exist_ok=True)
    db = build_db(work / f"startup-{args.n}.db", args.n)
    home = tempfile.mkdtemp()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "MIRROR_PLAIN", "PAGER")}
    env.update(MIRROR_HOME=home, MIRROR_DB=str(db), TERM="xterm-256color", COLUMNS="80", LINES="24",
               MIRROR_PAGER="cat", PYTHONPYCACHEPREFIX=str(Path(home) / "pycache"))
    script = Path(sys.executable).with_name("mirror")
    argv = [str(script) if script.exists() else sys.executable, *([] if script.exists() else ["-m", "mirror_cli"]),
            "list", *args.extra]
    print(f"{' '.join(argv[-1 - len(args.extra):])} on {args.n} reflections, 80 columns")
    for _ in range(args.runs):
        first, total, rss, seen = run_on_pty(argv, env)
        print(f"first output {first:6.2f} s   all {total:6.2f} s   peak RSS {rss / 1024:6.0f} MB   {seen / 1e6:.1f} MB shown")


if __name__ == "__main__":
    main()

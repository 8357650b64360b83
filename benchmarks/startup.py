#!/usr/bin/env python3
"""Start-up and everyday-command latency, side by side with the floor (`import typer`).

    python benchmarks/startup.py [--n 100000] [--runs 15]

Prints medians for: `python -c "import typer"` (the floor: any Typer CLI pays it),
`mirror --version`, and on a database of N reflections `mirror reflect "x"`,
`mirror list --limit 20` and `mirror search WORD`; each as a ratio to the floor.
Aims (issue 2): --version within 1.1x the floor, reflect and list within 1.4x,
search under 0.3 s. The runs of the five commands are interleaved, and bytecode is
cached (in a temporary PYTHONPYCACHEPREFIX) as it is for an installed mirror.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import build_db  # noqa: E402


def medians(cases: list[list[str]], env: dict[str, str], runs: int) -> list[tuple[float, float]]:
    """(median wall time, median CPU time) of each command.

    Runs are interleaved (round-robin over the commands), so a change in machine load while the
    benchmark runs affects every command alike. CPU time (user + system, from wait4) is printed
    beside the wall time: on a busy shared machine it varies far less, since it does not count
    the time the process waited for a core.
    """
    wall: list[list[float]] = [[] for _ in cases]
    cpu: list[list[float]] = [[] for _ in cases]
    for _ in range(runs):
        for i, argv in enumerate(cases):
            t = time.perf_counter()
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(proc.pid, 0)
            wall[i].append(time.perf_counter() - t)
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                raise SystemExit(f"{' '.join(argv)} failed with exit code {proc.returncode}")
            cpu[i].append(usage.ru_utime + usage.ru_stime)
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(wall, cpu)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--workdir", default=str(Path(__file__).parent / ".work"))
    args = ap.parse_args()

    work = Path(args.workdir)
    work.mkdir(exist_ok=True)
    db = work / f"startup-{args.n}.db"
    t = time.perf_counter()
    build_db(db, args.n)
    print(f"database: {db} ({args.n} reflections, {db.stat().st_size / 1e6:.0f} MB, built in {time.perf_counter() - t:.1f} s)")

    home = tempfile.mkdtemp()
    env = {**os.environ, "MIRROR_HOME": home, "MIRROR_DB": str(db), "NO_COLOR": "1",
           # Compiled bytecode, as an installed user has it (pip and pipx compile on install):
           # a PYTHONDONTWRITEBYTECODE in the caller's environment would make every run
           # recompile mirror's modules from source while typer's come precompiled.
           "PYTHONPYCACHEPREFIX": str(Path(home) / "pycache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    py = sys.executable
    mirror = [py, "-m", "mirror_cli"]
    script = Path(py).with_name("mirror")
    if script.exists():
        mirror = [str(script)]

    cases = [
        ("python -c 'import typer' (floor)", [py, "-c", "import typer"], None),
        ("mirror --version", mirror + ["--version"], 1.1),
        ('mirror reflect "x"', mirror + ["reflect", "x"], 1.4),
        ("mirror list --limit 20", mirror + ["list", "--limit", "20"], 1.4),
        ("mirror search river", mirror + ["search", "river"], None),
    ]
    # Warm the page cache and write the .pyc files once.
    for _, argv, _ in cases:
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = medians([argv for _, argv, _ in cases], env, args.runs)
    floor, floor_cpu = results[0]
    print(f"\n{args.runs} runs each, interleaved; medians")
    print(f"{'command':34} {'wall':>9} {'x floor':>8} {'cpu':>9} {'x floor':>8}  aim (wall)")
    for (label, _, aim), (secs, cpu) in zip(cases, results):
        aim_text = f"<= {aim}x" if aim else ("< 0.3 s" if "search" in label else "")
        print(f"{label:34} {secs * 1000:7.1f}ms {secs / floor:7.2f}x {cpu * 1000:7.1f}ms {cpu / floor_cpu:7.2f}x  {aim_text}")
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    hits = conn.execute("SELECT count(*) FROM reflections_fts WHERE reflections_fts MATCH 'river'").fetchone()[0]
    conn.close()
    print(f"('river' is in {hits} of the {args.n} reflections: search ranks all of them with bm25)")


if __name__ == "__main__":
    main()

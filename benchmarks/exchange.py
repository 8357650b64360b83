#!/usr/bin/env python3
"""`mirror export` / `mirror import` against jrnl 4.x, side by side in one run.

    python benchmarks/exchange.py [--n 100000] [--jrnl-n 10000] [--jrnl /tmp/jrnlvenv/bin/jrnl] [--runs 3]

Builds N reflections of 50-300 words (benchmarks/_corpus.py build_db) and
times, as real subprocesses (`mirror --db FILE ...`, output to /dev/null):
export json / jsonl / markdown / csv of all N, and `mirror import` of the
json export into an empty database. Peak RSS of `mirror export` for 10k and
N reflections is measured in subprocesses (ru_maxrss of the child).

jrnl (python3 -m venv /tmp/jrnlvenv && /tmp/jrnlvenv/bin/pip install jrnl):
the first --jrnl-n of the same texts go into a jrnl plain-text journal
(`[YYYY-MM-DD HH:MM:SS] title\\nbody\\n\\n`), with a config under a private
XDG_CONFIG_HOME, and `jrnl --export json` is timed. The per-entry rate of
both tools is compared (aim: mirror >= 20x jrnl's rate).

Aims (issue 4): export of 100k < 2 s; import json of 100k < 6 s; export
peak RSS < 120 MB and growing < 20 MB from 10k to 100k.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _corpus import build_db, reflection_texts  # noqa: E402

MIRROR = [sys.executable, "-m", "mirror_cli"]


def run(cmd: list[str], env: dict, stdout=subprocess.DEVNULL) -> tuple[float, int]:
    """Run *cmd*; return (seconds, peak RSS of the child in KiB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=stdout, stderr=subprocess.PIPE)
    took = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return took, after if after > before else -1


def peak_rss(cmd: list[str], env: dict) -> float:
    """Peak RSS (MB) of one run of *cmd* in a fresh child, via /usr/bin/time or a wrapper."""
    code = ("import resource, subprocess, sys\n"
            "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
            "assert p.returncode == 0\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    out = subprocess.run([sys.executable, "-c", code, *cmd], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def median_time(cmd: list[str], env: dict, runs: int) -> float:
    return statistics.median(run(cmd, env)[0] for _ in range(runs))


def jrnl_journal(folder: Path, n: int) -> dict:
    """A jrnl 4.x plain-text journal of the first *n* corpus texts and an env pointing jrnl at it."""
    from datetime import datetime, timedelta

    texts = reflection_texts(n)
    folder.mkdir(parents=True, exist_ok=True)
    journal = folder / "journal.txt"
    start = datetime(2020, 1, 1)
    with open(journal, "w", encoding="utf-8") as fh:
        for i, text in enumerate(texts):
            at = start + timedelta(minutes=37 * i)
            title, _, body = text.partition(" ")
            fh.write(f"[{at:%Y-%m-%d %H:%M:%S}] {title}\n{body}\n\n")
    cfg = folder / "config" / "jrnl"
    cfg.mkdir(parents=True)
    (cfg / "jrnl.yaml").write_text(
        "colors:\n  body: none\n  date: none\n  tags: none\n  title: none\n"
        "default_hour: 9\ndefault_minute: 0\neditor: ''\nencrypt: false\nhighlight: false\n"
        "indent_character: '|'\n"
        f"journals:\n  default:\n    journal: {journal}\n"
        "linewrap: 79\ntagsymbols: '#@'\ntemplate: false\ntimeformat: '%Y-%m-%d %H:%M'\nversion: v4.6\n")
    return {**os.environ, "XDG_CONFIG_HOME": str(folder / "config"), "XDG_DATA_HOME": str(folder / "data"),
            "HOME": str(folder)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--jrnl-n", type=int, default=10_000)
    ap.add_argument("--jrnl", default="/tmp/jrnlvenv/bin/jrnl")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cache", default=os.environ.get("MIRROR_BENCH_CACHE", tempfile.gettempdir()))
    args = ap.parse_args()

    cache = Path(args.cache)
    big = cache / f"mirror-bench-{args.n}.db"
    small = cache / "mirror-bench-10000.db"
    t = time.perf_counter()
    build_db(big, args.n)
    build_db(small, 10_000)
    print(f"journal: {args.n} reflections of 50-300 words ({big.stat().st_size / 1e6:.0f} MB), "
          f"ready in {time.perf_counter() - t:.1f} s; {os.cpu_count()} CPUs")

    work = Path(tempfile.mkdtemp(prefix="mirror-exchange-bench-"))
    env = {**os.environ, "MIRROR_HOME": str(work / "home"), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    try:
        # Exports (the audit event each export appends is cleaned up by copying the db first).
        db = work / "bench.db"
        shutil.copy(big, db)
        times = {}
        for fmt in ("json", "jsonl", "markdown", "csv"):
            times[fmt] = median_time(MIRROR + ["--db", str(db), "export", "--format", fmt], env, args.runs)
        exported = work / "export.json"
        run(MIRROR + ["--db", str(db), "export", "-o", str(exported)], env)

        imports = []
        for _ in range(args.runs):
            target = work / "import.db"
            for suffix in ("", "-wal", "-shm"):
                Path(str(target) + suffix).unlink(missing_ok=True)
            imports.append(run(MIRROR + ["--db", str(target), "import", str(exported)], env)[0])
        import_s = statistics.median(imports)

        small_db = work / "small.db"
        shutil.copy(small, small_db)
        rss_small = peak_rss(MIRROR + ["--db", str(small_db), "export"], env)
        rss_big = peak_rss(MIRROR + ["--db", str(db), "export"], env)

        jrnl_s = None
        if Path(args.jrnl).exists():
            jenv = jrnl_journal(work / "jrnl", args.jrnl_n)
            jrnl_s = median_time([args.jrnl, "--export", "json"], jenv, args.runs)
            mirror_small = median_time(MIRROR + ["--db", str(small_db), "export"], env, args.runs)

        print(f"\nmedians of {args.runs} runs (subprocesses, output to /dev/null)")
        print(f"{'what':44} {'time':>9} {'per entry':>11}  aim")
        for fmt, s in times.items():
            print(f"{'mirror export --format ' + fmt + f' ({args.n})':44} {s:8.2f}s {s / args.n * 1e6:9.1f}µs"
                  f"  {'< 2 s' if fmt != 'csv' else ''}")
        print(f"{'mirror import (json, ' + str(args.n) + ', empty db)':44} {import_s:8.2f}s "
              f"{import_s / args.n * 1e6:9.1f}µs  < 6 s")
        if jrnl_s is not None:
            print(f"{'jrnl --export json (' + str(args.jrnl_n) + ')':44} {jrnl_s:8.2f}s "
                  f"{jrnl_s / args.jrnl_n * 1e6:9.1f}µs")
            print(f"{'mirror export (json, 10000)':44} {mirror_small:8.2f}s {mirror_small / 10000 * 1e6:9.1f}µs")
            rate_big = (jrnl_s / args.jrnl_n) / (times["json"] / args.n)
            rate_small = (jrnl_s / args.jrnl_n) / (mirror_small / 10000)
            print(f"per-entry rate, mirror vs jrnl: {rate_big:.0f}x at {args.n} (mirror) vs {args.jrnl_n} (jrnl); "
                  f"{rate_small:.0f}x at 10000 each  (aim >= 20x)")
        else:
            print(f"(jrnl not found at {args.jrnl}: no comparison)")
        print(f"peak RSS of mirror export (json): 10000 -> {rss_small:.0f} MB, {args.n} -> {rss_big:.0f} MB, "
              f"growth {rss_big - rss_small:+.0f} MB  (aim < 120 MB, growth < 20 MB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

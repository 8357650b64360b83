#!/usr/bin/env python3
"""Encrypted search in one process, against plain FTS5 search, on the same journal, in one run.

    python benchmarks/search.py [--n 10000,100000] [--runs 7] [--word mountain]

Builds N reflections (benchmarks/_corpus.py), encrypts a copy (``key enable``), then times
``journal.reflections.search`` in-process on both: the plain journal's FTS5 query and the
encrypted journal's decrypting scan (the key already unlocked, as when the OS keyring holds it;
the Argon2id derivation of a passphrase is not search's cost and is left out). Prints medians
and the ratio encrypted / plain. Aims (issue 11): encrypted under 0.2 s at 10,000, under 1 s at 100,000.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _corpus import build_db

from mirror_cli.crypto import manage as keyops
from mirror_cli.crypto.unlocked import UnlockedKey
from mirror_cli.db.store import Store
from mirror_cli.journal import reflections

PW = "correct horse battery staple, benchmark edition"


def timed(store: Store, word: str, runs: int) -> tuple[float, int]:
    times, hits = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        hits = len(reflections.search(store, word, limit=20))
        times.append(time.perf_counter() - t)
    return statistics.median(times), hits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", default="10000,100000")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--word", default="mountain")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mirror-search-bench-"))
    print(f"{'reflections':>11} | {'plain FTS5 s':>12} | {'encrypted scan s':>16} | ratio")
    for n in (int(x) for x in args.n.split(",")):
        plain, enc = work / f"plain-{n}.db", work / f"enc-{n}.db"
        build_db(plain, n)
        shutil.copyfile(plain, enc)
        with Store.open(enc) as s:
            keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False)
            dek = s.key.dek
        with Store.open(plain) as p, Store.open(enc) as e:
            e.key = UnlockedKey.from_dek(dek)
            tp, hp = timed(p, args.word, args.runs)
            te, he = timed(e, args.word, args.runs)
        assert hp == he, (hp, he)
        print(f"{n:>11} | {tp:>12.3f} | {te:>16.3f} | {te / tp:5.1f}x")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()

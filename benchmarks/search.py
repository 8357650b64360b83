#!/usr/bin/env python3
"""Search in one process: plain FTS5 and the encrypted scan, for each kind of query, on the same journals.

    python benchmarks/search.py [--n 10000,50000] [--runs 5] [--work DIR] [--code DIR]

Builds N reflections (benchmarks/_corpus.py; in the "cjk" journal one in four also ends in a
Chinese or Japanese clause), encrypts a copy of each (``key enable``), then times what ``mirror
search`` does in-process on both: ``journal.reflections.find`` (the hits and their snippets) where
it exists, else ``journal.reflections.search``. The key is already unlocked, as when the OS
keyring holds it (the Argon2id derivation of a passphrase is not search's cost and is left out).
Prints medians (seconds) and the number of hits per query.

``--cli`` times the command instead: ``python -m mirror_cli search Q --limit 20`` as a process
(start-up and, on the encrypted journal, one Argon2id derivation of MIRROR_PASSPHRASE included).

``--work DIR`` keeps the journals (and each encrypted copy's data key) for the next run;
``--code DIR`` times another checkout's mirror_cli on them (e.g. main's, for a before/after: a
query that code reads otherwise, such as ``OR`` as the word "or" or ``東京`` as a whole word, finds
other hits there, which the hit counts show).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _corpus import build_db, reflection_texts

PW = "correct horse battery staple, benchmark edition"
QUERIES = {
    "en": ["mountain", '"walk river"', "mountain OR tree", "mountain NOT rain", "moun*"],
    "cjk": ["京", "东京", "咖啡馆", "東京タワー", "mountain 东京"],
}
CJK_WORDS = ("东京 咖啡馆 今天 天气 很好 我们 散步 朋友 工作 下雨 安静 東京タワー 行った 楽しかった 夜景 "
             "きれい 電車 雨 朝ごはん 散歩 仕事 疲れた 家族 音楽 山 海").split()


def build_cjk(path: Path, n: int, seed: int = 7) -> Path:
    """Like ``_corpus.build_db``, one reflection in four ending in a clause without spaces."""
    from mirror_cli import audit
    from mirror_cli.db.store import Store
    from mirror_cli.ids import iso, ulid
    from mirror_cli.journal import reflections as journal

    if path.exists():
        return path
    rng = random.Random(seed)
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    with Store.open(path) as store, store.write() as conn:
        rev, ids = store.tick(), []
        for i, text in enumerate(reflection_texts(n, seed)):
            if i % 4 == 0:
                text += " " + "".join(rng.choices(CJK_WORDS, k=rng.randint(5, 30))) + "。"
            at = start + timedelta(minutes=37 * i + rng.randint(0, 30))
            ids.append(ulid(at))
            journal.insert_row(store, journal.Reflection(id=ids[-1], created_at=iso(at), updated_at=iso(at),
                                                         content=text), rev)
        store.append_event("data.imported", {"source": "benchmark", "count": n},
                           [("reflection", rid, audit.reflection_digest(conn, rid)) for rid in ids])
    return path


def encrypted_copy(plain: Path) -> tuple[Path, bytes]:
    from mirror_cli.crypto import manage as keyops
    from mirror_cli.db.store import Store

    enc, dek_file = plain.with_suffix(".enc.db"), plain.with_suffix(".dek")
    if not enc.exists() or not dek_file.exists():
        shutil.copyfile(plain, enc)
        with Store.open(enc) as s:
            keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False)
            dek_file.write_bytes(s.key.dek)
    return enc, dek_file.read_bytes()


def timed(search, store, query: str, runs: int) -> tuple[float, int]:
    times, hits = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        hits = len(search(store, query, limit=20))
        times.append(time.perf_counter() - t)
    return statistics.median(times), hits


def timed_cli(code: Path, db: Path, query: str, runs: int) -> tuple[float, int]:
    env = {**os.environ, "MIRROR_DB": str(db), "MIRROR_PASSPHRASE": PW, "PYTHONPATH": str(code),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # else every run compiles every module it imports
    times, hits = [], 0
    for i in range(runs + 1):  # the first one writes the bytecode
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "mirror_cli", "search", query, "--limit", "20"], env=env,
                             capture_output=True, text=True, check=True).stdout
        if i:
            times.append(time.perf_counter() - t)
        hits = len(out.splitlines())
    return statistics.median(times), hits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", default="10000,50000")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--work", help="keep the journals here (default: a temporary folder, removed)")
    ap.add_argument("--code", help="a checkout whose mirror_cli to time (default: this one)")
    ap.add_argument("--cli", action="store_true", help="time `mirror search` as a process")
    args = ap.parse_args()
    if args.code:
        sys.path.insert(0, str(Path(args.code).resolve()))
    from mirror_cli.crypto.unlocked import UnlockedKey
    from mirror_cli.db.store import Store
    from mirror_cli.journal import reflections

    search = getattr(reflections, "find", reflections.search)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="mirror-search-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"mirror_cli from {Path(reflections.__file__).parents[2]}; {search.__name__}; medians of {args.runs}")
    print(f"{'reflections':>11} | {'query':<20} | {'plain s':>8} {'hits':>4} | {'encrypted s':>11} {'hits':>4}")
    for n in (int(x) for x in args.n.split(",")):
        for corpus, build in (("en", build_db), ("cjk", build_cjk)):
            plain = build(work / f"{corpus}-{n}.db", n)
            enc, dek = encrypted_copy(plain)
            with Store.open(plain) as p, Store.open(enc) as e:
                e.key = UnlockedKey.from_dek(dek)
                for q in QUERIES[corpus]:
                    if args.cli:
                        code = Path(reflections.__file__).parents[2]
                        (tp, hp), (te, he) = (timed_cli(code, db, q, args.runs) for db in (plain, enc))
                    else:
                        tp, hp = timed(search, p, q, args.runs)
                        te, he = timed(search, e, q, args.runs)
                    print(f"{n:>11} | {q:<{20 - sum(ord(c) > 0x2e80 for c in q)}} | {tp:>8.3f} {hp:>4} | "
                          f"{te:>11.3f} {he:>4}", flush=True)
    if not args.work:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Pattern and tension detection speed, side by side with the floor (`text.lower().split()`).

    python benchmarks/patterns.py [--n 20000] [--db-n 100000] [--skip-memory]

Three journals of 50-300 word reflections: the synthetic one of the other benchmarks
(words drawn almost only from mirror's lexicon: a worst case, ~70 % of words are cues),
one made of the labelled test corpus's sentences (short, emotion-laden: ~55 %), and
"plain" diary prose (~10 %). For each: microseconds per 100 words for the floor (lowercase
and split: what any word-based analysis pays), for `analyze` (patterns and tensions of
one reflection, one pass), and for adding the result to `PatternIndex` + `TensionStats`;
then the extrapolation to 100,000 reflections of 175 words; last, what a full analysis computes
per reflection before it writes (``analysis.findings``: the findings it caches). Aim (issue 7): detection
under 40 us per 100 words, the whole in-memory analysis of 100,000 reflections well
under 10 s (leaving room for database I/O).

Then through the database (``--db-n``, default 100,000 reflections built with
``_corpus.build_db``): ``mirror_cli.patterns.analysis.analyze`` from scratch (read, analyse in
one process, write the totals, evidence and per-reflection cache in one transaction), again with nothing changed, after one new reflection, after one edit and
after one deletion. Aims (issue 7): full < 10 s, incremental after one new reflection < 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import ROOT, reflection_texts  # noqa: E402

from mirror_cli.patterns import PatternIndex, TensionStats, analyze  # noqa: E402


PLAIN = """I woke up early and made coffee before anyone else was up. The street was quiet and
the light came in slowly through the kitchen window. I read a few pages of the book that
Sam lent me last month, the one about the lighthouse keeper, and then I answered a couple
of emails. At eleven I took the bus into town to pick up the parcel from the post office.
The queue was long, so I listened to a podcast about old maps and the people who drew
them. In the afternoon I fixed the shelf in the hallway, which has been crooked since we
moved in. It took longer than I thought because I could not find the right screws. Then
I called my brother and we talked about the trip in the summer and whether the car will
make it that far. I felt a bit anxious about the cost, but we agreed to look at trains.
Dinner was soup and bread. I went to bed around ten and thought about how the week went."""


def prose_texts(n: int, seed: int = 7, plain: bool = False) -> list[str]:
    if plain:
        sentences = [s.strip() + "." for s in PLAIN.replace("\n", " ").split(".") if s.strip()]
    else:
        corpus = json.loads((ROOT / "tests" / "data" / "labelled_corpus.json").read_text("utf-8"))
        sentences = [s.strip() + "." for r in corpus["reflections"] for s in r["text"].split(".")
                     if s.strip()]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        target, words, parts = rng.randint(50, 300), 0, []
        while words < target:
            s = rng.choice(sentences)
            parts.append(s)
            words += len(s.split())
        out.append(" ".join(parts))
    return out


def measure(name: str, texts: list[str]) -> None:
    words = sum(len(t.split()) for t in texts)
    per100 = 100 / words * 1e6
    t0 = time.process_time()
    for t in texts:
        t.lower().split()
    t1 = time.process_time()
    results = [analyze(t, ("tag",)) for t in texts]
    t2 = time.process_time()
    index, tensions = PatternIndex(), TensionStats()
    base = datetime(2025, 1, 1, tzinfo=timezone.utc)
    for n, a in enumerate(results):
        rid = str(n)
        index.add(rid, base + timedelta(hours=n), a.findings)
        tensions.add(rid, a.tensions)
    t3 = time.process_time()
    index.summaries()
    tensions.summaries()
    t4 = time.process_time()
    from mirror_cli.patterns import analysis

    t5 = time.process_time()
    for t in texts:
        analysis.findings(t, ["tag"])  # what a full analysis caches per reflection
    t6 = time.process_time()
    floor, detect, add = (t1 - t0) * per100, (t2 - t1) * per100, (t3 - t2) * per100
    total_100k = ((t2 - t1) + (t3 - t2)) / words * 100_000 * 175 + (t4 - t3) * 100_000 / len(texts)
    print(f"{name:<10} {len(texts)} reflections, {words / len(texts):.0f} words avg")
    print(f"  floor (lower+split) {floor:7.1f} us/100 words")
    print(f"  analyze             {detect:7.1f} us/100 words  ({detect / floor:.1f}x floor)")
    print(f"  index add           {add:7.1f} us/100 words")
    print(f"  100,000 x 175 words ~{total_100k:.1f} s in memory")
    worker = (t6 - t5) * per100
    print(f"  analysis.findings   {worker:7.1f} us/100 words  (the cached findings: "
          f"{(t6 - t5) / len(texts) * 1e6:.0f} us per reflection; 100,000 x 175 words ~"
          f"{(t6 - t5) / words * 100_000 * 175:.1f} s of CPU)")


def _cpu() -> float:
    import resource

    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure_db(n: int) -> None:
    import os
    import shutil
    import tempfile

    from _corpus import build_db

    from mirror_cli.journal import reflections as journal
    from mirror_cli.db.store import Store
    from mirror_cli.patterns import analysis, queries

    folder = Path(tempfile.mkdtemp(prefix="mirror-bench-"))
    try:
        t0 = time.perf_counter()
        path = build_db(folder / "mirror.db", n)
        built = time.perf_counter() - t0
        print(f"database   {n} reflections (synthetic), built in {built:.1f} s, {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f}")
        print("  (cpu: user + system seconds of this process)")
        with Store.open(path) as store:
            def run(label: str, **kwargs) -> None:
                t, c = time.perf_counter(), _cpu()
                r = analysis.analyze(store, **kwargs)
                wall, cpu = time.perf_counter() - t, _cpu() - c
                print(f"  {label:<28} {wall:7.3f} s  cpu {cpu:6.2f} s  (analyzed {r.analyzed}, skipped {r.skipped}, "
                      f"removed {r.removed}, refolded {r.refolded}, {r.patterns} patterns)")

            run("full analysis", full=True)
            run("nothing changed")
            journal.add(store, "Anxious about the deadline at work, but grateful for a long walk by the river.")
            run("after 1 new reflection")
            newest = store.conn.execute("SELECT id FROM reflections ORDER BY created_at DESC LIMIT 1").fetchone()[0]
            journal.edit(store, newest, content="Anxious about the deadline at work and tired.")
            run("after 1 edit")
            middle = store.conn.execute("SELECT id FROM reflections ORDER BY created_at LIMIT 1 OFFSET ?",
                                        (n // 2,)).fetchone()[0]
            journal.delete(store, [middle])
            run("after 1 deletion (re-fold)")
            t = time.perf_counter()
            queries.list_patterns(store)
            queries.list_tensions(store)
            queries.evolution(store, by="month")
            print(f"  {'list + tensions + evolution':<28} {time.perf_counter() - t:7.3f} s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--db-n", type=int, default=100_000)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    if not args.skip_memory:
        measure("synthetic", reflection_texts(args.n))
        measure("labelled", prose_texts(args.n))
        measure("plain", prose_texts(args.n, plain=True))
    if args.db_n:
        measure_db(args.db_n)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Pattern and tension detection speed, side by side with the floor (`text.lower().split()`).

    python benchmarks/patterns.py [--n 20000]

Three journals of 50-300 word reflections: the synthetic one of the other benchmarks
(words drawn almost only from mirror's lexicon: a worst case, ~70 % of words are cues),
one made of the labelled test corpus's sentences (short, emotion-laden: ~55 %), and
"plain" diary prose (~10 %); the last once more with the garbage collector off, as a
bulk re-analysis might run. For each: microseconds per 100 words for the floor (lowercase
and split: what any word-based analysis pays), for `analyze` (patterns and tensions of
one reflection, one pass), and for adding the result to `PatternIndex` + `TensionStats`;
then the extrapolation to 100,000 reflections of 175 words. Aim (issue 7): detection
under 40 us per 100 words, the whole in-memory analysis of 100,000 reflections well
under 10 s (leaving room for database I/O).
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


def measure(name: str, texts: list[str], gc_frozen: bool = False) -> None:
    import gc

    gc.collect()
    if gc_frozen:
        gc.disable()
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
    gc.enable()
    floor, detect, add = (t1 - t0) * per100, (t2 - t1) * per100, (t3 - t2) * per100
    total_100k = ((t2 - t1) + (t3 - t2)) / words * 100_000 * 175 + (t4 - t3) * 100_000 / len(texts)
    gc_note = " (gc disabled)" if gc_frozen else ""
    print(f"{name:<10} {len(texts)} reflections, {words / len(texts):.0f} words avg{gc_note}")
    print(f"  floor (lower+split) {floor:7.1f} us/100 words")
    print(f"  analyze             {detect:7.1f} us/100 words  ({detect / floor:.1f}x floor)")
    print(f"  index add           {add:7.1f} us/100 words")
    print(f"  100,000 x 175 words ~{total_100k:.1f} s in memory")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    measure("synthetic", reflection_texts(args.n))
    measure("labelled", prose_texts(args.n))
    measure("plain", prose_texts(args.n, plain=True))
    measure("plain", prose_texts(args.n, plain=True), gc_frozen=True)


if __name__ == "__main__":
    main()

"""Throughput of the export writers and the import reader on synthetic records.

    PYTHONPATH=. python benchmarks/exchange_formats.py [N] [--unicode-heavy]   # N defaults to 100_000

Reflections of 50 to 300 words (plus a few patterns, tensions and audit
events per hundred reflections) are generated up front, so only the format
code is timed; output goes to a real file in a temp folder. The target for
phase 2 is a complete ``mirror export`` of 100k reflections well under 2 s,
so the JSON writer itself should stay under 1 s. The comparison with jrnl's
own export comes with the CLI (phase 2).
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from mirror_cli.exchange.formats.csvfmt import write_csv, write_csv_folder  # noqa: E402
from mirror_cli.exchange.detect import load_document  # noqa: E402
from mirror_cli.exchange.formats.jsondoc import write_json  # noqa: E402
from mirror_cli.exchange.formats.jsonl import write_jsonl  # noqa: E402
from mirror_cli.exchange.formats.markdown import write_markdown  # noqa: E402

WORDS = ("morning walk felt calm today work meeting anxious tired grateful sister call dinner "
         "running late again plan week rest quiet \"quoted\" thought energy sleep, the a and of to "
         "I was it that my but not so").split()
ACCENTED = ["café", "naïve", "déjà vu", "Ärger", "—"]
EMOJI = ["🙂", "🌧️", "❤️"]


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def make(n: int, unicode_heavy: bool = False) -> tuple[dict, dict[str, list[dict]]]:
    """Synthetic export data. By default mostly ASCII prose: one reflection in 10 has accented
    words, one in 50 an emoji; *unicode_heavy* puts emoji in nearly every one (the worst case
    for Python's JSON encoder, which then works on 4-byte-per-character strings)."""
    rng = random.Random(42)
    t0 = datetime(2019, 1, 1, tzinfo=timezone.utc)
    words = WORDS + ACCENTED + EMOJI if unicode_heavy else WORDS
    refl = []
    for i in range(n):
        at = iso(t0 + timedelta(minutes=37 * i))
        text = rng.choices(words, k=rng.randint(50, 300))
        if not unicode_heavy and i % 10 == 0:
            text.insert(rng.randrange(len(text)), rng.choice(ACCENTED))
        if not unicode_heavy and i % 50 == 0:
            text.append(rng.choice(EMOJI))
        refl.append({
            "id": f"01HX{i:022d}", "created_at": at, "updated_at": at,
            "content": " ".join(text),
            "response": None if i % 3 else "A reply, kept with it.",
            "mode": "REFLECTION", "tags": rng.sample(["work", "family", "health", "sleep"], k=i % 3),
            "local_only": i % 50 == 0,
        })
    pats = [{"id": f"pat-{j}", "pattern_type": "theme", "name": f"Theme {j}", "confidence": 0.5,
             "first_seen": refl[0]["created_at"], "last_seen": refl[-1]["created_at"],
             "occurrences": [{"reflection_id": refl[k]["id"], "evidence": "walk", "confidence": 0.6}
                             for k in range(j, n, max(1, n // 50))]} for j in range(max(1, n // 1000))]
    tens = [{"id": f"ten-{j}", "name": "Rest vs Drive", "axis_a": "Rest", "axis_b": "Drive", "position": 0.4,
             "intensity": 0.6, "reflection_id": refl[j * 100]["id"], "detected_at": refl[j * 100]["created_at"]}
            for j in range(n // 100)]
    audit = [{"seq": j + 1, "id": f"evt-{j}", "event_type": "reflection.saved", "timestamp": refl[j]["created_at"],
              "data": {"ids": [refl[j]["id"]]}, "previous_hash": "0" * 64, "event_hash": "1" * 64}
             for j in range(n // 10)]
    recs = {"reflections": refl, "patterns": pats, "tensions": tens, "audit_events": audit}
    header = {"format": "mirror-export", "version": 1, "exported_at": iso(datetime.now(timezone.utc)),
              "tool_version": "bench", "schema_version": 3, "counts": {k: len(v) for k, v in recs.items()}}
    return header, recs


def timed(label: str, fn, nrecords: int) -> float:
    """Print wall and CPU time (CPU time is steadier on a busy shared machine)."""
    start, cpu = time.perf_counter(), time.process_time()
    size = fn()
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"{label:<36} {took:7.3f} s wall {cpu:7.3f} s cpu  {nrecords / cpu:>9,.0f} rec/s  {size / 1e6:7.1f} MB")
    return took


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 100_000
    heavy = "--unicode-heavy" in sys.argv
    header, recs = make(n, heavy)
    total = sum(len(v) for v in recs.values())
    print(f"{n:,} reflections ({total:,} records, {'unicode-heavy' if heavy else 'mostly ASCII'}), "
          f"{sum(len(r['content']) for r in recs['reflections']) / 1e6:.1f} MB of text\n")
    with tempfile.TemporaryDirectory() as tmp:
        def to_file(name, writer, **kw):
            def run():
                path = os.path.join(tmp, name)
                with open(path, "w", encoding="utf-8", newline="" if name.endswith(".csv") else None) as fh:
                    writer(fh, header, {k: iter(v) for k, v in recs.items()}, **kw)
                return os.path.getsize(path)
            return run

        class Null:
            size = 0

            def write(self, text: str) -> None:
                self.size += len(text)

        def to_null(writer):
            def run():
                sink = Null()
                writer(sink, header, {k: iter(v) for k, v in recs.items()})
                return sink.size
            return run

        timed("write_json (no I/O, chars)", to_null(write_json), total)
        timed("write_json (file)", to_file("e.json", write_json), total)
        timed("write_jsonl (file)", to_file("e.jsonl", write_jsonl), total)
        timed("write_csv (reflections, stream)", to_file("r.csv", write_csv), n)
        timed("write_csv_folder (all kinds)",
              lambda: (write_csv_folder(os.path.join(tmp, "csv"), header, {k: iter(v) for k, v in recs.items()}),
                       sum(os.path.getsize(os.path.join(tmp, "csv", f)) for f in os.listdir(os.path.join(tmp, "csv"))))[1],
              total)
        timed("write_markdown (one document)", to_file("e.md", write_markdown, tz=timezone.utc), total)
        with open(os.path.join(tmp, "e.json"), "rb") as fh:
            raw = fh.read()
        timed("load_document json (parse+validate)", lambda: (load_document(raw, "json"), len(raw))[1], total)

        def jsonl_read():
            with open(os.path.join(tmp, "e.jsonl"), "rb") as fh:
                load_document(fh, "jsonl")
            return os.path.getsize(os.path.join(tmp, "e.jsonl"))
        timed("load_document jsonl (stream)", jsonl_read, total)


if __name__ == "__main__":
    main()

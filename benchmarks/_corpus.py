"""Synthetic journals for the benchmarks: reproducible reflections of 50-300 words."""

from __future__ import annotations

import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = (
    "today i felt the morning light walk river work meeting tired calm anxious grateful family friend "
    "sleep coffee run rain quiet noise project deadline laugh worry hope plan write read garden city "
    "train late early dinner cook music slow fast heavy light open closed change stay rest push "
    "control let go together alone money health body breath stretch evening night letter call mother "
    "father sister brother child teacher learn forget remember small large angry happy sad proud "
    "lonely peace storm sun wind tree mountain sea book film question answer doubt trust"
).split()


def reflection_texts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(50, 300)
        words = rng.choices(WORDS, k=k)
        words[0] = words[0].capitalize()
        out.append(" ".join(words) + ".")
    return out


def build_db(path: Path, n: int, *, seed: int = 7) -> Path:
    """A database of *n* reflections, created through mirror's own store (one transaction)."""
    from mirror_cli import audit
    from mirror_cli.journal import reflections as journal
    from mirror_cli.ids import iso, ulid
    from mirror_cli.db.store import Store

    if path.exists():
        return path
    rng = random.Random(seed)
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    texts = reflection_texts(n, seed)
    with Store.open(path) as store, store.write() as conn:
        rev = store.tick()
        vouches = []
        for i, text in enumerate(texts):
            at = start + timedelta(minutes=37 * i + rng.randint(0, 30))
            r = journal.Reflection(id=ulid(at), created_at=iso(at), updated_at=iso(at), content=text,
                                   tags=rng.sample(["work", "family", "health", "sleep", "walk"], k=rng.randint(0, 2)))
            journal.insert_row(store, r, rev)
            vouches.append(("reflection", r.id, None))
        vouches = [(k, rid, audit.reflection_digest(conn, rid)) for k, rid, _ in vouches]
        store.append_event("data.imported", {"source": "benchmark", "count": n}, vouches)
    return path

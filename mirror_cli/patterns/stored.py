"""Patterns and tensions as the database holds them: the tables, their running totals, and
the reads and writes that :mod:`.analysis` and :mod:`.queries` share.

All user content goes through ``crypto.fields.codec(store)``, so it is sealed on an encrypted database:

* ``analysis_state``: per reflection, the ``rev`` analysed and its findings, JSON
  ``{"p": [[type, name, "word, word", confidence, intensity]], "t": [[tension, position,
  intensity, "words a", "words b"]]}``, so a new analysis reads only reflections whose
  ``rev`` changed (new or edited ones);
* ``patterns``: one row per pattern ever found (id: a ULID, never derived from the name;
  ``name`` sealed), with ``confidence`` (:mod:`.confidence`: from S over *all* its occurrences
  and the number of reflections analysed, so every row moves a little as the journal grows), and
  ``first_seen``/``last_seen``;
* ``pattern_stats``: per pattern, support, S (in 1e-4 units), strong occurrences and its
  timeline per local day (sealed JSON ``{"YYYY-MM-DD": [count, units]}``, days of the time
  zone the analysis ran in, see :func:`day_keys`), which ``evolution`` folds into weeks or months;
* ``pattern_occurrences``: the evidence shown by ``patterns show`` and in the export: the
  :data:`EVIDENCE_LIMIT` strongest occurrences of each pattern (highest confidence, then
  most recent), each with its reflection id and words (sealed);
* ``tensions``: one row per seed tension that appears (``reflection_id`` NULL), ``data``
  sealed JSON ``{"name", "axis_a", "axis_b", "position", "intensity", "count",
  "first_seen", "last_seen", "days"}``, position and intensity averaged over the
  reflections where it appears (``days``: ``{day: [count, position units, intensity units]}``,
  local days like the pattern timelines);
* meta ``analysis``: ``{"rev", "count", "encrypted", "timeline", "rules", "zone", "at"}``: the newest
  rev analysed, the rows of ``analysis_state`` then, whether its caches were written sealed (``mirror
  key enable|disable`` re-seals the caches and sets that flag itself: ``crypto.manage``), the
  :data:`TIMELINE` format of its timelines, the :data:`RULES` its findings and confidences were
  made with, and the time zone their days are in (:func:`.evolution.zone`). Caches of an older
  format, older rules or of another zone count as not analysed: they are shown (with the note that
  they are out of date) until the next analysis, which reads everything again.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable
from dataclasses import dataclass

from mirror_cli.ids import now_iso, ulid
from mirror_cli.patterns.confidence import SCALE, confidence_of_units
from mirror_cli.patterns.detect import MIN_SUPPORT, STRONG_CONFIDENCE
from mirror_cli.patterns.evolution import local_dates, zone
from mirror_cli.patterns.tensions import SEED_TENSIONS
from mirror_cli.crypto.fields import codec as field_codec

__all__ = ["EVIDENCE_LIMIT", "SCALE", "TIMELINE", "RULES", "day_keys", "TENSION_BY_NAME", "PatternTotals", "TensionTotals", "StoredPattern",
           "confidence_of", "units", "load_patterns", "load_tensions", "tension_data", "write_totals", "write_tensions",
           "analysis_meta", "analysis_time", "set_analysis_meta", "open_json", "seal_json"]

EVIDENCE_LIMIT = 20  # occurrence rows (evidence) kept per pattern
# SCALE (from .confidence): running sums are kept in integer units of 1e-4, so adding and
# subtracting is exact.
META_KEY = "analysis"
# Timelines keep local days (2), so weeks and months are the person's; format 1 kept UTC
# days, which put a New York Sunday evening in the next week.
TIMELINE = 2
# What the cached findings and stored confidences mean. 2: someone else's feelings and stories
# are not the writer's, negation reaches across "or" but not "not only", and a pattern's
# confidence weighs its share of the journal. Caches made with older rules are analysed again.
RULES = 2


def day_keys() -> Callable[[str], str]:
    """created_at -> the local day it counts in, ``YYYY-MM-DD`` (one per analysis or query run)."""
    day_of = local_dates()
    return lambda created_at: day_of(created_at).isoformat()
TENSION_BY_NAME = {t.name: t for t in SEED_TENSIONS}


def units(value: float) -> int:
    return round(value * SCALE)  # round() of a float, without digits, is an int


def confidence_of(units_sum: int, reflections: int) -> float:
    """A pattern's confidence from S in 1e-4 units among ``reflections`` (see :mod:`.confidence`)."""
    return confidence_of_units(units_sum, reflections)


class PatternTotals:
    """Running totals of one pattern over the reflections folded in so far."""

    __slots__ = ("support", "units", "strong", "first", "last", "days", "top")

    def __init__(self) -> None:
        self.support = 0
        self.units = 0
        self.strong = 0
        self.first: str | None = None
        self.last: str | None = None
        self.days: dict[str, list[int]] = {}  # local day -> [count, units]
        self.top: list[tuple] = []  # min-heap of (confidence, created_at, rid, words, intensity)

    def add(self, rid: str, created_at: str, day: str, words: str, conf: float, intensity: float) -> None:
        """One occurrence; ``day`` is its local day (see :func:`day_keys`)."""
        u = round(conf * SCALE)
        self.support += 1
        self.units += u
        self.strong += conf >= STRONG_CONFIDENCE
        if self.first is None or created_at < self.first:
            self.first = created_at
        if self.last is None or created_at > self.last:
            self.last = created_at
        counts = self.days.get(day)
        if counts is None:
            self.days[day] = [1, u]
        else:
            counts[0] += 1
            counts[1] += u
        top = self.top
        if len(top) < EVIDENCE_LIMIT:
            heapq.heappush(top, (conf, created_at, rid, words, intensity))
        elif conf >= top[0][0]:  # else it cannot displace the weakest kept one
            item = (conf, created_at, rid, words, intensity)  # rid is unique: comparison stops there
            if item > top[0]:
                heapq.heapreplace(top, item)

    def confidence(self, reflections: int) -> float:
        return confidence_of(self.units, reflections)

    @property
    def reportable(self) -> bool:
        return self.support >= MIN_SUPPORT or self.strong > 0


class TensionTotals:
    """Running totals of one tension: per local day, [count, position units, intensity units]."""

    __slots__ = ("days", "first", "last")

    def __init__(self, days: dict | None = None, first: str | None = None, last: str | None = None) -> None:
        self.days: dict[str, list[int]] = days if days is not None else {}  # taken over (freshly parsed JSON)
        self.first = first
        self.last = last

    def add(self, day: str, created_at: str, position: float, intensity: float, sign: int = 1) -> None:
        """One reflection's finding; ``day`` is its local day (see :func:`day_keys`)."""
        d = self.days.get(day)
        if d is None:
            d = self.days[day] = [0, 0, 0]
        d[0] += sign
        d[1] += sign * round(position * SCALE)
        d[2] += sign * round(intensity * SCALE)
        if d[0] <= 0:
            del self.days[day]
        if sign > 0:
            if self.first is None or created_at < self.first:
                self.first = created_at
            if self.last is None or created_at > self.last:
                self.last = created_at

    def totals(self) -> tuple[int, int, int]:
        c = p = i = 0
        for dc, dp, di in self.days.values():
            c += dc
            p += dp
            i += di
        return c, p, i


@dataclass
class StoredPattern:
    """A row of ``patterns`` with its ``pattern_stats`` (name opened)."""

    id: str
    pattern_type: str
    name: str
    confidence: float
    first_seen: str | None
    last_seen: str | None
    support: int = 0
    units: int = 0
    strong: int = 0

    @property
    def reportable(self) -> bool:
        return self.support >= MIN_SUPPORT or self.strong > 0


# --------------------------------------------------------------------------- sealed JSON and meta

# Built once (json.dumps with options builds an encoder per call); our values hold no cycles.
_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def open_json(fields, table: str, rid: str, fieldname: str, stored) -> dict:
    """A sealed (or plain) JSON field, opened with the store's ``fields`` and parsed."""
    return json.loads(fields.open(table, rid, fieldname, stored))


def seal_json(fields, table: str, rid: str, fieldname: str, value) -> object:
    """``value`` as compact JSON text, sealed with the store's ``fields`` (fetch them once per
    run: on a plaintext database each ``crypto.fields.codec(store)`` asks the database whether it is encrypted)."""
    return fields.seal(table, rid, fieldname, _to_json(value))


def _meta_raw(store) -> dict | None:
    raw = store.meta(META_KEY)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def analysis_meta(store) -> dict | None:
    """The analysis state, if its caches were written the way the database stores fields now."""
    value = _meta_raw(store)
    if (value is None or value.get("encrypted") != store.encrypted or value.get("timeline") != TIMELINE
            or value.get("rules") != RULES or value.get("zone") != zone()):
        return None
    return value


def analysis_time(store) -> str | None:
    """When the last analysis ran (even one whose caches must be analysed again)."""
    value = _meta_raw(store)
    return value.get("at") if value is not None else None


def set_analysis_meta(store, rev: int, count: int) -> None:
    store.set_meta(META_KEY, json.dumps({"rev": rev, "count": count, "encrypted": store.encrypted,
                                         "timeline": TIMELINE, "rules": RULES, "zone": zone(),
                                         "at": now_iso()}))


# --------------------------------------------------------------------------- patterns

def load_patterns(store) -> dict[tuple[str, str], StoredPattern]:
    """Every stored pattern by (type, name)."""
    f = field_codec(store)
    out = {}
    rows = store.conn.execute(
        "SELECT p.id, p.pattern_type, p.name, p.confidence, p.first_seen, p.last_seen,"
        " s.support, s.evidence_units, s.strong FROM patterns p LEFT JOIN pattern_stats s ON s.pattern_id = p.id")
    for pid, ptype, name, conf, first, last, support, units_sum, strong in rows:
        name = f.open("patterns", pid, "name", name)
        out[(ptype, name)] = StoredPattern(pid, ptype, name, conf, first, last, support or 0, units_sum or 0,
                                           strong or 0)
    return out


def write_totals(store, pat: dict[tuple[str, str], PatternTotals], ten: dict[str, TensionTotals],
                 reflections: int) -> tuple[int, int]:
    """Replace every stored pattern total, evidence row and tension with the given totals
    (pattern ids kept for names that stay), ``reflections`` being how many were folded into them.
    Returns (patterns reported, tensions). Call inside store.write()."""
    conn = store.conn
    f = field_codec(store)
    existing = load_patterns(store)
    now = now_iso()
    rev = store.tick()
    conn.execute("DELETE FROM pattern_occurrences")
    keep = set()
    pattern_rows, stats_rows, occ_rows = [], [], []
    reported = 0
    for (ptype, name), agg in pat.items():
        old = existing.get((ptype, name))
        pid = old.id if old else ulid()
        keep.add(pid)
        pattern_rows.append((pid, ptype, f.seal("patterns", pid, "name", name), agg.confidence(reflections),
                             agg.first, agg.last, now, now, rev))
        stats_rows.append((pid, agg.support, agg.units, agg.strong,
                           seal_json(f, "pattern_stats", pid, "timeline", agg.days)))
        for conf, _at, rid, words, intensity in agg.top:
            occ_rows.append((pid, rid, f.seal("pattern_occurrences", f"{pid}:{rid}", "evidence", words),
                             conf, intensity))
        reported += agg.reportable
    conn.executemany("DELETE FROM patterns WHERE id = ?", [(p.id,) for p in existing.values() if p.id not in keep])
    conn.executemany(
        "INSERT INTO patterns (id, pattern_type, name, confidence, first_seen, last_seen, created_at, updated_at, rev)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
        " confidence = excluded.confidence, first_seen = excluded.first_seen, last_seen = excluded.last_seen,"
        " updated_at = excluded.updated_at, rev = excluded.rev", pattern_rows)
    conn.executemany(
        "INSERT OR REPLACE INTO pattern_stats (pattern_id, support, evidence_units, strong, timeline)"
        " VALUES (?, ?, ?, ?, ?)", stats_rows)
    conn.executemany(
        "INSERT INTO pattern_occurrences (pattern_id, reflection_id, evidence, confidence, intensity)"
        " VALUES (?, ?, ?, ?, ?)", occ_rows)
    tensions = write_tensions(store, ten, rev, replace=True)
    return reported, tensions


# --------------------------------------------------------------------------- tensions

def load_tensions(store) -> dict[str, tuple[str, TensionTotals]]:
    """The analysis' tension totals (seed names only) by name: (id, totals)."""
    f = field_codec(store)
    out = {}
    for tid, data in store.conn.execute("SELECT id, data FROM tensions WHERE reflection_id IS NULL"):
        d = open_json(f, "tensions", tid, "data", data)
        if d["name"] not in TENSION_BY_NAME:
            continue  # imported under a name the analysis does not know: only shown (queries)
        out[d["name"]] = (tid, TensionTotals(d.get("days"), d.get("first_seen"), d.get("last_seen")))
    return out


def tension_data(name: str, agg: TensionTotals, axis_a: str | None = None, axis_b: str | None = None) -> dict | None:
    """The stored shape of a tension's totals (None when it no longer appears); the axes
    are the seed's unless given (imported)."""
    count, p, i = agg.totals()
    if count <= 0:
        return None
    if axis_a is None or axis_b is None:
        t = TENSION_BY_NAME[name]
        axis_a, axis_b = t.axis_a, t.axis_b
    return {"name": name, "axis_a": axis_a, "axis_b": axis_b,
            "position": round(p / count / SCALE, 4), "intensity": round(i / count / SCALE, 4),
            "count": count, "first_seen": agg.first, "last_seen": agg.last, "days": agg.days}


def write_tensions(store, ten: dict[str, TensionTotals], rev: int, *, replace: bool) -> int:
    """Store these tensions' totals (``replace``: and only these). Returns how many were written."""
    conn = store.conn
    f = field_codec(store)
    existing = load_tensions(store)
    if replace:
        conn.execute("DELETE FROM tensions WHERE reflection_id IS NULL")
    written = 0
    for name, agg in ten.items():
        data = tension_data(name, agg)
        tid = existing[name][0] if name in existing else ulid()
        if data is None:
            conn.execute("DELETE FROM tensions WHERE id = ?", (tid,))
            continue
        conn.execute(
            "INSERT INTO tensions (id, reflection_id, detected_at, data, rev) VALUES (?, NULL, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET detected_at = excluded.detected_at, data = excluded.data,"
            " rev = excluded.rev",
            (tid, data["last_seen"] or now_iso(), seal_json(f, "tensions", tid, "data", data), rev))
        written += 1
    return written

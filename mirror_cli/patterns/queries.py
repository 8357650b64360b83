"""What ``mirror patterns list|show|evolution`` and ``mirror tensions list|show|map`` read.

Read-only over the tables of :mod:`.stored` (written by :mod:`.analysis`, or by an import);
results are dataclasses and dicts, names and words opened with the store's fields. Periods
(weeks, months) are local-time calendar periods, from the first one with an occurrence (or the
one holding ``since``) to the period of the journal's newest reflection (CONTRACT.md, "JSON
results"). Evidence is listed newest first, as ``mirror list`` lists reflections.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from mirror_cli.errors import UsageError
from mirror_cli.patterns import evolution as evo
from mirror_cli.patterns.detect import PATTERN_TYPES, normalize_tag
from mirror_cli.patterns.stored import (
    SCALE, TENSION_BY_NAME, StoredPattern, TensionTotals, analysis_meta, analysis_time, confidence_of,
    day_keys, load_patterns, open_json, tension_data,
)
from mirror_cli.patterns.tensions import SEED_TENSIONS, seed_tension
from mirror_cli.crypto.fields import codec as field_codec

__all__ = ["PatternInfo", "Excerpt", "status", "list_patterns", "find_pattern", "excerpt", "show_pattern",
           "newest_day", "reflection_days", "pattern_evolution", "evolution", "list_tensions", "show_tension"]


@dataclass
class PatternInfo:
    id: str
    pattern_type: str
    name: str
    confidence: float
    support: int
    first_seen: str | None
    last_seen: str | None
    occurrences: list[dict] | None = None

    def to_dict(self, occurrences: bool = False) -> dict:
        out = {"id": self.id, "pattern_type": self.pattern_type, "name": self.name,
               "confidence": self.confidence, "support": self.support,
               "first_seen": self.first_seen, "last_seen": self.last_seen}
        if occurrences and self.occurrences is not None:
            out["occurrences"] = self.occurrences
        return out


@dataclass
class Excerpt:
    text: str  # a short window of the reflection around the evidence words
    spans: list[tuple[int, int]] = field(default_factory=list)  # (start, end) of each evidence word in text


def status(store) -> dict:
    """{"analyzed_at", "pending"}: reflections new or changed since the last analysis
    (deleted ones count too), so a listing can say it is out of date."""
    state = analysis_meta(store)
    total = store.count("reflections")
    if state is None:  # never analysed, or caches of an older format: all of it is to do again
        return {"analyzed_at": analysis_time(store), "pending": total}
    newer = store.conn.execute("SELECT count(*) FROM reflections WHERE rev > ?",
                               (int(state.get("rev", 0)),)).fetchone()[0]
    cached = store.count("analysis_state")
    removed = max(0, int(state.get("count", 0)) - cached)
    return {"analyzed_at": state.get("at"), "pending": int(newer) + removed + max(0, total - cached - int(newer))}


# --------------------------------------------------------------------------- patterns

def list_patterns(store, *, min_confidence: float = 0.0, pattern_type: str | None = None,
                  limit: int | None = None, include_unreported: bool = False) -> list[PatternInfo]:
    """Reported patterns, highest confidence first (then more support, type, name)."""
    if pattern_type is not None and pattern_type not in PATTERN_TYPES:
        raise UsageError(f"unknown pattern type {pattern_type!r}.", "Use one of: " + ", ".join(PATTERN_TYPES) + ".")
    out = []
    for p in load_patterns(store).values():
        if p.support <= 0 or (not include_unreported and not p.reportable):
            continue
        if pattern_type and p.pattern_type != pattern_type:
            continue
        if p.confidence < min_confidence:
            continue
        out.append(PatternInfo(p.id, p.pattern_type, p.name, p.confidence, p.support, p.first_seen, p.last_seen))
    out.sort(key=lambda p: (-p.confidence, -p.support, p.pattern_type, p.name))
    return out[:limit] if limit is not None else out


def find_pattern(store, ref: str) -> StoredPattern:
    """A pattern by id, by name (case-insensitive), or by ``type:name`` (e.g. ``tag:work``)."""
    ref = ref.strip()
    patterns = load_patterns(store)
    for p in patterns.values():
        if p.id == ref:
            return p
    ptype, _, name = ref.partition(":")
    if name and ptype in PATTERN_TYPES:
        wanted = [p for p in patterns.values() if p.pattern_type == ptype and p.name == normalize_tag(name)]
    else:
        wanted = [p for p in patterns.values() if p.name.lower() == normalize_tag(ref)]
    if not wanted:
        raise UsageError(f"no pattern named {ref}.", "See `mirror patterns list`, or run `mirror patterns analyze`.")
    if len(wanted) > 1:
        kinds = ", ".join(f"{p.pattern_type}:{p.name}" for p in sorted(wanted, key=lambda p: p.pattern_type))
        raise UsageError(f"{ref} names several patterns ({kinds}).", "Give one of those, or an id.")
    return wanted[0]


def excerpt(text: str, words: Iterable[str], radius: int = 8) -> Excerpt:
    """A window of about ``radius`` words either side of the first evidence word found,
    with the positions of every evidence word inside it."""
    words = [w for w in words if w]
    patterns = [re.compile(r"(?<![\w'])" + r"\s+".join(re.escape(p) for p in w.split()) + r"(?![\w])",
                           re.IGNORECASE) for w in words]
    hits = sorted((m.start(), m.end()) for pat in patterns for m in pat.finditer(text))
    flat = " ".join(text.split())
    if not hits:
        cut = flat.split()
        short = " ".join(cut[:2 * radius])
        return Excerpt(short + (" …" if len(cut) > 2 * radius else ""), [])
    # Work on the whitespace-normalised text so the window is one line.
    hits = sorted((m.start(), m.end()) for pat in patterns for m in pat.finditer(flat))
    first = hits[0][0]
    tokens = [(m.start(), m.end()) for m in re.finditer(r"\S+", flat)]
    index = next((i for i, (s, e) in enumerate(tokens) if e > first), 0)
    lo, hi = max(0, index - radius), min(len(tokens), index + radius + 1)
    start, end = tokens[lo][0], tokens[hi - 1][1]
    prefix = "… " if lo > 0 else ""
    suffix = " …" if hi < len(tokens) else ""
    window = prefix + flat[start:end] + suffix
    shift = len(prefix) - start
    spans = [(s + shift, e + shift) for s, e in hits if s >= start and e <= end]
    return Excerpt(window, spans)


def show_pattern(store, ref: str, *, excerpts: bool = True) -> tuple[PatternInfo, list[dict]]:
    """A pattern with its evidence: the stored occurrences (its strongest ones, see :mod:`.stored`)
    newest first, as ``mirror list`` shows reflections, so the latest words come first and the
    list reads back in time; each with the reflection's time and, with ``excerpts``, a short
    window of its text around the words."""
    p = find_pattern(store, ref)
    f = field_codec(store)
    rows = store.conn.execute(
        "SELECT o.reflection_id, o.evidence, o.confidence, o.intensity, r.created_at, r.content"
        " FROM pattern_occurrences o JOIN reflections r ON r.id = o.reflection_id WHERE o.pattern_id = ?"
        " ORDER BY r.created_at DESC, o.reflection_id DESC", (p.id,)).fetchall()
    occurrences = []
    for rid, evidence, conf, intensity, created_at, content in rows:
        ev = "" if evidence is None else f.open("pattern_occurrences", f"{p.id}:{rid}", "evidence", evidence)
        item = {"reflection_id": rid, "evidence": ev, "confidence": conf, "intensity": intensity,
                "created_at": created_at}
        if excerpts:
            text = f.open("reflections", rid, "content", content)
            ex = excerpt(text, [w.strip() for w in ev.split(",")])
            item["excerpt"] = ex.text
            item["spans"] = [list(s) for s in ex.spans]
        occurrences.append(item)
    info = PatternInfo(p.id, p.pattern_type, p.name, p.confidence, p.support, p.first_seen, p.last_seen,
                       occurrences)
    return info, occurrences


def newest_day(store) -> date | None:
    """The local date of the journal's newest reflection (None when it has none)."""
    row = store.conn.execute("SELECT max(created_at) FROM reflections").fetchone()
    return evo.local_day(row[0]) if row and row[0] else None


def reflection_days(store) -> list[tuple[date, int]]:
    """How many reflections each local day holds, oldest day first (what a period's confidence
    counts them among)."""
    day_of = evo.local_dates()
    counts: dict[date, int] = {}
    for (created_at,) in store.conn.execute("SELECT created_at FROM reflections"):
        day = day_of(created_at)
        counts[day] = counts.get(day, 0) + 1
    return sorted(counts.items())


def _fold_days(days: dict, by: str, value: Callable[[list, str, date], dict], until: date | None = None,
               since: date | None = None) -> list[dict]:
    """A timeline {local day: counters} -> one row per period, oldest first, gaps included,
    up to the period of ``until`` (when later than the last one with counts); with ``since``,
    only days from it on, from its period on."""
    evo.check_period(by)
    if since is not None:
        days = {day: counters for day, counters in days.items() if date.fromisoformat(day) >= since}
    if not days:
        return []
    buckets: dict[date, list] = {}
    for day, counters in days.items():
        start = evo.period_start(date.fromisoformat(day), by)
        b = buckets.get(start)
        if b is None:
            buckets[start] = list(counters)
        else:
            for i, c in enumerate(counters):
                b[i] += c
    out = []
    current, last = min(buckets), max(buckets)
    if since is not None:
        current = evo.period_start(since, by)
    if until is not None:
        last = max(last, evo.period_start(until, by))
    width = len(next(iter(buckets.values())))
    while current <= last:
        out.append(value(buckets.get(current, [0] * width), evo.period_label(current, by), current))
        current = evo.next_period(current, by)
    return out


def pattern_evolution(store, p: StoredPattern, by: str, until: date | None = None, *,
                      since: date | None = None, reflections: list[tuple[date, int]] | None = None) -> list[dict]:
    """``[{"period", "count", "confidence"}]`` of one pattern, oldest first, up to ``until``'s
    period (with ``since``: from its period on, counting occurrences from that day on).

    A period's confidence is the pattern's as it stood at the end of that period: every
    occurrence up to then (before ``since`` too) among every reflection written up to then
    (``reflections``: :func:`reflection_days`, read here when not given)."""
    row = store.conn.execute("SELECT timeline FROM pattern_stats WHERE pattern_id = ?", (p.id,)).fetchone()
    f = field_codec(store)
    days = open_json(f, "pattern_stats", p.id, "timeline", row[0]) if row else {}
    if reflections is None:
        reflections = reflection_days(store)
    ends = [day for day, _count in reflections]
    written = [0]
    for _day, count in reflections:
        written.append(written[-1] + count)
    running = 0
    if since is not None:
        start = evo.period_start(since, by)
        running = sum(c[1] for day, c in days.items() if date.fromisoformat(day) < start)

    def value(counters, label, start):
        nonlocal running
        running += counters[1]
        among = written[bisect_left(ends, evo.next_period(start, by))]
        return {"period": label, "count": counters[0], "confidence": confidence_of(running, among)}

    return _fold_days(days, by, value, until, since)


def evolution(store, name: str | None = None, *, by: str = "week", min_confidence: float = 0.0,
              pattern_type: str | None = None, limit: int | None = None, since: date | None = None) -> dict:
    """``{"series": [...], "trend": ...}`` for one pattern, or ``{"patterns": {key: {...}}}``
    for every reported pattern (key: its name, or ``type:name`` where reported patterns of
    two types share it, even when the filters leave only one of them). With ``since`` (a local
    date), periods start at the one holding it and count occurrences from it on; a pattern
    with none since then is left out of the listing (one named pattern gets an empty series)."""
    evo.check_period(by)
    until = newest_day(store)
    written = reflection_days(store)
    if name is not None:
        p = find_pattern(store, name)
        series = pattern_evolution(store, p, by, until, since=since, reflections=written)
        return {"name": p.name, "pattern_type": p.pattern_type, "series": series,
                "trend": evo.trend([r["count"] for r in series])}
    chosen = list_patterns(store, min_confidence=min_confidence, pattern_type=pattern_type, limit=limit)
    # A name that several reported patterns share (tag "work", theme "work") is keyed
    # type:name, whatever the filters leave in: the keys stay the same from run to run.
    names = [p.name for p in list_patterns(store)]
    out = {}
    by_id = {p.id: p for p in load_patterns(store).values()}
    for info in chosen:
        key = info.name if names.count(info.name) == 1 else f"{info.pattern_type}:{info.name}"
        series = pattern_evolution(store, by_id[info.id], by, until, since=since, reflections=written)
        if since is not None and not any(r["count"] for r in series):
            continue
        out[key] = {"name": info.name, "pattern_type": info.pattern_type, "series": series,
                    "trend": evo.trend([r["count"] for r in series])}
    return {"patterns": out}


# --------------------------------------------------------------------------- tensions

def _shown_tensions(store) -> dict[str, tuple[str, TensionTotals, str, str]]:
    """name -> (id, totals, axis_a, axis_b) of what ``tensions list``/``show`` show.

    The analysis keeps one row of totals per tension (``reflection_id`` NULL). An import can
    also bring rows tied to one reflection each, and tensions of names this mirror does not
    know: until an analysis finds a tension of that name, those count, one reflection each."""
    f = field_codec(store)
    day_of = day_keys()
    totals: dict[str, tuple[str, TensionTotals, str, str]] = {}
    observed: dict[str, tuple[str, TensionTotals, str, str]] = {}
    for tid, reflection_id, detected_at, data in store.conn.execute(
            "SELECT id, reflection_id, detected_at, data FROM tensions ORDER BY detected_at, id"):
        d = open_json(f, "tensions", tid, "data", data)
        name = d["name"]
        seed = TENSION_BY_NAME.get(name)
        axes = (seed.axis_a, seed.axis_b) if seed is not None else (d.get("axis_a", ""), d.get("axis_b", ""))
        if reflection_id is None:
            totals[name] = (tid, TensionTotals(d.get("days"), d.get("first_seen"), d.get("last_seen")), *axes)
        else:
            entry = observed.get(name)
            if entry is None:
                entry = observed[name] = (tid, TensionTotals(), *axes)
            entry[1].add(day_of(detected_at), detected_at, d["position"], d["intensity"])
    return {**{name: entry for name, entry in observed.items() if name not in totals}, **totals}


def _shown_order(shown: dict) -> list[str]:
    """Seed tensions in their order, then any other (imported) names alphabetically."""
    return [t.name for t in SEED_TENSIONS if t.name in shown] + sorted(set(shown) - set(TENSION_BY_NAME))


def list_tensions(store) -> list[dict]:
    """``{"name","axis_a","axis_b","position","intensity","count","first_seen","last_seen","id"}``
    per tension that appears, in seed order; position and intensity are averages."""
    shown = _shown_tensions(store)
    out = []
    for name in _shown_order(shown):
        tid, agg, axis_a, axis_b = shown[name]
        data = tension_data(name, agg, axis_a, axis_b)
        if data is None:
            continue
        data.pop("days")
        data["id"] = tid
        out.append(data)
    return out


def show_tension(store, name: str, *, by: str = "month") -> dict:
    """One tension with its averages and, per period, count, position and intensity."""
    evo.check_period(by)
    shown = _shown_tensions(store)
    wanted = name.strip().lower()
    t = seed_tension(name) or next((s for s in SEED_TENSIONS if wanted in (s.axis_a.lower(), s.axis_b.lower())), None)
    key = t.name if t is not None else next(
        (n for n, (_tid, _agg, a, b) in shown.items() if wanted in (n.lower(), a.lower(), b.lower())), None)
    if key is None:
        raise UsageError(f"no tension named {name!r}.",
                         "Tensions: " + "; ".join(_shown_order({**dict.fromkeys(TENSION_BY_NAME), **shown})) + ".")
    data = tension_data(key, shown[key][1], shown[key][2], shown[key][3]) if key in shown else None
    if data is None:
        raise UsageError(f"{key} does not appear in your reflections (yet).",
                         "Run `mirror tensions analyze` after writing some more.")
    tid, agg = shown[key][0], shown[key][1]
    data["id"] = tid
    data.pop("days")

    def value(counters, label, _start):
        c, p, i = counters
        return {"period": label, "count": c, "position": round(p / c / SCALE, 4) if c else None,
                "intensity": round(i / c / SCALE, 4) if c else None}

    data["series"] = _fold_days(agg.days, by, value, newest_day(store))
    return data

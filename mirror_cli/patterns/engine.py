"""Patterns and tensions in the database: incremental analysis and the queries behind
``mirror patterns`` and ``mirror tensions``. No printing; results are dataclasses and dicts.

What is stored (all user content goes through ``store.fields``, so it is sealed on an
encrypted database):

* ``analysis_state``: per reflection, the ``rev`` analysed and its findings (JSON), so a
  new analysis reads only reflections whose ``rev`` changed (new or edited ones);
* ``patterns``: one row per pattern ever found (id: a ULID, never derived from the name;
  ``name`` sealed), with ``confidence`` = S / (S + 2) over *all* its occurrences, and
  ``first_seen``/``last_seen``;
* ``pattern_stats``: per pattern, support, S (in 1e-4 units), strong occurrences and its
  timeline per UTC day (sealed JSON), which ``evolution`` folds into weeks or months;
* ``pattern_occurrences``: the evidence shown by ``patterns show`` and in the export: the
  :data:`EVIDENCE_LIMIT` strongest occurrences of each pattern (highest confidence, then
  most recent), each with its reflection id and words (sealed);
* ``tensions``: one row per seed tension that appears (``reflection_id`` NULL), ``data``
  sealed JSON ``{"name", "axis_a", "axis_b", "position", "intensity", "count", "days"}``,
  position and intensity averaged over the reflections where it appears.

Analysis is one pass per reflection (:func:`mirror_cli.patterns.analyze`). A new or edited
reflection changes the stored totals by its own findings only; deleted reflections (their
``analysis_state`` rows go with them) make the next analysis re-fold the totals from the
cached findings of the others, without reading their text again. ``full=True`` re-reads
everything. A full analysis of many reflections runs in several processes.
"""

from __future__ import annotations

import heapq
import json
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date

from mirror_cli.errors import UsageError, VerificationError
from mirror_cli.gcpause import gc_paused
from mirror_cli.ids import now_iso, ulid
from mirror_cli.patterns import analyze as analyze_text
from mirror_cli.patterns import evolution as evo
from mirror_cli.patterns.detect import (
    EVIDENCE_WORDS, MIN_SUPPORT, PATTERN_TYPES, STRONG_CONFIDENCE, SUPPORT_K, distinct_tags, normalize_tag,
)
from mirror_cli.patterns.detect import _confidence as _detect_confidence
from mirror_cli.patterns.detect import _intensity as _detect_intensity
from mirror_cli.patterns.detect import scan as _scan
from mirror_cli.patterns.tensions import SEED_TENSIONS, seed_tension, tensions_from_scan

__all__ = ["EVIDENCE_LIMIT", "AnalyzeResult", "PatternInfo", "Excerpt", "analyze", "list_patterns",
           "show_pattern", "evolution", "list_tensions", "show_tension", "status", "find_pattern"]

EVIDENCE_LIMIT = 20  # occurrence rows (evidence) kept per pattern
PARALLEL_MIN = 4000  # below this many reflections to analyse, stay in one process
_SCALE = 10_000
_META = "analysis"  # meta key: {"rev": newest rev analysed, "count": rows in analysis_state}
_TENSION_BY_NAME = {t.name: t for t in SEED_TENSIONS}
_SHARED: list | None = None  # the items a forked worker reads its range of (see _run_batches)


# --------------------------------------------------------------------------- results

@dataclass
class AnalyzeResult:
    analyzed: int  # reflections whose text was analysed in this run
    skipped: int  # reflections unchanged since the last analysis (not read again)
    removed: int  # reflections gone since the last analysis
    full: bool  # every reflection was analysed again
    refolded: bool  # the totals were rebuilt from the cached findings
    patterns: int  # patterns reported (support >= 2 or one strong occurrence)
    tensions: int  # tensions that appear
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


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


# --------------------------------------------------------------------------- folding

def _day(created_at: str) -> str:
    return created_at[:10]


class _PAgg:
    """Running totals of one pattern (mergeable; the same arithmetic as detect.PatternStats)."""

    __slots__ = ("support", "units", "strong", "first", "last", "days", "top")

    def __init__(self) -> None:
        self.support = 0
        self.units = 0
        self.strong = 0
        self.first: str | None = None
        self.last: str | None = None
        self.days: dict[str, list[int]] = {}
        self.top: list[tuple] = []  # min-heap of (confidence, created_at, rid, words, intensity)

    def add(self, rid: str, created_at: str, words, conf: float, intensity: float) -> None:
        self.count(rid, created_at, created_at[:10], words, conf, int(round(conf * _SCALE)),
                   conf >= STRONG_CONFIDENCE, intensity)

    def count(self, rid: str, created_at: str, day: str, words, conf: float, u: int, strong: bool,
              intensity: float) -> None:
        """:meth:`add` with the day, units and strength already worked out: the hot loops of a
        full analysis look them up once per confidence value instead of once per occurrence."""
        self.support += 1
        self.units += u
        self.strong += strong
        first = self.first
        if first is None:
            self.first = self.last = created_at
        elif created_at < first:
            self.first = created_at
        elif created_at > self.last:
            self.last = created_at
        d = self.days.get(day)
        if d is None:
            self.days[day] = [1, u]
        else:
            d[0] += 1
            d[1] += u
        item = (conf, created_at, rid, words, intensity)  # rid is unique: comparison stops there
        top = self.top
        if len(top) < EVIDENCE_LIMIT:
            heapq.heappush(top, item)
        elif item > top[0]:
            heapq.heapreplace(top, item)

    def merge(self, other: _PAgg) -> None:
        self.support += other.support
        self.units += other.units
        self.strong += other.strong
        for attr, pick in (("first", min), ("last", max)):
            a, b = getattr(self, attr), getattr(other, attr)
            setattr(self, attr, b if a is None else a if b is None else pick(a, b))
        for day, (c, u) in other.days.items():
            d = self.days.get(day)
            if d is None:
                self.days[day] = [c, u]
            else:
                d[0] += c
                d[1] += u
        for item in other.top:
            if len(self.top) < EVIDENCE_LIMIT:
                heapq.heappush(self.top, item)
            elif item > self.top[0]:
                heapq.heapreplace(self.top, item)

    @property
    def confidence(self) -> float:
        s = self.units / _SCALE
        return round(s / (s + SUPPORT_K), 4) if s > 0 else 0.0


class _TAgg:
    __slots__ = ("days", "first", "last")

    def __init__(self) -> None:
        self.days: dict[str, list[int]] = {}  # day -> [count, position units, intensity units]
        self.first: str | None = None
        self.last: str | None = None

    def add(self, created_at: str, position: float, intensity: float, sign: int = 1) -> None:
        day = created_at[:10]
        d = self.days.setdefault(day, [0, 0, 0])
        d[0] += sign
        d[1] += sign * int(round(position * _SCALE))
        d[2] += sign * int(round(intensity * _SCALE))
        if d[0] <= 0:
            del self.days[day]
        if sign > 0:
            if self.first is None or created_at < self.first:
                self.first = created_at
            if self.last is None or created_at > self.last:
                self.last = created_at

    def merge(self, other: _TAgg) -> None:
        for day, (c, p, i) in other.days.items():
            d = self.days.setdefault(day, [0, 0, 0])
            d[0] += c
            d[1] += p
            d[2] += i
        for attr, pick in (("first", min), ("last", max)):
            a, b = getattr(self, attr), getattr(other, attr)
            setattr(self, attr, b if a is None else a if b is None else pick(a, b))

    def totals(self) -> tuple[int, int, int]:
        c = p = i = 0
        for dc, dp, di in self.days.values():
            c += dc
            p += dp
            i += di
        return c, p, i


def _fold_cached(pat: dict, ten: dict, rows, fields) -> None:
    """The running totals of cached rows (reflection id, created_at, stored findings): each
    finding added to its pattern's :class:`_PAgg` and each tension to its :class:`_TAgg`,
    in one loop: the re-fold after a deletion reads every cached row. ``fields`` opens
    them (on a plaintext database, anything but text is refused as fields.open does)."""
    loads, units_of = json.loads, _CONF_UNITS
    sealed = fields.encrypted
    for rid, created_at, stored in rows:
        if sealed or stored.__class__ is not str:
            stored = fields.open("analysis_state", rid, "findings", stored)
        found = loads(stored)
        day = created_at[:10]
        for ptype, name, words, conf, intensity in found["p"]:
            key = (ptype, name)
            agg = pat.get(key)
            if agg is None:
                agg = pat[key] = _PAgg()
            us = units_of.get(conf)  # few distinct values: detect rounds them
            if us is None:
                us = units_of[conf] = (int(round(conf * _SCALE)), int(conf >= STRONG_CONFIDENCE))
            agg.count(rid, created_at, day, words, conf, us[0], us[1], intensity)
        for name, position, intensity, *_ in found["t"]:
            agg = ten.get(name)
            if agg is None:
                agg = ten[name] = _TAgg()
            agg.add(created_at, position, intensity)


def _findings(text: str, tags) -> dict:
    a = analyze_text(text, tags)
    # Evidence words as one string ("anxious, stressed"): about 3x cheaper to encode than
    # lists (the comment in migration 0005 predates this; the column holds this shape).
    return {"p": [[f.pattern_type, f.name, ", ".join(f.evidence_words[:EVIDENCE_WORDS]), f.confidence, f.intensity]
                  for f in a.findings.findings],
            "t": [[t.name, t.position, t.intensity, ", ".join(t.evidence_a), ", ".join(t.evidence_b)]
                  for t in a.tensions]}


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_PREFIX: dict = {}  # (pattern type, name) -> '["type","name","'  (lexicon words need no escaping)
_FLOAT: dict = {}  # float -> its JSON text (json writes repr(float))
_CONF_INFO: dict = {}  # weight sum -> (confidence, its units of 1e-4, '",0.75,', strong 0/1)
_INT_INFO: dict = {}  # (strongest mention, mentions) -> (intensity, '0.6]')
_CONF_UNITS: dict = {}  # a cached confidence -> (its units of 1e-4, strong 0/1)


def _prefix(key: tuple[str, str]) -> str:
    value = _PREFIX.get(key)
    if value is None:
        value = _PREFIX[key] = "[" + _ENCODE(key[0]) + "," + _ENCODE(key[1]) + ',"'
    return value


def _float(x: float) -> str:
    value = _FLOAT.get(x)
    if value is None:
        value = _FLOAT[x] = _ENCODE(x)
    return value


def _conf_info(weight: float) -> tuple:
    conf = _detect_confidence(weight)
    value = _CONF_INFO[weight] = (conf, int(round(conf * _SCALE)), '",' + _ENCODE(conf) + ",",
                                  int(conf >= STRONG_CONFIDENCE))
    return value


def _int_info(strength: float, mentions: int) -> tuple:
    intensity = _detect_intensity(strength, mentions)
    value = _INT_INFO[(strength, mentions)] = (intensity, _ENCODE(intensity) + "]")
    return value


def _analyze_batch(batch) -> tuple[list, dict, dict]:
    """Worker: analyse (rid, created_at, rev, text, tags) items; return their rows for
    analysis_state (the JSON of :func:`_findings`, byte for byte) and the partial totals
    (each finding added to its pattern's :class:`_PAgg`, each tension to its :class:`_TAgg`).

    One loop per reflection over the scan's cues writes the cached row and folds the
    totals at once, without the intermediate Finding objects, dicts and lists."""
    if isinstance(batch, range):  # fork: the items were inherited from the parent
        batch = _SHARED[batch.start:batch.stop]
    with gc_paused():
        pat: dict = {}
        ten: dict = {}
        rows = []
        append_row = rows.append
        slots: dict = {}  # (type, name) -> (its _PAgg, '["type","name","')
        conf_info, int_info, fromkeys = _CONF_INFO, _INT_INFO, dict.fromkeys
        enc, float_of = _ENCODE, _float
        max_words = EVIDENCE_WORDS
        for rid, created_at, rev, text, tags in batch:
            s = _scan(text or "")
            day = created_at[:10]
            parts = []
            add_part = parts.append
            for key, (weight, mentions, strength, words) in s.cues.items():
                ci = conf_info.get(weight)
                if ci is None:
                    ci = _conf_info(weight)
                conf, u, conf_json, strong = ci
                ii = int_info.get((strength, mentions))
                if ii is None:
                    ii = _int_info(strength, mentions)
                inten, int_json = ii
                if mentions == 1:
                    ev = words[0]
                else:
                    distinct = fromkeys(words)
                    ev = ", ".join(distinct if len(distinct) <= max_words else list(distinct)[:max_words])
                slot = slots.get(key)
                if slot is None:
                    agg = pat[key] = _PAgg()
                    slot = slots[key] = (agg, _prefix(key))
                agg, head = slot
                add_part(head + ev + conf_json + int_json)
                agg.count(rid, created_at, day, ev, conf, u, strong, inten)
            if tags:
                for norm in distinct_tags(tags):
                    q = enc(norm)
                    add_part('["tag",' + q + "," + q + ",1.0,0.5]")
                    _fold_one(pat, ("tag", norm), rid, created_at, norm, 1.0, 0.5)
            tparts = []
            for name, _axis_a, _axis_b, position, intensity, words_a, words_b in tensions_from_scan(s):
                tparts.append("[" + enc(name) + "," + float_of(position) + "," + float_of(intensity) + ',"'
                              + ", ".join(words_a) + '","' + ", ".join(words_b) + '"]')
                agg = ten.get(name)
                if agg is None:
                    agg = ten[name] = _TAgg()
                agg.add(created_at, position, intensity)
            append_row((rid, rev, '{"p":[' + ",".join(parts) + '],"t":[' + ",".join(tparts) + "]}"))
        return rows, pat, ten


def _fold_one(pat: dict, key: tuple[str, str], rid: str, created_at: str, words: str, conf: float,
              intensity: float) -> None:
    agg = pat.get(key)
    if agg is None:
        agg = pat[key] = _PAgg()
    agg.add(rid, created_at, words, conf, intensity)


def _merge_into(totals: dict, part: dict) -> None:
    """Add a worker's running totals (_PAgg or _TAgg by key) to the totals so far."""
    for key, agg in part.items():
        mine = totals.get(key)
        if mine is None:
            totals[key] = agg
        else:
            mine.merge(agg)


def _worker_signals() -> None:
    """A worker dies on SIGTERM/SIGHUP as processes do by default (it may have inherited the CLI's
    handlers, which unwind a command) and ignores Ctrl-C, which a terminal sends to the whole
    process group: the parent stops and terminates the pool, and only it says so (no worker
    tracebacks on stderr)."""
    import signal

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_batches(items: list, workers: int | None, progress: Callable | None) -> tuple[list, dict, dict]:
    n = len(items)
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if n < PARALLEL_MIN or workers <= 1:
        rows, pat, ten = _analyze_batch(items)
        if progress:
            progress(n, n)
        return rows, pat, ten
    import multiprocessing

    global _SHARED
    size = max(500, min(5000, n // (workers * 4) or 1))
    fork = "fork" in multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if fork else "spawn")
    # With fork the workers inherit the items: each is sent only a range (no pickling of
    # the texts); with spawn, the batches themselves.
    batches = [range(i, min(i + size, n)) if fork else items[i:i + size] for i in range(0, n, size)]
    rows: list = []
    pat: dict = {}
    ten: dict = {}
    done = 0
    _SHARED = items if fork else None
    try:
        # multiprocessing.Pool, not ProcessPoolExecutor: leaving its block terminates the workers,
        # so SIGTERM or Ctrl-C stops the analysis at once instead of after every queued batch.
        with ctx.Pool(workers, initializer=_worker_signals) as pool:
            for batch, (r, p, t) in zip(batches, pool.imap(_analyze_batch, batches)):
                rows.extend(r)
                _merge_into(pat, p)
                _merge_into(ten, t)
                done += len(batch)
                if progress:
                    progress(done, n)
    finally:
        _SHARED = None
    return rows, pat, ten


# --------------------------------------------------------------------------- loading

@dataclass
class _Pattern:
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


def _load_patterns(store) -> dict[tuple[str, str], _Pattern]:
    f = store.fields
    out = {}
    rows = store.conn.execute(
        "SELECT p.id, p.pattern_type, p.name, p.confidence, p.first_seen, p.last_seen,"
        " s.support, s.evidence_units, s.strong FROM patterns p LEFT JOIN pattern_stats s ON s.pattern_id = p.id")
    for pid, ptype, name, conf, first, last, support, units, strong in rows:
        name = f.open("patterns", pid, "name", name)
        p = _Pattern(pid, ptype, name, conf, first, last, support or 0, units or 0, strong or 0)
        out[(ptype, name)] = p
    return out


def _meta_raw(store) -> dict | None:
    raw = store.meta(_META)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _meta(store) -> dict | None:
    """The analysis state, if its caches were written the way the database stores fields now."""
    value = _meta_raw(store)
    return value if value is not None and value.get("encrypted") == store.encrypted else None


def _open_json(store, table: str, rid: str, fieldname: str, stored) -> dict:
    return json.loads(store.fields.open(table, rid, fieldname, stored))


def _seal_json(store, table: str, rid: str, fieldname: str, value) -> object:
    return store.fields.seal(table, rid, fieldname, json.dumps(value, ensure_ascii=False, separators=(",", ":")))


# --------------------------------------------------------------------------- analyse

def analyze(store, *, full: bool = False, event: str = "patterns.analyzed", workers: int | None = None,
            progress: Callable[[int, int], None] | None = None) -> AnalyzeResult:
    """Bring the stored patterns and tensions up to date with the reflections.

    Only reflections that are new or whose ``rev`` changed since the last run are
    analysed (``full=True``: all of them). Appends one audit event (counts only).
    """
    started = time.perf_counter()
    state = None if full else _meta(store)
    total = store.count("reflections")
    if state is not None:
        try:
            return _incremental(store, state, total, event, started)
        except VerificationError:
            # A cached value that cannot be opened (e.g. written before `key enable`): start over.
            pass
    return _full(store, total, event, started, workers, progress)


def _decode_reflections(store, rows) -> list[tuple[str, str, int, str, list]]:
    f = store.fields
    items = []
    append = items.append
    # Plaintext: the stored text is the text; tags lists are parsed once per distinct
    # value ("[]", '["work"]' recur). Anything but text, and every value of an encrypted
    # database, goes through fields.open (which refuses ciphertext in a plaintext one).
    loads, parsed, plain = json.loads, {}, None if f.encrypted else str
    for rid, created_at, rev, content, tags in rows:
        if content.__class__ is not plain or tags.__class__ is not plain:
            append((rid, created_at, rev, f.open("reflections", rid, "content", content),
                    f.open_tags("reflections", rid, tags)))
            continue
        tag_list = parsed.get(tags)
        if tag_list is None:
            tag_list = parsed[tags] = loads(tags)
        append((rid, created_at, rev, content, tag_list))
    return items


def _full(store, total: int, event: str, started: float, workers, progress) -> AnalyzeResult:
    conn = store.conn
    rows = conn.execute("SELECT id, created_at, rev, content, tags FROM reflections ORDER BY id").fetchall()
    items = _decode_reflections(store, rows)
    del rows
    with gc_paused():
        state_rows, pat, ten = _run_batches(items, workers, progress)
    max_rev = max((it[2] for it in items), default=0)
    f = store.fields
    with store.write():
        conn.execute("DELETE FROM analysis_state")
        if f.encrypted:
            state_rows = [(rid, rev, f.seal("analysis_state", rid, "findings", text)) for rid, rev, text in state_rows]
        conn.executemany("INSERT INTO analysis_state (reflection_id, rev, findings) VALUES (?, ?, ?)", state_rows)
        reported, tensions = _write_totals(store, pat, ten)
        _set_meta(store, max_rev, len(state_rows))
        store.append_event(event, {"analyzed": len(items), "skipped": 0, "removed": 0, "full": True,
                                   "patterns": reported, "tensions": tensions})
    return AnalyzeResult(len(items), 0, 0, True, True, reported, tensions,
                         round(time.perf_counter() - started, 3))


def fields_converted(store, *, encrypted: bool) -> None:
    """After ``key enable``/``disable`` re-stored every cached field (inside its write): the
    analysis state stays valid, now recorded as sealed or plain like the database."""
    state = _meta_raw(store)
    if state is not None:
        state["encrypted"] = encrypted
        store.set_meta(_META, json.dumps(state))


def _set_meta(store, rev: int, count: int) -> None:
    store.set_meta(_META, json.dumps({"rev": rev, "count": count, "encrypted": store.encrypted,
                                      "at": now_iso()}))


def _write_totals(store, pat: dict, ten: dict) -> tuple[int, int]:
    """Replace every stored pattern total, evidence row and tension with the given totals
    (pattern ids kept for names that stay). Call inside store.write()."""
    conn = store.conn
    f = store.fields
    existing = _load_patterns(store)
    now = now_iso()
    rev = store.tick()
    conn.execute("DELETE FROM pattern_occurrences")
    keep = set()
    pattern_rows, stats_rows, occ_rows = [], [], []
    reported = 0
    for key, agg in pat.items():
        old = existing.get(key)
        pid = old.id if old else ulid()
        keep.add(pid)
        pattern_rows.append((pid, key[0], f.seal("patterns", pid, "name", key[1]), agg.confidence,
                             agg.first, agg.last, now, now, rev))
        stats_rows.append((pid, agg.support, agg.units, agg.strong,
                           _seal_json(store, "pattern_stats", pid, "timeline", agg.days)))
        for conf, _at, rid, words, intensity in agg.top:
            occ_rows.append((pid, rid, f.seal("pattern_occurrences", f"{pid}:{rid}", "evidence", words),
                             conf, intensity))
        reported += agg.support >= MIN_SUPPORT or agg.strong > 0
    gone = [p.id for k, p in existing.items() if p.id not in keep]
    conn.executemany("DELETE FROM patterns WHERE id = ?", [(pid,) for pid in gone])
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
    tensions = _write_tensions(store, ten, rev, replace=True)
    return reported, tensions


def _load_tensions(store) -> dict[str, tuple[str, _TAgg]]:
    out = {}
    for tid, data in store.conn.execute("SELECT id, data FROM tensions WHERE reflection_id IS NULL"):
        d = _open_json(store, "tensions", tid, "data", data)
        if d["name"] not in _TENSION_BY_NAME:
            continue  # imported under a name the analysis does not know: only shown (_shown_tensions)
        agg = _TAgg()
        agg.days = {k: list(v) for k, v in (d.get("days") or {}).items()}
        agg.first, agg.last = d.get("first_seen"), d.get("last_seen")
        out[d["name"]] = (tid, agg)
    return out


def _tension_data(name: str, agg: _TAgg, axis_a: str | None = None, axis_b: str | None = None) -> dict | None:
    """The stored shape of a tension's totals; the axes are the seed's unless given (imported)."""
    count, p, i = agg.totals()
    if count <= 0:
        return None
    if axis_a is None or axis_b is None:
        t = _TENSION_BY_NAME[name]
        axis_a, axis_b = t.axis_a, t.axis_b
    return {"name": name, "axis_a": axis_a, "axis_b": axis_b,
            "position": round(p / count / _SCALE, 4), "intensity": round(i / count / _SCALE, 4),
            "count": count, "first_seen": agg.first, "last_seen": agg.last, "days": agg.days}


def _write_tensions(store, ten: dict, rev: int, *, replace: bool) -> int:
    conn = store.conn
    existing = _load_tensions(store)
    if replace:
        conn.execute("DELETE FROM tensions WHERE reflection_id IS NULL")
    written = 0
    for name, agg in ten.items():
        data = _tension_data(name, agg)
        tid = existing[name][0] if name in existing else ulid()
        if data is None:
            conn.execute("DELETE FROM tensions WHERE id = ?", (tid,))
            continue
        conn.execute(
            "INSERT INTO tensions (id, reflection_id, detected_at, data, rev) VALUES (?, NULL, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET detected_at = excluded.detected_at, data = excluded.data,"
            " rev = excluded.rev",
            (tid, data["last_seen"] or now_iso(), _seal_json(store, "tensions", tid, "data", data), rev))
        written += 1
    return written


def _changed_rows(store, state: dict, total: int) -> tuple[list, int]:
    """Reflections to analyse (new, or rev changed) and the number of cached rows."""
    conn = store.conn
    cached = store.count("analysis_state")
    rows = conn.execute("SELECT id, created_at, rev, content, tags FROM reflections WHERE rev > ?",
                        (int(state.get("rev", 0)),)).fetchall()
    ids = [r[0] for r in rows]
    fresh = 0
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        known = conn.execute(
            f"SELECT count(*) FROM analysis_state WHERE reflection_id IN ({','.join('?' * len(chunk))})",  # noqa: S608
            chunk).fetchone()[0]
        fresh += len(chunk) - known
    if total != cached + fresh:
        # Rows written with an older rev (an import, a sync) or a cache that lost rows:
        # compare every reflection's rev with the one analysed.
        rows = conn.execute(
            "SELECT r.id, r.created_at, r.rev, r.content, r.tags FROM reflections r"
            " LEFT JOIN analysis_state a ON a.reflection_id = r.id WHERE a.rev IS NULL OR a.rev != r.rev"
        ).fetchall()
    return rows, cached


def _incremental(store, state: dict, total: int, event: str, started: float) -> AnalyzeResult:
    conn = store.conn
    f = store.fields
    with store.write():
        rows, cached = _changed_rows(store, state, total)
        removed = max(0, int(state.get("count", 0)) - cached)
        items = _decode_reflections(store, rows)
        new_rows = []
        old_found: dict[str, tuple[str, dict]] = {}
        created = {}
        for rid, created_at, rev, text, tags in items:
            created[rid] = created_at
            old = conn.execute("SELECT findings FROM analysis_state WHERE reflection_id = ?", (rid,)).fetchone()
            if old is not None:
                old_found[rid] = (created_at, _open_json(store, "analysis_state", rid, "findings", old[0]))
            new_rows.append((rid, rev, _findings(text, tags)))
        refold = removed > 0
        if not refold and old_found:
            refold = not _can_subtract(store, old_found, {rid: found for rid, _rev, found in new_rows})
        for rid, rev, found in new_rows:
            conn.execute(
                "INSERT INTO analysis_state (reflection_id, rev, findings) VALUES (?, ?, ?)"
                " ON CONFLICT (reflection_id) DO UPDATE SET rev = excluded.rev, findings = excluded.findings",
                (rid, rev, _seal_json(store, "analysis_state", rid, "findings", found)))
        if refold:
            pat: dict = {}
            ten: dict = {}
            rows = conn.execute("SELECT a.reflection_id, r.created_at, a.findings FROM analysis_state a"
                                " JOIN reflections r ON r.id = a.reflection_id")
            with gc_paused():  # millions of small objects, none of them cyclic
                _fold_cached(pat, ten, rows, f)
            reported, tensions = _write_totals(store, pat, ten)
        else:
            reported, tensions = _apply_delta(store, old_found, new_rows, created)
        max_rev = max([int(state.get("rev", 0))] + [it[2] for it in items])
        _set_meta(store, max_rev, store.count("analysis_state"))
        store.append_event(event, {"analyzed": len(items), "skipped": total - len(items), "removed": removed,
                                   "full": False, "patterns": reported, "tensions": tensions})
    return AnalyzeResult(len(items), total - len(items), removed, False, refold, reported, tensions,
                         round(time.perf_counter() - started, 3))


def _can_subtract(store, old_found: dict, new_found: dict) -> bool:
    """Removing an old occurrence is exact unless it held a pattern's first_seen/last_seen
    (those then need the other occurrences); such a case re-folds the totals instead."""
    patterns = _load_patterns(store)
    # patterns this batch finds (in new reflections too): one of them keeps occurrences even where
    # its only stored one goes, so its first/last date must come from the others as well
    found_now = {(p[0], p[1]) for found in new_found.values() for p in found["p"]}
    for rid, (created_at, found) in old_found.items():
        keep = {(p[0], p[1]) for p in new_found[rid]["p"]}
        for ptype, name, *_ in found["p"]:
            if (ptype, name) in keep:
                continue
            p = patterns.get((ptype, name))
            if (p is not None and created_at in (p.first_seen, p.last_seen)
                    and (p.support > 1 or (ptype, name) in found_now)):
                return False
        tens = {t[0] for t in new_found[rid]["t"]}
        for t in found["t"]:
            if t[0] not in tens:
                return False  # tension first/last seen: cheap enough to re-fold rarely
    return True


def _apply_delta(store, old_found: dict, new_rows: list, created: dict) -> tuple[int, int]:
    """Subtract the old findings of edited reflections, add the new findings. Call inside write()."""
    conn = store.conn
    f = store.fields
    patterns = _load_patterns(store)
    now = now_iso()
    rev = store.tick()
    touched: dict[tuple[str, str], _Pattern] = {}
    timelines: dict[str, dict] = {}

    def timeline(p: _Pattern) -> dict:
        if p.id not in timelines:
            row = conn.execute("SELECT timeline FROM pattern_stats WHERE pattern_id = ?", (p.id,)).fetchone()
            timelines[p.id] = _open_json(store, "pattern_stats", p.id, "timeline", row[0]) if row else {}
        return timelines[p.id]

    for rid, (created_at, found) in old_found.items():
        conn.execute("DELETE FROM pattern_occurrences WHERE reflection_id = ?", (rid,))
        for ptype, name, _words, conf, _intensity in found["p"]:
            p = patterns.get((ptype, name))
            if p is None:
                continue
            u = int(round(conf * _SCALE))
            p.support -= 1
            p.units -= u
            p.strong -= conf >= STRONG_CONFIDENCE
            days = timeline(p)
            d = days.get(_day(created_at))
            if d:
                d[0] -= 1
                d[1] -= u
                if d[0] <= 0:
                    del days[_day(created_at)]
            touched[(ptype, name)] = p
    candidates: dict[tuple[str, str], list] = {}
    for rid, _rev, found in new_rows:
        created_at = created[rid]
        for ptype, name, words, conf, intensity in found["p"]:
            key = (ptype, name)
            p = patterns.get(key)
            if p is None:
                pid = ulid()
                p = patterns[key] = _Pattern(pid, ptype, name, 0.0, None, None)
                timelines[pid] = {}
                conn.execute(
                    "INSERT INTO patterns (id, pattern_type, name, confidence, first_seen, last_seen,"
                    " created_at, updated_at, rev) VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?)",
                    (pid, ptype, f.seal("patterns", pid, "name", name), created_at, created_at, now, now, rev))
            u = int(round(conf * _SCALE))
            p.support += 1
            p.units += u
            p.strong += conf >= STRONG_CONFIDENCE
            p.first_seen = created_at if p.first_seen is None or created_at < p.first_seen else p.first_seen
            p.last_seen = created_at if p.last_seen is None or created_at > p.last_seen else p.last_seen
            days = timeline(p)
            d = days.setdefault(_day(created_at), [0, 0])
            d[0] += 1
            d[1] += u
            touched[key] = p
            candidates.setdefault(key, []).append((conf, created_at, rid, words, intensity))
    for key, p in touched.items():
        if p.support <= 0:
            conn.execute("DELETE FROM patterns WHERE id = ?", (p.id,))
            continue
        s = p.units / _SCALE
        conf = round(s / (s + SUPPORT_K), 4) if s > 0 else 0.0
        conn.execute("UPDATE patterns SET confidence = ?, first_seen = ?, last_seen = ?, updated_at = ?, rev = ?"
                     " WHERE id = ?", (conf, p.first_seen, p.last_seen, now, rev, p.id))
        conn.execute("INSERT OR REPLACE INTO pattern_stats (pattern_id, support, evidence_units, strong, timeline)"
                     " VALUES (?, ?, ?, ?, ?)",
                     (p.id, p.support, p.units, p.strong,
                      _seal_json(store, "pattern_stats", p.id, "timeline", timelines[p.id])))
        _merge_evidence(store, p.id, candidates.get(key, []))
    # tensions
    ten = {name: agg for name, (_tid, agg) in _load_tensions(store).items()}
    for rid, (created_at, found) in old_found.items():
        for name, position, intensity, *_ in found["t"]:
            if name in ten:
                ten[name].add(created_at, position, intensity, sign=-1)
    changed = set()
    for rid, _rev, found in new_rows:
        for name, position, intensity, *_ in found["t"]:
            ten.setdefault(name, _TAgg()).add(created[rid], position, intensity)
            changed.add(name)
    for rid, (_c, found) in old_found.items():
        changed.update(t[0] for t in found["t"])
    _write_tensions(store, {name: ten[name] for name in changed if name in ten}, rev, replace=False)
    reported = sum(1 for p in patterns.values() if p.support > 0 and p.reportable)
    tensions = store.count("tensions")
    return reported, tensions


def _merge_evidence(store, pid: str, candidates: list) -> None:
    """Keep the EVIDENCE_LIMIT strongest occurrences of a pattern among the stored ones and
    the new candidates."""
    if not candidates:
        return
    conn = store.conn
    f = store.fields
    current = conn.execute(
        "SELECT o.confidence, r.created_at, o.reflection_id FROM pattern_occurrences o"
        " JOIN reflections r ON r.id = o.reflection_id WHERE o.pattern_id = ?", (pid,)).fetchall()
    pool = [(c, at, rid, None, None) for c, at, rid in current] + candidates
    pool.sort(key=lambda item: item[:3], reverse=True)
    keep = pool[:EVIDENCE_LIMIT]
    keep_ids = {item[2] for item in keep}
    for c, at, rid, _w, _i in pool[EVIDENCE_LIMIT:]:
        if _w is None:
            conn.execute("DELETE FROM pattern_occurrences WHERE pattern_id = ? AND reflection_id = ?", (pid, rid))
    for conf, _at, rid, words, intensity in keep:
        if words is not None and rid in keep_ids:
            conn.execute(
                "INSERT OR REPLACE INTO pattern_occurrences (pattern_id, reflection_id, evidence, confidence, intensity)"
                " VALUES (?, ?, ?, ?, ?)",
                (pid, rid, f.seal("pattern_occurrences", f"{pid}:{rid}", "evidence", words), conf, intensity))


# --------------------------------------------------------------------------- queries

def status(store) -> dict:
    """{"analyzed_at", "pending"}: reflections new or changed since the last analysis
    (deleted ones count too), so a listing can say it is out of date."""
    state = _meta(store)
    total = store.count("reflections")
    if state is None:
        return {"analyzed_at": None, "pending": total}
    newer = store.conn.execute("SELECT count(*) FROM reflections WHERE rev > ?", (int(state.get("rev", 0)),)).fetchone()[0]
    cached = store.count("analysis_state")
    removed = max(0, int(state.get("count", 0)) - cached)
    return {"analyzed_at": state.get("at"), "pending": int(newer) + removed + max(0, total - cached - int(newer))}


def list_patterns(store, *, min_confidence: float = 0.0, pattern_type: str | None = None,
                  limit: int | None = None, include_unreported: bool = False) -> list[PatternInfo]:
    """Reported patterns, highest confidence first (then more support, type, name)."""
    if pattern_type is not None and pattern_type not in PATTERN_TYPES:
        raise UsageError(f"unknown pattern type {pattern_type!r}.", "Use one of: " + ", ".join(PATTERN_TYPES) + ".")
    out = []
    for p in _load_patterns(store).values():
        if p.support <= 0 or (not include_unreported and not p.reportable):
            continue
        if pattern_type and p.pattern_type != pattern_type:
            continue
        if p.confidence < min_confidence:
            continue
        out.append(PatternInfo(p.id, p.pattern_type, p.name, p.confidence, p.support, p.first_seen, p.last_seen))
    out.sort(key=lambda p: (-p.confidence, -p.support, p.pattern_type, p.name))
    return out[:limit] if limit is not None else out


def find_pattern(store, ref: str) -> _Pattern:
    """A pattern by id, by name (case-insensitive), or by ``type:name`` (e.g. ``tag:work``)."""
    ref = ref.strip()
    patterns = _load_patterns(store)
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


_WORD_CHARS = r"[\w'\u2019-]"


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
    """A pattern with its evidence: the stored occurrences (strongest first), each with the
    reflection's time and, with ``excerpts``, a short window of its text around the words."""
    p = find_pattern(store, ref)
    f = store.fields
    rows = store.conn.execute(
        "SELECT o.reflection_id, o.evidence, o.confidence, o.intensity, r.created_at, r.content"
        " FROM pattern_occurrences o JOIN reflections r ON r.id = o.reflection_id WHERE o.pattern_id = ?"
        " ORDER BY o.confidence DESC, r.created_at DESC, o.reflection_id DESC", (p.id,)).fetchall()
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


def _fold_days(days: dict, by: str, value: Callable[[list, str], dict]) -> list[dict]:
    """Days {YYYY-MM-DD: counters} -> one row per period, oldest first, gaps included."""
    evo._check(by)
    if not days:
        return []
    buckets: dict[date, list] = {}
    for day, counters in days.items():
        start = evo._period_start(date.fromisoformat(day), by)
        b = buckets.get(start)
        if b is None:
            buckets[start] = list(counters)
        else:
            for i, c in enumerate(counters):
                b[i] += c
    out = []
    current, last = min(buckets), max(buckets)
    width = len(next(iter(buckets.values())))
    while current <= last:
        out.append(value(buckets.get(current, [0] * width), evo.period_label(current, by)))
        current = evo._next_period(current, by)
    return out


def _pattern_evolution(store, p: _Pattern, by: str) -> list[dict]:
    row = store.conn.execute("SELECT timeline FROM pattern_stats WHERE pattern_id = ?", (p.id,)).fetchone()
    days = _open_json(store, "pattern_stats", p.id, "timeline", row[0]) if row else {}
    running = [0]

    def value(counters, label):
        running[0] += counters[1]
        s = running[0] / _SCALE
        return {"period": label, "count": counters[0], "confidence": round(s / (s + SUPPORT_K), 4) if s > 0 else 0.0}

    return _fold_days(days, by, value)


def evolution(store, name: str | None = None, *, by: str = "week", min_confidence: float = 0.0,
              pattern_type: str | None = None, limit: int | None = None) -> dict:
    """``{"series": [...], "trend": ...}`` for one pattern, or ``{"patterns": {key: {...}}}``
    for every reported pattern (key: its name, or ``type:name`` where reported patterns of
    two types share it, even when the filters leave only one of them)."""
    evo._check(by)
    if name is not None:
        p = find_pattern(store, name)
        series = _pattern_evolution(store, p, by)
        return {"name": p.name, "pattern_type": p.pattern_type, "series": series,
                "trend": evo.trend([r["count"] for r in series])}
    chosen = list_patterns(store, min_confidence=min_confidence, pattern_type=pattern_type, limit=limit)
    # A name that several reported patterns share (tag "work", theme "work") is keyed
    # type:name, whatever the filters leave in: the keys stay the same from run to run.
    names = [p.name for p in list_patterns(store)]
    out = {}
    by_id = {p.id: p for p in _load_patterns(store).values()}
    for info in chosen:
        key = info.name if names.count(info.name) == 1 else f"{info.pattern_type}:{info.name}"
        series = _pattern_evolution(store, by_id[info.id], by)
        out[key] = {"name": info.name, "pattern_type": info.pattern_type, "series": series,
                    "trend": evo.trend([r["count"] for r in series])}
    return {"patterns": out}


def _shown_tensions(store) -> dict[str, tuple[str, _TAgg, str, str]]:
    """name -> (id, totals, axis_a, axis_b) of what ``tensions list``/``show`` show.

    The analysis keeps one row of totals per tension (``reflection_id`` NULL). An import can
    also bring rows tied to one reflection each, and tensions of names this mirror does not
    know: until an analysis finds a tension of that name, those count, one reflection each."""
    totals: dict[str, tuple[str, _TAgg, str, str]] = {}
    observed: dict[str, tuple[str, _TAgg, str, str]] = {}
    for tid, reflection_id, detected_at, data in store.conn.execute(
            "SELECT id, reflection_id, detected_at, data FROM tensions ORDER BY detected_at, id"):
        d = _open_json(store, "tensions", tid, "data", data)
        name = d["name"]
        seed = _TENSION_BY_NAME.get(name)
        axes = (seed.axis_a, seed.axis_b) if seed is not None else (d.get("axis_a", ""), d.get("axis_b", ""))
        if reflection_id is None:
            agg = _TAgg()
            agg.days = {k: list(v) for k, v in (d.get("days") or {}).items()}
            agg.first, agg.last = d.get("first_seen"), d.get("last_seen")
            totals[name] = (tid, agg, *axes)
        else:
            entry = observed.get(name)
            if entry is None:
                entry = observed[name] = (tid, _TAgg(), *axes)
            entry[1].add(detected_at, d["position"], d["intensity"])
    return {**{name: entry for name, entry in observed.items() if name not in totals}, **totals}


def _shown_order(shown: dict) -> list[str]:
    """Seed tensions in their order, then any other (imported) names alphabetically."""
    return [t.name for t in SEED_TENSIONS if t.name in shown] + sorted(set(shown) - set(_TENSION_BY_NAME))


def list_tensions(store) -> list[dict]:
    """``{"name","axis_a","axis_b","position","intensity","count","first_seen","last_seen"}``
    per tension that appears, in seed order; position and intensity are averages."""
    shown = _shown_tensions(store)
    out = []
    for name in _shown_order(shown):
        tid, agg, axis_a, axis_b = shown[name]
        data = _tension_data(name, agg, axis_a, axis_b)
        if data is None:
            continue
        data.pop("days")
        data["id"] = tid
        out.append(data)
    return out


def show_tension(store, name: str, *, by: str = "month") -> dict:
    """One tension with its averages and, per period, count, position and intensity."""
    evo._check(by)
    shown = _shown_tensions(store)
    wanted = name.strip().lower()
    t = seed_tension(name) or next((s for s in SEED_TENSIONS if wanted in (s.axis_a.lower(), s.axis_b.lower())), None)
    key = t.name if t is not None else next(
        (n for n, (_tid, _agg, a, b) in shown.items() if wanted in (n.lower(), a.lower(), b.lower())), None)
    if key is None:
        raise UsageError(f"no tension named {name!r}.",
                         "Tensions: " + "; ".join(_shown_order({**dict.fromkeys(_TENSION_BY_NAME), **shown})) + ".")
    data = _tension_data(key, shown[key][1], shown[key][2], shown[key][3]) if key in shown else None
    if data is None:
        raise UsageError(f"{key} does not appear in your reflections (yet).",
                         "Run `mirror tensions analyze` after writing some more.")
    tid, agg = shown[key][0], shown[key][1]
    data["id"] = tid
    data.pop("days")

    def value(counters, label):
        c, p, i = counters
        return {"period": label, "count": c, "position": round(p / c / _SCALE, 4) if c else None,
                "intensity": round(i / c / _SCALE, 4) if c else None}

    data["series"] = _fold_days(agg.days, by, value)
    return data

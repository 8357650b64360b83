"""Incremental analysis: bring the stored patterns and tensions up to date with the reflections.

One pass per reflection (:func:`mirror_cli.patterns.analyze`), in this process. Its findings
are cached in ``analysis_state`` (see :mod:`.stored` for every table), so the next run reads
only reflections that are new or whose ``rev`` changed:

* a new or edited reflection changes the stored totals by its own findings only (the old
  findings of an edited one subtracted, the new ones added); the confidence of every other
  pattern is moved too when the journal's size changed it (:mod:`.confidence`: a share);
* deleted reflections (their ``analysis_state`` rows go with them), or an edit that takes
  away the occurrence holding a pattern's first or last date, make the run re-fold every
  total from the cached findings of the others, without reading their text again;
* ``full=True``, a first run, or caches that no longer open read every reflection again.

Each run appends one audit event (``patterns.analyzed`` or ``tensions.analyzed``) with
counts only, never a name or a word.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from mirror_cli.crypto.fields import codec as field_codec
from mirror_cli.errors import VerificationError
from mirror_cli.ids import now_iso, ulid
from mirror_cli.patterns.detect import (
    STRONG_CONFIDENCE, TAG, TAG_CONFIDENCE, TAG_INTENSITY, cue_confidence, cue_intensity, distinct_tags,
    evidence_text, scan,
)
from mirror_cli.patterns.stored import (
    EVIDENCE_LIMIT, PatternTotals, StoredPattern, TensionTotals, analysis_meta, confidence_of, load_patterns,
    load_tensions, open_json, seal_json, set_analysis_meta, day_keys, units, write_tensions, write_totals,
)
from mirror_cli.patterns.tensions import SEED_TENSIONS, tension_intensity, tension_position

__all__ = ["AnalyzeResult", "analyze", "findings"]

# Set by sync (mirror_cli.sync.derived) when it wrote another device's pattern or tension totals
# over this device's: the next run re-folds the totals from the cached findings, since deltas added
# to totals computed elsewhere would count some reflections twice.
REFOLD_KEY = "analysis_refold"
PROGRESS_EVERY = 500  # reflections between two progress reports
SAVE_STATE = ("INSERT INTO analysis_state (reflection_id, rev, findings) VALUES (?, ?, ?)"
              " ON CONFLICT (reflection_id) DO UPDATE SET rev = excluded.rev, findings = excluded.findings")


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


def findings(text: str, tags) -> dict:
    """What ``analysis_state`` caches for one reflection: each pattern found with its
    evidence words as one string, each tension with the words of either pole.

    Built straight from the scan (the rules are :mod:`.detect`'s and :mod:`.tensions`'):
    the same values as :func:`mirror_cli.patterns.analyze`, without its objects."""
    result = scan(text or "")
    patterns = [[ptype, name, evidence_text(words), cue_confidence(weight), cue_intensity(strength, mentions)]
                for (ptype, name), (weight, mentions, strength, words) in result.cues.items()]
    if tags:
        patterns += [[TAG, tag, tag, TAG_CONFIDENCE, TAG_INTENSITY] for tag in distinct_tags(tags)]
    tensions = []
    for index in sorted(result.poles):
        a, b, words_a, words_b, strength = result.poles[index]
        if a + b > 0:
            tensions.append([SEED_TENSIONS[index].name, tension_position(a, b), tension_intensity(strength),
                             ", ".join(dict.fromkeys(words_a)), ", ".join(dict.fromkeys(words_b))])
    return {"p": patterns, "t": tensions}


def _fold(pat: dict, ten: dict, rid: str, created_at: str, found: dict, day: str) -> None:
    """Add one reflection's findings to the running totals of its patterns and tensions
    (``day``: its local day)."""
    for ptype, name, words, conf, intensity in found["p"]:
        agg = pat.get((ptype, name))
        if agg is None:
            agg = pat[(ptype, name)] = PatternTotals()
        agg.add(rid, created_at, day, words, conf, intensity)
    for name, position, intensity, _words_a, _words_b in found["t"]:
        agg = ten.get(name)
        if agg is None:
            agg = ten[name] = TensionTotals()
        agg.add(day, created_at, position, intensity)


def _open_reflection(fields, rid: str, content, tags) -> tuple[str, list]:
    text, tags_text = fields.open_row("reflections", rid, ("content", "tags"), (content, tags))
    return text or "", json.loads(tags_text) if tags_text else []


def analyze(store, *, full: bool = False, event: str = "patterns.analyzed",
            progress: Callable[[int, int], None] | None = None) -> AnalyzeResult:
    """Bring the stored patterns and tensions up to date with the reflections.

    Only reflections that are new or whose ``rev`` changed since the last run are
    analysed (``full=True``: all of them). Appends one audit event ``event`` (counts only).
    ``progress(done, total)`` is called as a full analysis goes.
    """
    started = time.perf_counter()
    state = None if full else analysis_meta(store)
    total = store.count("reflections")
    if state is not None:
        try:
            return _incremental(store, state, total, event, started)
        except VerificationError:
            # A cached value that cannot be opened (e.g. written before `key enable`): start over.
            pass
    return _full(store, total, event, started, progress)


def _full(store, total: int, event: str, started: float, progress) -> AnalyzeResult:
    conn = store.conn
    f = field_codec(store)
    pat: dict = {}
    ten: dict = {}
    state_rows = []
    max_rev = 0
    rows = conn.execute("SELECT id, created_at, rev, content, tags FROM reflections ORDER BY id").fetchall()
    day_of = day_keys()
    for done, (rid, created_at, rev, content, tags) in enumerate(rows, 1):
        found = findings(*_open_reflection(f, rid, content, tags))
        _fold(pat, ten, rid, created_at, found, day_of(created_at))
        state_rows.append((rid, rev, seal_json(f, "analysis_state", rid, "findings", found)))
        max_rev = max(max_rev, rev)
        if progress and (done % PROGRESS_EVERY == 0 or done == len(rows)):
            progress(done, len(rows))
    with store.write():
        # Rows overwritten in place: emptying the table first would free (and, secure_delete,
        # zero) every page, then write the table anew.
        conn.executemany(SAVE_STATE, state_rows)
        if store.count("analysis_state") != len(state_rows):
            # rows this run did not write (reflections added since it read them) go
            ours = {row[0] for row in state_rows}
            conn.executemany("DELETE FROM analysis_state WHERE reflection_id = ?",
                             [(rid,) for rid, in conn.execute("SELECT reflection_id FROM analysis_state")
                              if rid not in ours])
        reported, tensions = write_totals(store, pat, ten, len(state_rows))
        set_analysis_meta(store, max_rev, len(state_rows))
        store.set_meta(REFOLD_KEY, None)
        store.append_event(event, {"analyzed": len(state_rows), "skipped": 0, "removed": 0, "full": True,
                                   "patterns": reported, "tensions": tensions})
    return AnalyzeResult(len(state_rows), 0, 0, True, True, reported, tensions,
                         round(time.perf_counter() - started, 3))


def _changed_rows(store, state: dict, total: int) -> tuple[list, int]:
    """Reflections to analyse (new, or rev changed), each with its cached findings (or None),
    and the number of cached rows."""
    conn = store.conn
    cached = store.count("analysis_state")
    select = ("SELECT r.id, r.created_at, r.rev, r.content, r.tags, a.findings FROM reflections r"
              " LEFT JOIN analysis_state a ON a.reflection_id = r.id")
    since = int(state.get("rev", 0))
    rows = conn.execute(select + " WHERE r.rev > ?", (since,)).fetchall()
    fresh = sum(1 for row in rows if row[5] is None)
    if total != cached + fresh:
        # Rows written with an older rev (an import, a sync) or a cache that lost rows:
        # compare every reflection's rev with the one analysed.
        rows = conn.execute(select + " WHERE a.rev IS NULL OR a.rev != r.rev").fetchall()
    return rows, cached


def _incremental(store, state: dict, total: int, event: str, started: float) -> AnalyzeResult:
    conn = store.conn
    f = field_codec(store)
    with store.write():
        rows, cached = _changed_rows(store, state, total)
        removed = max(0, int(state.get("count", 0)) - cached)
        new_rows = []
        old_found: dict[str, tuple[str, dict]] = {}
        created = {}
        for rid, created_at, rev, content, tags, old in rows:
            created[rid] = created_at
            if old is not None:
                old_found[rid] = (created_at, open_json(f, "analysis_state", rid, "findings", old))
            new_rows.append((rid, rev, findings(*_open_reflection(f, rid, content, tags))))
        refold = removed > 0 or store.meta(REFOLD_KEY) is not None
        if not refold and old_found:
            refold = not _can_subtract(store, old_found, {rid: found for rid, _rev, found in new_rows})
        conn.executemany(
            SAVE_STATE,
            [(rid, rev, seal_json(f, "analysis_state", rid, "findings", found)) for rid, rev, found in new_rows])
        if refold:
            pat: dict = {}
            ten: dict = {}
            day_of = day_keys()
            folded = 0
            for rid, created_at, stored in conn.execute(
                    "SELECT a.reflection_id, r.created_at, a.findings FROM analysis_state a"
                    " JOIN reflections r ON r.id = a.reflection_id"):
                _fold(pat, ten, rid, created_at, open_json(f, "analysis_state", rid, "findings", stored),
                      day_of(created_at))
                folded += 1
            reported, tensions = write_totals(store, pat, ten, folded)
        else:
            reported, tensions = _apply_delta(store, old_found, new_rows, created)
        max_rev = max([int(state.get("rev", 0))] + [row[2] for row in rows])
        set_analysis_meta(store, max_rev, store.count("analysis_state"))
        store.set_meta(REFOLD_KEY, None)
        store.append_event(event, {"analyzed": len(rows), "skipped": total - len(rows), "removed": removed,
                                   "full": False, "patterns": reported, "tensions": tensions})
    return AnalyzeResult(len(rows), total - len(rows), removed, False, refold, reported, tensions,
                         round(time.perf_counter() - started, 3))


def _can_subtract(store, old_found: dict, new_found: dict) -> bool:
    """Removing an old occurrence is exact unless it held a pattern's first_seen/last_seen
    (those then need the other occurrences); such a case re-folds the totals instead."""
    patterns = load_patterns(store)
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
    """Subtract the old findings of edited reflections, add the new findings, and move the confidence
    of every other pattern whose share of the (now larger or smaller) journal changed. Call inside write()."""
    conn = store.conn
    reflections = store.count("analysis_state")
    f = field_codec(store)
    patterns = load_patterns(store)
    now = now_iso()
    rev = store.tick()
    touched: dict[tuple[str, str], StoredPattern] = {}
    timelines: dict[str, dict] = {}
    day_of = day_keys()

    def timeline(p: StoredPattern) -> dict:
        if p.id not in timelines:
            row = conn.execute("SELECT timeline FROM pattern_stats WHERE pattern_id = ?", (p.id,)).fetchone()
            timelines[p.id] = open_json(f, "pattern_stats", p.id, "timeline", row[0]) if row else {}
        return timelines[p.id]

    for rid, (created_at, found) in old_found.items():
        conn.execute("DELETE FROM pattern_occurrences WHERE reflection_id = ?", (rid,))
        for ptype, name, _words, conf, _intensity in found["p"]:
            p = patterns.get((ptype, name))
            if p is None:
                continue
            u = units(conf)
            p.support -= 1
            p.units -= u
            p.strong -= conf >= STRONG_CONFIDENCE
            days = timeline(p)
            key = day_of(created_at)
            d = days.get(key)
            if d:
                d[0] -= 1
                d[1] -= u
                if d[0] <= 0:
                    del days[key]
            touched[(ptype, name)] = p
    candidates: dict[tuple[str, str], list] = {}
    for rid, _rev, found in new_rows:
        created_at = created[rid]
        for ptype, name, words, conf, intensity in found["p"]:
            key = (ptype, name)
            p = patterns.get(key)
            if p is None:
                pid = ulid()
                p = patterns[key] = StoredPattern(pid, ptype, name, 0.0, None, None)
                timelines[pid] = {}
                conn.execute(
                    "INSERT INTO patterns (id, pattern_type, name, confidence, first_seen, last_seen,"
                    " created_at, updated_at, rev) VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?)",
                    (pid, ptype, f.seal("patterns", pid, "name", name), created_at, created_at, now, now, rev))
            u = units(conf)
            p.support += 1
            p.units += u
            p.strong += conf >= STRONG_CONFIDENCE
            p.first_seen = created_at if p.first_seen is None or created_at < p.first_seen else p.first_seen
            p.last_seen = created_at if p.last_seen is None or created_at > p.last_seen else p.last_seen
            d = timeline(p).setdefault(day_of(created_at), [0, 0])
            d[0] += 1
            d[1] += u
            touched[key] = p
            candidates.setdefault(key, []).append((conf, created_at, rid, words, intensity))
    for key, p in touched.items():
        if p.support <= 0:
            conn.execute("DELETE FROM patterns WHERE id = ?", (p.id,))
            continue
        conn.execute("UPDATE patterns SET confidence = ?, first_seen = ?, last_seen = ?, updated_at = ?, rev = ?"
                     " WHERE id = ?", (confidence_of(p.units, reflections), p.first_seen, p.last_seen, now, rev, p.id))
        conn.execute("INSERT OR REPLACE INTO pattern_stats (pattern_id, support, evidence_units, strong, timeline)"
                     " VALUES (?, ?, ?, ?, ?)",
                     (p.id, p.support, p.units, p.strong,
                      seal_json(f, "pattern_stats", p.id, "timeline", timelines[p.id])))
        _merge_evidence(store, p.id, candidates.get(key, []))
    moved = []
    for key, p in patterns.items():
        if key not in touched and p.support > 0:
            confidence = confidence_of(p.units, reflections)
            if confidence != p.confidence:
                moved.append((confidence, now, rev, p.id))
    conn.executemany("UPDATE patterns SET confidence = ?, updated_at = ?, rev = ? WHERE id = ?", moved)
    # tensions
    ten = {name: agg for name, (_tid, agg) in load_tensions(store).items()}
    for rid, (created_at, found) in old_found.items():
        for name, position, intensity, *_ in found["t"]:
            if name in ten:
                ten[name].add(day_of(created_at), created_at, position, intensity, sign=-1)
    changed = set()
    for rid, _rev, found in new_rows:
        for name, position, intensity, *_ in found["t"]:
            ten.setdefault(name, TensionTotals()).add(day_of(created[rid]), created[rid], position, intensity)
            changed.add(name)
    for rid, (_c, found) in old_found.items():
        changed.update(t[0] for t in found["t"])
    write_tensions(store, {name: ten[name] for name in changed if name in ten}, rev, replace=False)
    reported = sum(1 for p in patterns.values() if p.support > 0 and p.reportable)
    return reported, store.count("tensions")


def _merge_evidence(store, pid: str, candidates: list) -> None:
    """Keep the EVIDENCE_LIMIT strongest occurrences of a pattern among the stored ones and
    the new candidates."""
    if not candidates:
        return
    conn = store.conn
    f = field_codec(store)
    current = conn.execute(
        "SELECT o.confidence, r.created_at, o.reflection_id FROM pattern_occurrences o"
        " JOIN reflections r ON r.id = o.reflection_id WHERE o.pattern_id = ?", (pid,)).fetchall()
    pool = [(c, at, rid, None, None) for c, at, rid in current] + candidates
    pool.sort(key=lambda item: item[:3], reverse=True)
    for _c, _at, rid, words, _i in pool[EVIDENCE_LIMIT:]:
        if words is None:  # a stored one that no longer makes the cut
            conn.execute("DELETE FROM pattern_occurrences WHERE pattern_id = ? AND reflection_id = ?", (pid, rid))
    for conf, _at, rid, words, intensity in pool[:EVIDENCE_LIMIT]:
        if words is not None:
            conn.execute(
                "INSERT OR REPLACE INTO pattern_occurrences (pattern_id, reflection_id, evidence, confidence, intensity)"
                " VALUES (?, ?, ?, ?, ?)",
                (pid, rid, f.seal("pattern_occurrences", f"{pid}:{rid}", "evidence", words), conf, intensity))

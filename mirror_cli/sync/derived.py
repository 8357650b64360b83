"""Patterns and tensions across devices (SYNC.md "Kinds"; docs/formats/sync.md, "Derived records").

Reflections are the source of truth and always sync. Patterns and tensions are derived from them:
by default each device recomputes its own after a pull changed reflections (the incremental
analysis, run by ``mirror sync`` on a journal analysed before) and none of them leaves. With ``mirror sync --only patterns,tensions`` they
also travel, as last-writer-wins records keyed by natural keys — ``[pattern_type, name]`` for a
pattern, ``[reflection_id or "", name]`` for a tension — never by the ULIDs each device gives its
rows, so two analyses converge on one row instead of duplicating it. A record's stamp is the hybrid
logical clock and device of the analysis that last produced a different value; the highest stamp
wins on every device. A losing value is not kept as a conflict revision: nobody wrote it, an
analysis did, and the losing device computes it again from its own reflections.

Nothing computed from a local-only reflection leaves: a journal holding local-only reflections
does not publish patterns or tensions (its totals count them); it still receives them.

The local state is ``sync_derived`` (migration 0008): per natural key, a local id, the natural key
sealed like user content, the winning stamp and a keyed digest of the winning value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from mirror_cli.crypto.fields import codec as field_codec
from mirror_cli.db.store import Store
from mirror_cli.errors import UsageError, VerificationError
from mirror_cli.ids import is_hlc, is_valid_id, now_iso, parse_iso, ulid
from mirror_cli.sync import local

KINDS = {"patterns": "pattern", "tensions": "tension"}  # --only word -> stored kind
RECORD = {"pattern": "p", "tension": "t"}  # stored kind -> a segment record's "k"
FROM_RECORD = {v: k for k, v in RECORD.items()}
REPORT = {"pattern": "patterns", "tension": "tensions"}
PATTERN_FIELDS = ("confidence", "first_seen", "last_seen", "support", "units", "strong")
# The pattern engine's flag (mirror_cli.patterns.analysis.REFOLD_KEY, not imported: a sync must not load
# the pattern engine): totals from another device were written here, so its next run re-folds them.
REFOLD_KEY = "analysis_refold"
MAX_NAME = 512  # characters of a pattern's type or name, a tension's name
MAX_DATA = 64 * 1024  # bytes of a tension's data as JSON


def parse_kinds(only: str | None) -> frozenset[str]:
    """The derived kinds an ``--only`` value names (reflections always sync); exit 2 for an unknown one."""
    if only is None:
        return frozenset()
    words = {w.strip().lower() for w in only.split(",") if w.strip()}
    unknown = words - {"reflections", *KINDS}
    if unknown or not words:
        raise UsageError(f"--only takes reflections, patterns and tensions, not {', '.join(sorted(unknown)) or 'nothing'}.",
                         "For example: --only patterns,tensions (reflections always sync).")
    return frozenset(KINDS[w] for w in words if w in KINDS)


# -- this device's values ------------------------------------------------------------------------


def _current(store: Store, kind: str) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """Every stored pattern or tension by natural key: (row id, value)."""
    f = field_codec(store)
    out: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    if kind == "pattern":
        for pid, ptype, name, conf, first, last, support, units, strong in store.conn.execute(
                "SELECT p.id, p.pattern_type, p.name, p.confidence, p.first_seen, p.last_seen, s.support,"
                " s.evidence_units, s.strong FROM patterns p LEFT JOIN pattern_stats s ON s.pattern_id = p.id"
                " ORDER BY p.id"):
            nat = (ptype, f.open("patterns", pid, "name", name))
            out.setdefault(nat, (pid, {"confidence": conf, "first_seen": first, "last_seen": last,
                                       "support": support or 0, "units": units or 0, "strong": strong or 0}))
    else:
        for tid, rid, detected, data in store.conn.execute(
                "SELECT id, reflection_id, detected_at, data FROM tensions ORDER BY id"):
            value = json.loads(f.open("tensions", tid, "data", data))
            nat = (rid or "", str(value.get("name", "")))
            out.setdefault(nat, (tid, {"detected_at": detected, "data": value}))
    return out


def _states(store: Store, kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    f = field_codec(store)
    out = {}
    for sid, nkey, hlc, dev, vdig in store.conn.execute(
            "SELECT id, nkey, hlc, dev, vdig FROM sync_derived WHERE kind = ?", (kind,)):
        nat = tuple(json.loads(f.open("sync_derived", sid, "nkey", nkey)))
        out[nat] = {"id": sid, "hlc": hlc, "dev": dev, "vdig": vdig}
    return out


def _save(store: Store, kind: str, nat: tuple[str, str], state: dict[str, Any] | None, hlc: str, dev: str,
          vdig: str | None) -> str:
    if state is not None:
        store.conn.execute("UPDATE sync_derived SET hlc = ?, dev = ?, vdig = ? WHERE id = ?",
                           (hlc, dev, vdig, state["id"]))
        return state["id"]
    sid = ulid()
    nkey = field_codec(store).seal("sync_derived", sid, "nkey", json.dumps(list(nat), ensure_ascii=False))
    store.conn.execute("INSERT INTO sync_derived (id, kind, nkey, hlc, dev, vdig) VALUES (?, ?, ?, ?, ?, ?)",
                       (sid, kind, nkey, hlc, dev, vdig))
    return sid


_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # as the analysis stores data


def _vdig(key: bytes, kind: str, value: dict[str, Any] | None) -> str | None:
    """A keyed digest of a value, the same whatever the order of its keys (a received value comes
    back in another order than the one this device builds)."""
    if value is None:
        return None
    return local.field_digest(key, kind, json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")))


def _digest_key(store: Store) -> bytes:
    """The key of value digests; when it changed (`key enable`), every stored digest is forgotten so
    that each value is stamped anew. Call inside store.write()."""
    key, kid = local.digest_key(store)
    known = store.meta("sync_derived_kid")
    if known != kid:
        if known is not None:
            store.conn.execute("UPDATE sync_derived SET vdig = '?' WHERE vdig IS NOT NULL")
        store.set_meta("sync_derived_kid", kid)
    return key


def sent_digest(hlc: str, dev: str, vdig: str | None) -> str:
    """What sync_sent keeps for a derived record: the version (stamp and device) and whether it is deleted."""
    return f"{hlc}/{dev}/{'-' if vdig is None else '+'}"


def check_publishable(store: Store) -> None:
    """Exit 2 when this journal's patterns and tensions count local-only reflections (they never leave)."""
    if store.conn.execute("SELECT 1 FROM reflections WHERE local_only = 1 LIMIT 1").fetchone() is not None:
        raise UsageError("this journal holds local-only reflections, and its patterns and tensions count them: "
                         "they cannot leave with --only patterns,tensions.",
                         "Sync without --only patterns,tensions (each device computes its own).")


def stamp(store: Store, clock: local.StoreClock, kinds: frozenset[str]) -> None:
    """Give every pattern or tension whose value changed here since it was last stamped or received a
    new stamp (a deletion too). Call inside store.write()."""
    if not kinds:
        return
    check_publishable(store)
    key = _digest_key(store)
    for kind in sorted(kinds):
        states = _states(store, kind)
        current = _current(store, kind)
        for nat, (_rowid, value) in current.items():
            vdig = _vdig(key, kind, value)
            state = states.get(nat)
            if state is None or state["vdig"] != vdig:
                hlc, _ = clock._next_stamp(state["hlc"] if state else None)
                _save(store, kind, nat, state, hlc, clock.dev, vdig)
        for nat, state in states.items():
            if nat not in current and state["vdig"] is not None:
                hlc, _ = clock._next_stamp(state["hlc"])
                _save(store, kind, nat, state, hlc, clock.dev, None)


def outgoing(store: Store, remote: str) -> Iterator[tuple[str, str, dict[str, Any], str]]:
    """(kind, local id, record, sent digest) of every derived record not yet exchanged with *remote*
    in its current version (own analyses, and records received from another remote)."""
    kinds = [k for (k,) in store.conn.execute("SELECT DISTINCT kind FROM sync_derived ORDER BY kind")]
    key, _ = local.digest_key(store)
    for kind in kinds:
        sent = {sid: d for sid, d in store.conn.execute(
            "SELECT id, digest FROM sync_sent WHERE remote = ? AND kind = ?", (remote, kind))}
        current = None
        for nat, state in sorted(_states(store, kind).items()):
            digest = sent_digest(state["hlc"], state["dev"], state["vdig"])
            if sent.get(state["id"]) == digest:
                continue
            value = None
            if state["vdig"] is not None:
                if current is None:
                    current = _current(store, kind)
                row = current.get(nat)
                if row is None or _vdig(key, kind, row[1]) != state["vdig"]:
                    continue  # changed since it was stamped: the next sync stamps and sends it
                value = row[1]
            rec = {"k": RECORD[kind], "n": list(nat), "h": state["hlc"], "d": state["dev"], "v": value}
            yield kind, state["id"], rec, digest


def all_records(store: Store) -> Iterator[dict[str, Any]]:
    """Every derived record this device holds in its winning version (for a checkpoint)."""
    for kind, _sid, rec, _digest in outgoing(store, "\x00checkpoint"):
        yield rec


# -- what a peer sent ------------------------------------------------------------------------------


def check(rec: dict[str, Any], what: str) -> tuple[str, dict[str, Any]]:
    """A derived record from an authenticated segment, checked for shape: (kind, record); anything
    wrong -> exit 3 naming the segment (a device with the key could still have written nonsense)."""
    try:
        kind = FROM_RECORD[rec["k"]]
        nat, hlc, dev, value = rec["n"], rec["h"], rec["d"], rec["v"]
        if not (isinstance(nat, list) and len(nat) == 2 and all(isinstance(x, str) and len(x) <= MAX_NAME
                                                                 for x in nat) and nat[1]):
            raise ValueError
        if not is_hlc(hlc) or not isinstance(dev, str) or len(dev) != 32 or not set(dev) <= set("0123456789abcdef"):
            raise ValueError
        if value is not None:
            if kind == "pattern":
                _check_pattern(nat, value)
            else:
                _check_tension(nat, value)
    except (KeyError, TypeError, ValueError, RecursionError):
        raise VerificationError(f"{what} holds a malformed pattern or tension although it is sealed with this "
                                "remote's key.", "A device with the key wrote it wrongly; nothing was changed here.") from None
    return kind, rec


def _unit(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and 0 <= x <= 1


def _time(x: Any, nullable: bool) -> bool:
    if x is None:
        return nullable
    if not isinstance(x, str) or len(x) > 40:
        return False
    try:
        parse_iso(x)
    except ValueError:
        return False
    return True


def _count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2**53


def _check_pattern(nat: list[str], value: Any) -> None:
    if not (isinstance(value, dict) and set(value) == set(PATTERN_FIELDS) and nat[0]
            and _unit(value["confidence"]) and _time(value["first_seen"], True) and _time(value["last_seen"], True)
            and all(_count(value[k]) for k in ("support", "units", "strong"))):
        raise ValueError


def _check_tension(nat: list[str], value: Any) -> None:
    if not (isinstance(value, dict) and set(value) == {"detected_at", "data"} and _time(value["detected_at"], False)):
        raise ValueError
    data = value["data"]
    if not isinstance(data, dict) or data.get("name") != nat[1] or (nat[0] and not is_valid_id(nat[0])):
        raise ValueError
    if len(json.dumps(data, ensure_ascii=False)) > MAX_DATA:
        raise ValueError


class Applier:
    """Merges received derived records into this journal, inside the caller's write transaction."""

    def __init__(self, store: Store, remote: str, clock: local.StoreClock) -> None:
        self.store, self.remote, self.clock = store, remote, clock
        self.key = _digest_key(store)
        self._states: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self._rows: dict[str, dict[tuple[str, str], tuple[str, dict[str, Any]]]] = {}

    def apply(self, kind: str, rec: dict[str, Any]) -> str | None:
        """'saved', 'deleted' or None (this device already holds that version or a newer one)."""
        nat = (rec["n"][0], rec["n"][1])
        if kind not in self._states:  # read once per transaction: a few hundred rows at most
            self._states[kind] = _states(self.store, kind)
            self._rows[kind] = _current(self.store, kind)
        states, rows = self._states[kind], self._rows[kind]
        self.clock.observe(rec["h"])
        state = states.get(nat)
        if state is not None and (state["hlc"], state["dev"]) >= (rec["h"], rec["d"]):
            return None
        value = rec["v"]
        if kind == "tension" and nat[0] and self.store.conn.execute(
                "SELECT 1 FROM reflections WHERE id = ?", (nat[0],)).fetchone() is None:
            return None  # about a reflection this journal does not hold: nothing to attach it to
        outcome = self._write(kind, nat, rows.get(nat), value)
        if value is None:
            rows.pop(nat, None)
        vdig = _vdig(self.key, kind, value)
        sid = _save(self.store, kind, nat, state, rec["h"], rec["d"], vdig)
        states[nat] = {"id": sid, "hlc": rec["h"], "dev": rec["d"], "vdig": vdig}
        self.store.conn.execute(
            "INSERT INTO sync_sent (remote, kind, id, digest) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (remote, kind, id) DO UPDATE SET digest = excluded.digest",
            (self.remote, kind, sid, sent_digest(rec["h"], rec["d"], vdig)))  # no echo to where it came from
        return outcome

    def _write(self, kind: str, nat: tuple[str, str], row: tuple[str, dict[str, Any]] | None,
               value: dict[str, Any] | None) -> str | None:
        conn = self.store.conn
        table = "patterns" if kind == "pattern" else "tensions"
        if value is None:
            if row is None:
                return None
            conn.execute(f"DELETE FROM {table} WHERE id = ?", (row[0],))  # noqa: S608 - one of two names
            self.store.set_meta(REFOLD_KEY, "1")
            return "deleted"
        rev, now = self.store.tick(), now_iso()
        f = field_codec(self.store)
        rid = row[0] if row is not None else ulid()
        if kind == "pattern":
            conn.execute(
                "INSERT INTO patterns (id, pattern_type, name, confidence, first_seen, last_seen, created_at,"
                " updated_at, rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " confidence = excluded.confidence, first_seen = excluded.first_seen,"
                " last_seen = excluded.last_seen, updated_at = excluded.updated_at, rev = excluded.rev",
                (rid, nat[0], f.seal("patterns", rid, "name", nat[1]), value["confidence"], value["first_seen"],
                 value["last_seen"], now, now, rev))
            # the totals it was computed from (no timeline: that stays with the device that analysed)
            conn.execute(
                "INSERT INTO pattern_stats (pattern_id, support, evidence_units, strong, timeline)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (pattern_id) DO UPDATE SET support = excluded.support,"
                " evidence_units = excluded.evidence_units, strong = excluded.strong",
                (rid, value["support"], value["units"], value["strong"],
                 f.seal("pattern_stats", rid, "timeline", "{}")))
        else:
            conn.execute(
                "INSERT INTO tensions (id, reflection_id, detected_at, data, rev) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET detected_at = excluded.detected_at, data = excluded.data,"
                " rev = excluded.rev",
                (rid, nat[0] or None, value["detected_at"], f.seal("tensions", rid, "data", _json(value["data"])), rev))
        self._rows[kind][nat] = (rid, value)
        self.store.set_meta(REFOLD_KEY, "1")
        return "saved"

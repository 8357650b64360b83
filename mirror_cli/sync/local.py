"""This device's sync state in the database (migration 0007): stamping local changes with dots,
reading a record's state with its values, applying a merged state to the journal.

``sync_records.state`` holds a record's version vector, deletion and, per field, its stamp and a
keyed digest of its value (never the value: the value is the journal row, sealed when the journal
is encrypted). The digest key comes from the data key on an encrypted journal, from a random
per-journal secret on a plaintext one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterator
from typing import Any

from mirror_cli.crypto.fields import codec as field_codec
from mirror_cli.crypto.kdf import subkey
from mirror_cli.db.scrub import forget_deleted_words
from mirror_cli.db.store import Store
from mirror_cli.errors import VerificationError
from mirror_cli.exchange import records
from mirror_cli.ids import hlc_after, hlc_iso, hlc_next, hlc_text, is_hlc, is_valid_id, now_iso, parse_iso
from mirror_cli.journal.reflections import Reflection, insert_row, vouch
from mirror_cli.sync.merge import Clock, Conflict, alive, leq, updated

KIND = "reflection"
MAX_SOURCES = 4096  # the edits one merge-written version can stand for
FIELDS = ("content", "response", "mode", "tags", "created_at")
_ROW_COLS = ("id", "created_at", "updated_at", "content", "response", "mode", "tags", "local_only", "rev")
_ROW = f"SELECT {', '.join(_ROW_COLS)} FROM reflections"


# -- identity and clock --------------------------------------------------------------------


def device_id(store: Store) -> str:
    """This journal's device id (16 random bytes, hex); made on first use. Call inside write()."""
    dev = store.meta("device_id")
    if dev is None:
        dev = os.urandom(16).hex()
        store.set_meta("device_id", dev)
    return dev


def new_device_id(store: Store) -> str:
    """A fresh device id (a restored or cloned journal must never write as the device it copies)."""
    dev = os.urandom(16).hex()
    store.set_meta("device_id", dev)
    return dev


class StoreClock(Clock):
    """Dots from meta ``sync_dot``, HLCs from meta ``hlc``; use inside a write transaction."""

    def __init__(self, store: Store, dev: str, published: int) -> None:
        self.store = store
        super().__init__(dev, published, self._next_stamp)

    def _next_stamp(self, above: str | None) -> tuple[str, int]:
        hlc = hlc_next(self.store.meta("hlc"), seen=above)
        self.store.set_meta("hlc", hlc)
        dot = int(self.store.meta("sync_dot", "0")) + 1
        self.store.set_meta("sync_dot", str(dot))
        return hlc, dot

    def observe(self, stamp: str) -> None:
        """A received stamp moves this device's clock (bounded to now + 24 h)."""
        self.store.set_meta("hlc", hlc_next(self.store.meta("hlc"), seen=stamp))


class HeldClock(StoreClock):
    """A :class:`StoreClock` that reads ``hlc`` and ``sync_dot`` once and writes them back in
    :meth:`save`: for a loop in which nothing else moves them (stamping), four meta statements per
    record fewer (a 100,000-entry first push made 400,000 of them)."""

    def __init__(self, store: Store, dev: str, published: int) -> None:
        super().__init__(store, dev, published)
        self._hlc = store.meta("hlc")
        self._dot = int(store.meta("sync_dot", "0"))
        self._moved = False

    def _next_stamp(self, above: str | None) -> tuple[str, int]:
        self._hlc = hlc_next(self._hlc, seen=above)
        self._dot += 1
        self._moved = True
        return self._hlc, self._dot

    def save(self) -> None:
        if self._moved:
            self.store.set_meta("hlc", self._hlc)
            self.store.set_meta("sync_dot", str(self._dot))


# -- digests -------------------------------------------------------------------------------


def digest_key(store: Store) -> tuple[bytes, str]:
    """The key of field digests and its id (they change when encryption is enabled or changed)."""
    if store.key is not None:
        key = subkey(store.key.dek, "mirror sync digests v1")
    else:
        secret = store.meta("sync_secret")
        if secret is None:
            secret = os.urandom(32).hex()
            store.set_meta("sync_secret", secret)
        key = bytes.fromhex(secret)
    return key, hashlib.sha256(b"mirror sync digest key id" + key).hexdigest()[:16]


# One encoder each, built once: json.dumps with any non-default option builds a new encoder per
# call, which was a third of a 10,000-entry push (same text as json.dumps with these options).
_VALUE_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_STATE_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def field_digest(key: bytes, name: str, value: Any) -> str:
    msg = name.encode() + b"\x00" + _VALUE_JSON.encode(value).encode()
    return hmac.digest(key, msg, "sha256").hex()[:32]


def state_digest(state: dict[str, Any]) -> str:
    """The digest of a state as exchanged (stamps and value digests): what sync_sent compares."""
    return hashlib.sha256(_STATE_JSON.encode(state).encode()).hexdigest()[:32]


# -- reading -------------------------------------------------------------------------------


def row_values(store: Store, row: tuple[Any, ...], f: Any = None) -> tuple[dict[str, Any], bool, int]:
    """A journal row's values; *f*: the store's field codec when the caller has it (on a plaintext
    journal finding it is a meta query, once per row)."""
    if f is None:
        f = field_codec(store)
    rid = row[0]
    values = {"content": f.open("reflections", rid, "content", row[3]),
              "response": None if row[4] is None else f.open("reflections", rid, "response", row[4]),
              "mode": row[5], "tags": f.open_tags("reflections", rid, row[6]), "created_at": row[1]}
    return values, bool(row[7]), int(row[8])


def load_meta(store: Store, rid: str) -> tuple[dict[str, Any] | None, int]:
    row = store.conn.execute("SELECT state, rev FROM sync_records WHERE kind = ? AND id = ?", (KIND, rid)).fetchone()
    return (json.loads(row[0]), int(row[1])) if row else (None, 0)


def save_meta(store: Store, rid: str, state: dict[str, Any], rev: int) -> None:
    store.conn.execute(
        "INSERT INTO sync_records (kind, id, rev, state) VALUES (?, ?, ?, ?) ON CONFLICT (kind, id)"
        " DO UPDATE SET rev = excluded.rev, state = excluded.state",
        (KIND, rid, rev, _STATE_JSON.encode(state)))  # canonical: changed_since digests this text as stored


def with_values(meta: dict[str, Any], values: dict[str, Any] | None) -> dict[str, Any]:
    """The state to merge or send: the stamps of *meta* with the journal's values."""
    fields = {}
    if values is not None and alive(meta):
        for name, entry in meta["f"].items():
            fields[name] = [values[name], *entry[1:]]
    return {"vv": dict(meta["vv"]), "f": fields, "del": meta.get("del")}


def without_values(state: dict[str, Any], key: bytes) -> dict[str, Any]:
    fields = {name: [field_digest(key, name, e[0]), *e[1:]] for name, e in state["f"].items()}
    out = {"vv": state["vv"], "f": fields, "del": state.get("del")}
    return out


# -- stamping local changes ------------------------------------------------------------------


def stamp_changes(store: Store, dev: str) -> int:
    """Give every local change since the last stamp a dot. Call inside write(); returns how many
    records changed."""
    key, kid = digest_key(store)
    rebase = store.meta("sync_digest_kid") not in (None, kid)
    store.set_meta("sync_digest_kid", kid)
    since = 0 if rebase else int(store.meta("sync_rev", "0"))
    clock = HeldClock(store, dev, 0)
    f = field_codec(store)
    changed = 0
    # One query: each changed row with its sync state and its tick's HLC (not three statements per row).
    for *row, text, seen_rev, ticked in store.conn.execute(_STAMP_ROWS, (since,)).fetchall():
        meta = json.loads(text) if text is not None else None
        if _stamp_row(store, clock, key, tuple(row), meta, int(seen_rev or 0), rebase=rebase, ticked=ticked, f=f):
            changed += 1
    for rid, rev in store.conn.execute(
            "SELECT id, rev FROM tombstones WHERE kind = 'reflection' AND rev > ?", (since,)).fetchall():
        if stamp_delete(store, clock, rid, int(rev)):
            changed += 1
    clock.save()
    top = store.meta("clock", "0")
    store.set_meta("sync_rev", str(top))
    store.conn.execute("DELETE FROM rev_hlc WHERE rev <= ?", (int(top),))  # stamped: their clocks are in the stamps
    return changed


_STAMP_ROWS = (f"SELECT {', '.join('x.' + c for c in _ROW_COLS)}, m.state, m.rev, h.hlc FROM reflections x"
               " LEFT JOIN sync_records m ON m.kind = 'reflection' AND m.id = x.id"
               " LEFT JOIN rev_hlc h ON h.rev = x.rev WHERE x.rev > ? ORDER BY x.rev")
_LOOK_UP = object()


def _rev_hlc(store: Store, rev: int) -> str | None:
    row = store.conn.execute("SELECT hlc FROM rev_hlc WHERE rev = ?", (rev,)).fetchone()
    return row[0] if row else None


def stamp_row(store: Store, clock: StoreClock, key: bytes, row: tuple[Any, ...], *, rebase: bool = False) -> bool:
    """Stamp one journal row against its sync state; True when it made a new version."""
    meta, seen_rev = load_meta(store, row[0])
    return _stamp_row(store, clock, key, row, meta, seen_rev, rebase=rebase)


def _stamp_row(store: Store, clock: StoreClock, key: bytes, row: tuple[Any, ...], meta: dict[str, Any] | None,
               seen_rev: int, *, rebase: bool = False, ticked: Any = _LOOK_UP, f: Any = None) -> bool:
    rid = row[0]
    if meta is not None and seen_rev >= int(row[8]) and not rebase:
        return False
    values, local_only, rev = row_values(store, row, f)
    if local_only:
        if meta is None or not alive(meta):
            if meta is not None:
                meta["lo"] = 1
                save_meta(store, rid, meta, rev)
            return False
        hlc, n = clock.new_stamp(updated(meta) or hlc_next(None))
        meta["vv"][clock.dev] = n
        meta["del"] = [dict(meta["vv"]), hlc, clock.dev, n]
        meta["f"], meta["lo"] = {}, 1
        save_meta(store, rid, meta, rev)
        return True
    digests = {name: field_digest(key, name, values[name]) for name in FIELDS}
    if meta is not None and rebase and seen_rev >= rev and alive(meta):
        for name, entry in meta["f"].items():  # the digest key changed (key enable/change): same values
            entry[0] = digests[name]
        save_meta(store, rid, meta, rev)
        return False
    old = meta["f"] if meta is not None and alive(meta) else {}
    new = [name for name in FIELDS if name not in old or old[name][0] != digests[name]]
    meta = meta or {"vv": {}, "f": {}, "del": None}
    meta.pop("lo", None)
    if not new:
        save_meta(store, rid, meta, rev)
        # Edits that put every value back (tags work, then sleep again) make no version, so no other
        # device moves its updated_at: this one's goes back to the shared value's time too.
        if old and _normalise_updated(store, rid, meta, row[2]):
            store.append_event("sync.stamped", {"reflection_id": rid}, [vouch(store, rid)])
        return False
    # The stamp is the edit's time (updated_at, with the HLC counter Store.tick gave it), moved just
    # above the stamp of the value it replaces when a clock was behind: a new version never sorts
    # before what it replaced, whatever the clocks.
    base = _hlc_of(row[2])
    if ticked is _LOOK_UP:
        ticked = _rev_hlc(store, rev)
    if ticked is not None and base is not None and hlc_iso(ticked) == row[2]:
        base = ticked
    top = max((old[name][1] for name in new if name in old), default=None)
    hlc, n = clock._next_stamp(None)
    if base is not None:
        hlc = base
    if top is not None:
        hlc = max(hlc, hlc_after(top))
    fields = dict(old)
    for name in new:
        fields[name] = [digests[name], hlc, clock.dev, n]
    meta["f"] = fields
    meta["vv"][clock.dev] = n
    save_meta(store, rid, meta, rev)
    if _normalise_updated(store, rid, meta, row[2]):
        store.append_event("sync.stamped", {"reflection_id": rid},
                           [vouch(store, rid)])
    return True


def _hlc_of(iso_time: str) -> str | None:
    try:
        return hlc_text(int(parse_iso(iso_time).timestamp() * 1000), 0)
    except (ValueError, TypeError):
        return None


def _normalise_updated(store: Store, rid: str, meta: dict[str, Any], current: str) -> bool:
    """updated_at is the time of the newest value's stamp, the same on every device (it differs
    from the row's only when a clock was behind the stamp it had to follow)."""
    top = updated(meta)
    if top is not None and hlc_iso(top) != current:
        store.conn.execute("UPDATE reflections SET updated_at = ? WHERE id = ?", (hlc_iso(top), rid))
        return True
    return False


def stamp_delete(store: Store, clock: StoreClock, rid: str, rev: int) -> bool:
    meta, seen_rev = load_meta(store, rid)
    if meta is None or seen_rev >= rev:
        return False
    if not alive(meta):
        if not meta.pop("lo", None):
            return False
        # A local-only entry deleted here: its withdrawal was published, but edits held beside it
        # since then were seen here, so this delete covers them and must travel too.
        if leq(meta["vv"], (meta.get("del") or [{}])[0]):
            save_meta(store, rid, meta, rev)
            return False
    hlc, n = clock.new_stamp(updated(meta) or hlc_next(None))
    meta["vv"][clock.dev] = n
    meta["del"] = [dict(meta["vv"]), hlc, clock.dev, n]
    meta["f"] = {}
    meta.pop("lo", None)
    save_meta(store, rid, meta, rev)
    return True


# -- applying a merged state -----------------------------------------------------------------


def local_state(store: Store, rid: str) -> tuple[dict[str, Any] | None, bool]:
    """The record's state with its values, and whether it is local-only here."""
    meta, _ = load_meta(store, rid)
    row = store.conn.execute(_ROW + " WHERE id = ?", (rid,)).fetchone()
    if meta is None:
        return None, bool(row and row[7])
    values = row_values(store, row)[0] if row is not None else None
    # An entry made local-only and then deleted here is just deleted: a concurrent edit brings it back.
    return with_values(meta, values), bool(meta.get("lo")) and row is not None


def apply_state(store: Store, rid: str, state: dict[str, Any], digested: dict[str, Any] | None = None) -> str:
    """Write a merged state to the journal; returns "saved", "deleted" or "" (nothing to do).
    *digested* is ``without_values(state, digest key)`` when the caller has it already."""
    if digested is None:
        digested = without_values(state, digest_key(store)[0])
    exists = store.conn.execute("SELECT 1 FROM reflections WHERE id = ?", (rid,)).fetchone() is not None
    rev = store.tick()
    outcome = ""
    if alive(state):
        f = state["f"]
        r = Reflection(id=rid, created_at=f["created_at"][0], updated_at=hlc_iso(updated(state)),
                       content=f["content"][0], response=f["response"][0], mode=f["mode"][0],
                       tags=list(f["tags"][0]), local_only=False)
        insert_row(store, r, rev)
        outcome = "saved"
    elif exists:
        store.conn.execute("DELETE FROM reflections WHERE id = ?", (rid,))
        store.conn.execute(
            "INSERT INTO tombstones (kind, id, deleted_at, rev) VALUES ('reflection', ?, ?, ?)"
            " ON CONFLICT (kind, id) DO UPDATE SET deleted_at = excluded.deleted_at, rev = excluded.rev",
            (rid, now_iso(), rev))
        forget_deleted_words(store.conn)
        outcome = "deleted"
    save_meta(store, rid, digested, rev)
    return outcome


def record_conflicts(store: Store, rid: str, conflicts: list[Conflict]) -> None:
    f = field_codec(store)
    for c in conflicts:
        cur = store.conn.execute(
            "INSERT INTO sync_conflicts (kind, id, field, value, value_stamp, kept_stamp, other_device, detected_at)"
            " VALUES (?, ?, ?, NULL, ?, ?, ?, ?)",
            (KIND, rid, c.field, json.dumps(list(c.value_stamp)), json.dumps(list(c.kept_stamp)),
             c.other_device, now_iso()))
        cid = cur.lastrowid
        text = json.dumps(c.value, ensure_ascii=False)
        store.conn.execute("UPDATE sync_conflicts SET value = ? WHERE cid = ?",
                           (f.seal("sync_conflicts", str(cid), "value", text), cid))


def conflict_value(store: Store, cid: int, stored: Any) -> Any:
    return json.loads(field_codec(store).open("sync_conflicts", str(cid), "value", stored))


# -- what to push ------------------------------------------------------------------------------


def changed_since(store: Store, remote: str, scan_rev: int) -> Iterator[tuple[str, dict[str, Any], int, str]]:
    """(id, state with values, rev, state digest) of every record whose state differs from what *remote*
    last got (the digest is what ``sync_sent`` records once it is sent)."""
    cols = ", ".join("x." + c for c in _ROW_COLS)
    rows = store.conn.execute(  # the journal row comes in the same query (one SELECT, not one per record)
        f"SELECT r.id, r.state, r.rev, s.digest, {cols} FROM sync_records r LEFT JOIN sync_sent s"
        " ON s.remote = ? AND s.kind = r.kind AND s.id = r.id LEFT JOIN reflections x ON x.id = r.id"
        " WHERE r.kind = ? AND r.rev > ? ORDER BY r.rev", (remote, KIND, scan_rev))
    f = field_codec(store)
    for rid, text, rev, sent, *row in rows:  # streamed: a first push of 100k entries never holds them all
        meta = json.loads(text)
        if "lo" in meta and alive(meta):
            continue
        if meta.get("lo") and meta.get("del"):
            # Local-only here: publish the withdrawal alone, never the version vector of edits held
            # beside the local row (a peer would take them as merged and drop them).
            meta = {"vv": dict(meta["del"][0]), "f": {}, "del": meta["del"], "lo": 1}
        if "lo" in meta:
            digest = state_digest({k: v for k, v in meta.items() if k != "lo"})
        else:  # save_meta stored the state_digest encoding itself: hash the text, do not encode it again
            digest = hashlib.sha256(text.encode()).hexdigest()[:32]
        if digest == sent:
            continue
        if meta.get("lo") and sent is None:
            continue  # local-only and never sent there: nothing to withdraw
        values = None
        if alive(meta):
            if row[0] is None:
                continue
            values = row_values(store, tuple(row), f)[0]
        yield rid, with_values(meta, values), int(rev), digest


# -- checking what a peer sent -------------------------------------------------------------------


def check_record(rec: dict[str, Any], what: str) -> tuple[str, dict[str, Any]]:
    """A record from an authenticated segment, checked for shape (a device with the key could still
    have written nonsense): its id and state; anything wrong -> exit 3 naming the segment."""
    try:
        rid = rec["id"]
        if rec.get("k") != "r" or not isinstance(rid, str) or not is_valid_id(rid):
            raise ValueError
        vv = rec["vv"]
        if not isinstance(vv, dict) or not all(_dev(d) and _count(n) for d, n in vv.items()):
            raise ValueError
        fields = rec.get("f") or {}
        if not isinstance(fields, dict) or (fields and set(fields) != set(FIELDS)):
            raise ValueError
        for name, entry in fields.items():
            _check_entry(entry, 4, 5)
            _check_value(name, entry[0])
        dele = rec.get("del")
        if dele is not None:
            _check_entry(dele, 4, 4)
            if not isinstance(dele[0], dict) or not all(_dev(d) and _count(n) for d, n in dele[0].items()):
                raise ValueError
    except (ValueError, KeyError, TypeError, IndexError):
        raise VerificationError(f"{what} holds a malformed record although it is sealed with this remote's key.",
                                "A device with the key wrote it wrongly; nothing was changed here.") from None
    return rid, {"vv": vv, "f": fields, "del": dele}


def _check_entry(entry: Any, low: int, high: int) -> None:
    if not isinstance(entry, list) or not low <= len(entry) <= high:
        raise ValueError
    if not is_hlc(entry[1]) or not _dev(entry[2]) or not _count(entry[3]) or entry[3] < 1:
        raise ValueError
    if len(entry) == 5 and not (isinstance(entry[4], list) and 1 <= len(entry[4]) <= MAX_SOURCES and all(
            isinstance(x, list) and len(x) == 2 and _dev(x[0]) and _count(x[1]) for x in entry[4])):
        raise ValueError


def _check_value(name: str, value: Any) -> None:
    if name == "tags":
        if not isinstance(value, list) or not all(isinstance(t, str) and t and records.text_problem(t) is None
                                                  for t in value):
            raise ValueError
        return
    if name == "response" and value is None:
        return
    if not isinstance(value, str) or records.text_problem(value) is not None:
        raise ValueError
    if name == "content" and not value.strip():
        raise ValueError
    if name == "created_at":
        parse_iso(value)


_DEV = re.compile("[0-9a-f]{32}")


def _dev(v: Any) -> bool:
    return isinstance(v, str) and _DEV.fullmatch(v) is not None  # a regex: checked five times per record


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**62


def redot(store: Store, old: str, new: str, published: int) -> int:
    """Move this copy's unpublished dots of device *old* (n > *published*) to device *new*: another
    copy of the journal publishes its own, different changes under *old*. Call inside write()."""
    moved: dict[int, int] = {}

    def fresh(n: int) -> int:
        if n not in moved:
            dot = int(store.meta("sync_dot", "0")) + 1
            store.set_meta("sync_dot", str(dot))
            moved[n] = dot
        return moved[n]

    def fix_vv(vv: dict[str, int], extra: list[int]) -> None:
        if vv.get(old, 0) > published:
            vv[old] = published
            if not vv[old]:
                del vv[old]
        for n in extra:
            vv[new] = max(vv.get(new, 0), n)

    count = 0
    rev = store.tick()
    for rid, text in store.conn.execute("SELECT id, state FROM sync_records WHERE kind = ?", (KIND,)).fetchall():
        state = json.loads(text)
        if state["vv"].get(old, 0) <= published:
            continue
        extra = []
        for entry in state["f"].values():
            if entry[2] == old and entry[3] > published:
                entry[2], entry[3] = new, fresh(entry[3])
                extra.append(entry[3])
            if len(entry) > 4:
                entry[4] = [[new, fresh(n)] if d == old and n > published else [d, n] for d, n in entry[4]]
        dele = state.get("del")
        if dele is not None:
            if dele[2] == old and dele[3] > published:
                dele[2], dele[3] = new, fresh(dele[3])
                extra.append(dele[3])
            fix_vv(dele[0], [dele[3]] if dele[2] == new else [])
        fix_vv(state["vv"], extra)
        save_meta(store, rid, state, rev)
        count += 1
    return count


def all_states(store: Store) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every record this device would put in a checkpoint: its state with values (tombstones too;
    local-only entries never)."""
    for rid, text in store.conn.execute("SELECT id, state FROM sync_records WHERE kind = ? ORDER BY id",
                                        (KIND,)).fetchall():
        meta = json.loads(text)
        values = None
        if meta.get("lo") and not alive(meta):
            if not meta.get("del"):
                continue  # never shared from here: nothing to withdraw, only others' edits held beside it
            # as changed_since: the withdrawal alone, never the version vector of edits held beside it
            meta = {"vv": dict(meta["del"][0]), "f": {}, "del": meta["del"]}
        if alive(meta):
            if meta.get("lo"):
                continue
            row = store.conn.execute(_ROW + " WHERE id = ?", (rid,)).fetchone()
            if row is None:
                continue
            values = row_values(store, row)[0]
        yield rid, with_values(meta, values)


def holds_edits_beside_local_only(store: Store) -> bool:
    """True while an entry is local-only here and another device's edit of it is held beside the local
    row (kept as a conflict revision, not as shared state): a checkpoint written now could not carry
    that edit, so this device writes none until the entry is shared again or deleted."""
    for (text,) in store.conn.execute("SELECT state FROM sync_records WHERE kind = ? AND state LIKE '%\"lo\":1%'",
                                      (KIND,)):
        meta = json.loads(text)
        dele = meta.get("del")
        if meta.get("lo") and not leq(meta["vv"], dele[0] if dele is not None else {}):
            return True
    return False

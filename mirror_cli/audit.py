"""The audit chain: every change appends an event linked to the one before.

Event hash = SHA-256 over the canonical JSON (sorted keys, no spaces, UTF-8) of
``{seq, id, event_type, timestamp, data, previous_hash, link}``; the first
event links to 64 zeros. Once the database is encrypted, links are keyed:
``link = "hmac-sha256"`` and the hash is an HMAC under a key derived (HKDF)
from the data key, so someone who can write the file but lacks the key cannot
forge a consistent chain.

Keyed runs. ``mirror key enable`` appends ``key.enabled`` as the first keyed
event; from there on every event is keyed (a plain event after a keyed one is
refused: the chain was rewritten) until ``mirror key disable`` appends a
keyed ``key.disabled`` event. That event closes the run: it carries the run's
MAC key (``data.retired_audit_key``, hex), which is no longer secret once the
database is plaintext, so ``audit verify`` can still check the run's links
afterwards, and plain events may follow it. A later ``key enable`` starts a new
run under the new data key. ``mirror key rotate`` closes the run the same way
with a keyed ``key.retired`` event (publishing the old data key's MAC key) and,
in the same transaction, opens a new run with ``key.rotated`` under the new
data key. Hence:

* the last run of an encrypted database must be open (its newest event keyed
  and not ``key.disabled``) and is checked with the loaded key;
* a closed run is checked with the key its ``key.disabled`` event published;
  after publication its links are only as strong as plain links, but every
  keyed event of a later (open) run still covers them, because each link
  covers the previous event's hash;
* a keyed event that is neither in a closed run nor checkable with a loaded
  key (an unencrypted database whose key record was removed outside mirror)
  fails verification.

Events never hold reflection text, only ids and digests. An event *vouches*
for the records it changed: rows in ``audit_vouches`` give (kind, id, digest
of the stored row, or NULL for a deletion), and the event's data carries
``vouches: {count, sha256}`` over that list, so the list is covered by the
chain. ``verify`` replays the vouches and compares them with the rows in the
database, catching a reflection edited, added or removed outside mirror.

Row digests. On a plaintext database a digest is the SHA-256 of the stored
row (the text is in clear beside it anyway). On an encrypted one it is an
HMAC-SHA256 under the *vouch key*, derived from the chain's MAC key
(:func:`vouch_key`), over the stored row, whose text is sealed; digests from
before keyed digests still verify. ``mirror key enable`` calls
:func:`seal_history`: every digest vouched for so far, which may be a plain
SHA-256 of text since deleted or edited (someone with the file and a word list
could match it), is replaced by an HMAC of it under a random key that is
thrown away at once, and the chain is re-linked over the new digests. Those
digests are superseded (``key enable`` vouches for every reflection anew), so
nothing needs their key again, and ``key.disabled`` publishing the chain's key
reveals nothing about them.
"""

from __future__ import annotations

import json
import os
from json.encoder import encode_basestring as _quote  # json.dumps' text encoder (ensure_ascii=False)
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

from mirror_cli.digests import compare_digest, hmac_sha256, sha256
from mirror_cli.errors import LockedError, VerificationError
from mirror_cli.ids import now_iso, ulid

GENESIS = "0" * 64
PLAIN_LINK = "sha256"
KEYED_LINK = "hmac-sha256"

# The stored columns a reflection digest covers (stored form: ciphertext when encrypted).
REFLECTION_COLUMNS = ("id", "created_at", "updated_at", "content", "response", "mode", "tags", "local_only")
REFLECTION_SELECT = ", ".join(REFLECTION_COLUMNS)


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _jsonable(value: Any) -> Any:
    return {"hex": value.hex()} if isinstance(value, bytes) else value


def row_digest(row: Sequence[Any], key: bytes | None = None) -> str:
    """SHA-256 of a stored reflection row (columns in REFLECTION_COLUMNS order): of
    ``canonical([_jsonable(v) for v in row])`` (:func:`_canonical_row_digest`);
    with *key* (the vouch key of an encrypted database), HMAC-SHA256 under it.

    The canonical text of a list of text, NULL, integer and BLOB values (the
    stored row's usual types) is written directly, a few times faster (Python's
    C string encoder, as ``json.dumps`` uses); anything else goes the long way
    (tests compare the two).
    """
    parts = []
    for v in row:
        cls = v.__class__
        if cls is str:
            parts.append(_quote(v))
        elif v is None:
            parts.append("null")
        elif cls is bytes:
            parts.append('{"hex":"' + v.hex() + '"}')
        elif cls is int:
            parts.append(int.__repr__(v))
        else:
            return _canonical_row_digest(row, key)
    return _digest(("[" + ",".join(parts) + "]").encode("utf-8"), key)


def _canonical_row_digest(row: Sequence[Any], key: bytes | None = None) -> str:
    return _digest(canonical([_jsonable(v) for v in row]), key)


def _digest(payload: bytes, key: bytes | None) -> str:
    if key is None:
        return sha256(payload).hexdigest()
    return hmac_sha256(key, payload).hexdigest()


VOUCH_LABEL = b"mirror audit vouch v1"


def vouch_key(audit_key: bytes) -> bytes:
    """The row digests' HMAC key of an encrypted database, derived from its chain's MAC key."""
    return hmac_sha256(audit_key, VOUCH_LABEL).digest()


def reflection_digest(conn, record_id: str, key: bytes | None = None) -> str | None:
    row = conn.execute(f"SELECT {REFLECTION_SELECT} FROM reflections WHERE id = ?", (record_id,)).fetchone()
    return row_digest(row, key) if row else None


_KIND_AND_ID = itemgetter(0, 1)


def vouch_list_digest(vouches: Iterable[tuple[str, str, str | None]]) -> str:
    """SHA-256 of the canonical JSON of the vouches as lists, sorted (stably) by kind and id.

    Tuples encode as JSON arrays exactly as lists do, so the entries are only
    turned into tuples (a no-op for a tuple), not copied into lists.
    """
    if isinstance(vouches, DigestedVouches):
        return vouches.sha256
    return _sorted_digest(map(tuple, vouches))


def _sorted_digest(entries: Iterable[tuple]) -> str:
    return sha256(canonical(sorted(entries, key=_KIND_AND_ID))).hexdigest()


class DigestedVouches(tuple):
    """An immutable vouch list with its :func:`vouch_list_digest` computed once, when it is made.

    Lets a caller compute the digest ahead of :func:`append`, e.g. while
    another thread is busy with the database.
    """

    sha256: str

    def __new__(cls, vouches: Iterable[tuple[str, str, str | None]]) -> DigestedVouches:
        self = super().__new__(cls, map(tuple, vouches))
        self.sha256 = _sorted_digest(self)
        return self


def link_hash(fields: dict[str, Any], key: bytes | None) -> str:
    payload = canonical(fields)
    if fields["link"] == KEYED_LINK:
        if key is None:
            raise _locked()
        return hmac_sha256(key, payload).hexdigest()
    return sha256(payload).hexdigest()


def _locked():
    return LockedError("the audit chain is keyed and no key is loaded.",
                       "Set MIRROR_PASSPHRASE_FILE or run `mirror key unlock`.")


class Event(NamedTuple):  # NamedTuple, not a dataclass: every write loads it (start-up)
    seq: int
    id: str
    event_type: str
    timestamp: str
    data: dict[str, Any]
    previous_hash: str
    event_hash: str
    link: str = PLAIN_LINK

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "id": self.id, "event_type": self.event_type, "timestamp": self.timestamp,
                "data": self.data, "previous_hash": self.previous_hash, "event_hash": self.event_hash}


# The keyed head: meta row naming the newest event under the audit key. Links only prove that each
# event follows the one before; without this, deleting the newest events (and the records they
# vouch for) leaves a shorter chain that is just as consistent. Its tag needs the key.
HEAD_META = "audit_head"
HEAD_MARK = "keyed_head"  # in the data of every keyed event written with a head


def head_tag(key: bytes, seq: int, event_hash: str) -> str:
    return hmac_sha256(key, b"mirror audit head v1\x00" + int(seq).to_bytes(8, "big")
                       + event_hash.encode("ascii")).hexdigest()


def append(conn, event_type: str, data: dict[str, Any] | None = None,
           vouches: Sequence[tuple[str, str, str | None]] = (), *, key: bytes | None = None) -> Event:
    """Append one event. Call inside a write transaction (the lock keeps the chain linear)."""
    data = dict(data or {})
    if vouches:
        data["vouches"] = {"count": len(vouches), "sha256": vouch_list_digest(vouches)}
    if key is not None:
        # Inside the keyed link (so no one without the key can strip it): this chain keeps a keyed
        # head, and verify may demand it. Chains written before heads existed carry no such mark.
        data[HEAD_MARK] = True
    head = conn.execute(
        "SELECT seq, event_hash, link, event_type FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
    if key is None and head is not None and head[2] == KEYED_LINK and head[3] != KEY_DISABLED:
        # The chain is keyed and no key.disabled closed it, yet the database has no key: its key
        # record was removed outside mirror. Writing on would store the journal in plaintext.
        raise VerificationError(
            "the database was encrypted, but its key record is gone (removed outside mirror); nothing was "
            "written, so that nothing is stored unencrypted.",
            "Restore the database from a backup (`mirror backup restore FILE`); `mirror audit verify` shows more.")
    seq = head[0] + 1 if head else 1
    fields = {"seq": seq, "id": ulid(), "event_type": event_type, "timestamp": now_iso(), "data": data,
              "previous_hash": head[1] if head else GENESIS, "link": KEYED_LINK if key else PLAIN_LINK}
    event_hash = link_hash(fields, key)
    conn.execute(
        "INSERT INTO audit_events (seq, id, event_type, timestamp, data, previous_hash, event_hash, link)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, fields["id"], event_type, fields["timestamp"], canonical(data).decode(), fields["previous_hash"],
         event_hash, fields["link"]),
    )
    if vouches:
        conn.executemany(  # seq is the integer just read: bound as a literal, the rows need no copy
            f"INSERT INTO audit_vouches (seq, kind, record_id, digest) VALUES ({int(seq)}, ?, ?, ?)", vouches)
    if key is not None:
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                     (HEAD_META, json.dumps({"seq": seq, "tag": head_tag(key, seq, event_hash)})))
    elif head is not None and head[2] == KEYED_LINK:  # the first plain event after key.disabled
        conn.execute("DELETE FROM meta WHERE key = ?", (HEAD_META,))
    return Event(seq, fields["id"], event_type, fields["timestamp"], data, fields["previous_hash"], event_hash,
                 fields["link"])


def _row_to_event(row: Sequence[Any]) -> Event:
    seq, eid, etype, ts, data, prev, ehash, link = row
    try:
        parsed = json.loads(data)
    except (TypeError, ValueError):
        parsed = {"unparsable": True}
    return Event(seq, eid, etype, ts, parsed, prev, ehash, link)


def events(conn, *, limit: int | None = None, newest_first: bool = False) -> list[Event]:
    order = "DESC" if newest_first else "ASC"
    sql = f"SELECT seq, id, event_type, timestamp, data, previous_hash, event_hash, link FROM audit_events ORDER BY seq {order}"
    params: tuple = ()
    if limit is not None:
        sql += " LIMIT ?"
        params = (limit,)
    return [_row_to_event(r) for r in conn.execute(sql, params)]


class VerifyReport:
    """What `audit verify` found. A plain class: this module loads with every write (start-up)."""

    __slots__ = ("ok", "events", "first_bad_seq", "problem", "keyed_events", "records_checked")

    def __init__(self, ok: bool, events: int | None, first_bad_seq: int | None, problem: str | None,
                 keyed_events: int = 0, records_checked: int = 0) -> None:
        self.ok, self.first_bad_seq, self.problem = ok, first_bad_seq, problem
        self.events = events  # None when the database could not be read at all
        self.keyed_events, self.records_checked = keyed_events, records_checked

    def __repr__(self) -> str:
        return "VerifyReport(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__) + ")"

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "first_bad_seq": self.first_bad_seq, "problem": self.problem,
                "keyed_events": self.keyed_events, "records_checked": self.records_checked}


KEY_DISABLED = "key.disabled"
KEY_RETIRED = "key.retired"  # `key rotate`: closes the old data key's run; key.rotated opens the new one
RUN_CLOSERS = (KEY_DISABLED, KEY_RETIRED)
RETIRED_KEY_FIELD = "retired_audit_key"
_BAD_CLOSER = b""


def _run_keys(rows: Sequence[Sequence[Any]]) -> dict[int, bytes]:
    """Row index -> MAC key, for every keyed event of a run closed by a keyed ``key.disabled`` or ``key.retired``.

    Walks backwards: a closing event publishes its run's key, which applies to
    the keyed events before it back to the previous plain event or closing
    event. A closing event whose key cannot be read maps to ``_BAD_CLOSER``.
    Events of the open run (none after them closes it) are not in the map.
    """
    out: dict[int, bytes] = {}
    current: bytes | None = None
    for index in range(len(rows) - 1, -1, -1):
        etype, data, link = rows[index][2], rows[index][4], rows[index][7]
        if link != KEYED_LINK:
            current = None
            continue
        if etype in RUN_CLOSERS:
            current = _BAD_CLOSER
            try:
                published = json.loads(data).get(RETIRED_KEY_FIELD)
                candidate = bytes.fromhex(published) if isinstance(published, str) else b""
            except (ValueError, AttributeError):
                candidate = b""
            if len(candidate) == 32:
                current = candidate
            out[index] = current
            continue
        if current is not None:
            out[index] = current
    return out


def _head_problem(conn, key: bytes, seq: int, event_hash: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (HEAD_META,)).fetchone()
    try:
        head = json.loads(row[0]) if row else None
        claimed, tag = int(head["seq"]), str(head["tag"])
    except (TypeError, ValueError, KeyError):
        return "the chain's keyed head is missing or unreadable: events may have been removed from its end."
    if claimed > seq:
        return (f"events #{seq + 1} to #{claimed} were removed from the end of the chain "
                "(its keyed head names a later event).")
    if claimed != seq or not compare_digest(tag, head_tag(key, seq, event_hash)):
        return "the chain's keyed head does not match its newest event: the end of the chain was rewritten."
    return None


def verify(conn, *, key: bytes | None = None, encrypted: bool = False) -> VerifyReport:
    """Check every link, then that the data matches what the chain vouches for."""
    rows = conn.execute(
        "SELECT seq, id, event_type, timestamp, data, previous_hash, event_hash, link FROM audit_events ORDER BY seq"
    ).fetchall()
    report = VerifyReport(ok=True, events=len(rows), first_bad_seq=None, problem=None)

    def bad(seq: int | None, problem: str) -> VerifyReport:
        report.ok, report.first_bad_seq, report.problem = False, seq, problem
        return report

    previous = GENESIS
    expected_seq = rows[0][0] if rows else 1
    run_keys = _run_keys(rows)
    in_run = False  # inside a keyed run that has not been closed by key.disabled
    marked = False  # an event of the open keyed run carries HEAD_MARK (see the head check below)
    for index, (seq, eid, etype, ts, data, prev, ehash, link) in enumerate(rows):
        if seq != expected_seq:
            return bad(expected_seq, f"event #{expected_seq} is missing from the chain.")
        expected_seq += 1
        if link not in (PLAIN_LINK, KEYED_LINK):
            return bad(seq, f"event #{seq} has an unknown link type {link!r}.")
        if in_run and link != KEYED_LINK:
            return bad(seq, f"event #{seq} is not keyed although earlier events are: the chain was rewritten.")
        if prev != previous:
            return bad(seq, f"event #{seq} does not link to the event before it.")
        try:
            parsed = json.loads(data)
        except ValueError:
            return bad(seq, f"event #{seq} holds data that is not JSON.")
        if canonical(parsed).decode() != data:
            return bad(seq, f"event #{seq} data is not in canonical form: it was edited.")
        fields = {"seq": seq, "id": eid, "event_type": etype, "timestamp": ts, "data": parsed,
                  "previous_hash": prev, "link": link}
        link_key = None
        if link == KEYED_LINK:
            report.keyed_events += 1
            link_key = run_keys.get(index)
            if link_key is None:  # the open run: the loaded key
                if key is None and not encrypted:
                    return bad(seq, f"event #{seq} ({etype}) is keyed but the database is not encrypted and no "
                                    "key.disabled event closes its run: the key record was removed outside mirror.")
                link_key = key
                marked = marked or (isinstance(parsed, dict) and parsed.get(HEAD_MARK) is True)
            elif link_key is _BAD_CLOSER:
                return bad(seq, f"event #{seq} ({etype}) closes a keyed run without a valid retired key.")
            in_run = not (etype in RUN_CLOSERS and index in run_keys)
        if not compare_digest(link_hash(fields, link_key), ehash):
            return bad(seq, f"event #{seq} ({etype}) was altered: its hash does not match.")
        previous = ehash
    if encrypted and rows and not in_run:
        return bad(rows[-1][0], "the database is encrypted but its newest audit event is not keyed "
                                "(or closes the keyed run).")
    if encrypted and key is not None and rows:
        # Demanded once an event of the open keyed run carries the mark (its link proves it was
        # there); a chain from before heads existed is read as it was until its next keyed event.
        stored = conn.execute("SELECT 1 FROM meta WHERE key = ?", (HEAD_META,)).fetchone()
        problem = _head_problem(conn, key, rows[-1][0], rows[-1][6]) if marked or stored else None
        if problem:
            return bad(rows[-1][0], problem)

    # The vouch lists must match what each event's data says about them.
    declared = {seq: json.loads(data).get("vouches") for seq, _, _, _, data, *_ in rows}
    listed: dict[int, list[tuple[str, str, str | None]]] = {}
    for seq, kind, rid, digest in conn.execute("SELECT seq, kind, record_id, digest FROM audit_vouches"):
        listed.setdefault(seq, []).append((kind, rid, digest))
    for seq in sorted(set(listed) | {s for s, d in declared.items() if d}):
        want = declared.get(seq)
        have = listed.get(seq, [])
        if not want or want.get("count") != len(have) or want.get("sha256") != vouch_list_digest(have):
            return bad(seq, f"the records vouched for by event #{seq} were altered.")

    # Replay: the latest vouch for each record is what the database must hold.
    expected: dict[tuple[str, str], tuple[str | None, int]] = {}
    for seq in sorted(listed):
        for kind, rid, digest in listed[seq]:
            expected[(kind, rid)] = (digest, seq)
    problems: list[tuple[int, str]] = []
    head_seq = rows[-1][0] if rows else None
    digest_key = vouch_key(key) if key is not None else None  # a plain digest is accepted too (older chains)
    for row in conn.execute(f"SELECT {REFLECTION_SELECT} FROM reflections"):
        report.records_checked += 1
        rid = row[0]
        want = expected.pop(("reflection", rid), None)
        if want is None:
            problems.append((head_seq or 0, f"reflection {rid} is not vouched for by any event: it was added outside mirror."))
        elif want[0] is None:
            problems.append((want[1], f"reflection {rid} was deleted by event #{want[1]} but is present: it was added back outside mirror."))
        elif want[0] != row_digest(row, digest_key) and (digest_key is None or want[0] != row_digest(row)):
            problems.append((want[1], f"reflection {rid} differs from what event #{want[1]} recorded: it was changed outside mirror."))
    for (kind, rid), (digest, seq) in expected.items():
        if kind == "reflection" and digest is not None:
            problems.append((seq, f"reflection {rid} recorded by event #{seq} is missing: it was removed outside mirror."))
    if problems:
        seq, problem = min(problems, key=lambda p: p[0])
        return bad(seq or None, problem)
    return report


REWRAP_LABEL = b"mirror audit vouch rewrap v1\x00"


def seal_history(conn, *, key: bytes | None = None) -> int:
    """Replace every digest vouched for so far by an HMAC of it under a thrown-away key; re-link the chain.

    Call inside the write transaction of ``key enable``, before its event:
    earlier digests may be plain SHA-256 of text the journal no longer shows
    (deleted or edited entries), which someone with the file and a word list
    could match. Every newer vouch supersedes them (``key enable`` vouches for
    every reflection anew), so :func:`verify` never compares them with a row;
    each event's ``vouches.sha256`` and every hash after the first changed one
    are recomputed, plain links as SHA-256, closed keyed runs under the key
    their ``key.disabled`` published, an open run under *key*. Returns how many
    digests were replaced.
    """
    throwaway = os.urandom(32)
    rewrapped = [(hmac_sha256(throwaway, REWRAP_LABEL + digest.encode("ascii", "replace")).hexdigest(),
                  rowid)
                 for rowid, digest in conn.execute("SELECT rowid, digest FROM audit_vouches WHERE digest IS NOT NULL")]
    conn.executemany("UPDATE audit_vouches SET digest = ? WHERE rowid = ?", rewrapped)
    listed: dict[int, list[tuple[str, str, str | None]]] = {}
    for seq, kind, rid, digest in conn.execute("SELECT seq, kind, record_id, digest FROM audit_vouches"):
        listed.setdefault(seq, []).append((kind, rid, digest))
    rows = conn.execute(
        "SELECT seq, id, event_type, timestamp, data, previous_hash, event_hash, link FROM audit_events ORDER BY seq"
    ).fetchall()
    run_keys = _run_keys(rows)
    previous = GENESIS
    for index, (seq, eid, etype, ts, data, prev, ehash, link) in enumerate(rows):
        try:
            parsed = json.loads(data)
        except ValueError:
            raise _unsealable(seq, "holds data that is not JSON") from None
        if isinstance(parsed, dict) and isinstance(parsed.get("vouches"), dict):
            parsed["vouches"] = {**parsed["vouches"], "count": len(listed.get(seq, [])),
                                 "sha256": vouch_list_digest(listed.get(seq, []))}
        link_key = None
        if link == KEYED_LINK:
            link_key = run_keys.get(index, key)
            if not link_key:
                raise _unsealable(seq, "is keyed and its key is not at hand")
        fields = {"seq": seq, "id": eid, "event_type": etype, "timestamp": ts, "data": parsed,
                  "previous_hash": previous, "link": link}
        new_hash = link_hash(fields, link_key)
        text = canonical(parsed).decode()
        if (text, previous, new_hash) != (data, prev, ehash):
            conn.execute("UPDATE audit_events SET data = ?, previous_hash = ?, event_hash = ? WHERE seq = ?",
                         (text, previous, new_hash, seq))
        previous = new_hash
    if key is not None and rows and rows[-1][7] == KEYED_LINK and len(rows) - 1 not in run_keys:
        conn.execute("UPDATE meta SET value = ? WHERE key = ?",
                     (json.dumps({"seq": rows[-1][0], "tag": head_tag(key, rows[-1][0], previous)}), HEAD_META))
    return len(rewrapped)


def _unsealable(seq: int, why: str) -> VerificationError:
    return VerificationError(f"audit event #{seq} {why}, so its digests cannot be re-keyed; nothing was changed.",
                             "Run `mirror audit verify`; restore the database from a backup if it fails.")

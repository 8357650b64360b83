"""Reflections: add, list, show, edit, delete (search: :mod:`.find`).

Works on plaintext and encrypted databases alike: user-content fields go
through ``crypto.fields.codec(store)`` (see ``mirror_cli.crypto.fields``). Every change runs in one
write transaction together with its audit event.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from mirror_cli.errors import MirrorError, OperationError, UsageError
from mirror_cli.exchange import records
from mirror_cli.ids import is_valid_id, iso, now_iso, ulid
from mirror_cli.db.scrub import SCRUB_PENDING, forget_deleted_words, scrub_or_warn
from mirror_cli.db.store import Store
from mirror_cli import audit
from mirror_cli.crypto.fields import codec as field_codec

DEFAULT_MODE = "REFLECTION"
MIN_PREFIX = 6
_HASHTAG = re.compile(r"(?<![\w&#/])#([^\W\d_][\w-]*)")
_TAG_LEAD = re.compile(r"^[#@\s]+")
COLUMNS = "id, created_at, updated_at, content, response, mode, tags, local_only"


class Reflection:
    """One reflection, its fields decoded. A plain class, not a dataclass: every command defines it, and
    ``dataclasses`` (the module, and the code it generates per class) was ~1.5 ms of `mirror reflect`."""

    __slots__ = ("id", "created_at", "updated_at", "content", "response", "mode", "tags", "local_only")

    def __init__(self, id: str, created_at: str, updated_at: str, content: str,  # noqa: A002 (the record's field)
                 response: str | None = None, mode: str = DEFAULT_MODE, tags: list[str] | None = None,
                 local_only: bool = False) -> None:
        self.id, self.created_at, self.updated_at, self.content = id, created_at, updated_at, content
        self.response, self.mode, self.local_only = response, mode, local_only
        self.tags = [] if tags is None else tags

    def __eq__(self, other: object) -> bool:
        return type(other) is Reflection and all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  (mutable, like the dataclass it was)

    def __repr__(self) -> str:
        return "Reflection(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__) + ")"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "created_at": self.created_at, "updated_at": self.updated_at,
                "content": self.content, "response": self.response, "mode": self.mode,
                "tags": list(self.tags), "local_only": self.local_only}


def _clean_tag(raw: str) -> str:
    """'#' / '@' and surrounding space stripped, lower-cased (idempotent)."""
    return _TAG_LEAD.sub("", raw).strip().lower()


def normalize_tags(tags: Iterable[str], text: str = "") -> list[str]:
    """Explicit tags then #hashtags from the text: '#' stripped, lower-cased, de-duplicated."""
    out: list[str] = []
    explicit = list(tags)
    for i, raw in enumerate(explicit + _HASHTAG.findall(text)):
        tag = _clean_tag(raw)
        if not tag:
            continue
        if any(ch.isspace() for ch in tag) or len(tag) > 100:
            if i >= len(explicit):
                continue  # a very long #word in the text is just text, not a tag
            raise UsageError(f"invalid tag {raw!r}: tags are single words of at most 100 characters.")
        if tag not in out:
            out.append(tag)
    return out


def retagged(tags: Sequence[str], old_text: str, new_text: str) -> list[str]:
    """The tags of a reflection whose text changes from *old_text* to *new_text*: tags from #words
    follow the text, the others (``-t``) stay.

    Which stored tag came from a #word is not stored: a tag that is a #word of the old text is
    taken as one (a tag given with ``-t`` and also written as #word in the text goes with the text).
    """
    from_text = set(normalize_tags((), old_text))
    return normalize_tags([t for t in tags if t not in from_text], new_text)


def decode(store: Store, row: Sequence[Any]) -> Reflection:
    f = field_codec(store)
    rid = row[0]
    return Reflection(
        id=rid, created_at=row[1], updated_at=row[2],
        content=f.open("reflections", rid, "content", row[3]),
        response=None if row[4] is None else f.open("reflections", rid, "response", row[4]),
        mode=row[5], tags=f.open_tags("reflections", rid, row[6]), local_only=bool(row[7]),
    )


def vouch(store: Store, rid: str) -> tuple[str, str, str | None]:
    key = store.key.vouch_key if store.key is not None else None  # keyed digests once encrypted
    return ("reflection", rid, audit.reflection_digest(store.conn, rid, key))


# One reflection's stored row, inserted or replaced (the import writes its rows with it too).
UPSERT_SQL = (
    f"INSERT INTO reflections ({COLUMNS}, rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at, updated_at = excluded.updated_at,"
    " content = excluded.content, response = excluded.response, mode = excluded.mode,"
    " tags = excluded.tags, local_only = excluded.local_only, rev = excluded.rev")


def insert_row(store: Store, r: Reflection, rev: int) -> None:
    """Insert (or replace) one reflection's stored row. Call inside store.write()."""
    f = field_codec(store)
    store.conn.execute(
        UPSERT_SQL,
        (r.id, r.created_at, r.updated_at, f.seal("reflections", r.id, "content", r.content),
         None if r.response is None else f.seal("reflections", r.id, "response", r.response),
         r.mode, f.seal_tags("reflections", r.id, r.tags), int(r.local_only), rev),
    )
    store.conn.execute("DELETE FROM tombstones WHERE kind = 'reflection' AND id = ?", (r.id,))


def _check_record(r: Reflection) -> None:
    """Refuse (exit 2) a reflection `mirror import` would not take back: a character the record codec
    refuses in a text field (a NUL, a lone surrogate: ``records.text_problem``, the one rule of both
    sides) or one too large for one JSON Lines line (the codec's limit)."""
    for name, value in (("text", r.content), ("response", r.response), ("mode", r.mode),
                        *(("tag", t) for t in r.tags)):
        bad = None if value is None else records.text_problem(value)
        if bad is not None:
            raise UsageError(f"the {name} contains {bad}, which a reflection cannot hold; nothing was saved.",
                             "Remove it and try again.")
    try:
        records.check_size("reflections", r.to_dict(), "this reflection")
    except MirrorError as exc:
        raise UsageError(exc.message, "Nothing was saved; split the text into several reflections.") from None


def add(store: Store, content: str, *, mode: str | None = None, tags: Iterable[str] = (),
        response: str | None = None, local_only: bool = False, at: datetime | None = None) -> Reflection:
    text = content.strip()
    if not text:
        raise UsageError("a reflection needs some text.")
    when = iso(at) if at else now_iso()
    created = at if at else None
    r = Reflection(id=ulid(created), created_at=when, updated_at=now_iso() if at else when, content=text,
                   response=response.strip() if response and response.strip() else None,
                   mode=(mode or DEFAULT_MODE).strip() or DEFAULT_MODE, tags=normalize_tags(tags, text),
                   local_only=local_only)
    _check_record(r)
    with store.write():
        insert_row(store, r, store.tick())
        store.append_event("reflection.saved", {"reflection_id": r.id}, [vouch(store, r.id)])
    return r


def resolve_id(store: Store, ref: str) -> str:
    """Exact id, or a unique prefix of at least 6 characters (else a usage error)."""
    ref = ref.strip()
    if not ref or not is_valid_id(ref):
        raise UsageError(f"{ref!r} is not a reflection id.")
    if store.conn.execute("SELECT 1 FROM reflections WHERE id = ?", (ref,)).fetchone():
        return ref
    if len(ref) < MIN_PREFIX:
        raise UsageError(f"no reflection {ref}; give the full id or at least {MIN_PREFIX} characters of it.")
    upper = ref + "\U0010ffff"
    rows = store.conn.execute(
        "SELECT id FROM reflections WHERE id >= ? AND id < ? ORDER BY id LIMIT 3", (ref, upper)
    ).fetchall()
    if not rows:
        # ULIDs are upper case; accept a lower-case prefix too.
        rows = store.conn.execute(
            "SELECT id FROM reflections WHERE id >= ? AND id < ? ORDER BY id LIMIT 3", (ref.upper(), ref.upper() + "\U0010ffff")
        ).fetchall()
    if not rows:
        raise UsageError(f"no reflection matches {ref}.", "See `mirror list` for ids.")
    if len(rows) > 1:
        raise UsageError(f"{ref} matches several reflections ({rows[0][0]}, {rows[1][0]}, ...).",
                         "Give more characters of the id.")
    return rows[0][0]


def short_id_length(store: Store) -> int:
    """How many leading characters tell every reflection's id apart (at least MIN_PREFIX): the length
    `list` shows, as git's abbreviated ids, so that any id shown works as the prefix `show` takes."""
    length, previous = MIN_PREFIX, ""
    for (rid,) in store.conn.execute("SELECT id FROM reflections ORDER BY id"):
        while rid[:length] == previous[:length] and length < 64:  # sorted: only the neighbour can share more
            length += 1
        previous = rid
    return length


def get(store: Store, ref: str) -> Reflection:
    rid = resolve_id(store, ref)
    row = store.conn.execute(f"SELECT {COLUMNS} FROM reflections WHERE id = ?", (rid,)).fetchone()
    return decode(store, row)


def list_reflections(store: Store, *, limit: int | None = None, since: datetime | None = None,
                     until: datetime | None = None, tags: Sequence[str] = (), mode: str | None = None,
                     oldest_first: bool = False,
                     windows: Sequence[tuple[datetime, datetime]] | None = None,
                     any_tags: Sequence[str] = (), not_tags: Sequence[str] = (),
                     contains: str | None = None) -> list[Reflection]:
    return list(iter_reflections(store, limit=limit, since=since, until=until, tags=tags, mode=mode,
                                 oldest_first=oldest_first, windows=windows, any_tags=any_tags,
                                 not_tags=not_tags, contains=contains))


def first_year(store: Store) -> int | None:
    """The (UTC) year of the oldest reflection, None when there is none."""
    row = store.conn.execute("SELECT min(created_at) FROM reflections").fetchone()
    return int(row[0][:4]) if row and row[0] else None


def time_window(since: datetime | None, until: datetime | None) -> tuple[list[str], list[str]]:
    """SQL conditions (and their parameters) for created_at in [since, until)."""
    where, params = [], []
    if since is not None:
        where.append("created_at >= ?")
        params.append(iso(since))
    if until is not None:
        where.append("created_at < ?")
        params.append(iso(until))
    return where, params


def count_reflections(store: Store, since: datetime | None = None, until: datetime | None = None) -> int:
    where, params = time_window(since, until)
    sql = "SELECT count(*) FROM reflections" + (" WHERE " + " AND ".join(where) if where else "")
    return int(store.conn.execute(sql, params).fetchone()[0])


def iter_reflections(store: Store, *, limit: int | None = None, since: datetime | None = None,
                     until: datetime | None = None, tags: Sequence[str] = (), mode: str | None = None,
                     oldest_first: bool = False, include_local_only: bool = True,
                     windows: Sequence[tuple[datetime, datetime]] | None = None,
                     any_tags: Sequence[str] = (), not_tags: Sequence[str] = (),
                     contains: str | None = None) -> Iterator[Reflection]:
    """Reflections newest first (by created_at), filtered; streams rows. *windows*: only those
    created in one of these [start, end) ranges (none: nothing). *tags*: all of them; *any_tags*: at
    least one of them; *not_tags*: none of them; *contains*: the text holds it (any case).

    A plaintext journal filters in SQL; an encrypted one keeps tags and text sealed, so those
    filters run on each row as it is decrypted (one pass, nothing held)."""
    where, params = time_window(since, until)
    if windows is not None:
        where.append("(" + (" OR ".join(["(created_at >= ? AND created_at < ?)"] * len(windows)) or "0") + ")")
        params.extend(iso(t) for window in windows for t in window)
    if mode:
        where.append("mode = ?")
        params.append(mode)
    if not include_local_only:
        where.append("local_only = 0")
    wanted = [_clean_tag(t) for t in tags]
    some = [_clean_tag(t) for t in any_tags]
    unwanted = [_clean_tag(t) for t in not_tags]
    needle = contains.casefold() if contains else None
    plain = not store.encrypted
    if plain:
        for tag in wanted:
            where.append("EXISTS (SELECT 1 FROM json_each(reflections.tags) WHERE value = ?)")
            params.append(tag)
        for group, neg in ((some, ""), (unwanted, "NOT ")):
            if group:
                marks = ", ".join("?" * len(group))
                where.append(f"{neg}EXISTS (SELECT 1 FROM json_each(reflections.tags) WHERE value IN ({marks}))")
                params.extend(group)
        if needle is not None and needle.isascii():
            # SQLite's lower() folds ASCII only, which is all an ASCII needle needs to meet
            where.append("instr(lower(content), ?) > 0")
            params.append(needle.lower())
            needle = None
    in_python = not plain and bool(wanted or some or unwanted) or needle is not None
    order = "ASC" if oldest_first else "DESC"
    sql = f"SELECT {COLUMNS} FROM reflections"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY created_at {order}, id {order}"
    if limit is not None and not in_python:
        sql += " LIMIT ?"
        params.append(limit)
    produced = 0
    for row in store.conn.execute(sql, params):
        r = decode(store, row)
        if in_python and not _matches(r, wanted, some, unwanted, needle):
            continue
        yield r
        produced += 1
        if limit is not None and produced >= limit:
            return


def _matches(r: Reflection, wanted: list[str], some: list[str], unwanted: list[str], needle: str | None) -> bool:
    """The tag and text filters of :func:`iter_reflections`, on a decrypted reflection."""
    return (all(t in r.tags for t in wanted) and (not some or any(t in r.tags for t in some))
            and not any(t in r.tags for t in unwanted)
            and (needle is None or needle in r.content.casefold()))


class ChangedMeanwhile(OperationError):
    """The reflection was saved by another process while this one's editor was open."""


def edit(store: Store, ref: str, *, content: str | None = None, response: str | None = None,
         mode: str | None = None, tags: Sequence[str] | None = None, add_tags: Sequence[str] = (),
         drop_tags: Sequence[str] = (), at: datetime | None = None,
         unchanged_since: str | None = None) -> Reflection:
    """Change a reflection. *tags* replaces the tags (#words of the text stay), *add_tags* and
    *drop_tags* add and remove some; *at* moves it to another time (``created_at``; the id stays).
    An edit that changes nothing writes nothing: the result's ``updated_at`` is then the old one.
    *unchanged_since*: the ``updated_at`` the editor was opened on; if the
    stored one differs, another process saved it meanwhile and nothing is written (no lost update)."""
    with store.write() as conn:
        r = get(store, ref)
        if unchanged_since is not None and r.updated_at != unchanged_since:
            raise ChangedMeanwhile(f"reflection {r.id} was changed by another mirror process while you were "
                                   "editing it; nothing was saved.", "Run `mirror edit` again on the new text.")
        changed = words_replaced = False
        if content is not None:
            text = content.strip()
            if not text:
                raise UsageError("the new text is empty; nothing was changed.",
                                 "To remove a reflection use `mirror delete ID`.")
            if text != r.content:
                r.tags = retagged(r.tags, r.content, text)
                r.content, changed, words_replaced = text, True, True
        if response is not None:
            new = response.strip() or None
            if new != r.response:
                r.response, changed, words_replaced = new, True, r.response is not None
        meta, forget = _retag(r, mode, tags, add_tags, drop_tags)
        changed, words_replaced = changed or meta, words_replaced or forget
        if at is not None and iso(at) != r.created_at:
            r.created_at, changed = iso(at), True
        if not changed:
            return r
        _save_edit(store, r, store.tick())
        if words_replaced:
            forget_deleted_words(conn)  # the replaced text leaves the full-text index too, as on delete
    return r


def _retag(r: Reflection, mode: str | None, tags: Sequence[str] | None, add_tags: Sequence[str],
           drop_tags: Sequence[str]) -> tuple[bool, bool]:
    """Apply a mode and tag change to *r*: (changed, old tag words replaced)."""
    changed = forget = False
    if mode is not None and mode.strip() and mode.strip() != r.mode:
        r.mode, changed = mode.strip(), True
    new_tags = normalize_tags(tags, r.content) if tags is not None else r.tags
    if add_tags or drop_tags:
        dropped = set(normalize_tags(drop_tags))
        new_tags = [t for t in normalize_tags([*new_tags, *add_tags]) if t not in dropped]
    if new_tags != r.tags:
        r.tags, changed, forget = new_tags, True, bool(r.tags)
    return changed, forget


def _save_edit(store: Store, r: Reflection, rev: int) -> None:
    r.updated_at = now_iso()
    _check_record(r)
    insert_row(store, r, rev)
    store.append_event("reflection.edited", {"reflection_id": r.id}, [vouch(store, r.id)])


def edit_many(store: Store, ids: Sequence[str], *, mode: str | None = None, add_tags: Sequence[str] = (),
              drop_tags: Sequence[str] = ()) -> list[str]:
    """Change the mode and tags of several reflections (by full id) in one transaction, all or nothing;
    the ids of those that changed (an edit that changes nothing writes nothing)."""
    normalize_tags([*add_tags, *drop_tags])  # a bad tag is refused before anything is read
    done: list[str] = []
    forget = False
    with store.write() as conn:
        rev = None
        for rid in ids:
            row = conn.execute(f"SELECT {COLUMNS} FROM reflections WHERE id = ?", (rid,)).fetchone()
            if row is None:
                continue  # deleted meanwhile
            r = decode(store, row)
            changed, words = _retag(r, mode, None, add_tags, drop_tags)
            if changed:
                rev = store.tick() if rev is None else rev
                _save_edit(store, r, rev)
                done.append(rid)
                forget = forget or words
        if forget:
            forget_deleted_words(conn)
    return done


def delete(store: Store, refs: Sequence[str]) -> list[str]:
    """Delete reflections (and what was derived from them); leaves tombstones for sync."""
    with store.write() as conn:
        ids = list(dict.fromkeys(resolve_id(store, ref) for ref in refs))
        rev = store.tick()
        when = now_iso()
        for rid in ids:
            conn.execute("DELETE FROM reflections WHERE id = ?", (rid,))
            conn.execute(
                "INSERT INTO tombstones (kind, id, deleted_at, rev) VALUES ('reflection', ?, ?, ?)"
                " ON CONFLICT (kind, id) DO UPDATE SET deleted_at = excluded.deleted_at, rev = excluded.rev",
                (rid, when, rev),
            )
        forget_deleted_words(conn)  # "no recoverable trace": not in the full-text index either
        store.append_event("reflection.deleted", {"reflection_ids": ids}, [("reflection", rid, None) for rid in ids])
    return ids


ALL_TABLES = ("pattern_occurrences", "patterns", "tensions", "reflections", "tombstones", "audit_vouches",
              "audit_events")


def delete_all(store: Store, *, warn=None) -> dict[str, int]:
    """Remove every reflection, pattern, tension, audit event and sync state, leaving no trace.

    secure_delete zeroes freed pages, the FTS index is emptied with its
    content, VACUUM rebuilds the file and the WAL is checkpointed and
    truncated. Settings (meta: db id, encryption) stay. The audit chain
    restarts with one event recording the deletion (counts only).
    """
    with store.write() as conn:
        counts = {t: store.count(t) for t in ("reflections", "patterns", "tensions", "audit_events")}
        for table in ALL_TABLES:
            conn.execute(f"DELETE FROM {table}")  # noqa: S608
        conn.execute("INSERT INTO reflections_fts (reflections_fts) VALUES ('delete-all')")
        extra = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name IN ('sync_state', 'analysis_state', 'pattern_stats', 'rev_hlc', 'sync_self', 'sync_peers',"
            " 'sync_records', 'sync_sent', 'sync_outbox', 'sync_conflicts', 'sync_heads',"
            " 'sync_derived')")]  # sync state goes; sync_remotes stays
        for table in extra:
            conn.execute(f"DELETE FROM {table}")  # noqa: S608
        store.set_meta("analysis", None)  # the pattern engine's state: nothing analysed, nothing pending
        for key in ("sync_rev", "sync_dot", "sync_digest_kid", "sync_derived_kid"):
            store.set_meta(key, None)
        conn.execute("DELETE FROM meta WHERE key LIKE 'sync\\_quiet:%' ESCAPE '\\'")  # no sync is a no-op now
        store.tick()
        store.set_meta(SCRUB_PENDING, "delete --all")
        store.append_event("data.deleted_all", {"deleted": counts})
    warning = scrub_or_warn(store, "everything was deleted")
    if warning and warn is not None:
        warn(warning)
    return counts

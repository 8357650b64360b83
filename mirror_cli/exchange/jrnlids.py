"""Which reflection a jrnl entry already is, so that importing a jrnl journal again adds nothing twice.

jrnl keeps no ids: :mod:`.formats.jrnl` derives one from an entry's date, time and occurrence index.
An entry finds its reflection by that id; else by the id an older mirror derived from its text
(:func:`_adopt_legacy_ids`); else, for an entry that came from mirror in the first place (written
here, or moved in time with ``edit --at``, and exported with ``export --format jrnl``), by the same
minute and the same words (:func:`_adopt_same_entries`): jrnl's times have no seconds, and its text
carries the tags as words and lines that look like an entry's start indented. Such an entry is the
reflection as it is here (it keeps its text and tags); one whose words changed in jrnl is a new one.
"""

from __future__ import annotations

import re

from mirror_cli.crypto import textids
from mirror_cli.crypto.fields import codec as field_codec
from mirror_cli.db.store import Store
from mirror_cli.exchange.formats.jrnl import jrnl_id
from mirror_cli.ids import parse_iso

_SPACE = re.compile(r"\s+")
_TAG_WORD = re.compile(r"(?<!\S)[@#][\w.-]+")


def _words(text: str) -> str:
    """*text* without its @tag/#tag words, white space collapsed: what jrnl's copy of it keeps."""
    return _SPACE.sub(" ", _TAG_WORD.sub(" ", text)).strip()


def adopt(store: Store, file_refl: list[dict], legacy_ids: dict[str, str],
          slots: dict[str, tuple[str, str, int]], known: set[str]) -> None:
    """Give each entry of a jrnl file the id of the reflection it already is, where one is."""
    by_text = _adopt_legacy_ids(store, file_refl, legacy_ids, known) if legacy_ids else set()
    _take_back_places(store, [r for r in file_refl if id(r) not in by_text], slots, known)
    _adopt_same_entries(store, file_refl, known)


_PLACES = 64  # entries of one minute looked at for one that moved within it (jrnl keeps no seconds)


def _take_back_places(store: Store, file_refl: list[dict], slots: dict[str, tuple[str, str, int]],
                      known: set[str]) -> None:
    """An entry's id is its minute and its place among that minute's entries. When one of a minute's entries
    moves away here (``edit --at``), the next takes its place in the exported file, and with it the moved
    one's id. Such an entry, whose id names a reflection of other words, takes the id of the reflection of
    its own minute that has its words, if there is one (else its words changed in jrnl: an update). The id
    it gives up is the moved reflection's, which its entry then finds by minute and words. Times are
    compared as jrnl wrote them (date, time, place), so this holds in any time zone."""
    held = {r["id"] for r in file_refl}
    f = field_codec(store)
    for r in file_refl:
        slot = slots.get(r["id"])
        if slot is None or r["id"] not in known:
            continue
        words = _words(r["content"])
        if _local_words(store, f, r["id"]) in (None, words):
            continue
        date, time, place = slot
        for k in range(_PLACES):
            sibling = jrnl_id(date, time, k)
            if k != place and sibling in known and sibling not in held and _local_words(store, f, sibling) == words:
                held.add(sibling)
                r["id"] = sibling
                break
        else:
            if _same_minute_words(store, f, r, words):
                # An entry moved here (`edit --at`) onto the place of one that moved away: it is not that
                # one, it is found by minute and words (whose id stays free for that one's own entry).
                held.discard(r["id"])
                r["id"] = jrnl_id(r["id"], "moved here", 0)


def _same_minute_words(store: Store, f, r: dict, words: str) -> bool:
    """A reflection of *r*'s minute, other than the one its id names, has *r*'s words."""
    lo, hi = _minute_range(r["created_at"])
    return lo is not None and any(
        rid != r["id"] and _words(f.open("reflections", rid, "content", content)) == words
        for rid, content in store.conn.execute(
            "SELECT id, content FROM reflections WHERE created_at >= ? AND created_at < ?", (lo, hi)))


def _minute_range(created_at: str) -> tuple[str | None, str | None]:
    """[start, end) of the UTC minute of *created_at*, as stored times compare."""
    from datetime import timedelta

    try:
        start = parse_iso(created_at).replace(second=0, microsecond=0)
    except (ValueError, TypeError):
        return None, None
    return (start.strftime("%Y-%m-%dT%H:%M:00.000Z"),
            (start + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:00.000Z"))


def _local_words(store: Store, f, rid: str) -> str | None:
    row = store.conn.execute("SELECT content FROM reflections WHERE id = ?", (rid,)).fetchone()
    return None if row is None else _words(f.open("reflections", rid, "content", row[0]))


def _adopt_legacy_ids(store: Store, file_refl: list[dict], legacy_ids: dict[str, str], known: set[str]) -> set[int]:
    """jrnl: an entry an older mirror imported under an id derived from its text keeps that id here
    (re-keyed on an encrypted journal, ``mirror_cli.crypto.textids``), so importing again adds nothing.
    Returns the entries (by ``id()``) that took such an id."""
    adopted: set[int] = set()
    key = textids.legacy_key(store.key.dek) if store.key is not None else None
    for r in file_refl:
        old = legacy_ids.get(r["id"])
        if r["id"] in known or old is None:
            continue
        for name in (old,) if key is None else (textids.keyed_legacy_id(key, old), old):
            if name in known:
                r["id"] = name
                adopted.add(id(r))
                break
    return adopted


def edited_in_jrnl(store: Store, r: dict) -> bool:
    """A jrnl entry whose text or tags changed in jrnl, and that was not edited here since (jrnl keeps no
    time of change: its copy is the newer one only while ours is as imported)."""
    row = store.conn.execute("SELECT created_at, updated_at, content, tags FROM reflections WHERE id = ?",
                             (r["id"],)).fetchone()
    if row is None or row[0] != row[1]:
        return False
    f = field_codec(store)
    return (f.open("reflections", r["id"], "content", row[2]) != r["content"]
            or sorted(f.open_tags("reflections", r["id"], row[3])) != sorted(r["tags"]))  # jrnl's order is a set's


def _adopt_same_entries(store: Store, file_refl: list[dict], known: set[str]) -> None:
    """An entry whose id is new here takes the id, text and tags of a reflection of the same minute with the
    same words (:func:`_words`) that no other entry of the file claims: one mirror wrote and jrnl gave back."""
    claimed = {r["id"] for r in file_refl if r["id"] in known}  # (a moved reflection's id is no entry's now)
    f = field_codec(store)
    for r in file_refl:
        if r["id"] in known:
            continue
        lo, hi = _minute_range(r["created_at"])
        if lo is None:
            continue
        words = _words(r["content"])
        for rid, content, tags in store.conn.execute(
                "SELECT id, content, tags FROM reflections WHERE created_at >= ? AND created_at < ? ORDER BY id",
                (lo, hi)):
            if rid in claimed:
                continue
            text = f.open("reflections", rid, "content", content)
            if _words(text) == words:
                claimed.add(rid)
                r["id"], r["content"], r["tags"] = rid, text, f.open_tags("reflections", rid, tags)
                break

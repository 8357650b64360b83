"""journal: add/get/list/edit/delete/search/delete_all, id prefixes, tags, queries."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirror_cli import audit
from mirror_cli.journal import reflections as journal
from mirror_cli.journal import find as finder
from mirror_cli.errors import UsageError
from mirror_cli.ids import is_valid_id
from mirror_cli.db.store import Store

UTC = timezone.utc
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "m.db")
    yield s
    s.close()


def test_add_fills_every_field(store):
    r = journal.add(store, "  a quiet evening #Calm #calm  ", tags=["Work", "#home", "@Home"], response=" ok ",
                    mode=" POST_ACTION ", local_only=True)
    assert is_valid_id(r.id) and len(r.id) == 26
    assert STAMP.match(r.created_at) and r.updated_at == r.created_at
    assert r.content == "a quiet evening #Calm #calm"
    assert r.response == "ok"
    assert r.mode == "POST_ACTION"
    assert r.tags == ["work", "home", "calm"]
    assert r.local_only is True
    assert journal.get(store, r.id) == r
    assert list(r.to_dict()) == ["id", "created_at", "updated_at", "content", "response", "mode", "tags", "local_only"]


def test_defaults(store):
    r = journal.add(store, "plain", response="   ", mode="  ")
    assert (r.mode, r.tags, r.response, r.local_only) == ("REFLECTION", [], None, False)


@pytest.mark.parametrize("text", ["", "   ", "\n\t\n"])
def test_empty_text_is_refused(store, text):
    with pytest.raises(UsageError):
        journal.add(store, text)
    assert store.count("reflections") == 0 and store.count("audit_events") == 0


def test_backdating(store):
    at = datetime(2026, 1, 2, 21, 0, tzinfo=UTC)
    r = journal.add(store, "back then", at=at)
    assert r.created_at == "2026-01-02T21:00:00.000Z"
    assert r.updated_at > r.created_at
    # ids sort by creation time
    later = journal.add(store, "even earlier", at=at - timedelta(days=1))
    assert later.id < r.id


def test_hashtags():
    assert journal.normalize_tags([], "#one two#three (#four) a&#x; #5x #über-alles email@x #one") == \
        ["one", "four", "über-alles"]
    with pytest.raises(UsageError):
        journal.normalize_tags(["two words"])
    with pytest.raises(UsageError):
        journal.normalize_tags(["x" * 101])
    assert journal.normalize_tags(["", "#", "  "]) == []


tag_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


@given(st.lists(tag_text, max_size=5))
def test_tag_normalisation_is_idempotent(tags):
    try:
        once = journal.normalize_tags(tags)
    except UsageError:
        return
    assert journal.normalize_tags(once) == once
    assert all(t == t.lower().strip() and t and not t.startswith(("#", "@")) for t in once)
    assert len(set(once)) == len(once)


def test_list_newest_first_and_filters(store):
    base = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    made = {}
    for i, (tags, mode) in enumerate([(["a"], "REFLECTION"), (["a", "b"], "POST_ACTION"), (["b"], "REFLECTION"),
                                      ([], "POST_ACTION")]):
        made[i] = journal.add(store, f"entry {i}", tags=tags, mode=mode, at=base + timedelta(days=i))
    # inserted out of order: newest first is by created_at, not insertion
    made[9] = journal.add(store, "oldest", at=base - timedelta(days=30))
    ids = lambda rs: [r.id for r in rs]  # noqa: E731
    assert ids(journal.list_reflections(store)) == [made[i].id for i in (3, 2, 1, 0, 9)]
    assert ids(journal.list_reflections(store, limit=2)) == [made[3].id, made[2].id]
    assert ids(journal.list_reflections(store, tags=["a"])) == [made[1].id, made[0].id]
    assert ids(journal.list_reflections(store, tags=["#A", "b"])) == [made[1].id]
    assert ids(journal.list_reflections(store, mode="POST_ACTION")) == [made[3].id, made[1].id]
    assert ids(journal.list_reflections(store, since=base + timedelta(days=1))) == [made[3].id, made[2].id, made[1].id]
    assert ids(journal.list_reflections(store, until=base + timedelta(days=1))) == [made[0].id, made[9].id]
    assert ids(journal.list_reflections(store, oldest_first=True))[0] == made[9].id


def test_resolve_id_by_prefix(store):
    at = datetime(2026, 5, 5, tzinfo=UTC)
    a = journal.add(store, "one", at=at)
    b = journal.add(store, "two", at=at)  # same millisecond: the first 10 characters are equal
    assert a.id[:10] == b.id[:10]
    assert journal.resolve_id(store, a.id) == a.id
    n = next(i for i in range(10, 26) if a.id[:i] != b.id[:i])
    assert journal.resolve_id(store, a.id[:n + 1]) == a.id
    assert journal.resolve_id(store, a.id[:n + 1].lower()) == a.id
    with pytest.raises(UsageError, match="several"):
        journal.resolve_id(store, a.id[:6])
    with pytest.raises(UsageError):
        journal.resolve_id(store, a.id[:5])  # too short even though it matches
    with pytest.raises(UsageError, match="no reflection"):
        journal.resolve_id(store, "ZZZZZZZZ")
    for bad in ("", "has space", "semi;colon", "x" * 65):
        with pytest.raises(UsageError):
            journal.resolve_id(store, bad)


def test_edit(store):
    r = journal.add(store, "first draft #one", tags=["keep"])
    same = journal.edit(store, r.id, content="first draft #one")
    assert same.updated_at == r.updated_at
    assert store.count("audit_events") == 1
    e = journal.edit(store, r.id[:8], content="second draft #two", response="reply", mode="OTHER")
    assert e.content == "second draft #two" and e.response == "reply" and e.mode == "OTHER"
    assert e.tags == ["keep", "two"]  # #one left the text, so its tag did (issue 12, item 23)
    assert e.updated_at >= r.updated_at and e.created_at == r.created_at
    e = journal.edit(store, r.id, tags=["x"], response="")
    assert e.tags == ["x", "two"] and e.response is None
    with pytest.raises(UsageError):
        journal.edit(store, r.id, content="   ")
    assert journal.get(store, r.id) == e
    assert audit.verify(store.conn).ok


def test_delete(store):
    a = journal.add(store, "a")
    b = journal.add(store, "b")
    assert journal.delete(store, [a.id, a.id.lower()]) == [a.id]
    assert [r.id for r in journal.list_reflections(store)] == [b.id]
    assert store.conn.execute("SELECT kind, id FROM tombstones").fetchall() == [("reflection", a.id)]
    with pytest.raises(UsageError):
        journal.delete(store, [b.id, "NOSUCHID00"])
    assert store.count("reflections") == 1  # all or nothing
    assert audit.verify(store.conn).ok


def test_search_ranks_and_phrases(store):
    few = journal.add(store, "a long day at work; later a short walk with the dog and many other things")
    many = journal.add(store, "walk, walk, walk in the park")
    phrase = journal.add(store, "we took a long walk by the sea")
    journal.add(store, "nothing to see here", response="talked about walking", tags=["walk"])
    got = [r.id for r in finder.search(store, "walk")]
    assert got[0] == many.id and set(got) >= {few.id, phrase.id}
    assert [r.id for r in finder.search(store, '"long walk"')] == [phrase.id]
    assert {r.id for r in finder.search(store, "long walk")} == {few.id, phrase.id}
    assert len(finder.search(store, "walk", limit=1)) == 1
    assert finder.search(store, "zebra") == []
    assert [r.id for r in finder.search(store, 'sea "long walk" AND')] == []  # AND is a word, not an operator
    with pytest.raises(UsageError):
        finder.search(store, ' "" !! ')


def test_search_survives_fts_syntax(store):
    r = journal.add(store, 'quotes " and NEAR(x) and col:on * stars')
    for q in ['"', "NEAR(x)", "col:on", "*", "-x", "OR", "(", '" OR "']:
        try:
            finder.search(store, q)
        except UsageError:
            pass
    assert [x.id for x in finder.search(store, "col:on")] == [r.id]


def test_delete_all_resets_everything_but_settings(store):
    db_id = store.db_id
    for i in range(3):
        journal.add(store, f"entry {i}")
    counts = journal.delete_all(store)
    assert counts == {"reflections": 3, "patterns": 0, "tensions": 0, "audit_events": 3}
    for table in ("reflections", "tombstones", "audit_vouches", "patterns", "tensions"):
        assert store.count(table) == 0
    events = audit.events(store.conn)
    assert [(e.seq, e.event_type) for e in events] == [(1, "data.deleted_all")]
    assert audit.verify(store.conn).ok
    assert store.db_id == db_id
    assert finder.search(store, "entry") == []
    r = journal.add(store, "life goes on")
    assert [x.id for x in finder.search(store, "life")] == [r.id]


def test_delete_all_forgets_the_pattern_analysis_too(store):
    """`patterns` said "2 reflection(s) changed since the last analysis" on an emptied journal."""
    from mirror_cli.patterns import analysis, queries

    journal.add(store, "anxious and worried")
    journal.add(store, "worried, anxious")
    analysis.analyze(store)
    journal.delete_all(store)
    assert queries.status(store) == {"analyzed_at": None, "pending": 0}
    for table in ("analysis_state", "pattern_stats"):
        assert store.count(table) == 0
    assert analysis.analyze(store).removed == 0


body = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=200).filter(lambda s: s.strip())


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=body, response=st.one_of(st.none(), body), mode=st.from_regex(r"[A-Z_]{1,12}", fullmatch=True))
def test_add_get_round_trip(store, content, response, mode):
    try:
        r = journal.add(store, content, response=response, mode=mode)
    except UsageError:  # a #hashtag longer than 100 characters, or a NUL (the import's character rule)
        assert "\x00" in content + (response or "") or any(len(t) > 100 for t in journal._HASHTAG.findall(content))
        return
    got = journal.get(store, r.id)
    assert got == r
    assert got.content == content.strip()
    assert got.response == (response.strip() if response else None)
    assert got.mode == mode


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.from_regex(r"[a-z]{3,10}", fullmatch=True), min_size=1, max_size=6))
def test_every_saved_word_is_searchable_after_an_edit(store, words):
    r = journal.add(store, "placeholder " + " ".join(reversed(words)))
    journal.edit(store, r.id, content=" ".join(words) + " placeholder")
    for w in words:
        assert r.id in {x.id for x in finder.search(store, w, limit=1000)}
    assert r.id in {x.id for x in finder.search(store, '"' + " ".join(words) + '"', limit=1000)}


def test_a_reflection_too_large_to_export_and_import_again_is_refused(store, monkeypatch):
    """What reflect saves must fit one JSON Lines line, which import reads back: same limit."""
    from mirror_cli.errors import UsageError
    from mirror_cli.exchange import records

    monkeypatch.setattr(records, "MAX_LINE", 2000)
    kept = journal.add(store, "x" * 100)
    with pytest.raises(UsageError, match="too large"):
        journal.add(store, "\x01" * 400)  # each escaped to 6 bytes: over 2000
    with pytest.raises(UsageError, match="too large"):
        journal.edit(store, kept.id, content="y" * 2500)
    assert [r.content for r in journal.list_reflections(store)] == ["x" * 100]

"""Promises of issue 12 about reflections (the core, without the CLI)."""

from __future__ import annotations

import pytest

from mirror_cli.db.store import Store
from mirror_cli.journal import reflections as journal


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "j.db") as s:
        yield s


# -- item 23: on edit, tags from #words follow the text; -t tags stay ----------------------------

def test_editing_a_hashtag_replaces_its_tag(store):
    r = journal.add(store, "long day at #wrok")
    assert r.tags == ["wrok"]
    assert journal.edit(store, r.id, content="long day at #work").tags == ["work"]
    assert journal.get(store, r.id).tags == ["work"]


def test_explicit_tags_stay_when_the_text_changes(store):
    r = journal.add(store, "a #draft note", tags=["Focus", "#home"])
    assert r.tags == ["focus", "home", "draft"]
    assert journal.edit(store, r.id, content="a finished note #done").tags == ["focus", "home", "done"]
    assert journal.edit(store, r.id, content="no hashtags left").tags == ["focus", "home"]


def test_a_hashtag_kept_in_the_new_text_keeps_its_tag(store):
    r = journal.add(store, "#walk by the river", tags=["outside"])
    assert journal.edit(store, r.id, content="#walk by the sea").tags == ["outside", "walk"]


def test_retagged_without_any_change_of_hashtags():
    assert journal.retagged(["a", "b"], "text #b", "other text #b") == ["a", "b"]
    assert journal.retagged([], "", "#New") == ["new"]

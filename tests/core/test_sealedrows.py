"""mirror_cli.sealedrows: the export's reflection texts of an encrypted database."""

from __future__ import annotations

import json
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirror_cli import crypto, sealedrows
from mirror_cli.journal import reflections as journal
from mirror_cli.crypto import manage as keyops
from mirror_cli.errors import VerificationError
from mirror_cli.exchange.export import iter_reflection_json
from mirror_cli.exchange.formats.jsondoc import _encode
from mirror_cli.db.store import Store

TEXTS = ['plain', 'quote " and \\ backslash', "new\nline\ttab\x00nul", "émoji 🙂 \u2028 sep", "</script>", "x" * 300]


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "sealed.db")
    with s.write():
        for i in range(20):
            text = TEXTS[i % len(TEXTS)]
            journal.insert_row(s, journal.Reflection(
                id=f"R{i:03d}", created_at=f"2024-01-01T00:00:{i:02d}.000Z", updated_at="2024-02-01T00:00:00.000Z",
                content=f"{text} {i}", response=None if i % 3 else text, tags=[t for t in TEXTS[:i % 4] if "\n" not in t],
                local_only=bool(i % 2)), s.tick())
    expected = [_encode(r.to_dict()) for r in journal.list_reflections(s, oldest_first=True)]
    keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": "pw"}, interactive=False, force=True,
                  kdf_params=crypto.new_kdf_params(iterations=1, lanes=1, memory_cost=8))
    s.expected = expected
    yield s
    s.close()


@given(st.lists(st.text(max_size=12), max_size=5))
def test_compact_tags_equals_the_encoder(tags):
    stored = json.dumps(tags, ensure_ascii=False)
    assert sealedrows.compact_tags(stored, _encode) == _encode(tags)


def test_sealed_rows_give_the_text_of_the_plain_encoder(store):
    assert list(iter_reflection_json(store)) == store.expected


def test_a_damaged_row_is_reported_by_name(store):
    con = sqlite3.connect(store.path)
    blob = bytearray(con.execute("SELECT content FROM reflections WHERE id = 'R004'").fetchone()[0])
    blob[-1] ^= 0x80
    con.execute("UPDATE reflections SET content = ? WHERE id = 'R004'", (bytes(blob),))
    con.commit()
    con.close()
    with pytest.raises(VerificationError, match="reflections R004: field content"):
        list(iter_reflection_json(store))


def test_rows_with_a_clear_column_that_is_not_text_take_the_dict_path(store):
    """Only a BLOB can land in these TEXT columns (from outside mirror); the dict path reports it (exit 3)."""
    from mirror_cli.errors import VerificationError
    from mirror_cli.exchange.export import iter_reflections

    con = sqlite3.connect(store.path)
    con.execute("UPDATE reflections SET mode = X'6869' WHERE id = 'R004'")
    con.commit()
    con.close()
    with pytest.raises(VerificationError) as dict_path:
        list(iter_reflections(store))
    with pytest.raises(VerificationError) as sealed_path:
        list(iter_reflection_json(store))
    assert str(sealed_path.value) == str(dict_path.value)
    assert "reflection R004 holds a binary value in its mode field" in str(dict_path.value)

def test_text_planted_in_a_sealed_column_is_reported_as_the_per_row_path_does(store):
    con = sqlite3.connect(store.path)
    con.execute("UPDATE reflections SET tags = '[\"planted\"]' WHERE id = 'R007'")
    con.commit()
    con.close()
    with pytest.raises(VerificationError, match="reflections R007: field tags is stored in clear"):
        list(iter_reflection_json(store))


def test_rows_json_without_the_batch_form_goes_row_by_row(store):
    """A field codec whose cipher is not a FieldCipher (the backup's reader) takes the per-row path."""
    rows = list(store.conn.execute("SELECT id, created_at, updated_at, content, response, mode, tags, local_only"
                                   " FROM reflections ORDER BY created_at, id"))
    seen = []

    def slow(row):
        seen.append(row[0])
        return row[0]

    class Other:
        cipher = object()

    assert list(sealedrows.rows_json(rows, Other(), str, _encode, slow)) == [r[0] for r in rows]
    assert seen == [r[0] for r in rows]
    fast = list(sealedrows.rows_json(rows, store.fields, __import__("json").encoder.encode_basestring, _encode, slow))
    assert fast == store.expected and len(seen) == len(rows)  # no row needed the per-row path

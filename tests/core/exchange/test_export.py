"""Export of reflections: every stored row comes out as the record codec encodes its export dict."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirror_cli.journal import reflections as journal
from mirror_cli.errors import VerificationError
from mirror_cli.exchange import export
from mirror_cli.exchange import records
from mirror_cli.db.store import Store


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "a.db") as s:
        yield s


def put(store: Store, rid: str, content: str, *, response: str | None = None, tags=(), mode: str = "REFLECTION",
        local_only: bool = False, created: str = "2024-05-01T09:30:00.000Z") -> None:
    """Store a row through mirror's own writer (no validation of the text: NUL and all)."""
    r = journal.Reflection(id=rid, created_at=created, updated_at=created, content=content, response=response,
                           mode=mode, tags=list(tags), local_only=local_only)
    with store.write():
        journal.insert_row(store, r, store.tick())


def texts(store: Store) -> list[str]:
    """The reflection lines of a JSON Lines export, without their "type"."""
    out = io.StringIO()
    export.write_stream(store, out, fmt="jsonl", kinds=("reflections",))
    return ["{" + line[len('{"type":"reflection",'):] for line in out.getvalue().split("\n")[1:-1]]


def reference(store: Store) -> list[str]:
    with store.read():
        return [records.encode(d) for d in export.iter_reflections(store)]


def test_every_code_point_comes_back_as_stored(store):
    points = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    # Dense where escaping happens (controls, quote, backslash, DEL, C1, U+2028/9), sparse above.
    dense = [cp for cp in points if cp < 0x3000]
    sparse = points[len(dense)::97] + [0xFEFF, 0xFFFD, 0xFFFE, 0xFFFF, 0x10000, 0x1F600, 0x10FFFF]
    chunks = [dense[i:i + 512] for i in range(0, len(dense), 512)] + [sparse]
    for n, chunk in enumerate(chunks):
        text = "".join(map(chr, chunk))
        put(store, f"r{n:04d}", text, response=text[::-1], mode=text[:40] or "m",
            created=f"2024-05-01T09:30:{n % 60:02d}.{n:03d}Z")
    got = texts(store)
    assert got == reference(store)
    assert [json.loads(t)["content"] for t in got] == ["".join(map(chr, chunk)) for chunk in chunks]


def test_null_response_tags_local_only_and_empty_tags(store):
    put(store, "a1", "plain", response=None, tags=[], local_only=False)
    put(store, "a2", "with tags", response="reply", tags=["work", "rêve", "日本"], local_only=True,
        created="2024-05-02T09:30:00.000Z")
    put(store, "a3", "nul \x00 and \x1f\x7f\u2028", response="\x00", tags=["a\"b", "c\\d", "tab\there"],
        created="2024-05-03T09:30:00.000Z")
    got = texts(store)
    assert got == reference(store)
    objs = [json.loads(t) for t in got]
    assert objs[0]["response"] is None and objs[0]["tags"] == [] and objs[0]["local_only"] is False
    assert objs[1]["local_only"] is True and objs[1]["tags"] == ["work", "rêve", "日本"]
    assert objs[2]["content"] == "nul \x00 and \x1f\x7f\u2028" and objs[2]["tags"] == ["a\"b", "c\\d", "tab\there"]


@pytest.mark.parametrize("stored", [
    '["\\u00e9t\\u00e9"]',  # escapes another encoder wrote
    '["a\\/b"]',
    '["\\ud83d\\ude00"]',  # a surrogate pair escaped
    '["\\u0009"]',
    '[ "spaced" ,  "out" ]',
    '["x", 1E2]',  # not a tag list: numbers
    '{"a": "b"}',
    '"scalar"',
])
def test_tags_stored_by_other_writers_come_out_as_the_codec_writes_them(store, stored):
    put(store, "t1", "text", tags=["placeholder"])
    store.conn.execute("UPDATE reflections SET tags = ? WHERE id = 't1'", (stored,))
    assert texts(store) == [records.encode({**json.loads(reference(store)[0]), "tags": json.loads(stored)})]


def test_ciphertext_in_a_plain_database_is_reported_not_copied(store):
    put(store, "b1", "fine")
    put(store, "b2", "will be a blob", created="2024-05-02T09:30:00.000Z")
    store.conn.execute("UPDATE reflections SET content = ? WHERE id = 'b2'", (b"\x01" + b"\x00" * 40,))
    with pytest.raises(VerificationError, match="b2"):
        export.write_stream(store, io.StringIO(), fmt="json")


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "markdown"])
@pytest.mark.parametrize("field", ["mode", "created_at", "updated_at"])
def test_a_blob_in_a_clear_column_is_exit_3_naming_record_and_field(store, fmt, field):
    """(TEXT affinity turns a number into text: a blob is the one foreign value SQLite keeps there.)"""
    put(store, "c1", "fine")
    put(store, "c2", "tampered", created="2024-05-02T09:30:00.000Z")
    store.conn.execute(f"UPDATE reflections SET {field} = ? WHERE id = 'c2'", (b"\x00\x01",))
    kinds = ("reflections",) if fmt == "csv" else export.KINDS
    with pytest.raises(VerificationError, match=f"reflection c2 holds a binary value in its {field} field") as info:
        export.write_stream(store, io.StringIO(), fmt=fmt, kinds=kinds)
    assert info.value.exit_code == 3


def test_numbers_stored_as_content_keep_pythons_form(store):
    put(store, "n1", "x")
    store.conn.execute("UPDATE reflections SET content = 1e300 WHERE id = 'n1'")
    assert texts(store) == reference(store) and json.loads(texts(store)[0])["content"] == 1e300


def test_since_until_window(store):
    from datetime import datetime, timezone

    for day in range(1, 8):
        put(store, f"d{day}", f"day {day}", created=f"2024-05-0{day}T12:00:00.000Z")
    lo = datetime(2024, 5, 3, tzinfo=timezone.utc)
    hi = datetime(2024, 5, 5, 23, 59, tzinfo=timezone.utc)
    out = io.StringIO()
    export.write_stream(store, out, fmt="jsonl", kinds=("reflections",), since=lo, until=hi)
    assert [json.loads(t)["id"] for t in out.getvalue().split("\n")[1:-1]] == ["d3", "d4", "d5"]


_any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)
_tag = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_any_text, st.one_of(st.none(), _any_text), st.lists(_tag, max_size=4),
                          st.booleans(), _any_text.filter(bool)), max_size=6))
def test_any_row_exports_as_stored(rows):
    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "h.db") as s:
        for i, (content, response, tags, local, mode) in enumerate(rows):
            put(s, f"h{i}", content, response=response, tags=tags, local_only=local, mode=mode,
                created=f"2024-05-01T09:30:{i:02d}.000Z")
        assert texts(s) == reference(s)
        out = io.StringIO()
        export.write_stream(s, out, fmt="jsonl", kinds=("reflections",))
        lines = out.getvalue().split("\n")[1:-1]  # not splitlines: U+0085, U+2028 stay raw in a line
        assert [json.loads(ln) for ln in lines] == [
            {"type": "reflection", "id": f"h{i}", "created_at": f"2024-05-01T09:30:{i:02d}.000Z",
             "updated_at": f"2024-05-01T09:30:{i:02d}.000Z", "content": c, "response": r, "mode": m,
             "tags": t, "local_only": lo} for i, (c, r, t, lo, m) in enumerate(rows)]


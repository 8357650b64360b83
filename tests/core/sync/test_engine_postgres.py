"""The sync engine in-process over a PostgreSQL remote (tests/pg_helpers.py: a throwaway cluster)."""

from __future__ import annotations

from contextlib import closing

import pytest

from pg_helpers import fresh_table, pg_url, sql, with_table  # noqa: F401 (fixtures)
from sync_helpers import Device, cheap_sync_kdf, dump  # noqa: F401 (fixture)
from mirror_cli.errors import VerificationError
from mirror_cli.remotes.url import open_remote

pytestmark = pytest.mark.usefixtures("cheap_sync_kdf")


@pytest.fixture
def pair(tmp_path, pg_url, fresh_table):
    with closing(open_remote(with_table(pg_url, fresh_table))) as remote:
        a, b = Device(tmp_path / "a" / "mirror.db", "laptop"), Device(tmp_path / "b" / "mirror.db", "desktop")
        a.add_remote("home", remote)
        b.add_remote("home", remote)
        yield a, b, remote


def settle(*devices: Device, rounds: int = 2) -> None:
    for _ in range(rounds):
        for d in devices:
            d.sync()


def tags(remote, prefix: str = "") -> dict[str, str]:
    return {o.name: o.tag for o in remote.list(prefix)}


def test_two_devices_converge_over_postgres(pair):
    a, b, remote = pair
    ra = a.reflect("written on the laptop #work")
    rb = b.reflect("written on the desktop")
    settle(a, b)
    assert set(a.entries()) == set(b.entries()) == {ra, rb}
    assert dump(a) == dump(b)
    b.edit(ra, content="edited on the desktop")
    a.delete(rb)
    settle(a, b)
    assert a.entries()[ra]["content"] == "edited on the desktop" and rb not in b.entries()
    assert dump(a) == dump(b) and a.verify_audit() and b.verify_audit()
    assert {name[:2] for name in tags(remote)} >= {"h/", "s/"}


@pytest.mark.parametrize("prefix", ["h/", "s/"])
def test_a_tampered_row_is_exit_3_and_the_journal_is_unchanged(pair, pg_url, prefix):
    a, b, remote = pair
    a.reflect("one")
    a.sync()
    b.reflect("two")
    b.sync()
    a.reflect("three")
    before_tags = tags(remote, prefix)
    a.sync()
    [target] = [n for n, t in tags(remote, prefix).items() if before_tags.get(n) != t]  # A's newest object
    # flip one bit in the middle of the body, in the database itself
    sql(pg_url, f"UPDATE {remote.table} SET body = set_byte(body, length(body) / 2, "
        "get_byte(body, length(body) / 2) # 1) WHERE name = %s", (target,))
    before = dump(b)
    with pytest.raises(VerificationError) as info:
        b.sync()
    assert info.value.exit_code == 3 and dump(b) == before


def test_a_deleted_middle_segment_is_exit_3_missing(pair, pg_url):
    a, b, remote = pair
    made = []
    for i in range(3):
        a.reflect(f"entry {i}")
        old = set(tags(remote, "s/"))
        a.sync()
        [new] = set(tags(remote, "s/")) - old
        made.append(new)
    sql(pg_url, f"DELETE FROM {remote.table} WHERE name = %s", (made[1],))
    with pytest.raises(VerificationError) as info:
        b.sync()
    assert info.value.exit_code == 3 and "missing" in info.value.message
    assert b.entries() == {}


class CountingConnection:
    """The remote's psycopg connection, recording each statement it is given."""

    def __init__(self, inner) -> None:
        self.inner, self.statements = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def execute(self, query, *args, **kwargs):
        self.statements.append(query.as_string(self.inner) if hasattr(query, "as_string") else str(query))
        return self.inner.execute(query, *args, **kwargs)

    def cursor(self, *args, **kwargs):
        self.statements.append("CURSOR")  # COPY goes through a cursor
        return self.inner.cursor(*args, **kwargs)


def test_a_no_op_sync_is_one_select_and_reads_no_object(pair):
    a, b, remote = pair
    a.reflect("one")
    b.reflect("two")
    settle(a, b)
    b.sync()
    counting = CountingConnection(remote._conn)
    remote._conn = counting
    try:
        report = b.sync()
    finally:
        remote._conn = counting.inner
    assert not report.changed
    assert len(counting.statements) == 1, counting.statements
    [listing] = counting.statements
    assert listing.startswith("SELECT name, tag, octet_length(body) FROM") and " body " not in listing[20:]


def test_ten_changed_entries_are_one_new_segment_and_the_puller_reads_one_head_and_one_segment(pair):
    a, b, remote = pair
    a.reflect("one")
    settle(a, b)
    for i in range(10):
        a.reflect(f"change {i}")
    before = set(tags(remote, "s/"))
    a.sync()
    assert len(set(tags(remote, "s/")) - before) == 1
    counting = CountingConnection(remote._conn)
    remote._conn = counting
    try:
        b.sync(push=False)
    finally:
        remote._conn = counting.inner
    reads = [s for s in counting.statements if s.startswith("SELECT body ")]
    assert len(reads) == 2 and len(b.entries()) == 11

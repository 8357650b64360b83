"""What a sync costs in requests, on each kind of remote (SYNC.md "What proves it right", checks 22-23),
counted where the requests leave: a botocore ``before-send`` hook on the S3 client, a statement
counter around the PostgreSQL connection, a counting wrapper around the folder remote.
"""

from __future__ import annotations

from collections import Counter
from urllib.parse import unquote, urlsplit

import pytest

from sync_helpers import Device, cheap_sync_kdf, dump, fresh_remote  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("cheap_sync_kdf")


class Meter:
    """The requests one device's remote sends, as (verb, kind) pairs: ("LIST", ""), ("GET", "h/"),
    ("GET", "s/"), ("PUT", "s/"), ... (kind = the first two characters of the object name)."""

    def __init__(self, device: Device, spot) -> None:
        self.seen: Counter[tuple[str, str]] = Counter()
        self.kind = spot.kind
        remote = device._remotes["home"]
        if spot.kind == "s3":
            self.prefix = f"/{spot.bucket}/{spot.prefix}"
            remote._client.meta.events.register("before-send.s3", self._http)
        elif spot.kind == "postgres":
            remote._conn = Statements(remote._conn, self)
        else:
            device._remotes["home"] = Calls(remote, self)

    def _http(self, request, **_) -> None:
        parts = urlsplit(request.url)
        if request.method == "GET" and "list-type=2" in parts.query:
            self.seen["LIST", ""] += 1
        else:
            name = unquote(parts.path).split(self.prefix, 1)[-1]
            self.seen[request.method, name[:2]] += 1

    def clear(self) -> None:
        self.seen.clear()

    def count(self, verb: str, kind: str | None = None) -> int:
        return sum(n for (v, k), n in self.seen.items() if v == verb and (kind is None or k == kind))


class Statements:
    """A psycopg connection that records each statement: the listing is a LIST, a read of a body a GET,
    an INSERT a PUT (by the name it is given); anything else (BEGIN, COPY through a cursor) as itself."""

    def __init__(self, inner, meter: Meter) -> None:
        self.inner, self.meter = inner, meter

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def execute(self, query, args=None, **kwargs):
        text = query.as_string(self.inner) if hasattr(query, "as_string") else str(query)
        if text.startswith("SELECT name, tag"):
            self.meter.seen["LIST", ""] += 1
        elif text.startswith(("SELECT body", "SELECT substring")):
            self.meter.seen["GET", args[-1][:2]] += 1
        elif text.startswith("INSERT") and args:
            self.meter.seen["PUT", args[0][:2]] += 1
        else:
            self.meter.seen[text.split()[0].upper(), ""] += 1
        return self.inner.execute(query, args, **kwargs)

    def cursor(self, *args, **kwargs):
        self.meter.seen["CURSOR", ""] += 1
        return self.inner.cursor(*args, **kwargs)


class Calls:
    """A folder remote that counts its calls: one ``list`` is one directory scan."""

    def __init__(self, inner, meter: Meter) -> None:
        self.inner, self.meter = inner, meter

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def list(self, prefix=""):
        self.meter.seen["LIST", ""] += 1
        return self.inner.list(prefix)

    def get(self, name):
        self.meter.seen["GET", name[:2]] += 1
        return self.inner.get(name)

    def put_new(self, name, data):
        self.meter.seen["PUT", name[:2]] += 1
        return self.inner.put_new(name, data)

    def put(self, name, data):
        self.meter.seen["PUT", name[:2]] += 1
        return self.inner.put(name, data)


@pytest.fixture
def pair(tmp_path, fresh_remote):
    spot = fresh_remote()
    devices = []
    for name, label in (("a", "laptop"), ("b", "desktop")):
        d = Device(tmp_path / name / "mirror.db", label)
        d.add_remote("home", spot.open(), url=spot.url)
        devices.append(d)
    return (*devices, spot)


def settle(*devices: Device, rounds: int = 2) -> None:
    for _ in range(rounds):
        for d in devices:
            d.sync()


def test_a_no_op_sync_is_one_listing_and_reads_nothing(pair):
    a, b, spot = pair
    a.reflect("one")
    b.reflect("two")
    settle(a, b)
    meter = Meter(b, spot)
    report = b.sync()
    assert not report.changed
    # S3: exactly 1 LIST, 0 GET; PostgreSQL: 1 SELECT; folder: 1 directory scan (<= 5 head reads allowed)
    assert meter.seen == Counter({("LIST", ""): 1}), meter.seen


def test_ten_changed_entries_are_two_puts_and_the_puller_lists_once_and_reads_one_head_and_one_segment(pair):
    a, b, spot = pair
    a.reflect("one")
    settle(a, b)
    pusher, puller = Meter(a, spot), Meter(b, spot)
    for i in range(10):
        a.reflect(f"change {i}")
    a.sync(pull=False)
    assert pusher.count("PUT", "s/") == 1 and pusher.count("PUT", "h/") == 1, pusher.seen
    assert pusher.count("PUT") == 2 and pusher.count("GET") == 0, pusher.seen
    b.sync(push=False)
    assert puller.count("LIST") == 1 and puller.count("GET", "h/") == 1 and puller.count("GET", "s/") == 1, \
        puller.seen
    assert puller.count("GET") == 2 and puller.count("PUT") == 0, puller.seen
    assert len(b.entries()) == 11 and dump(a) == dump(b)


def test_a_first_push_of_many_segments_is_one_copy_on_postgres(pair, monkeypatch):
    from mirror_cli.sync import objects

    a, b, spot = pair
    monkeypatch.setattr(objects, "SEGMENT_TARGET", 2000)  # a few entries fill a segment
    ids = {a.reflect(f"entry {i} " + "words " * 60) for i in range(12)}
    meter = Meter(a, spot)
    a.sync()
    segments = [n for n in spot.snapshot() if n.startswith("s/")]
    assert len(segments) >= 2
    if spot.kind == "postgres":  # one COPY (through a cursor) for every segment, then the head's INSERT
        assert meter.count("CURSOR") == 1 and meter.count("PUT", "s/") == 0 and meter.count("PUT", "h/") == 1
    else:
        assert meter.count("PUT", "s/") == len(segments)
    b.sync()
    assert set(b.entries()) == ids

"""The sync engine in-process over an S3 bucket (moto): two devices, tampering, a lost segment, the no-op."""

from __future__ import annotations

from collections import Counter

import pytest

import s3_server
from sync_helpers import Device, cheap_sync_kdf, dump  # noqa: F401 (fixture)
from mirror_cli.errors import VerificationError
from mirror_cli.remotes.s3 import S3Remote

pytestmark = pytest.mark.usefixtures("cheap_sync_kdf")


class Requests:
    """Every HTTP request one S3Remote sends, as LIST / GET / PUT / POST / DELETE / HEAD."""

    def __init__(self, remote: S3Remote) -> None:
        self.seen: Counter[str] = Counter()
        remote._client.meta.events.register("before-send.s3", self._count)

    def _count(self, request, **_) -> None:
        method = request.method
        self.seen["LIST" if method == "GET" and "list-type=2" in request.url else method] += 1

    def clear(self) -> None:
        self.seen.clear()


@pytest.fixture
def pair(tmp_path, s3_endpoint, s3_bucket):
    """Two devices, each with its own S3Remote (as two machines have) on one bucket under a prefix."""
    ra, rb = (S3Remote(s3_bucket, "journal", endpoint_url=s3_endpoint) for _ in range(2))
    a, b = Device(tmp_path / "a" / "mirror.db", "laptop"), Device(tmp_path / "b" / "mirror.db", "desktop")
    a.add_remote("home", ra, url=ra.url)
    b.add_remote("home", rb, url=rb.url)
    yield a, b, rb
    ra.close()
    rb.close()


def raw_keys(endpoint: str, bucket: str, prefix: str) -> dict[str, object]:
    answer = s3_server.client(endpoint).list_objects_v2(Bucket=bucket, Prefix=f"journal/{prefix}")
    return {o["Key"]: o["LastModified"] for o in answer.get("Contents", ())}


def settle(*devices: Device, rounds: int = 2) -> None:
    for _ in range(rounds):
        for d in devices:
            d.sync()


def test_two_devices_converge_over_s3(pair):
    a, b, _ = pair
    ra = a.reflect("written on the laptop #work")
    rb = b.reflect("written on the desktop")
    settle(a, b)
    rid = ra
    a.edit(rid, content="edited on the laptop")
    b.delete(rb)
    settle(a, b)
    assert set(a.entries()) == set(b.entries()) == {ra}
    assert a.entries()[rid]["content"] == "edited on the laptop"
    assert dump(a) == dump(b) and a.verify_audit() and b.verify_audit()


@pytest.mark.parametrize("prefix", ["h/", "s/"])
def test_a_tampered_object_is_exit_3_and_the_journal_is_unchanged(pair, s3_endpoint, s3_bucket, prefix):
    a, b, _ = pair
    b.reflect("two")
    settle(b)
    a.reflect("one")
    a.sync()
    ours = {k for k in raw_keys(s3_endpoint, s3_bucket, prefix)}
    a.reflect("three")
    a.sync()
    newest = max(raw_keys(s3_endpoint, s3_bucket, prefix).items(), key=lambda kv: (kv[0] not in ours, kv[1]))[0]
    raw = s3_server.client(s3_endpoint)
    data = bytearray(raw.get_object(Bucket=s3_bucket, Key=newest)["Body"].read())
    data[len(data) // 2] ^= 1
    raw.put_object(Bucket=s3_bucket, Key=newest, Body=bytes(data))
    before = dump(b)
    with pytest.raises(VerificationError) as info:
        b.sync()
    assert info.value.exit_code == 3 and dump(b) == before


def test_a_deleted_middle_segment_is_exit_3_missing_not_incomplete(pair, s3_endpoint, s3_bucket):
    a, b, _ = pair
    pushed = []
    for text in ("one", "two", "three"):
        before = set(raw_keys(s3_endpoint, s3_bucket, "s/"))
        a.reflect(text)
        a.sync()
        pushed.append(set(raw_keys(s3_endpoint, s3_bucket, "s/")) - before)
    assert [len(p) for p in pushed] == [1, 1, 1]
    (middle,) = pushed[1]
    s3_server.client(s3_endpoint).delete_object(Bucket=s3_bucket, Key=middle)
    with pytest.raises(VerificationError) as info:
        b.sync()
    assert info.value.exit_code == 3 and "missing" in str(info.value)
    assert b.entries() == {}


def test_a_no_op_sync_is_one_list_and_no_get(pair):
    a, b, rb = pair
    a.reflect("one")
    b.reflect("two")
    settle(a, b)
    requests = Requests(rb)
    b.sync()
    requests.clear()
    report = b.sync()
    assert not report.changed
    assert dict(requests.seen) == {"LIST": 1}


def test_ten_changed_entries_are_two_puts_and_the_puller_lists_once_and_gets_twice(pair, tmp_path,
                                                                                    s3_endpoint, s3_bucket):
    a, b, rb = pair
    a.reflect("one")
    settle(a, b)
    ra = a._remotes["home"]
    pusher, puller = Requests(ra), Requests(rb)
    for i in range(10):
        a.reflect(f"change {i}")
    a.sync(pull=False)
    assert pusher.seen["PUT"] == 2  # one segment, one head
    puller.clear()
    b.sync(push=False)
    assert puller.seen == Counter({"LIST": 1, "GET": 2})  # one head, one segment
    assert dump(a) == dump(b)

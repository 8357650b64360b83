"""mirror_cli.remotes.s3: what only an S3 bucket does (moto): keys under a prefix, pages, multipart uploads,
the bucket, the endpoint and the credentials, the URL. The Remote protocol itself, on a bucket as on a folder
and in PostgreSQL, is test_conformance.py."""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import tracemalloc
from contextlib import closing

import pytest

import s3_server
from mirror_cli.errors import ExitCode
from mirror_cli.remotes import s3
from mirror_cli.remotes.base import CloudExtraMissing, Exists, NotFound, ObjectInfo, Remote, RemoteError
from mirror_cli.remotes.url import open_remote


@pytest.fixture
def remote(s3_endpoint, s3_bucket):
    with s3.S3Remote(s3_bucket, "my/prefix", endpoint_url=s3_endpoint) as r:
        yield r


def keys(endpoint: str, bucket: str) -> list[str]:
    answer = s3_server.client(endpoint).list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in answer.get("Contents", ()))


def uploads(endpoint: str, bucket: str) -> list[str]:
    return [u["Key"] for u in s3_server.client(endpoint).list_multipart_uploads(Bucket=bucket).get("Uploads", ())]


# --------------------------------------------------------------------------- the basic calls


def test_it_is_a_remote_that_does_not_lag(remote, s3_bucket):
    assert isinstance(remote, Remote) and remote.may_lag is False
    assert remote.url == f"s3://{s3_bucket}/my/prefix" and remote.url in remote.describe()


def test_open_remote_takes_the_url_and_the_options(s3_endpoint, s3_bucket):
    with closing(open_remote(f"s3://{s3_bucket}/p/", options={"endpoint_url": s3_endpoint, "region": None})) as r:
        r.put_new("h/x", b"1")
        assert r.url == f"s3://{s3_bucket}/p"
    assert keys(s3_endpoint, s3_bucket) == ["p/h/x"]


def test_an_object_is_the_key_under_the_prefix(remote, s3_endpoint, s3_bucket):
    tag = remote.put_new("s/abc", b"hello")
    assert list(remote.list("")) == [ObjectInfo("s/abc", tag, 5)]
    assert keys(s3_endpoint, s3_bucket) == ["my/prefix/s/abc"]


def test_list_pages_past_1000_and_skips_keys_mirror_never_writes(remote, s3_endpoint, s3_bucket):
    raw = s3_server.client(s3_endpoint)
    for i in range(1005):
        raw.put_object(Bucket=s3_bucket, Key=f"my/prefix/s/{i:04d}", Body=b"x")
    for key in ("my/prefix/s/", "my/prefix/.hidden", "my/prefixed", "other/s/1"):
        raw.put_object(Bucket=s3_bucket, Key=key, Body=b"x")
    assert [o.name for o in remote.list("s/")] == [f"s/{i:04d}" for i in range(1005)]
    remote.delete([f"s/{i:04d}" for i in range(1005)])  # two DeleteObjects batches
    assert list(remote.list()) == []
    assert keys(s3_endpoint, s3_bucket) == ["my/prefix/.hidden", "my/prefix/s/", "my/prefixed", "other/s/1"]


# --------------------------------------------------------------------------- multipart


def test_a_put_stream_left_without_commit_leaves_nothing_not_even_an_upload(remote, s3_endpoint, s3_bucket):
    with pytest.raises(ValueError), remote.put_stream("s/half") as out:
        out.write(os.urandom(s3.PART_SIZE + 10))  # one part already uploaded
        assert uploads(s3_endpoint, s3_bucket) == ["my/prefix/s/half"]
        raise ValueError("stopped")
    with remote.put_stream("s/none") as out:
        out.write(os.urandom(s3.PART_SIZE + 10))
    assert list(remote.list()) == [] and uploads(s3_endpoint, s3_bucket) == []


def test_an_exclusive_multipart_put_stream_loses_to_an_object_made_meanwhile(remote, s3_endpoint, s3_bucket):
    with remote.put_stream("s/x", exclusive=True) as out:
        out.write(b"m" * (s3.PART_SIZE + 100))
        remote.put_new("s/x", b"theirs")
        with pytest.raises(Exists):
            out.commit()
    assert remote.get("s/x") == b"theirs" and uploads(s3_endpoint, s3_bucket) == []


def test_put_file_and_get_file_stream_20_mb_in_parts(remote, tmp_path):
    src = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    with open(src, "wb") as fh:
        for i in range(20):
            fh.write(bytes([i]) + block[1:])
    want = hashlib.sha256(src.read_bytes()).hexdigest()
    dest = tmp_path / "restored" / "big.bin"
    bodies: list[int] = []
    remote._client.meta.events.register(
        "before-send.s3", lambda request, **_: bodies.append(int(request.headers.get("Content-Length", 0))))
    # an in-process moto holds the object in this very heap: memory is measured only against .ci/run's server
    measure = bool(os.environ.get(s3_server.ENDPOINT_VAR))
    if measure:
        tracemalloc.start()
    try:
        tag = remote.put_file("backups/big.bin", src)
        remote.get_file("backups/big.bin", dest)
        peak = tracemalloc.get_traced_memory()[1] if measure else 0
    finally:
        tracemalloc.stop()
    assert peak < 4 * s3.PART_SIZE, f"{peak} bytes held at once: not streamed"
    assert max(bodies) <= s3.PART_SIZE and sum(bodies) >= 20 << 20  # it went up in parts
    assert tag.endswith("-3")  # a multipart ETag: three parts of at most 8 MiB
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == want
    assert list(remote.list("backups/")) == [ObjectInfo("backups/big.bin", tag, 20 << 20)]
    assert os.listdir(dest.parent) == ["big.bin"]


# --------------------------------------------------------------------------- failures


def test_a_missing_bucket_is_exit_1_naming_it(s3_endpoint, s3_bucket):
    with s3.S3Remote(s3_bucket + "-gone", endpoint_url=s3_endpoint) as r:
        for call in (lambda: r.get("x"), lambda: list(r.list()), lambda: r.put_new("x", b"1")):
            with pytest.raises(RemoteError) as info:
                call()
            assert info.value.exit_code == ExitCode.FAILED and "-gone does not exist" in str(info.value)
            assert not isinstance(info.value, NotFound)


def test_an_unreachable_endpoint_is_exit_1_with_no_traceback(s3_bucket):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nobody listens there
    with s3.S3Remote(s3_bucket, endpoint_url=f"http://127.0.0.1:{port}") as r:
        with pytest.raises(RemoteError) as info:
            r.get("x")
    assert info.value.exit_code == ExitCode.FAILED and str(port) in str(info.value)
    assert not isinstance(info.value, NotFound) and info.value.__suppress_context__


def test_no_credentials_is_exit_1_with_a_hint(s3_endpoint, s3_bucket, monkeypatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with s3.S3Remote(s3_bucket, endpoint_url=s3_endpoint) as r:
        with pytest.raises(RemoteError) as info:
            r.put("x", b"1")
    assert "no AWS credentials" in str(info.value) and "AWS_PROFILE" in (info.value.hint or "")


def test_an_unknown_profile_is_exit_1(s3_endpoint, s3_bucket):
    with pytest.raises(RemoteError) as info:
        open_remote(f"s3://{s3_bucket}", options={"endpoint_url": s3_endpoint, "profile": "nobody-has-this"})
    assert info.value.exit_code == ExitCode.FAILED and "nobody-has-this" in str(info.value)


@pytest.mark.parametrize("location", ["s3://me:pw@bucket/p", "s3://bucket:9000/p", "s3://bucket/p?x=1",
                                      "s3://bucket/a//b", "s3://bucket/.hidden"])
def test_an_s3_url_is_bucket_and_plain_prefix_only(location):
    with pytest.raises(Exception) as info:
        open_remote(location)
    assert getattr(info.value, "exit_code", None) == ExitCode.USAGE and "pw" not in str(info.value)


def test_unknown_options_are_a_usage_error():
    with pytest.raises(Exception) as info:
        open_remote("s3://bucket/p", options={"table": "x"})
    assert getattr(info.value, "exit_code", None) == ExitCode.USAGE and "table" in str(info.value)


def test_without_boto3_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)  # what an install without the extra sees
    with pytest.raises(CloudExtraMissing) as info:
        open_remote("s3://bucket/p")
    assert info.value.exit_code == ExitCode.FAILED and "mirror-cli[cloud]" in str(info.value)

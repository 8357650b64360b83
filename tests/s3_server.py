"""An S3 server for the tests: the one `.ci/run` started (MIRROR_TEST_S3_ENDPOINT), else moto in this
process, else skip - or fail when the environment says CI (SYNC.md "Test servers": in CI a missing
server is a failure, not a skip).

Anything timed, or anything that SIGKILLs a `mirror` child, needs the `.ci/run` server: an
in-process one shares the test's GIL.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

ENDPOINT_VAR = "MIRROR_TEST_S3_ENDPOINT"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


def unavailable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"no S3 test server under CI: {why}", pytrace=False)
    pytest.skip(f"no S3 test server: {why}")


def endpoint() -> Iterator[str]:
    """The endpoint URL for the whole session (a generator: the in-process server stops after it)."""
    given = os.environ.get(ENDPOINT_VAR)
    if given:
        yield given
        return
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        unavailable(f"{ENDPOINT_VAR} is unset and moto is not installed ({exc}); pip install -e '.[dev,cloud]'")
        return
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def client(url: str):
    """A plain boto3 client of the test server (the test's own view of the bucket)."""
    import boto3

    return boto3.client("s3", endpoint_url=url, aws_access_key_id="test", aws_secret_access_key="test",
                        region_name="us-east-1")


def new_bucket(url: str) -> str:
    name = f"mirror-{secrets.token_hex(6)}"
    client(url).create_bucket(Bucket=name)
    return name


def empty_bucket(url: str, name: str) -> None:
    s3 = client(url)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", ())]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys})
    s3.delete_bucket(Bucket=name)

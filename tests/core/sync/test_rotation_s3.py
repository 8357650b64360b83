"""Rotation and a versioned wipe over an S3 bucket (moto): SYNC.md "What proves it right" 19 and 20."""

from __future__ import annotations

import pytest

import s3_server
from keyring_backends import MemoryKeyring
from sync_helpers import ENV, Device, cheap_sync_kdf, dump  # noqa: F401 (fixture)
from mirror_cli.crypto.passphrase import KeyCache
from mirror_cli.errors import LockedError
from mirror_cli.remotes.s3 import S3Remote
from mirror_cli.sync import config, engine, rotate, wipe

pytestmark = pytest.mark.usefixtures("cheap_sync_kdf")


@pytest.fixture
def pair(tmp_path, s3_endpoint, s3_bucket):
    remotes = [S3Remote(s3_bucket, "journal", endpoint_url=s3_endpoint) for _ in range(2)]
    devs = [Device(tmp_path / n / "mirror.db", n) for n in ("laptop", "desktop")]
    for d, r in zip(devs, remotes):
        d.add_remote("home", r, url=r.url)
    yield (*devs, remotes)
    for r in remotes:
        r.close()
    s3 = s3_server.client(s3_endpoint)  # versions too, so the fixture can delete the bucket
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=s3_bucket):
        for v in [*page.get("Versions", ()), *page.get("DeleteMarkers", ())]:
            s3.delete_object(Bucket=s3_bucket, Key=v["Key"], VersionId=v["VersionId"])


def test_rotation_over_s3_moves_every_device(pair):
    a, b, (ra, rb) = pair
    cache = KeyCache(backend=MemoryKeyring())
    a.reflect("on the laptop")
    b.reflect("on the desktop")
    for d in (a, b, a):
        d.sync()
    b.sync(cache=cache)  # B's KEK cached
    with a.store() as store, engine.SyncLock(store.path):
        result = rotate.rotate(store, config.get_remote(store, "home"), ra, engine.Options(env=ENV))
    assert result.generation == 2
    with pytest.raises(LockedError, match="rotated on 'laptop'"):
        b.sync(env={}, cache=cache)
    b.reflect("after the rotation")
    b.sync(cache=cache)
    a.sync()
    b.sync(env={}, cache=cache)
    assert dump(a) == dump(b) and len(a.entries()) == 3


def test_wipe_deletes_older_versions_and_keeps_what_is_not_sync(pair, s3_endpoint, s3_bucket):
    a, b, (ra, rb) = pair
    s3 = s3_server.client(s3_endpoint)
    s3.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    a.reflect("one")
    a.sync()
    a.reflect("two")
    a.sync(compact=True, gc_grace_s=0)  # a checkpoint and collected segments: older versions exist
    a.sync()
    ra.put("backups/not-sync.mbk", b"a backup")
    with a.store() as store:
        count, left = wipe.wipe(store, config.get_remote(store, "home"), ra, ENV, interactive=False, cache=None)
    assert count > 0
    assert any("older object version(s)" in line and "deleted too" in line for line in left), left
    versions = s3.list_object_versions(Bucket=s3_bucket, Prefix="journal/")
    keys = {v["Key"] for v in [*versions.get("Versions", ()), *versions.get("DeleteMarkers", ())]}
    assert keys == {"journal/backups/not-sync.mbk"}

"""backup.location: a backup's URL and back, local paths, and the private local copy of a remote's object."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mirror_cli.backup import location
from mirror_cli.errors import UsageError
from mirror_cli.remotes.base import NotFound
from mirror_cli.remotes.folder import FolderRemote

NAME = "mirror-20260101T000000.000Z-abcdef.backup"


@pytest.mark.parametrize("url, expected", [
    (f"s3://b/p/backups/{NAME}", ("s3://b/p", f"backups/{NAME}")),
    (f"s3://b/backups/{NAME}", ("s3://b", f"backups/{NAME}")),
    (f"s3://b/p/{NAME}", ("s3://b/p", NAME)),
    (f"s3://backups/{NAME}", ("s3://backups", NAME)),  # a bucket named backups
    (f"postgresql://h/db/backups/{NAME}?table=t", ("postgresql://h/db?table=t", f"backups/{NAME}")),
    (f"postgresql:///db/backups/{NAME}", ("postgresql:///db", f"backups/{NAME}")),
])
def test_split_object(url, expected):
    assert location.split_object(url) == expected


@pytest.mark.parametrize("url", ["s3://b/p", "s3://b/p/backups/notes.txt", "postgresql://h/db?table=t"])
def test_a_url_naming_no_backup_is_a_usage_error(url):
    with pytest.raises(UsageError):
        location.split_object(url)


def test_where_and_split_object_agree():
    class Fake:  # only .url is used for a remote that is not a folder
        url = "postgresql://h/db?table=t"

    shown = location.where(Fake(), f"backups/{NAME}")
    assert shown == f"postgresql://h/db/backups/{NAME}?table=t"
    assert location.split_object(shown) == (Fake.url, f"backups/{NAME}")


def test_parse_local_paths_and_urls(tmp_path):
    assert location.parse(str(tmp_path / "x")) == tmp_path / "x"
    assert location.parse(f"file://{tmp_path}/x") == tmp_path / "x"
    assert location.parse("s3://b/p") == "s3://b/p"
    assert location.parse("relative") == Path.cwd() / "relative"


def test_a_remote_backup_is_read_from_a_private_copy_removed_after(tmp_path, monkeypatch):
    """fetched() copies the whole object into a 0700 working folder and removes it; a folder remote stands in
    for a bucket here (the URL path is what S3 and PostgreSQL use)."""
    root = tmp_path / "remote"
    FolderRemote(root, mkdir=True).put(f"backups/{NAME}", b"bytes of a backup")
    real_open = location.open_remote
    monkeypatch.setattr(location, "open_remote", lambda url, **kw: real_open(str(root), **kw))
    with location.fetched(f"s3://bucket/backups/{NAME}", local=tmp_path / "db") as path:
        assert path.read_bytes() == b"bytes of a backup" and path.name == NAME
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
        assert root not in path.parents
        folder = path.parent
    assert not folder.exists()
    with pytest.raises(NotFound), location.fetched(f"s3://bucket/backups/{NAME.replace('abcdef', 'abcde0')}",
                                                   local=tmp_path / "db"):
        pass

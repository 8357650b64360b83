"""mirror_cli.remotes.url: location strings to Remotes, and the refusals with their exit codes."""

from __future__ import annotations

import sys
from contextlib import closing

import pytest

from mirror_cli.errors import ExitCode, MirrorError
from mirror_cli.remotes import url as url_mod
from mirror_cli.remotes.folder import FolderRemote
from mirror_cli.remotes.url import CloudExtraMissing, is_remote_url, open_remote, redact


@pytest.mark.parametrize("location, expected", [
    ("/media/usb/mirror", False), ("relative/dir", False), ("~/Dropbox/mirror", False), ("./ftp://x", False),
    ("C:/Users/me", False), ("s3:bucket", False), ("", False),
    ("file:///tmp/x", True), ("s3://bucket/prefix", True), ("postgresql://db.example/mirror", True),
    ("postgres://h/d", True), ("S3://Bucket", True), ("ftp://host/x", True), ("git+ssh://h/x", True),
])
def test_is_remote_url(location, expected):
    assert is_remote_url(location) is expected


def test_a_path_and_a_file_url_open_the_same_folder(tmp_path, monkeypatch):
    folder = tmp_path / "my remote"
    folder.mkdir()
    monkeypatch.chdir(tmp_path)
    for location in (str(folder), "my remote", folder.as_uri(), f"file://localhost{folder}",
                     "file://" + str(folder).replace(" ", "%20")):
        with closing(open_remote(location)) as remote:
            assert isinstance(remote, FolderRemote) and remote.root == folder, location
            with closing(open_remote(remote.url)) as again:  # url is something open_remote takes back
                assert again.root == folder


def test_a_tilde_is_the_home_folder(tmp_path):
    (tmp_path / "home" / "sync").mkdir()  # conftest points HOME at tmp_path/home
    with closing(open_remote("~/sync")) as remote:
        assert remote.root == tmp_path / "home" / "sync"


def test_a_missing_folder_is_exit_1_unless_mkdir(tmp_path):
    target = tmp_path / "usb" / "mirror"
    for location in (str(target), target.as_uri()):
        with pytest.raises(MirrorError) as info:
            open_remote(location)
        assert info.value.exit_code == ExitCode.FAILED and str(target) in str(info.value)
    assert not target.exists()
    with closing(open_remote(target.as_uri(), mkdir=True)) as remote:
        remote.put_new("x", b"1")
    assert (target / "x").read_bytes() == b"1"


@pytest.mark.parametrize("location", ["s3://bucket", "s3://bucket/some/prefix/", "postgresql://db.example/mirror",
                                      "postgres://user@db.example:5432/mirror?sslmode=require&table=objs"])
def test_s3_and_postgres_name_the_cloud_extra_exit_1(location, monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)  # an install without the extra
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as without the extra: import psycopg -> ImportError
    with pytest.raises(CloudExtraMissing) as info:
        open_remote(location)
    assert info.value.exit_code == ExitCode.FAILED and "mirror-cli[cloud]" in str(info.value)
    kind, library = ("S3", "boto3") if location.startswith("s3") else ("PostgreSQL", "psycopg")
    assert info.value.message == f"{kind} remotes need the extra mirror-cli[cloud] ({library})."  # one wording
    assert info.value.hint == "Install it: pip install 'mirror-cli[cloud]'."


@pytest.mark.parametrize("location", ["postgresql://me:s3cr3t@db.example/mirror",
                                      "postgres://me:s3cr3t@db.example:6543/postgres?sslmode=require",
                                      "postgresql://db.example/mirror?user=me&password=s3cr3t",
                                      "postgresql://db.example/mirror?PassWord=s3cr3t"])
def test_a_password_in_a_postgres_url_is_a_usage_error_and_never_echoed(location):
    with pytest.raises(MirrorError) as info:
        open_remote(location)
    message = str(info.value)
    assert info.value.exit_code == ExitCode.USAGE and "s3cr3t" not in message
    assert "PGPASSWORD" in message and "***" in message


@pytest.mark.parametrize("location", ["ftp://host/x", "https://me:hunter2@example.com/x", "s3://", "file://nas/share",
                                      "file:///tmp/x?mode=1", "file://", "   ", "", "http://[::1/x"])
def test_anything_else_is_a_usage_error_naming_it(location):
    with pytest.raises(MirrorError) as info:
        open_remote(location)
    message = str(info.value)
    assert info.value.exit_code == ExitCode.USAGE and "hunter2" not in message
    if location.strip():
        assert redact(location).split("?")[0] in message


def test_options_are_for_s3_and_unset_ones_are_ignored(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)  # an install without the extra
    with pytest.raises(MirrorError) as info:
        open_remote(str(tmp_path), options={"region": "eu-west-1"})
    assert info.value.exit_code == ExitCode.USAGE and "region" in str(info.value)
    with closing(open_remote(str(tmp_path), options={"region": None, "endpoint_url": None})) as remote:
        assert remote.root == tmp_path
    with pytest.raises(CloudExtraMissing):  # s3 takes them (and then needs the extra)
        open_remote("s3://b/p", options={"region": "eu-west-1", "endpoint_url": "http://127.0.0.1:9000"})


def test_a_new_scheme_plugs_into_loaders(tmp_path, monkeypatch):
    seen = []

    def load(parts, mkdir, options):
        seen.append((parts.netloc, parts.path, mkdir, options))
        return FolderRemote(tmp_path)

    monkeypatch.setitem(url_mod.LOADERS, "mem", load)
    with closing(open_remote("mem://box/p", mkdir=True, options={"x": 1, "y": None})):
        pass
    assert seen == [("box", "/p", True, {"x": 1})]


def test_redact_hides_passwords_and_keeps_the_rest():
    assert redact("postgresql://me:pw@h:5432/db?sslmode=require&password=pw2") == \
        "postgresql://me:***@h:5432/db?sslmode=require&password=***"
    assert redact("s3://bucket/prefix") == "s3://bucket/prefix"
    assert redact("/plain/path") == "/plain/path"

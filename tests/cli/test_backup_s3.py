"""Backups in an S3 bucket (issue 14): `backup create -o s3://...`, list, verify, restore into a new
MIRROR_HOME, prune; damaged objects; `backup.dir` and a remote's NAME as locations; no cloud extra.
The cases are shared with PostgreSQL (tests/backup_remotes.py); the bucket is moto's (tests/s3_server.py)."""

from __future__ import annotations

import json
import sys

import pytest

import backup_remotes as cases


@pytest.fixture
def where(s3_endpoint, s3_bucket, monkeypatch):
    """(location URL, the test's view of it); a bare s3:// URL takes AWS_ENDPOINT_URL, as the AWS tools do."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    url = f"s3://{s3_bucket}/nightly"
    return url, cases.Raw(url)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_round_trip_through_a_bucket(cli, where, mirror_home, tmp_path, encrypted):
    url, raw = where
    made = cases.round_trip(cli, url, raw, mirror_home, tmp_path, encrypted=encrypted)
    assert made["path"].startswith(f"{url}/backups/mirror-") and made["path"].endswith(".backup")


def test_an_encrypted_backup_needs_its_passphrase_on_a_new_machine(cli, where, mirror_home, tmp_path):
    cases.encrypted_needs_its_passphrase(cli, where[0], mirror_home, tmp_path)


def test_tampered_truncated_and_foreign_objects_change_nothing(cli, where, mirror_home):
    cases.damaged_objects_change_nothing(cli, *where, mirror_home)


def test_prune_in_a_bucket_keeps_by_rule_and_leaves_other_journals(cli, where, mirror_home, tmp_path):
    cases.prune_keeps_rules_and_other_journals(cli, *where, mirror_home, tmp_path)


def test_two_prunes_at_once_in_a_bucket(where, mirror_home, monkeypatch):
    cases.two_prunes_at_once(*where, mirror_home, monkeypatch)


def test_backup_dir_in_config_and_a_remote_name(cli, s3_endpoint, s3_bucket, mirror_home, monkeypatch):
    from mirror_cli.db.store import Store
    from mirror_cli.sync import config as sync_config

    url = f"s3://{s3_bucket}/cfg"
    raw = cases.Raw(url, {"endpoint_url": s3_endpoint})

    def add_remote(db):  # a configured remote: its endpoint applies, no AWS_ENDPOINT_URL needed
        with Store.open(db) as s, s.write():
            sync_config.add_remote(s, "cloud", url, {"endpoint_url": s3_endpoint})

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    cases.config_and_named_locations(cli, url, raw, mirror_home, url, None)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    add_remote(mirror_home / "mirror.db")
    r = cli("backup", "create", "-o", "cloud", "--json")
    assert r.exit_code == 0, r.stderr
    assert len(json.loads(cli("backup", "list", "cloud", "--json").stdout)) == 2
    r = cli("backup", "prune", "--in", "cloud", "--keep-last", "1", "--json")
    assert r.exit_code == 0, r.stderr
    assert len(json.loads(r.stdout)["removed"]) == 1 and len([n for n in raw.names() if n.startswith("backups/")]) == 1


def test_without_the_cloud_extra_the_message_names_it(cli, journal_db, monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)  # an install without mirror-cli[cloud]
    for args in (("backup", "create", "-o", "s3://bucket/p"), ("backup", "list", "s3://bucket/p"),
                 ("backup", "verify", "s3://bucket/p/backups/mirror-20260101T000000.000Z-abcdef.backup"),
                 ("backup", "prune", "--in", "s3://bucket/p", "--keep-last", "1")):
        r = cli(*args)
        assert r.exit_code == 1 and "mirror-cli[cloud]" in r.stderr and r.stdout == "", (args, r.stderr)
    assert not (journal_db.parent / "backups").exists()


def test_a_url_that_names_no_backup_is_a_usage_error(cli, where, journal_db):
    r = cli("backup", "verify", f"{where[0]}/backups/notes.txt")
    assert r.exit_code == 2 and "does not name one backup" in r.stderr
    r = cli("backup", "restore", f"{where[0]}/backups/mirror-20260101T000000.000Z-abcdef.backup", "--yes")
    assert r.exit_code == 1 and "there is no backup" in r.stderr and r.stdout == ""

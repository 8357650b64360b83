"""Backups in PostgreSQL (issue 14): `backup create -o postgresql://...`, list, verify, restore into a new
MIRROR_HOME, prune; damaged rows; `backup.dir` and a remote's NAME as locations; a password in the URL
refused (exit 2, never echoed); no cloud extra. The cases are shared with S3 (tests/backup_remotes.py);
the server is tests/pg_helpers.py's."""

from __future__ import annotations

import json
import sys

import pytest

import backup_remotes as cases
from pg_helpers import fresh_table, pg_url, sql, with_table  # noqa: F401 - fixtures


@pytest.fixture
def where(pg_url, fresh_table):  # noqa: F811
    url = with_table(pg_url, fresh_table)
    return url, cases.Raw(url)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_round_trip_through_postgres(cli, where, mirror_home, tmp_path, encrypted):
    url, raw = where
    made = cases.round_trip(cli, url, raw, mirror_home, tmp_path, encrypted=encrypted)
    base, _, table = url.partition("?")
    assert made["path"].startswith(f"{base}/backups/mirror-") and made["path"].endswith(f".backup?{table}")


def test_an_encrypted_backup_needs_its_passphrase_on_a_new_machine(cli, where, mirror_home, tmp_path):
    cases.encrypted_needs_its_passphrase(cli, where[0], mirror_home, tmp_path)


def test_tampered_truncated_and_foreign_rows_change_nothing(cli, where, mirror_home):
    cases.damaged_objects_change_nothing(cli, *where, mirror_home)


def test_prune_in_postgres_keeps_by_rule_and_leaves_other_journals(cli, where, mirror_home, tmp_path):
    cases.prune_keeps_rules_and_other_journals(cli, *where, mirror_home, tmp_path)


def test_two_prunes_at_once_in_postgres(where, mirror_home, monkeypatch):
    cases.two_prunes_at_once(*where, mirror_home, monkeypatch)


def test_backup_dir_in_config_and_a_remote_name(cli, where, mirror_home):
    from mirror_cli.db.store import Store
    from mirror_cli.sync import config as sync_config

    url, raw = where

    def add_remote(db):
        with Store.open(db) as s, s.write():
            sync_config.add_remote(s, "cloud", url, {})

    cases.config_and_named_locations(cli, url, raw, mirror_home, url, add_remote)


def test_a_password_in_the_url_is_refused_and_never_shown(cli, journal_db, pg_url):  # noqa: F811
    secret = "pw-s3cr3t"
    host = pg_url.split("@", 1)[1]
    for url in (f"postgresql://postgres:{secret}@{host}", f"postgresql://postgres@{host}?password={secret}"):
        obj = url.replace("/postgres", "/postgres/backups/mirror-20260101T000000.000Z-abcdef.backup", 1) \
            if "?" in url else f"{url}/backups/mirror-20260101T000000.000Z-abcdef.backup"
        for args in (("backup", "create", "-o", url), ("backup", "list", url), ("backup", "verify", obj),
                     ("backup", "restore", obj, "--yes"), ("backup", "prune", "--in", url, "--keep-last", "1")):
            r = cli(*args)
            assert r.exit_code == 2 and "password" in r.stderr and secret not in r.stderr + r.stdout, (args, r.stderr)
    assert not (journal_db.parent / "backups").exists()


def test_without_the_cloud_extra_the_message_names_it(cli, journal_db, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # an install without mirror-cli[cloud]
    for args in (("backup", "create", "-o", "postgresql://localhost/db"), ("backup", "list", "postgresql://h/db"),
                 ("backup", "prune", "--in", "postgresql://h/db", "--keep-last", "1")):
        r = cli(*args)
        assert r.exit_code == 1 and "mirror-cli[cloud]" in r.stderr and r.stdout == "", (args, r.stderr)


def test_a_byte_changed_in_place_is_exit_3(cli, where, journal_db):
    url, raw = where
    made = json.loads(cli("backup", "create", "-o", url, "--json").stdout)
    table = url.rpartition("table=")[2]
    sql(url.partition("?")[0], f"UPDATE {table} SET body = set_byte(body, 300, get_byte(body, 300) # 1)")
    r = cli("backup", "verify", made["path"], "--json")
    assert r.exit_code == 3 and json.loads(r.stdout)["ok"] is False

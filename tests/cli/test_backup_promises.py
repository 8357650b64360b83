"""Promises of `mirror backup` from issue 12: no folder made without --mkdir, backups know their journal,
plain backups are only checksummed (and never replace an encrypted journal without --allow-plain)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mirror_cli.crypto import manage as keyops
from mirror_cli.db.store import Store
from mirror_cli.journal import reflections as journal
from helpers import cheap

PW = "correct horse battery staple"


def _journal(path: Path, n: int = 2) -> Path:
    with Store.open(path) as s:
        for i in range(n):
            journal.add(s, f"entry {i} of {path.stem}")
    return path


def _made(cli, *args, env=None) -> dict:
    r = cli(*args, "backup", "create", "--json", env=env) if args and args[0] == "--db" else \
        cli("backup", "create", "--json", *args, env=env)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


# -- item 7: a missing destination folder is created only with --mkdir ---------------------------

def test_create_refuses_a_missing_output_folder_without_mkdir(cli, mirror_home, tmp_path):
    _journal(mirror_home / "mirror.db")
    usb = tmp_path / "media" / "usb" / "mirror"  # the disk is not mounted: the folder is not there
    r = cli("backup", "create", "-o", usb)
    assert r.exit_code == 1
    assert str(usb) in r.stderr and "--mkdir" in r.stderr
    assert not usb.exists() and not (tmp_path / "media").exists()
    r = cli("backup", "create", "-o", usb / "named.backup")  # a file path in a missing folder: the same
    assert r.exit_code == 1 and str(usb) in r.stderr and not usb.exists()
    made = _made(cli, "-o", usb, "--mkdir")
    assert Path(made["path"]).parent == usb


def test_create_refuses_a_missing_configured_backups_folder(cli, mirror_home, tmp_path):
    _journal(mirror_home / "mirror.db")
    usb = tmp_path / "usb" / "backups"
    (mirror_home / "config.yaml").write_text(f"backup:\n  dir: {usb}\n")
    r = cli("backup", "create")
    assert r.exit_code == 1 and str(usb) in r.stderr and "--mkdir" in r.stderr
    assert not usb.exists()
    assert Path(_made(cli, "--mkdir")["path"]).parent == usb


def test_the_default_backups_folder_beside_the_journal_is_made_on_first_use(cli, mirror_home):
    _journal(mirror_home / "mirror.db")
    assert not (mirror_home / "backups").exists()
    made = _made(cli)
    assert Path(made["path"]).parent == mirror_home / "backups"

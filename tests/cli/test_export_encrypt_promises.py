"""`export --encrypt` gives each file its own key, from a passphrase for that file (issue 12, item 16):
the recipient of an encrypted export never holds the journal's data key."""

from __future__ import annotations

import io
import json

import pytest

from mirror_cli import crypto
from mirror_cli.crypto import passphrase as keys
from mirror_cli.crypto.unlocked import UnlockedKey
from mirror_cli.db.store import Store
from mirror_cli.errors import LockedError, UsageError
from mirror_cli.exchange import export

PW = "correct horse battery staple"
FILE_PW = "a passphrase for this file only"


@pytest.fixture
def journal(cli, mirror_home):
    assert cli("reflect", "a private thought #walks").exit_code == 0
    assert cli("key", "enable", env={"MIRROR_NEW_PASSPHRASE": PW}).exit_code == 0
    return mirror_home / "mirror.db"


def journal_key(db) -> tuple[dict, bytes]:
    with Store.open(db) as s:
        meta = json.loads(s.meta("crypto"))
        record = crypto.CryptoMeta.from_dict(meta)
        return meta, crypto.unwrap_data_key(crypto.derive_kek(PW, record.kdf), record.wrapped_key, s.db_id)


def header_of(path) -> crypto.ContainerHeader:
    with open(path, "rb") as fh:
        return crypto.read_container_header(fh)


def test_an_encrypted_export_has_its_own_key_not_the_journals(cli, journal, tmp_path):
    sealed = tmp_path / "out.mirrorenc"
    r = cli("export", "--encrypt", "-o", sealed, env={"MIRROR_PASSPHRASE": PW, "MIRROR_EXPORT_PASSPHRASE": FILE_PW})
    assert r.exit_code == 0, r.stderr
    meta, dek = journal_key(journal)
    header = header_of(sealed)
    assert header.key_id != meta["key_id"] and header.kdf.salt != crypto.CryptoMeta.from_dict(meta).kdf.salt
    with pytest.raises(LockedError):  # the journal's data key does not open it
        crypto.container_key(header, dek=dek)
    with pytest.raises(LockedError):  # nor the journal's passphrase
        crypto.container_key(header, passphrase=PW)
    file_key = crypto.container_key(header, passphrase=FILE_PW)
    assert file_key != dek


def test_each_export_gets_a_fresh_key_and_salt(cli, journal, tmp_path):
    env = {"MIRROR_PASSPHRASE": PW, "MIRROR_EXPORT_PASSPHRASE": FILE_PW}
    a, b = tmp_path / "a.enc", tmp_path / "b.enc"
    assert cli("export", "--encrypt", "-o", a, env=env).exit_code == 0
    assert cli("export", "--encrypt", "-o", b, env=env).exit_code == 0
    ha, hb = header_of(a), header_of(b)
    assert ha.key_id != hb.key_id and ha.kdf.salt != hb.kdf.salt


def test_import_asks_for_the_files_passphrase(cli, journal, tmp_path):
    sealed = tmp_path / "out.mirrorenc"
    assert cli("export", "--encrypt", "-o", sealed,
               env={"MIRROR_PASSPHRASE": PW, "MIRROR_EXPORT_PASSPHRASE": FILE_PW}).exit_code == 0
    # the journal's own key and passphrase do not open it, even on the journal that made it
    r = cli("import", sealed, "--dry-run", env={"MIRROR_PASSPHRASE": PW})
    assert r.exit_code == 4 and "MIRROR_IMPORT_PASSPHRASE" in r.stderr
    r = cli("import", sealed, "--json", env={"MIRROR_PASSPHRASE": PW, "MIRROR_IMPORT_PASSPHRASE": FILE_PW})
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["skipped"]["reflections"] == 1


def test_without_an_export_passphrase_the_journal_passphrase_seals_a_fresh_key(cli, journal, tmp_path):
    sealed = tmp_path / "out.mirrorenc"
    assert cli("export", "--encrypt", "-o", sealed, env={"MIRROR_PASSPHRASE": PW}).exit_code == 0
    meta, dek = journal_key(journal)
    header = header_of(sealed)
    assert header.key_id != meta["key_id"]
    assert crypto.container_key(header, passphrase=PW) != dek


def test_an_old_export_sealed_with_the_journal_key_still_imports(cli, journal, tmp_path, monkeypatch):
    meta, dek = journal_key(journal)
    record = crypto.CryptoMeta.from_dict(meta)
    with Store.open(journal) as s:
        s.key = UnlockedKey.from_dek(dek)
        old = export.ContainerKeys(dek, record.kdf, record.wrapped_key, s.db_id, True)
        buf = io.BytesIO()
        export.write_sealed(s, buf, old)
    (tmp_path / "old.enc").write_bytes(buf.getvalue())
    monkeypatch.setenv("MIRROR_HOME", str(tmp_path / "fresh"))
    r = cli("import", tmp_path / "old.enc", "--json", env={"MIRROR_PASSPHRASE": PW})
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["added"]["reflections"] == 1


def test_the_export_passphrase_is_asked_twice_on_a_terminal():
    answers = iter([FILE_PW, FILE_PW])
    found = keys.export_passphrase({}, True, prompt=lambda _q: next(answers))
    assert found.value == FILE_PW and found.source == keys.SOURCE_PROMPT
    answers = iter([FILE_PW, "something else"])
    with pytest.raises(UsageError):
        keys.export_passphrase({}, True, prompt=lambda _q: next(answers))
    with pytest.raises(LockedError):
        keys.export_passphrase({}, False)

"""Promises of `mirror key` about weak passphrases and plaintext keyrings (issue 12, items 17 and 15)."""

from __future__ import annotations

import json

import pytest

from mirror_cli import crypto
from mirror_cli.crypto import manage as keyops
from mirror_cli.crypto import passphrase as keys
from mirror_cli.db.store import Store
from mirror_cli.errors import UsageError

GOOD = "correct horse battery staple"


def cheap() -> crypto.KdfParams:
    return crypto.new_kdf_params(iterations=1, lanes=1, memory_cost=8)


@pytest.mark.parametrize("weak", [" ", "seven77", "password1", "aaaaaaaaaaaa", "abababababab", "12345678",
                                  "abcdefghij", "PASSWORD123"])
def test_weak_new_passphrases_are_found_weak(weak):
    assert keys.weakness(weak) is not None


@pytest.mark.parametrize("fine", [GOOD, "river stone", "Tr0ub4dor&3", "a different passphrase"])
def test_ordinary_passphrases_are_not_found_weak(fine):
    assert keys.weakness(fine) is None


def test_the_journal_name_is_found_weak():
    assert keys.weakness("dailyjournal", ("dailyjournal.db", "dailyjournal")) is not None


@pytest.mark.parametrize("weak", [" ", "short", "password123"])
def test_key_enable_refuses_a_weak_passphrase_and_leaves_the_journal_plain(cli, weak):
    assert cli("reflect", "a private thought").exit_code == 0
    r = cli("key", "enable", env={"MIRROR_NEW_PASSPHRASE": weak})
    assert r.exit_code == 2
    assert "too weak" in r.stderr and "--allow-weak" in r.stderr
    assert json.loads(cli("key", "status", "--json").stdout)["encrypted"] is False


def test_key_enable_takes_a_weak_passphrase_with_allow_weak(cli):
    assert cli("reflect", "a private thought").exit_code == 0
    r = cli("key", "enable", "--allow-weak", env={"MIRROR_NEW_PASSPHRASE": " "})
    assert r.exit_code == 0, r.stderr
    assert json.loads(cli("key", "status", "--json", env={"MIRROR_PASSPHRASE": " "}).stdout)["unlocked"] is True


def test_key_change_refuses_a_weak_passphrase_and_keeps_the_old_one(cli):
    assert cli("reflect", "a private thought").exit_code == 0
    assert cli("key", "enable", env={"MIRROR_NEW_PASSPHRASE": GOOD}).exit_code == 0
    r = cli("key", "change", env={"MIRROR_PASSPHRASE": GOOD, "MIRROR_NEW_PASSPHRASE": "1234"})
    assert r.exit_code == 2
    assert "too weak" in r.stderr
    assert json.loads(cli("key", "status", "--json", env={"MIRROR_PASSPHRASE": GOOD}).stdout)["unlocked"] is True
    r = cli("key", "change", "--allow-weak", env={"MIRROR_PASSPHRASE": GOOD, "MIRROR_NEW_PASSPHRASE": "1234"})
    assert r.exit_code == 0, r.stderr


def test_core_enable_refuses_a_weak_passphrase(journal_db):
    with Store.open(journal_db) as store:
        with pytest.raises(UsageError):
            keyops.enable(store, {"MIRROR_NEW_PASSPHRASE": "pw"}, interactive=False, kdf_params=cheap())
        assert not store.encrypted


# --- item 15: a plaintext "OS keyring" is not used unless allowed -----------------------------------------


def _plaintext_keyring():
    """A MemoryKeyring whose class lives in a module named like keyrings.alt's file backends."""
    from keyring_backends import MemoryKeyring

    cls = type("PlaintextKeyring", (MemoryKeyring,), {"__module__": "keyrings.alt.file"})
    return cls()


def test_a_plaintext_keyring_is_not_used_and_mirror_says_so(cli):
    from keyring_backends import keyring_backend

    assert cli("reflect", "a private thought").exit_code == 0
    with keyring_backend(_plaintext_keyring()) as kr:
        r = cli("key", "enable", env={"MIRROR_NEW_PASSPHRASE": GOOD})
        assert r.exit_code == 0, r.stderr
        assert kr.entries == {}  # nothing written to the plain-text file
        assert "plain text" in r.stderr and "MIRROR_ALLOW_PLAINTEXT_KEYRING" in r.stderr
        assert r.stderr.count("plain text") == 1
        assert "cached in the OS keyring" not in r.stdout
        status = json.loads(cli("key", "status", "--json").stdout)
        assert status["keyring_backend"] == "keyrings.alt.file.PlaintextKeyring"
        assert status["keyring_available"] is False
        assert cli("key", "unlock", env={"MIRROR_PASSPHRASE": GOOD}).exit_code == 4
        assert kr.entries == {}


def test_a_plaintext_keyring_is_used_when_allowed(cli):
    from keyring_backends import keyring_backend

    assert cli("reflect", "a private thought").exit_code == 0
    with keyring_backend(_plaintext_keyring()) as kr:
        r = cli("key", "enable", env={"MIRROR_NEW_PASSPHRASE": GOOD, "MIRROR_ALLOW_PLAINTEXT_KEYRING": "1"})
        assert r.exit_code == 0, r.stderr
        assert len(kr.entries) == 1
        assert "plain text" not in r.stderr


def test_key_status_names_the_keyring_backend(cli):
    from keyring_backends import MemoryKeyring, keyring_backend

    assert cli("reflect", "a private thought").exit_code == 0
    with keyring_backend(MemoryKeyring()):
        status = json.loads(cli("key", "status", "--json").stdout)
        assert status["keyring_backend"] == "keyring_backends.MemoryKeyring"
        assert "keyring_backends.MemoryKeyring" in cli("key", "status").stdout


def test_a_chainer_keeps_only_its_members_that_are_not_plaintext(monkeypatch):
    from keyring.backends import chainer
    from keyring_backends import MemoryKeyring

    safe, plain = MemoryKeyring(), _plaintext_keyring()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [plain, safe])
    cache = keys.KeyCache(backend=chainer.ChainerBackend(), env={})
    assert cache.store("db1", b"k" * crypto.KEY_SIZE)
    assert len(safe.entries) == 1 and plain.entries == {}
    assert "keyrings.alt.file.PlaintextKeyring" in (cache.notice() or "")


def test_a_key_file_nested_thousands_deep_is_invalid_input_not_an_internal_error(cli, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text('{"a":' * 3000 + "1" + "}" * 3000)
    assert cli("reflect", "x").exit_code == 0
    r = cli("key", "import", str(deep), env={"MIRROR_PASSPHRASE": "a long enough passphrase 1"})
    assert r.exit_code == 5, r.stderr
    assert "internal error" not in r.stderr

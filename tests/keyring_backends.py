"""Keyring backends for tests: one that remembers in memory, one that always fails, one in a file.

Select one explicitly with the ``keyring_backend`` helper (or
``keyring.set_keyring``) and restore the previous one afterwards;
tests/conftest.py already makes the process default the ``fail`` backend
(NoKeyringError), i.e. "no OS keyring".
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator

import keyring
from keyring.backend import KeyringBackend
from keyring.errors import KeyringError, PasswordDeleteError


class MemoryKeyring(KeyringBackend):
    """Keeps passwords in a dict, like an unlocked OS keyring."""

    priority = 1  # only ever selected explicitly (conftest pins PYTHON_KEYRING_BACKEND)

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.entries[(service, username)]
        except KeyError:
            raise PasswordDeleteError("no such password") from None


class FailingKeyring(KeyringBackend):
    """A keyring that exists but fails every call (locked keychain, broken D-Bus).

    The error message repeats what it was given, so tests can check that
    mirror scrubs a secret out of it.
    """

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def get_password(self, service: str, username: str) -> str | None:
        self.calls += 1
        raise KeyringError(f"keyring is locked (get {service}/{username})")

    def set_password(self, service: str, username: str, password: str) -> None:
        self.calls += 1
        raise KeyringError(f"keyring is locked (set {service}/{username} to {password})")

    def delete_password(self, service: str, username: str) -> None:
        self.calls += 1
        raise KeyringError(f"keyring is locked (delete {service}/{username})")


class FileKeyring(KeyringBackend):
    """Keeps passwords in the JSON file named by MIRROR_TEST_KEYRING_FILE: a keyring that outlives one
    process, for tests that run many `mirror` children (PYTHON_KEYRING_BACKEND=keyring_backends.FileKeyring,
    with tests/ on PYTHONPATH)."""

    priority = 1

    def _load(self) -> dict[str, str]:
        try:
            with open(os.environ["MIRROR_TEST_KEYRING_FILE"], encoding="utf-8") as fh:
                return json.load(fh)
        except FileNotFoundError:
            return {}

    def _save(self, entries: dict[str, str]) -> None:
        path = os.environ["MIRROR_TEST_KEYRING_FILE"]
        with open(path + ".tmp", "w", encoding="utf-8") as fh:
            json.dump(entries, fh)
        os.replace(path + ".tmp", path)

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        self._save({**self._load(), f"{service}/{username}": password})

    def delete_password(self, service: str, username: str) -> None:
        entries = self._load()
        if entries.pop(f"{service}/{username}", None) is None:
            raise PasswordDeleteError("no such password")
        self._save(entries)


@contextlib.contextmanager
def keyring_backend(backend: KeyringBackend) -> Iterator[KeyringBackend]:
    """Install *backend* process-wide for the block, then restore the previous one."""
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)

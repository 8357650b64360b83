"""Helpers shared by the tests (fixtures live in conftest.py): paths and cheap key derivation."""

from __future__ import annotations

from pathlib import Path

from mirror_cli import crypto

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"
ROOT = TESTS.parent  # the repository


def cheap() -> crypto.KdfParams:
    """Argon2id at its minimum cost: fast tests, the same code path as production."""
    return crypto.new_kdf_params(iterations=1, lanes=1, memory_cost=8)


cheap_params = cheap

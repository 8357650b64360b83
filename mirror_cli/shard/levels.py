"""Redundancy levels: how many shards are written (n) and how many restore the file (k)."""

from __future__ import annotations

from mirror_cli.errors import UsageError

LEVELS: dict[str, tuple[int, int]] = {
    "minimal": (2, 3),
    "personal": (3, 5),
    "federation": (5, 9),
    "paranoid": (7, 15),
}


def resolve_level(level: str | None = None, k: int | None = None, n: int | None = None) -> tuple[int, int]:
    """(k, n) from a level name or explicit values; UsageError when neither or both are valid."""
    if level is not None:
        if k is not None or n is not None:
            raise UsageError("give either --level or -k/-n, not both.")
        try:
            return LEVELS[level]
        except KeyError:
            names = ", ".join(LEVELS)
            raise UsageError(f"unknown redundancy level {level!r}.", f"Choose one of: {names}.") from None
    if k is None or n is None:
        raise UsageError("give a redundancy level (--level) or both -k and -n.")
    check_kn(k, n)
    return k, n


def check_kn(k: int, n: int) -> None:
    if (not isinstance(k, int) or not isinstance(n, int) or isinstance(k, bool) or isinstance(n, bool)
            or not 1 <= k <= n <= 255):
        raise UsageError(
            f"invalid shard counts k={k}, n={n}.",
            "K (shards needed) and N (shards written) must satisfy 1 <= K <= N <= 255.",
        )


def level_name(k: int, n: int) -> str | None:
    for name, kn in LEVELS.items():
        if kn == (k, n):
            return name
    return None

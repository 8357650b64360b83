"""Erasure-coded shards (``mirror shard``): any k of n shard files restore a file.

Public API (no printing; errors are :class:`~mirror_cli.errors.MirrorError`)::

    create(src, locations, k, n, progress=None) -> CreateResult
    verify(manifest) -> VerifyReport
    restore(manifest, output, progress=None) -> RestoreResult
    repair(manifest, progress=None) -> RepairResult

NumPy is imported only when data is encoded or decoded (see ``codec``).
"""

from __future__ import annotations

from mirror_cli.shard.ops import (
    LEVELS,
    CreateResult,
    RepairResult,
    RestoreResult,
    ShardStatus,
    VerifyReport,
    create,
    level_name,
    repair,
    resolve_level,
    restore,
    verify,
)

__all__ = [
    "LEVELS",
    "CreateResult",
    "RepairResult",
    "RestoreResult",
    "ShardStatus",
    "VerifyReport",
    "create",
    "level_name",
    "repair",
    "resolve_level",
    "restore",
    "verify",
]

"""What the shard operations return (``to_json()`` gives the CONTRACT.md ``--json`` shape), and
how they record themselves in the journal's audit chain.

A shard's place is shown as a string: for a folder location, the folder's absolute path joined
with the shard's name (as ``sha256sum`` or ``ls`` would show it); for another remote, its URL
and the name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:  # only for the annotation: the caller opens the store
    from mirror_cli.db.store import Store


@dataclass
class CreateResult:
    k: int
    n: int
    manifests: list[str]
    shards: list[str]  # in shard-index order
    set_id: str = ""
    level: str | None = None
    source: Path | None = None
    bytes: int = 0
    sha256: str = ""
    shard_sha256: list[str] = field(default_factory=list)
    merkle_root: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "n": self.n,
            "manifests": list(self.manifests),
            "shards": list(self.shards),
            "set_id": self.set_id,
            "level": self.level,
            "source": str(self.source) if self.source else None,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "merkle_root": self.merkle_root,
        }


@dataclass
class ShardStatus:
    index: int
    status: str  # "intact" | "missing" | "damaged"
    path: str | None  # where it was found (or, when missing, where the manifest says it lives)
    problems: list[str] = field(default_factory=list)
    bad_stripes: list[int] = field(default_factory=list)
    location: str | None = None  # the location it was found in (None when missing)
    stream: BinaryIO | None = field(default=None, repr=False)  # the checked shard, kept open for decoding

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "status": self.status, "path": self.path,
                "problems": self.problems, "bad_stripes": self.bad_stripes}


@dataclass
class VerifyReport:
    ok: bool  # all n shards intact
    recoverable: bool  # at least k intact
    k: int
    n: int
    intact: int
    missing: list[int]
    damaged: list[int]
    problems: list[str]
    manifest: Path | None = None
    shards: list[ShardStatus] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "recoverable": self.recoverable,
            "k": self.k,
            "n": self.n,
            "intact": self.intact,
            "missing": self.missing,
            "damaged": self.damaged,
            "problems": self.problems,
            "manifest": str(self.manifest) if self.manifest else None,
            "shards": [s.to_json() for s in self.shards],
        }


@dataclass
class RestoreResult:
    path: Path
    bytes: int
    sha256: str
    used: list[int]

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "bytes": self.bytes, "sha256": self.sha256, "used": self.used}


@dataclass
class RepairResult:
    repaired: list[int]
    paths: list[str] = field(default_factory=list)
    used: list[int] = field(default_factory=list)
    k: int = 0
    n: int = 0
    manifests: list[str] = field(default_factory=list)  # manifest copies written again

    def to_json(self) -> dict[str, Any]:
        return {"repaired": self.repaired, "paths": list(self.paths), "used": self.used,
                "k": self.k, "n": self.n, "manifests": list(self.manifests)}


def record(store: Store | None, event_type: str, data: dict[str, Any]) -> None:
    """Append one audit event to *store*'s chain; nothing when there is no journal (*store* None).

    The caller opens the store before any shard is touched, so that an encrypted journal
    without its key stops the command (exit 4) before the work, not after it.
    """
    if store is None:
        return
    with store.write():
        store.append_event(event_type, data)

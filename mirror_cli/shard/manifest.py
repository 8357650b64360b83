"""The shard-set manifest: a JSON file written to every location of a set.

Shape (version 1)::

    {"format": "mirror-shard-manifest", "version": 1,
     "set_id": "<32 hex>", "created_at": "2026-01-01T12:00:00.000Z",
     "k": 3, "n": 5, "level": "personal" | null,
     "matrix": "cauchy-gf256-0x11d-v1", "stripe_size": 1048576,
     "original": {"name": "x.mirror", "size": 123, "sha256": "<64 hex>"},
     "merkle_root": "<64 hex>",
     "shards": [{"index": 0, "file": "x.mirror.ab12cd34.000.shard",
                 "location": "/abs/folder" | "<remote URL>", "bytes": 200, "sha256": "<64 hex>",
                 "merkle_proof": [{"side": "left"|"right", "hash": "<64 hex>"}, ...]}, ...]}

``merkle_root`` is an RFC 6962-style Merkle tree over the shards' SHA-256
digests in index order (leaf = SHA-256(0x00 || digest), node =
SHA-256(0x01 || left || right)); each shard's ``merkle_proof`` is its audit
path from leaf to root. A manifest that cannot be read, parsed or validated
raises :class:`~mirror_cli.errors.InvalidInputError` (exit 5).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mirror_cli.errors import InvalidInputError
from mirror_cli.remotes.base import InvalidName, check_name
from mirror_cli.shard.format import MATRIX_ID, MATRIX_NAME, Geometry, ShardHeader, stripe_problem

FORMAT = "mirror-shard-manifest"
SHARD_SUFFIX = ".shard"
VERSION = 1
MANIFEST_SUFFIX = ".manifest.json"
MAX_ORIGINAL_SIZE = 1 << 50  # 1 PiB: beyond any journal backup; bounds what a hostile manifest can ask for
MAX_BYTES = 4 << 20  # 255 shards with long names make ~0.4 MB: bounds what a hostile copy makes us hold
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


# -- Merkle tree --------------------------------------------------------------

def _leaf(digest: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + digest).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(count: int) -> int:
    p = 1
    while p * 2 < count:
        p *= 2
    return p


def _root(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    m = _split(len(leaves))
    return _node(_root(leaves[:m]), _root(leaves[m:]))


def merkle_root(digests: list[str]) -> str:
    """Root over hex SHA-256 digests (empty list: SHA-256 of nothing)."""
    if not digests:
        return hashlib.sha256(b"").hexdigest()
    return _root([_leaf(bytes.fromhex(d)) for d in digests]).hex()


def merkle_proof(digests: list[str], index: int) -> list[dict[str, str]]:
    """Audit path for leaf ``index``, from the leaf up."""
    leaves = [_leaf(bytes.fromhex(d)) for d in digests]
    path: list[dict[str, str]] = []

    def walk(nodes: list[bytes], i: int) -> None:
        if len(nodes) == 1:
            return
        m = _split(len(nodes))
        if i < m:
            walk(nodes[:m], i)
            path.append({"side": "right", "hash": _root(nodes[m:]).hex()})
        else:
            walk(nodes[m:], i - m)
            path.append({"side": "left", "hash": _root(nodes[:m]).hex()})

    walk(leaves, index)
    return path


def verify_proof(digest: str, proof: list[dict[str, str]], root: str) -> bool:
    h = _leaf(bytes.fromhex(digest))
    for step in proof:
        sibling = bytes.fromhex(step["hash"])
        h = _node(sibling, h) if step["side"] == "left" else _node(h, sibling)
    return h.hex() == root


# -- manifest -----------------------------------------------------------------

@dataclass(frozen=True)
class ShardEntry:
    index: int
    file: str
    location: str
    bytes: int
    sha256: str
    merkle_proof: list[dict[str, str]]

    @property
    def path(self) -> Path:
        return Path(self.location) / self.file


@dataclass(frozen=True)
class Manifest:
    set_id: str
    created_at: str
    k: int
    n: int
    level: str | None
    matrix: str
    stripe_size: int
    original_name: str
    original_size: int
    original_sha256: str
    merkle_root: str
    shards: list[ShardEntry]

    def to_json(self) -> dict[str, Any]:
        data = self._fields()
        data["checksum"] = checksum(data)
        return data

    def file_name(self) -> str:
        """``<original name>.<8 hex of the set id>.manifest.json``, its name in every location."""
        return manifest_name(self.original_name, self.set_id)

    def header(self, index: int) -> ShardHeader:
        """The header shard *index* of this set must carry."""
        geo = Geometry(self.k, self.original_size, self.stripe_size)
        return ShardHeader(self.k, self.n, index, MATRIX_ID, bytes.fromhex(self.set_id), self.original_size,
                           self.stripe_size, geo.stripe_count, geo.data_length)

    def _fields(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "set_id": self.set_id,
            "created_at": self.created_at,
            "k": self.k,
            "n": self.n,
            "level": self.level,
            "matrix": self.matrix,
            "stripe_size": self.stripe_size,
            "original": {"name": self.original_name, "size": self.original_size, "sha256": self.original_sha256},
            "merkle_root": self.merkle_root,
            "shards": [
                {"index": s.index, "file": s.file, "location": s.location, "bytes": s.bytes,
                 "sha256": s.sha256, "merkle_proof": s.merkle_proof}
                for s in self.shards
            ],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"


def _stem(original_name: str) -> str:
    """The original's name as the start of object names: without leading dots, which a remote keeps
    for its temp files (the manifest still records the name itself, for restore)."""
    return original_name.lstrip(".") or "file"


def manifest_name(original_name: str, set_id: str) -> str:
    """``<original name>.<8 hex of the set id>.manifest.json``."""
    return f"{_stem(original_name)}.{set_id[:8]}{MANIFEST_SUFFIX}"


def shard_names(original_name: str, set_id: str, n: int) -> list[str]:
    """``<original name>.<8 hex of the set id>.<index:03>.shard`` for each of the *n* shards."""
    return [f"{_stem(original_name)}.{set_id[:8]}.{i:03d}{SHARD_SUFFIX}" for i in range(n)]


def checksum(data: dict[str, Any]) -> str:
    """SHA-256 of the manifest's canonical JSON without its ``checksum``: a copy damaged on its
    disk (one flipped bit in ``original.size``) is refused as such, and repair rewrites it. It is
    no seal: anyone can recompute it, so every field is still validated as hostile input."""
    body = {key: value for key, value in data.items() if key != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def load(path: Path) -> Manifest:
    """Read and validate a manifest file; InvalidInputError (exit 5) on any problem."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read the shard manifest {path}: {exc.strerror or exc}.",
            "Give the path of a .manifest.json file written by 'mirror shard create'.",
        ) from None
    return loads(raw, path)


def loads(raw: bytes, path: Path | str) -> Manifest:
    """Validate the bytes of a manifest (a copy read from a location shown as *path*); exit 5 on any problem.

    Read at most ``MAX_BYTES + 1`` of a copy: more is refused here, not parsed."""
    if len(raw) > MAX_BYTES:
        raise InvalidInputError(f"{path} is not a shard manifest: it is larger than {MAX_BYTES >> 20} MiB.")
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as exc:  # not UTF-8, not JSON, or a number of more digits than Python converts
        raise InvalidInputError(f"{path} is not a shard manifest: it is not valid JSON ({exc}).") from None
    except RecursionError:
        raise InvalidInputError(f"{path} is not a shard manifest: it is nested too deeply.") from None
    try:
        return parse(data)
    except _Damaged as exc:
        raise InvalidInputError(f"the shard manifest {path} is damaged: {exc}.",
                                "Use its copy in another location of the set (`mirror shard repair` with "
                                "that copy writes this one again).") from None
    except _Invalid as exc:
        raise InvalidInputError(f"{path} is not a valid shard manifest: {exc}.") from None


class _Invalid(Exception):
    pass


class _Damaged(_Invalid):
    pass


def _get(obj: Any, key: str, kind: type | tuple[type, ...], where: str = "") -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise _Invalid(f"missing field {where}{key!r}")
    value = obj[key]
    if isinstance(value, bool) and kind is not bool:
        raise _Invalid(f"field {where}{key!r} has the wrong type")
    if not isinstance(value, kind):
        raise _Invalid(f"field {where}{key!r} has the wrong type")
    return value


def _plain_name(name: str) -> bool:
    """A file name that names a file in its folder and nowhere else (on this system)."""
    return bool(name) and name not in (".", "..") and "\x00" not in name and Path(name).name == name


def _object_name(name: str) -> bool:
    """A name every remote takes as an object at the top of a location (remotes.base.check_name)."""
    try:
        check_name(name)
    except InvalidName:
        return False
    return True


def parse(data: Any) -> Manifest:
    if not isinstance(data, dict):
        raise _Invalid("the top level is not an object")
    if data.get("format") != FORMAT:
        raise _Invalid(f"'format' is not {FORMAT!r}")
    if data.get("version") != VERSION:
        raise _Invalid(f"unsupported version {data.get('version')!r}")
    # Manifests written before the checksum existed (same format version) have none: still read.
    if "checksum" in data and _get(data, "checksum", str) != checksum(data):
        raise _Damaged("its checksum does not match its content")
    k = _get(data, "k", int)
    n = _get(data, "n", int)
    if not 1 <= k <= n <= 255:
        raise _Invalid(f"k={k}, n={n} is not a valid shard set")
    set_id = _get(data, "set_id", str)
    if not _HEX32.match(set_id):
        raise _Invalid("'set_id' is not 32 hex digits")
    created_at = _get(data, "created_at", str)
    level = data.get("level")
    if level is not None and not isinstance(level, str):
        raise _Invalid("'level' has the wrong type")
    matrix = _get(data, "matrix", str)
    if matrix != MATRIX_NAME:
        raise _Invalid(f"unknown coding matrix {matrix!r}")
    stripe_size = _get(data, "stripe_size", int)
    problem = stripe_problem(stripe_size, n)
    if problem:
        raise _Invalid(f"'stripe_size' is not valid ({problem})")
    original = _get(data, "original", dict)
    name = _get(original, "name", str, "original.")
    size = _get(original, "size", int, "original.")
    sha = _get(original, "sha256", str, "original.")
    if not 0 <= size <= MAX_ORIGINAL_SIZE or not _HEX64.match(sha):
        raise _Invalid("'original' is not valid")
    if not _plain_name(name):  # restore writes it into the folder given with -o
        raise _Invalid("'original.name' is not a plain file name")
    shard_bytes = Geometry(k, size, stripe_size).shard_bytes
    root = _get(data, "merkle_root", str)
    shards_raw = _get(data, "shards", list)
    if len(shards_raw) != n:
        raise _Invalid(f"it lists {len(shards_raw)} shards, expected {n}")
    shards: list[ShardEntry] = []
    for i, s in enumerate(shards_raw):
        where = f"shards[{i}]."
        index = _get(s, "index", int, where)
        if index != i:
            raise _Invalid(f"shards[{i}] has index {index}")
        file = _get(s, "file", str, where)
        if not _plain_name(file) or not file.endswith(SHARD_SUFFIX) or file == SHARD_SUFFIX:
            # Only a plain "*.shard" name: repair rewrites damaged shards in place, so a manifest
            # must never be able to point it at any other file.
            raise _Invalid(f"shards[{i}].file is not a plain file name ending in {SHARD_SUFFIX!r}")
        if not _object_name(file):
            raise _Invalid(f"shards[{i}].file is not a name every location takes (a leading '.', a control "
                           "character, over 255 bytes)")
        location = _get(s, "location", str, where)
        nbytes = _get(s, "bytes", int, where)
        if nbytes != shard_bytes:
            raise _Invalid(f"shards[{i}].bytes is {nbytes}, but shards of this original are {shard_bytes} bytes")
        digest = _get(s, "sha256", str, where)
        if not _HEX64.match(digest):
            raise _Invalid(f"shards[{i}].sha256 is not 64 hex digits")
        proof = _get(s, "merkle_proof", list, where)
        for step in proof:
            if (not isinstance(step, dict) or step.get("side") not in ("left", "right")
                    or not isinstance(step.get("hash"), str) or not _HEX64.match(step["hash"])):
                raise _Invalid(f"shards[{i}].merkle_proof is not valid")
        shards.append(ShardEntry(index, file, location, nbytes, digest, proof))
    if merkle_root([s.sha256 for s in shards]) != root:
        raise _Invalid("the Merkle root does not match the shard hashes")
    for s in shards:
        if not verify_proof(s.sha256, s.merkle_proof, root):
            raise _Invalid(f"the Merkle proof of shard {s.index} does not verify")
    return Manifest(set_id, created_at, k, n, level, matrix, stripe_size, name, size, sha, root, shards)

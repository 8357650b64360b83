"""Issue 12, item 19: `shard repair` writes into any folder a manifest names. A manifest is checksummed,
not authenticated, so repair writes only where the set demonstrably is, and never over another set's shard."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mirror_cli.errors import OperationError
from mirror_cli.shard import manifest as mf
from mirror_cli.shard.create import create
from mirror_cli.shard.repair import repair


def _make(folder: Path, data: bytes, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return folder / name


def _forge(path: str, change) -> None:
    """Rewrite the manifest at *path* as someone who can write it would: changed, checksum recomputed."""
    data = json.loads(Path(path).read_text())
    change(data)
    data["checksum"] = mf.checksum(data)
    Path(path).write_text(json.dumps(data))


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_forged_manifest_cannot_send_shards_into_another_folder(tmp_path):
    src = _make(tmp_path / "src", os.urandom(5000), "journal.mirror")
    res = create(src, [tmp_path / "a", tmp_path / "b", tmp_path / "c"], 2, 3, mkdir=True)
    victim = tmp_path / "documents"
    victim.mkdir()
    (victim / "notes.txt").write_text("mine\n")
    before = _listing(victim)
    given = next(p for p in res.manifests if Path(p).parent == tmp_path / "a")

    def redirect(data):
        data["shards"][2]["location"] = str(victim)
    _forge(given, redirect)
    with pytest.raises(OperationError) as info:
        repair(given)
    assert str(victim) in str(info.value)
    assert _listing(victim) == before  # no shard, no manifest written there


def test_repair_never_overwrites_a_shard_of_another_set(tmp_path):
    d = tmp_path / "d"
    one = create(_make(tmp_path / "s1", os.urandom(5000), "one.mirror"), [d], 2, 3, mkdir=True)
    two = create(_make(tmp_path / "s2", os.urandom(5000), "two.mirror"), [d], 2, 3, mkdir=True)
    theirs = Path(two.shards[0]).name
    assert (d / theirs).exists()
    kept = (d / theirs).read_bytes()
    given = one.manifests[0]

    def point_at_the_other_set(data):
        data["shards"][0]["file"] = theirs
    _forge(given, point_at_the_other_set)
    with pytest.raises(OperationError) as info:
        repair(given)
    assert "another set" in str(info.value)
    assert (d / theirs).read_bytes() == kept

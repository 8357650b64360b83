"""mirror_cli.shard: create / verify / restore / repair on real files."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirror_cli.errors import ExitCode, InvalidInputError, OperationError, UsageError, VerificationError
from mirror_cli.remotes.base import RemoteError
from mirror_cli.remotes.folder import FolderRemote
from mirror_cli.shard import format as fmt
from mirror_cli.shard import manifest as mf
from mirror_cli.shard.create import create as shard_create
from mirror_cli.shard.levels import LEVELS, resolve_level
from mirror_cli.shard.repair import repair
from mirror_cli.shard.restore import restore
from mirror_cli.shard.verify import verify

SMALL_STRIPE = 64  # bytes per shard per stripe: many stripes even for small files


def make_file(folder: Path, data: bytes, name: str = "journal.mirror") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def flip_bit(path: Path | str, position: int, bit: int = 0) -> None:
    path = Path(path)
    raw = bytearray(path.read_bytes())
    raw[position % len(raw)] ^= 1 << bit
    path.write_bytes(bytes(raw))


def all_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def create(src, locations, k, n, **kw):
    """``shard create --mkdir``: these tests name folders that do not exist yet."""
    return shard_create(src, locations, k, n, mkdir=True, **kw)


@pytest.mark.parametrize("level", sorted(LEVELS))
@pytest.mark.parametrize("size", [0, 1, 1000, 70_000])
def test_round_trip_at_every_level(tmp_path, level, size):
    k, n = LEVELS[level]
    data = os.urandom(size)
    src = make_file(tmp_path / "src", data)
    locs = [tmp_path / f"disk{i}" for i in range(3)]
    result = create(src, locs, k, n, stripe_size=4096)
    assert (result.k, result.n) == (k, n)
    assert len(result.shards) == n and len(result.manifests) == 3
    for i, p in enumerate(map(Path, result.shards)):
        assert p.is_absolute() and p.parent == locs[i % 3]
        assert p.stat().st_mode & 0o777 == 0o600
    report = verify(result.manifests[0])
    assert report.ok and report.recoverable and report.intact == n
    assert (report.missing, report.damaged, report.problems) == ([], [], [])
    # Lose as many shards as the level allows, data shards first (the worst case).
    for p in result.shards[: n - k]:
        os.unlink(p)
    out = tmp_path / "restored" / "journal.mirror"
    res = restore(result.manifests[1], out)
    assert out.read_bytes() == data
    assert res.bytes == size and res.path == out and len(res.used) == k
    assert res.used == list(range(n - k, n)) if n - k >= k else True


def test_json_shapes_follow_the_contract(tmp_path):
    src = make_file(tmp_path, b"hello shards" * 100)
    result = create(src, [tmp_path / "a", tmp_path / "b"], *LEVELS["personal"])
    j = result.to_json()
    assert {"k", "n", "manifests", "shards"} <= set(j)
    assert all(os.path.isabs(p) for p in j["manifests"] + j["shards"])
    json.dumps(j)
    v = verify(result.manifests[0]).to_json()
    assert {"ok", "recoverable", "k", "n", "intact", "missing", "damaged"} <= set(v)
    assert v["ok"] is True and v["intact"] == 5
    json.dumps(v)
    m = json.loads(Path(result.manifests[0]).read_text())
    assert m["format"] == "mirror-shard-manifest" and m["k"] == 3 and m["n"] == 5
    assert m["original"]["name"] == "journal.mirror" and m["original"]["size"] == 1200
    assert [s["index"] for s in m["shards"]] == list(range(5))
    assert m["merkle_root"] == mf.merkle_root([s["sha256"] for s in m["shards"]])
    assert Path(result.manifests[0]).read_text() == Path(result.manifests[1]).read_text()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_lost_and_flipped_shards(data):
    n = data.draw(st.integers(1, 10), label="n")
    k = data.draw(st.integers(1, n), label="k")
    payload = data.draw(st.binary(min_size=0, max_size=3000), label="payload")
    lost = data.draw(st.sets(st.integers(0, n - 1)), label="lost")
    flipped = data.draw(st.sets(st.integers(0, n - 1)), label="flipped") - lost
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = make_file(tmp / "src", payload)
        result = create(src, [tmp / "x", tmp / "y"], k, n, stripe_size=SMALL_STRIPE)
        for i in lost:
            Path(result.shards[i]).unlink()
        for i in flipped:
            size = Path(result.shards[i]).stat().st_size
            flip_bit(result.shards[i], data.draw(st.integers(0, size - 1), label=f"pos{i}"),
                     data.draw(st.integers(0, 7), label=f"bit{i}"))
        report = verify(result.manifests[0])
        intact = n - len(lost) - len(flipped)
        assert report.missing == sorted(lost)
        assert report.damaged == sorted(flipped)
        assert report.intact == intact
        assert report.recoverable == (intact >= k)
        assert report.ok == (intact == n)
        out = tmp / "out.bin"
        if intact >= k:
            res = restore(result.manifests[1], out)
            assert out.read_bytes() == payload
            assert not set(res.used) & (lost | flipped)
            assert repair(result.manifests[0]).repaired == sorted(lost | flipped)
            assert verify(result.manifests[1]).ok
        else:
            with pytest.raises(VerificationError) as err:
                restore(result.manifests[1], out)
            assert err.value.exit_code == ExitCode.VERIFY
            assert not out.exists()
            assert not [p for p in tmp.iterdir() if p.name.startswith(".out.bin")]
            with pytest.raises(VerificationError):
                repair(result.manifests[0])


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(position=st.integers(0, 10**9), bit=st.integers(0, 7), index=st.integers(0, 4))
def test_a_bit_flip_anywhere_is_detected_and_named(position, bit, index):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        payload = bytes(range(256)) * 20
        src = make_file(tmp, payload)
        result = create(src, [tmp / "d"], 3, 5, stripe_size=SMALL_STRIPE)
        target = Path(result.shards[index])
        size = target.stat().st_size
        flip_bit(target, position % size, bit)
        report = verify(result.manifests[0])
        assert report.damaged == [index] and report.missing == []
        assert not report.ok and report.recoverable
        assert report.problems and f"shard {index}" in report.problems[0]
        pos = position % size
        geo = fmt.Geometry(3, len(payload), SMALL_STRIPE)
        if fmt.HEADER_SIZE <= pos < fmt.HEADER_SIZE + geo.data_length:
            stripe = (pos - fmt.HEADER_SIZE) // SMALL_STRIPE
            assert report.shards[index].bad_stripes == [stripe]
        assert restore(result.manifests[0], tmp / "out").bytes == len(payload)
        assert (tmp / "out").read_bytes() == payload


def test_repair_restores_full_health(tmp_path):
    data = os.urandom(50_000)
    src = make_file(tmp_path, data)
    locs = [tmp_path / f"d{i}" for i in range(5)]
    result = create(src, locs, 5, 9, stripe_size=1024)
    Path(result.shards[0]).unlink()
    Path(result.shards[4]).unlink()
    flip_bit(result.shards[7], 5000)
    before = {i: None for i in (0, 4, 7)}
    assert verify(result.manifests[0]).intact == 6
    rep = repair(result.manifests[2])
    assert rep.repaired == sorted(before)
    assert all(os.path.exists(p) for p in rep.paths)
    assert verify(result.manifests[0]).ok
    assert repair(result.manifests[0]).repaired == []  # nothing left to do
    assert restore(result.manifests[0], tmp_path / "out").sha256 == result.sha256


def test_shards_are_found_beside_the_manifest_after_a_move(tmp_path):
    data = os.urandom(10_000)
    src = make_file(tmp_path, data)
    disk_a, disk_b = tmp_path / "mnt-a", tmp_path / "mnt-b"
    result = create(src, [disk_a, disk_b], 2, 3)
    moved = tmp_path / "media" / "usb"
    moved.parent.mkdir()
    shutil.move(str(disk_a), str(moved))  # the disk now mounts elsewhere
    manifest = moved / Path(result.manifests[0]).name
    report = verify(manifest)
    assert report.ok, report.problems
    assert restore(manifest, tmp_path / "out").bytes == len(data)
    # Losing a shard of the moved disk: repair writes it back on that disk.
    (moved / Path(result.shards[0]).name).unlink()
    assert repair(manifest).paths == [str(moved / Path(result.shards[0]).name)]
    assert verify(manifest).ok


def test_a_replaced_disk_gets_its_shards_and_manifest_back(tmp_path):
    data = os.urandom(40_000)
    src = make_file(tmp_path, data)
    disks = [tmp_path / f"usb{i}" for i in (1, 2, 3)]
    result = create(src, disks, 3, 5, stripe_size=4096)
    original = Path(result.manifests[1]).read_bytes()
    shutil.rmtree(disks[1])  # usb2 (shards 1 and 4, a manifest) is lost...
    with pytest.raises(OperationError):
        repair(result.manifests[0])  # ...and not replaced yet: nothing can go there
    assert not disks[1].exists()
    disks[1].mkdir()  # a new, empty disk mounted in its place
    flip_bit(result.manifests[2], 40)  # and the copy on usb3 got damaged
    rep = repair(result.manifests[0])
    assert rep.repaired == [1, 4]
    assert sorted(rep.manifests) == sorted([result.manifests[1], result.manifests[2]])
    assert Path(result.manifests[1]).read_bytes() == original == Path(result.manifests[2]).read_bytes()
    assert verify(result.manifests[1]).ok and verify(result.manifests[2]).ok
    assert repair(result.manifests[2]).manifests == []  # nothing left to do
    assert restore(result.manifests[1], tmp_path / "out").sha256 == result.sha256


def test_a_manifest_from_before_the_checksum_still_works(tmp_path):
    """Version-1 manifests written before the checksum field: verify, restore and repair read them."""
    data = os.urandom(3000)
    result = create(make_file(tmp_path, data), [tmp_path / "a", tmp_path / "b"], 2, 3)
    for path in map(Path, result.manifests):
        doc = json.loads(path.read_text())
        del doc["checksum"]
        path.write_text(json.dumps(doc, indent=2))
    assert verify(result.manifests[0]).ok
    Path(result.shards[1]).unlink()
    assert repair(result.manifests[0]).repaired == [1]
    assert restore(result.manifests[1], tmp_path / "out.bin").sha256 == result.sha256


def test_a_copy_damaged_where_no_hash_looks_is_refused_and_repaired(tmp_path):
    """One flipped bit of original.size left every shard hash valid; the manifest's checksum
    catches it: that copy is exit 5 (not "0 of 3 intact"), and repair from another writes it again."""
    src = make_file(tmp_path, os.urandom(1000))
    result = create(src, [tmp_path / "a", tmp_path / "b", tmp_path / "c"], 2, 3)
    good = Path(result.manifests[0]).read_bytes()
    damaged = good.replace(b'"size": 1000,', b'"size": 1001,')
    assert damaged != good
    Path(result.manifests[1]).write_bytes(damaged)
    for op in (verify, repair, lambda p: restore(p, tmp_path / "o")):
        with pytest.raises(InvalidInputError, match="damaged"):
            op(result.manifests[1])
    rep = repair(result.manifests[0])
    assert rep.repaired == [] and rep.manifests == [result.manifests[1]]
    assert Path(result.manifests[1]).read_bytes() == good and verify(result.manifests[1]).ok


def test_repair_writes_manifest_copies_under_their_own_name_only(tmp_path):
    """A copy given under another name (or a crafted one) never makes repair write that name
    in the set's locations: a file there of that name is left as it is."""
    src = make_file(tmp_path, os.urandom(1000))
    result = create(src, [tmp_path / "w1", tmp_path / "w2"], 2, 3)
    notes = tmp_path / "w2" / "notes.txt"
    notes.write_text("my precious notes")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(result.manifests[0], elsewhere / "notes.txt")
    Path(result.manifests[1]).unlink()
    rep = repair(elsewhere / "notes.txt")
    assert rep.manifests == [result.manifests[1]] and Path(result.manifests[1]).read_bytes() == Path(result.manifests[0]).read_bytes()
    assert notes.read_text() == "my precious notes"
    assert not (tmp_path / "w1" / "notes.txt").exists()


def test_a_shard_cut_short_is_named_damaged_stripe_by_stripe(tmp_path, monkeypatch):
    src = make_file(tmp_path, os.urandom(3 * 4096 * 40))
    result = create(src, [tmp_path / "d"], 3, 5, stripe_size=4096)
    with open(result.shards[0], "r+b") as fh:
        fh.truncate(fmt.HEADER_SIZE + 4096 * 5 + 100)  # the stripe table (after the data) is gone too
    status = verify(result.manifests[0]).shards[0]
    assert status.status == "damaged" and status.bad_stripes == list(range(40))
    # The list stops at what a report can name: a manifest may claim any number of stripes.
    monkeypatch.setattr(fmt, "MAX_LISTED_STRIPES", 7)
    assert verify(result.manifests[0]).shards[0].bad_stripes == list(range(7))


def test_repair_rewrites_what_it_can_when_one_location_is_read_only(tmp_path, monkeypatch):
    src = make_file(tmp_path, os.urandom(5000))
    result = create(src, [tmp_path / "a", tmp_path / "b", tmp_path / "c"], 3, 6)
    for i in (0, 2):  # shard 0 on a (writable), shard 2 on c (read-only below)
        Path(result.shards[i]).unlink()
    real_folder = FolderRemote._folder_for_write  # every write, whole or streamed, starts there

    def read_only_c(self, name, folders):  # tests run as root, whom a chmod does not stop
        if self.root == tmp_path / "c":
            raise self._error("write", name, OSError(errno.EROFS, os.strerror(errno.EROFS)))
        return real_folder(self, name, folders)

    monkeypatch.setattr(FolderRemote, "_folder_for_write", read_only_c)
    with pytest.raises(OperationError, match="not writable") as err:
        repair(result.manifests[0])
    assert str(tmp_path / "c") in str(err.value)
    assert Path(result.shards[0]).exists() and not Path(result.shards[2]).exists()  # a was repaired all the same
    monkeypatch.undo()
    assert repair(result.manifests[0]).repaired == [2] and verify(result.manifests[0]).ok


def test_restore_writes_through_a_symlink_and_into_a_fifo(tmp_path):
    """-o as a shell redirection treats it: never a device or FIFO replaced by a regular file."""
    import threading

    data = os.urandom(20_000)
    result = create(make_file(tmp_path, data), [tmp_path / "d"], 2, 3)
    real = tmp_path / "real.bin"
    link = tmp_path / "link.bin"
    link.symlink_to(real)
    restore(result.manifests[0], link)
    assert link.is_symlink() and real.read_bytes() == data
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    restore(result.manifests[0], fifo)
    reader.join(10)
    assert got == [data] and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_repair_refuses_a_location_that_is_gone(tmp_path):
    src = make_file(tmp_path, os.urandom(5000))
    result = create(src, [tmp_path / "a", tmp_path / "b", tmp_path / "c"], 2, 3)
    shutil.rmtree(tmp_path / "c")  # shard 2 and one manifest copy gone, folder unplugged
    with pytest.raises(OperationError) as err:
        repair(result.manifests[0])
    assert str(tmp_path / "c") in str(err.value)
    assert not (tmp_path / "c").exists()  # nothing created on the missing mount point


def test_invalid_manifests_are_exit_5(tmp_path):
    src = make_file(tmp_path, b"x" * 500)
    result = create(src, [tmp_path / "d"], 2, 3)
    good = json.loads(Path(result.manifests[0]).read_text())

    def hostile(doc: dict) -> bytes:
        """A crafted manifest carries a checksum that matches: it is recomputed, as an attacker would."""
        return json.dumps({**doc, "checksum": mf.checksum(doc)}).encode()

    def shard0(**changes) -> list:
        return [{**good["shards"][0], **changes}, *good["shards"][1:]]

    cases = {
        "garbage": b"\x00\xffnot json",
        "array": b"[]",
        "nested too deeply": b"[" * 100_000,
        "wrong format": hostile({**good, "format": "other"}),
        "bad k": hostile({**good, "k": 0}),
        "tampered hash": hostile({**good, "shards": shard0(sha256="0" * 64)}),
        "path in file": hostile({**good, "shards": shard0(file="../../etc/passwd")}),
        "missing field": hostile({k: v for k, v in good.items() if k != "original"}),
        # Repair rewrites a damaged shard in place: a manifest must not aim it at any other file.
        "not a shard name": hostile({**good, "shards": shard0(file="passwd", location="/etc")}),
        "huge stripes": hostile({**good, "stripe_size": 1 << 30}),
        "stripes not aligned": hostile({**good, "stripe_size": 1001}),
        # Restore writes original.name into the -o folder: never a path.
        "name with a path": hostile({**good, "original": {**good["original"], "name": "../../escaped.bin"}}),
        "absolute name": hostile({**good, "original": {**good["original"], "name": str(tmp_path / "abs.bin")}}),
        "name with NUL": hostile({**good, "original": {**good["original"], "name": "a\x00b"}}),
        "name ..": hostile({**good, "original": {**good["original"], "name": ".."}}),
        # A size no shard can hold (verify once listed every stripe of it, out of memory).
        "huge size": hostile({**good, "original": {**good["original"], "size": 10**15}}),
        "size beyond any file": hostile({**good, "original": {**good["original"], "size": 10**30}}),
        "shard bytes not the size's": hostile({**good, "shards": shard0(bytes=good["shards"][0]["bytes"] + 1)}),
        # A copy damaged on its disk: one bit of the size flipped, the checksum left as it was.
        "damaged copy": json.dumps({**good, "original": {**good["original"], "size": 500 ^ 1}}).encode(),
    }
    for name, raw in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_bytes(raw)
        for op in (verify, repair, lambda p: restore(p, tmp_path / "o")):
            with pytest.raises(InvalidInputError) as err:
                op(path)
            assert err.value.exit_code == ExitCode.INVALID_INPUT, name
    with pytest.raises(InvalidInputError):
        verify(tmp_path / "does-not-exist.json")
    assert not (tmp_path / "o").exists()


def test_invalid_parameters_are_usage_errors(tmp_path):
    src = make_file(tmp_path, b"abc")
    for k, n in [(0, 3), (4, 3), (3, 256)]:
        with pytest.raises(UsageError):
            create(src, [tmp_path / "d"], k, n)
    with pytest.raises(UsageError):
        create(src, [], 2, 3)
    with pytest.raises(UsageError):
        create(tmp_path / "missing", [tmp_path / "d"], 2, 3)
    assert resolve_level("paranoid") == (7, 15)
    assert resolve_level(None, 4, 6) == (4, 6)
    for bad in [("nope", None, None), (None, None, None), ("minimal", 2, 3), (None, 5, 2)]:
        with pytest.raises(UsageError):
            resolve_level(*bad)
    assert not (tmp_path / "d").exists()


def test_unwritable_location_leaves_no_shard(tmp_path):
    src = make_file(tmp_path / "src", os.urandom(20_000))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    good = [tmp_path / "g1", tmp_path / "g2"]
    with pytest.raises(OperationError) as err:
        create(src, [*good, blocker / "sub"], 3, 5)
    assert err.value.exit_code == ExitCode.FAILED
    assert "not-a-folder" in str(err.value)
    for folder in good:
        assert all_files(folder) == [] if folder.exists() else True


def test_full_disk_midway_leaves_no_shard(tmp_path, monkeypatch):
    src = make_file(tmp_path / "src", os.urandom(100_000))
    calls = {"n": 0}
    real = fmt.ShardWriter.write_block

    def failing(self, block):
        calls["n"] += 1
        if calls["n"] == 7:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, block)

    monkeypatch.setattr(fmt.ShardWriter, "write_block", failing)
    locs = [tmp_path / "a", tmp_path / "b"]
    with pytest.raises(OperationError) as err:
        create(src, locs, 2, 3, stripe_size=4096)
    assert "disk is full" in str(err.value)
    for folder in locs:
        assert all_files(folder) == []


def test_a_manifest_that_cannot_be_written_removes_the_whole_set(tmp_path, monkeypatch):
    """The disk of the last location fills up while its manifest is written: no shard stays behind."""
    src = make_file(tmp_path / "src", os.urandom(30_000))
    locs = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    real_write = FolderRemote._write

    def fills_up(self, name, fill, *, new):
        if name.endswith(".manifest.json") and self.root == locs[2]:
            def fill(out):  # the temp file exists when the write fails
                out.write(b"{")
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, name, fill, new=new)

    monkeypatch.setattr(FolderRemote, "_write", fills_up)
    with pytest.raises(OperationError) as err:
        create(src, locs, 3, 5, stripe_size=4096)
    assert err.value.exit_code == ExitCode.FAILED and "disk is full" in str(err.value)
    assert str(locs[2]) in str(err.value)
    for folder in locs:
        assert all_files(folder) == []


def test_oversized_stripes_are_refused(tmp_path):
    src = make_file(tmp_path, b"x" * 100)
    with pytest.raises(UsageError):
        create(src, [tmp_path / "d"], 2, 3, stripe_size=fmt.MAX_STRIPE * 2)
    with pytest.raises(UsageError):
        create(src, [tmp_path / "d"], 2, 200, stripe_size=fmt.MAX_STRIPE)  # 200 MiB per stripe
    with pytest.raises(UsageError):
        create(src, [tmp_path / "d"], 2, 3, stripe_size=12)
    assert not (tmp_path / "d").exists()


def test_progress_reports_bytes(tmp_path):
    data = os.urandom(30_000)
    src = make_file(tmp_path, data)
    seen: list[tuple[int, int]] = []
    result = create(src, [tmp_path / "d"], 3, 5, progress=lambda d, t: seen.append((d, t)), stripe_size=1024)
    assert seen[0] == (0, 30_000) and seen[-1] == (30_000, 30_000)
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    seen.clear()
    restore(result.manifests[0], tmp_path / "out", progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (30_000, 30_000)


def test_failed_restore_leaves_no_output(tmp_path, monkeypatch):
    src = make_file(tmp_path, os.urandom(5000))
    result = create(src, [tmp_path / "d"], 2, 3)
    # Damage that the shard hash check cannot see (the manifest's original hash differs).
    raw = json.loads(Path(result.manifests[0]).read_text())
    raw["original"]["sha256"] = "f" * 64
    raw["checksum"] = mf.checksum(raw)
    Path(result.manifests[0]).write_text(json.dumps(raw))
    out = tmp_path / "restored.bin"
    with pytest.raises(VerificationError):
        restore(result.manifests[0], out)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".restored")] == []
    with pytest.raises(VerificationError):
        restore(result.manifests[0], tmp_path / "new" / "deeper" / "restored.bin")
    assert not (tmp_path / "new").exists()  # not even the folders it made for the output


def test_create_and_repair_sweep_what_killed_runs_left(tmp_path):
    """A killed create leaves the folder remote's temp files at the top of a location; the next
    create or repair removes those a day old, never a live run's, and looks at nothing below."""
    disk = tmp_path / "disk"
    (disk / "photos").mkdir(parents=True)
    old = time.time() - 2 * 24 * 3600
    elsewhere = disk / "photos" / ".~mirror-not-ours.tmp"  # a folder shard never writes in: not walked
    elsewhere.write_bytes(b"x")
    os.utime(elsewhere, (old, old))

    def plant() -> tuple[Path, Path]:
        stale, fresh = disk / ".~mirror-dead.tmp", disk / ".~mirror-live.tmp"
        for path in (stale, fresh):
            path.write_bytes(b"half a shard")
        os.utime(stale, (old, old))
        return stale, fresh

    stale, fresh = plant()
    result = create(make_file(tmp_path / "src", os.urandom(5000)), [disk], 2, 3)
    assert not stale.exists() and fresh.exists()
    fresh.unlink()
    stale, fresh = plant()
    Path(result.shards[0]).unlink()
    assert repair(result.manifests[0]).repaired == [0]
    assert not stale.exists() and fresh.exists() and elsewhere.exists()


def test_the_core_records_create_and_repair_in_the_audit_chain(tmp_path):
    from mirror_cli import audit
    from mirror_cli.db.store import Store

    with Store.open(tmp_path / "journal.db") as store:
        result = shard_create(make_file(tmp_path, os.urandom(3000)), [tmp_path / "d"], 2, 3, mkdir=True,
                              store=store)
        assert repair(result.manifests[0], store=store).repaired == []  # nothing done: nothing recorded
        Path(result.shards[2]).unlink()
        repair(result.manifests[0], store=store)
        events = audit.events(store.conn)
    assert [e.event_type for e in events] == ["shard.created", "shard.repaired"]
    assert events[0].data == {"k": 2, "n": 3, "set_id": result.set_id, "sha256": result.sha256, "bytes": 3000,
                              "locations": 1}
    assert events[1].data == {"repaired": [2], "k": 2, "n": 3, "manifests": 0}


def test_a_dot_file_is_sharded_under_names_every_location_takes(tmp_path):
    """Remotes keep names starting with '.' for their temp files: shards of `.journal` are named
    `journal.<id>...`, and restore gives the file its own name back."""
    data = os.urandom(2000)
    result = create(make_file(tmp_path, data, ".journal"), [tmp_path / "d"], 2, 3)
    assert all(Path(p).name.startswith("journal.") for p in result.shards + result.manifests)
    out = restore(result.manifests[0], tmp_path / "out", into_folder=True)
    assert out.path == tmp_path / "out" / ".journal" and out.path.read_bytes() == data
    doc = json.loads(Path(result.manifests[0]).read_text())
    doc["shards"][0]["file"] = "." + doc["shards"][0]["file"]  # as a crafted manifest could say
    doc["checksum"] = mf.checksum(doc)
    Path(result.manifests[0]).write_text(json.dumps(doc))
    with pytest.raises(InvalidInputError, match="shards\\[0\\].file"):
        verify(result.manifests[0])


def test_create_never_writes_over_an_object_of_the_same_name(tmp_path, monkeypatch):
    """Shards are claimed with exclusive writes: a name taken meanwhile stops the create, and it takes its set back."""
    disk = tmp_path / "disk"
    disk.mkdir()
    src = make_file(tmp_path / "src", os.urandom(5000))
    monkeypatch.setattr(os, "urandom", lambda size: b"\x01" * size)  # the set id is known in advance
    taken = disk / mf.shard_names(src.name, (b"\x01" * 16).hex(), 3)[1]
    taken.write_bytes(b"someone else's")
    with pytest.raises(RemoteError) as err:
        create(src, [disk], 2, 3)
    assert err.value.exit_code == ExitCode.FAILED and "already exists" in str(err.value)
    assert all_files(disk) == [taken] and taken.read_bytes() == b"someone else's"

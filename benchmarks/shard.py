"""Benchmark: mirror's Reed-Solomon shard codec side by side with zfec.

    python benchmarks/shard.py            # 256 MiB of random data
    python benchmarks/shard.py --mb 32    # quick run

For each level (2/3, 3/5, 5/9, 7/15) it measures, in one run, on the same data:

* in-memory encode (k data blocks -> n - k parity blocks) and worst-case
  decode (as many data blocks lost as the level allows: the missing data is
  rebuilt from parity), mirror's NumPy kernels vs ``zfec.Encoder/Decoder``;
* file level: ``mirror_cli.shard.create`` / ``restore`` (SHA-256 of every
  stripe and shard, atomic writes with fsync, manifest) vs zfec's own
  ``zfec.filefec.encode_to_files`` / ``decode_from_files`` (no checksums,
  no fsync), with the same shards lost before the restore.

Throughput is MB/s (10^6 bytes) of original data; best of ``--repeat`` runs.
Ratios are mirror / zfec (above 1 means mirror is faster).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mirror_cli.shard.codec import Codec  # noqa: E402
from mirror_cli.shard.create import create  # noqa: E402
from mirror_cli.shard.levels import LEVELS  # noqa: E402
from mirror_cli.shard.restore import restore  # noqa: E402

STRIPE = 1 << 20


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def worst_case(k: int, n: int) -> tuple[list[int], list[int]]:
    """(lost data shards, the k shards used): lose as many data shards as possible."""
    lost = list(range(min(k, n - k)))
    present = [i for i in range(k) if i not in lost] + list(range(k, k + len(lost)))
    return lost, present


def bench_memory(data: np.ndarray, k: int, n: int, repeat: int) -> dict[str, float]:
    import zfec

    m = n - k
    length = data.size // k // 8 * 8
    shards = data[: k * length].reshape(k, length)
    parity = np.empty((m, length), dtype=np.uint8)
    codec = Codec(k, n)
    lost, present = worst_case(k, n)

    def mirror_encode() -> None:
        for a in range(0, length, STRIPE):
            b = min(a + STRIPE, length)
            codec.encode_blocks([shards[i, a:b] for i in range(k)], [parity[j, a:b] for j in range(m)])

    t_menc = best(mirror_encode, repeat)
    all_rows = list(shards) + list(parity)
    rebuilt = np.empty((len(lost), length), dtype=np.uint8)
    kernel = codec.transform(present, lost)

    def mirror_decode() -> None:
        for a in range(0, length, STRIPE):
            b = min(a + STRIPE, length)
            kernel.apply([all_rows[i][a:b] for i in present], [rebuilt[j, a:b] for j in range(len(lost))])

    t_mdec = best(mirror_decode, repeat)
    assert all(np.array_equal(rebuilt[j], shards[i]) for j, i in enumerate(lost)), "mirror decode is wrong"

    blocks = tuple(shards[i].tobytes() for i in range(k))
    zout: list = []
    t_zenc = best(lambda: zout.__setitem__(slice(None), zfec.Encoder(k, n).encode(blocks)), repeat)
    zparity = [bytes(b) for b in zout]
    znums = tuple(present)
    t_zdec = float("inf")
    for _ in range(repeat):
        # Fresh copies each run: zfec's decode may reuse (overwrite) the buffers it is given.
        zblocks = tuple(zparity[i] for i in present)
        t = time.perf_counter()
        result = zfec.Decoder(k, n).decode(zblocks, znums)
        t_zdec = min(t_zdec, time.perf_counter() - t)
        assert all(bytes(result[i]) == blocks[i] for i in lost), "zfec decode is wrong"
    size = k * length
    return {"m_enc": size / t_menc / 1e6, "z_enc": size / t_zenc / 1e6,
            "m_dec": size / t_mdec / 1e6, "z_dec": size / t_zdec / 1e6}


def bench_files(src: Path, work: Path, k: int, n: int) -> dict[str, float]:
    from zfec import filefec

    size = src.stat().st_size
    lost, present = worst_case(k, n)
    mdir = work / "mirror"
    locs = [mdir / f"disk{i}" for i in range(3)]
    t = time.perf_counter()
    res = create(src, locs, k, n, mkdir=True)
    t_create = time.perf_counter() - t
    for i in lost:
        os.unlink(res.shards[i])
    t = time.perf_counter()
    out = restore(res.manifests[0], work / "mirror-restored.bin")
    t_restore = time.perf_counter() - t
    assert out.sha256 == res.sha256 and out.used == sorted(present)
    shutil.rmtree(mdir)
    (work / "mirror-restored.bin").unlink()

    zdir = work / "zfec"
    zdir.mkdir()
    t = time.perf_counter()
    with open(src, "rb") as fh:
        filefec.encode_to_files(fh, size, str(zdir), "data", k, n)
    t_zenc = time.perf_counter() - t
    files = sorted(zdir.iterdir())
    assert len(files) == n
    keep = [files[i] for i in present]
    t = time.perf_counter()
    fins = [open(p, "rb") for p in keep]
    with open(work / "zfec-restored.bin", "wb") as outf:
        filefec.decode_from_files(outf, fins)
    for f in fins:
        f.close()
    t_zdec = time.perf_counter() - t
    assert (work / "zfec-restored.bin").stat().st_size == size
    shutil.rmtree(zdir)
    (work / "zfec-restored.bin").unlink()
    return {"m_create": size / t_create / 1e6, "z_create": size / t_zenc / 1e6,
            "m_restore": size / t_restore / 1e6, "z_restore": size / t_zdec / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=256, help="MiB of random data (default 256)")
    parser.add_argument("--repeat", type=int, default=2, help="in-memory runs per figure, best kept")
    parser.add_argument("--no-files", action="store_true", help="skip the file-level figures")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the file-level run")
    args = parser.parse_args()
    import zfec

    size = args.mb << 20
    data = np.random.default_rng(2026).integers(0, 256, size, dtype=np.uint8)
    print(f"mirror shard codec vs zfec {zfec.__version__}, {args.mb} MiB random data, numpy {np.__version__}")
    print("MB/s of original data; decode = worst case (max data shards lost, rebuilt from parity)\n")
    rows = []
    header = f"{'level':>6} | {'encode mirror':>13} {'zfec':>7} {'ratio':>6} | {'decode mirror':>13} {'zfec':>7} {'ratio':>6}"
    print("in memory")
    print(header)
    print("-" * len(header))
    for name, (k, n) in sorted(LEVELS.items(), key=lambda kv: kv[1]):
        r = bench_memory(data, k, n, args.repeat)
        rows.append((name, k, n, r))
        print(f"{k:>2}/{n:<3} | {r['m_enc']:>13.0f} {r['z_enc']:>7.0f} {r['m_enc'] / r['z_enc']:>6.2f} | "
              f"{r['m_dec']:>13.0f} {r['z_dec']:>7.0f} {r['m_dec'] / r['z_dec']:>6.2f}", flush=True)
    if args.no_files:
        return
    print("\nfiles (mirror: create/restore with SHA-256s, fsync, manifests; zfec: filefec)")
    header = f"{'level':>6} | {'create mirror':>13} {'zfec':>7} {'ratio':>6} | {'restore mirror':>14} {'zfec':>7} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        src = work / "source.bin"
        with open(src, "wb") as fh:
            fh.write(memoryview(data))
        del data
        os.sync()
        for name, (k, n) in sorted(LEVELS.items(), key=lambda kv: kv[1]):
            r = bench_files(src, work, k, n)
            print(f"{k:>2}/{n:<3} | {r['m_create']:>13.0f} {r['z_create']:>7.0f} {r['m_create'] / r['z_create']:>6.2f} | "
                  f"{r['m_restore']:>14.0f} {r['z_restore']:>7.0f} {r['m_restore'] / r['z_restore']:>6.2f}", flush=True)


if __name__ == "__main__":
    main()

"""mirror shard as a real process: a write refused by the kernel half-way, memory bounded on a 200 MB file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from helpers import ROOT

pytestmark = pytest.mark.process


def test_a_real_write_failure_midway_leaves_nothing(run_mirror, tmp_path):
    """The kernel refuses a write half-way (RLIMIT_FSIZE, no mocking): exit 1, a clear message
    naming the shard, and no shard, temp file or manifest left in any location."""
    import resource
    import signal

    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(3 << 20))
    disks = [tmp_path / f"usb{i}" for i in (1, 2, 3)]

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (600_000, 600_000))

    args = ["shard", "create", src, "--level", "personal", "--mkdir"]
    for d in disks:
        args += ["--to", d]
    proc = run_mirror(*args, preexec_fn=limit)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    assert "cannot write" in proc.stderr and ".shard" in proc.stderr and "Traceback" not in proc.stderr
    for d in disks:
        assert sorted(p.name for p in d.iterdir()) == []


@pytest.mark.slow
def test_200_mb_file_with_bounded_memory(tmp_path):
    script = textwrap.dedent(
        """
        import hashlib, os, resource, sys
        from pathlib import Path
        from mirror_cli.shard.create import create
        from mirror_cli.shard.restore import restore
        tmp = Path(sys.argv[1])
        src = tmp / "big.bin"
        h = hashlib.sha256()
        with open(src, "wb") as fh:
            block = os.urandom(4 << 20)
            for i in range(50):  # 200 MiB
                chunk = block[i:] + block[:i]
                h.update(chunk)
                fh.write(chunk)
        res = create(src, [tmp / "a", tmp / "b", tmp / "c"], 3, 5, mkdir=True)
        for p in res.shards[:2]:
            os.unlink(p)
        out = restore(res.manifests[0], tmp / "out.bin")
        assert out.sha256 == h.hexdigest() == res.sha256
        assert out.used == [2, 3, 4]
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # Linux carries ru_maxrss across fork + exec, so a child of this (large) pytest process
    # would report pytest's own peak. A small launcher in between gives the measured
    # process a fresh, honest ru_maxrss.
    launcher = "import subprocess, sys; sys.exit(subprocess.call([sys.executable, '-c'] + sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", launcher, script, str(tmp_path)], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    peak_kib = int(proc.stdout.strip().splitlines()[-1])
    assert peak_kib < 150 * 1024, f"peak RSS {peak_kib / 1024:.0f} MiB"

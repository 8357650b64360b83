"""Issue 12, item 19: a mirror process that holds a key writes no core file (RLIMIT_CORE 0), which the
editor it starts inherits."""

from __future__ import annotations

import json
import os
import pty
import resource
import select
import subprocess
import time

import pytest

from helpers import MIRROR

pytestmark = pytest.mark.process

PW = "correct horse battery staple 42"


def _core_files_allowed() -> None:
    """Run in the child before mirror starts: allow core files, as `ulimit -c unlimited` does (this test
    process's soft limit may be 0 already: in-process tests unlock keys too)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


def _edit_on_a_tty(args, env, timeout=60) -> subprocess.CompletedProcess:
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([*MIRROR, *args], stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env, preexec_fn=_core_files_allowed)
        os.close(slave)
        slave = None
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.05)[0]:
                try:
                    os.read(master, 1024)
                except OSError:
                    break
        out, err = proc.communicate(timeout=max(1, deadline - time.monotonic()))
        return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)


def test_a_process_holding_the_key_allows_no_core_file(run_mirror, tmp_path, mirror_home):
    allowed = subprocess.run(["sh", "-c", "ulimit -c"], capture_output=True, text=True, preexec_fn=_core_files_allowed)
    if allowed.stdout.strip() == "0":
        pytest.skip("core files cannot be allowed here (hard limit 0), so there is nothing to see")
    env = {"MIRROR_PASSPHRASE": PW, "MIRROR_NEW_PASSPHRASE": PW}
    assert run_mirror("reflect", "a secret", env=env).returncode == 0
    assert run_mirror("key", "enable", env=env).returncode == 0
    rid = json.loads(run_mirror("list", "--json", env=env).stdout)[0]["id"]
    seen = tmp_path / "limits"
    editor = tmp_path / "editor.sh"
    editor.write_text(f'#!/bin/sh\nulimit -c > "{seen}"\nprintf "changed\\n" > "$1"\n')
    editor.chmod(0o700)
    r = _edit_on_a_tty(["edit", rid], {**os.environ, **env, "EDITOR": str(editor)})
    assert r.returncode == 0, r.stderr
    assert seen.read_text().split() == ["0"]  # the limit the kernel applies (the soft one)


def test_a_process_that_holds_a_key_is_not_dumpable():
    """prctl(PR_SET_DUMPABLE, 0): no core file, and no ptrace or /proc/PID/mem by the same user."""
    import subprocess
    import sys

    code = ("from mirror_cli.crypto.unlocked import forbid_core_dumps; import ctypes; "
            "libc = ctypes.CDLL(None); print(libc.prctl(3, 0, 0, 0, 0)); forbid_core_dumps(); "
            "print(libc.prctl(3, 0, 0, 0, 0))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["1", "0"]

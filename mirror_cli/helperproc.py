"""A helper process on the second core: ``python -m <module>`` with its request as JSON on stdin.

Used by :mod:`mirror_cli.journal.search` (search) and :mod:`mirror_cli.exportsplit` (export) of an
encrypted journal. The request carries the data key, so it goes on stdin, never in argv or
the environment; the helper's stdout is a pipe, its stderr is discarded.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def cores() -> int:
    """CPUs this process may run on (a helper on a single core would only add its start-up)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def start(module: str, request: dict[str, Any]) -> Any:
    """The started ``subprocess.Popen`` of ``python -m module`` with *request* written to its stdin
    (then closed); None when no helper can run here (a frozen build, no interpreter, start failed)."""
    import subprocess

    if getattr(sys, "frozen", False) or not sys.executable:
        return None
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    data = json.dumps(request).encode("ascii")
    try:
        proc = subprocess.Popen([sys.executable, "-m", module], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    except OSError:
        return None
    try:
        proc.stdin.write(data)
        proc.stdin.close()
        proc.stdin = None  # sent: communicate() must not touch it again
    except OSError:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        return None
    return proc

"""Import hygiene: the core never loads the CLI stack; `mirror --version` loads nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys

CORE_PROBE = """
import json, sys
import mirror_cli.journal, mirror_cli.store, mirror_cli.audit
print(json.dumps(sorted(sys.modules)))
"""

VERSION_PROBE = """
import json, sys, runpy
sys.argv = ["mirror", "--version"]
try:
    runpy.run_module("mirror_cli", run_name="__main__")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
sys.stderr.write(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)


def _top(modules) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_core_does_not_import_typer_or_rich():
    top = _top(json.loads(_run(CORE_PROBE).stdout))
    assert "mirror_cli" in top and "sqlite3" in top  # the probe really loaded the core
    for heavy in ("typer", "click", "rich", "yaml", "cryptography", "keyring", "numpy"):
        assert heavy not in top, heavy


def test_version_loads_nothing_heavy():
    proc = _run(VERSION_PROBE)
    result = json.loads(proc.stderr)
    assert result["code"] in (0, None)
    assert proc.stdout.startswith("mirror ")
    top = _top(result["modules"])
    assert "typer" in top or "click" in top  # the probe went through the CLI
    for heavy in ("sqlite3", "_sqlite3", "yaml", "cryptography", "keyring", "rich", "numpy", "platformdirs"):
        assert heavy not in top, heavy

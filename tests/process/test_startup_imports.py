"""Import hygiene, probed in fresh interpreters: the core never loads the CLI stack; `mirror --version` and the
everyday commands load nothing heavy."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers import ROOT

pytestmark = pytest.mark.process

CORE_PROBE = """
import json, sys
import mirror_cli.journal.reflections, mirror_cli.db.store, mirror_cli.audit
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


ALL_CORE_PROBE = """
import importlib, json, pkgutil, sys
import mirror_cli
names = []
for info in pkgutil.walk_packages(mirror_cli.__path__, "mirror_cli."):
    if info.name == "mirror_cli.cli" or info.name.startswith("mirror_cli.cli.") or info.name == "mirror_cli.__main__":
        continue
    importlib.import_module(info.name)
    names.append(info.name)
print(json.dumps({"imported": names, "modules": sorted(sys.modules)}))
"""

COMMAND_PROBE = """
import json, sys, runpy
sys.argv = ["mirror"] + sys.argv[1:]
try:
    runpy.run_module("mirror_cli", run_name="__main__")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
sys.stderr.write("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _run(code: str, *args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60,
                          check=True, env=env)


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


def test_no_core_module_imports_the_cli_stack():
    """Every module outside mirror_cli.cli (patterns, backup, shard, exchange too) is free of typer and rich."""
    result = json.loads(_run(ALL_CORE_PROBE).stdout)
    assert {"mirror_cli.journal.reflections", "mirror_cli.settings", "mirror_cli.db.migrations", "mirror_cli.backup",
            "mirror_cli.exchange.export", "mirror_cli.shard.codec"} <= set(result["imported"])
    top = _top(result["modules"])
    for cli_stack in ("typer", "click", "rich"):
        assert cli_stack not in top, cli_stack


# What the everyday commands may load beyond the standard library and typer: nothing heavy.
HEAVY = ("yaml", "cryptography", "keyring", "rich", "numpy", "platformdirs", "sqlite_utils", "zstandard",
         "parsedatetime")


def _command_modules(*args: str, whole: bool = False) -> set[str]:
    import os

    proc = subprocess.run([sys.executable, "-c", COMMAND_PROBE, *args], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ))
    result = json.loads(proc.stderr.rsplit("\n", 1)[-1])
    assert result["code"] in (0, None), proc.stderr
    return set(result["modules"]) if whole else _top(result["modules"])


def test_plain_reflect_and_list_load_nothing_heavy():
    top = _command_modules("reflect", "a plain reflection #tag")
    assert "sqlite3" in top and "mirror_cli" in top  # it really saved through the store
    for heavy in HEAVY:
        assert heavy not in top, heavy
    for args in (("list", "--limit", "20"), ("search", "plain"), ("show", "--help")):
        top = _command_modules(*args)
        for heavy in HEAVY:
            assert heavy not in top, (args, heavy)


# Start-up (benchmarks/startup.py): on a plaintext journal, writing and listing load neither OpenSSL (hashlib,
# hmac: the audit chain's plain SHA-256 is Python's own) nor the key hierarchy, and only `search` loads the
# query language and its scan.
NOT_FOR_PLAIN = ("_hashlib", "hashlib", "hmac", "mirror_cli.crypto.kdf", "mirror_cli.crypto.container",
                 "mirror_cli.crypto.passphrase", "mirror_cli.crypto.unlocked", "mirror_cli.db.unlock")
SEARCH_ONLY = ("mirror_cli.journal.find", "mirror_cli.journal.query", "mirror_cli.journal.search",
               "mirror_cli.journal.snippets")


def test_plain_reflect_and_list_load_no_openssl_keys_or_search():
    for args in (("reflect", "one more plain reflection"), ("list", "--limit", "20")):
        loaded = _command_modules(*args, whole=True)
        assert "mirror_cli.journal.reflections" in loaded and "mirror_cli.digests" in loaded
        assert not loaded & set(NOT_FOR_PLAIN + SEARCH_ONLY), (args, sorted(loaded & set(NOT_FOR_PLAIN + SEARCH_ONLY)))
    loaded = _command_modules("search", "plain", whole=True)
    assert set(SEARCH_ONLY) <= loaded and not loaded & set(NOT_FOR_PLAIN)


def test_verify_loads_no_numpy(tmp_path):
    """NumPy (50-130 ms to import) is for coding stripes: `shard verify` checks hashes only."""
    from mirror_cli.shard.create import create

    source = tmp_path / "payload.bin"
    source.write_bytes(os.urandom(300_000) + b"tail")
    manifest = create(source, [tmp_path / "d"], 2, 3, mkdir=True).manifests[0]
    probe = ("import runpy, sys\n"
             "sys.argv = ['mirror', 'shard', 'verify', sys.argv[1]]\n"
             "try:\n    runpy.run_module('mirror_cli', run_name='__main__')\n"
             "except SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
             "assert 'mirror_cli.shard.verify' in sys.modules\n"
             "print(sorted({m.split('.')[0] for m in sys.modules}))\n")
    proc = subprocess.run([sys.executable, "-c", probe, manifest], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "'numpy'" not in proc.stdout.splitlines()[-1]


def test_importing_crypto_loads_no_heavy_module():
    code = ("import sys, mirror_cli.crypto, mirror_cli.crypto.passphrase, mirror_cli.crypto.unlocked; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('cryptography', 'keyring')))")
    root = ROOT
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env,
                         cwd=root)
    assert out.stdout.strip() == "[]"


def test_importing_the_remote_layer_loads_no_cli_or_network_library():
    heavy = ("typer", "rich", "click", "boto3", "psycopg", "urllib.request")
    code = f"import sys, mirror_cli.remotes.url; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_importing_the_core_loads_no_cli_library():
    code = ("import sys, mirror_cli.journal.reflections, mirror_cli.exchange.export, mirror_cli.db.store;"
            "print(sorted(m for m in ('typer', 'rich', 'click') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

"""Promises of issue 12 about the journal commands, run as real `mirror` processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.process

BAD = os.fsdecode(b"\xff\xfe bad")  # what Python makes of a non-UTF-8 argument: lone surrogates


def mirror(*args: str, input: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run mirror with arguments passed as raw bytes (a non-UTF-8 argument stays what the shell gave)."""
    argv = [sys.executable, "-m", "mirror_cli", *args]
    return subprocess.run([os.fsencode(a) for a in argv], input=input, capture_output=True, timeout=120,
                          env={**os.environ, **(env or {})})


# -- item 24: a non-UTF-8 argument is a usage error, not an internal one ------------------------

@pytest.mark.parametrize("args", [
    ["reflect", BAD], ["reflect", "-t", BAD, "text"], ["reflect", "--mode", BAD, "text"],
    ["reflect", "--response", BAD, "text"], ["search", BAD], ["list", "-t", BAD], ["list", "--mode", BAD],
], ids=lambda a: " ".join(x.replace(BAD, "BAD") for x in a))
def test_a_non_utf8_argument_is_a_usage_error(args):
    assert mirror("reflect", "first").returncode == 0
    r = mirror(*args)
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2, err
    assert "not valid UTF-8" in err and "internal" not in err
    listed = json.loads(mirror("list", "--json").stdout)
    assert [x["content"] for x in listed] == ["first"]


def test_edit_with_a_non_utf8_argument_changes_nothing():
    rid = mirror("reflect", "first").stdout.decode().strip()
    r = mirror("edit", rid, BAD)
    assert r.returncode == 2
    assert b"not valid UTF-8" in r.stderr
    assert json.loads(mirror("show", rid, "--json").stdout)["content"] == "first"

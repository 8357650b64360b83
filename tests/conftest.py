"""Test isolation: every test gets its own MIRROR_HOME and never sees the real keyring.

Tests that start real mirror processes (the `run_mirror` fixture, subprocess, pty, signals) live in
tests/process/ and carry the `process` marker; `pytest -m "not process"` runs the fast tier without them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Speed is measured in benchmarks/, never asserted here: on a loaded CI machine an
# example that takes over Hypothesis's default 200 ms deadline once and not on replay
# would fail the run as "flaky" without telling anything about mirror.
settings.register_profile("mirror", deadline=None)
settings.load_profile("mirror")


@pytest.fixture(autouse=True)
def mirror_home(tmp_path, monkeypatch):
    home = tmp_path / "mirror-home"
    monkeypatch.setenv("MIRROR_HOME", str(home))
    for var in ("MIRROR_DB", "MIRROR_JOURNAL", "MIRROR_CONFIG", "MIRROR_PASSPHRASE", "MIRROR_PASSPHRASE_FILE",
                "MIRROR_NEW_PASSPHRASE", "MIRROR_NEW_PASSPHRASE_FILE", "MIRROR_IMPORT_PASSPHRASE",
                "MIRROR_IMPORT_PASSPHRASE_FILE", "MIRROR_DEBUG", "MIRROR_SYNC_PASSPHRASE",
                "MIRROR_SYNC_PASSPHRASE_FILE", "MIRROR_SYNC_RECOVERY_CODE", "MIRROR_TEST_FAULT",
                "MIRROR_EXPORT_PASSPHRASE", "MIRROR_EXPORT_PASSPHRASE_FILE", "XDG_STATE_HOME",
                "VISUAL", "EDITOR", "MIRROR_PLAIN", "MIRROR_PAGER", "PAGER"):
        monkeypatch.delenv(var, raising=False)
    # No real OS keyring, ever: the "fail" backend raises NoKeyringError, which
    # mirror treats as "no keyring available". Tests that need a keyring
    # install an in-memory backend explicitly.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    os.makedirs(tmp_path / "home", exist_ok=True)
    return home


# -- shared helpers for CLI tests ------------------------------------------------

@pytest.fixture
def cli():
    """Run the CLI in-process: ``cli("reflect", "text", input=...)`` -> click Result (stdout/stderr apart)."""
    from typer.testing import CliRunner

    from mirror_cli.cli.app import app

    runner = CliRunner()

    def invoke(*args, input=None, env=None):
        return runner.invoke(app, [str(a) for a in args], input=input, env=env, catch_exceptions=False)

    return invoke


@pytest.fixture
def journal_db(mirror_home):
    """A journal of four reflections (tagged #walks) at MIRROR_HOME; its database path."""
    from mirror_cli.db.store import Store
    from mirror_cli.journal import reflections as journal

    path = mirror_home / "mirror.db"
    with Store.open(path) as s:
        for i in range(4):
            journal.add(s, f"entry {i} about #walks by the river")
    return path


@pytest.fixture
def run_mirror():
    """Run ``python -m mirror_cli ARGS`` as a real subprocess with the test's environment (tests/process/ only)."""
    import subprocess

    from helpers import MIRROR

    def run(*args, input=None, env=None, timeout=120, **kwargs):
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        return subprocess.run([*MIRROR, *[str(a) for a in args]],
                              input=input, env=full_env, capture_output=True, text=True,
                              timeout=timeout, **kwargs)

    return run


# -- an S3 server (tests/s3_server.py) ------------------------------------------------

@pytest.fixture(scope="session")
def s3_endpoint():
    """The S3 test server's URL: `.ci/run`'s moto_server, else moto in this process (else skip; fail in CI)."""
    import s3_server

    yield from s3_server.endpoint()


@pytest.fixture
def s3_bucket(s3_endpoint, monkeypatch):
    """A fresh, empty bucket (`mirror-<12 hex>`) on the test server, with test credentials in the environment."""
    import s3_server

    for var, value in s3_server.CREDENTIALS.items():
        monkeypatch.setenv(var, value)
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                "AWS_ENDPOINT_URL_S3", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(var, raising=False)
    name = s3_server.new_bucket(s3_endpoint)
    yield name
    s3_server.empty_bucket(s3_endpoint, name)


# -- the process tier ------------------------------------------------------------

PROCESS_DIR = Path(__file__).resolve().parent / "process"


def pytest_collection_modifyitems(config, items):
    """Keep the split between the tiers from drifting: a test that starts mirror as a real process
    (`run_mirror`) must live in tests/process/, and every test there must carry the `process` marker
    (each file sets ``pytestmark = pytest.mark.process``)."""
    misplaced, unmarked = [], []
    for item in items:
        inside = PROCESS_DIR in Path(str(item.path)).resolve().parents
        if not inside and "run_mirror" in getattr(item, "fixturenames", ()):
            misplaced.append(item.nodeid)
        if inside and item.get_closest_marker("process") is None:
            unmarked.append(item.nodeid)
    problems = [f"{n}: uses run_mirror (a real process): move it to tests/process/" for n in misplaced]
    problems += [f"{n}: in tests/process/ without the `process` marker (add pytestmark = pytest.mark.process)"
                 for n in unmarked]
    if problems:
        raise pytest.UsageError("tests in the wrong tier:\n  " + "\n  ".join(problems))


@pytest.fixture
def new_york(monkeypatch):
    """Run in a zone with an offset and DST, so local-time handling is visible (TZ restored after)."""
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()

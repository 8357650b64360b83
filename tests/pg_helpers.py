"""A PostgreSQL server for tests: ``MIRROR_TEST_PG_URL`` when .ci/run set it, else a throwaway
cluster started once per test process (SYNC.md "Test servers": initdb refuses root, so as root it
runs as the postgres user; socket in a temp folder, 127.0.0.1 only, fsync off), stopped at exit.

Without psycopg or a server: a failure when ``CI`` is set, a skip otherwise. Each test gets a fresh
table (:func:`fresh_table`), dropped afterwards.
"""

from __future__ import annotations

import atexit
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

_server: dict[str, str] = {}


def server_url() -> str:
    """The URL of a running server (started on first use), or fail/skip as the module docstring says."""
    try:
        import psycopg  # noqa: F401 - the cloud extra
    except ImportError:
        _missing("psycopg is not installed (pip install 'mirror-cli[cloud]')")
    url = os.environ.get("MIRROR_TEST_PG_URL") or _server.get("url")
    if url:
        return url
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if not bins:
        _missing("no PostgreSQL server binaries (apt-get install postgresql-15), and MIRROR_TEST_PG_URL is unset")
    _server["url"] = _start(bins[-1])
    return _server["url"]


def _missing(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL tests cannot run under CI: {why}.")
    pytest.skip(why)


def _as_pg(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _start(bin_dir: str) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = tempfile.mkdtemp(prefix="mirror-pg-")
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres", "postgres")
    data = os.path.join(tmp, "data")
    subprocess.run(_as_pg([f"{bin_dir}/initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                           "--locale=C.UTF-8", "-N"]), check=True, capture_output=True)
    subprocess.run(_as_pg([f"{bin_dir}/pg_ctl", "-D", data, "-l", os.path.join(tmp, "server.log"), "-w", "-t", "30",
                           "-o", f"-k {tmp} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off "
                           "-c synchronous_commit=off -c full_page_writes=off", "start"]),
                   check=True, capture_output=True)
    with open(os.path.join(data, "postmaster.pid")) as fh:
        pid = int(fh.readline())
    atexit.register(_stop, bin_dir, data, tmp, pid)
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def _stop(bin_dir: str, data: str, tmp: str, pid: int) -> None:
    subprocess.run(_as_pg([f"{bin_dir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"]), capture_output=True)
    for _ in range(50):
        try:
            with open(f"/proc/{pid}/status") as fh:
                if any(line.startswith("State:") and "Z" in line for line in fh):
                    break
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
    shutil.rmtree(tmp, ignore_errors=True)


def with_table(url: str, table: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}table={table}"


@pytest.fixture
def pg_url() -> str:
    return server_url()


@pytest.fixture
def fresh_table(pg_url) -> Iterator[str]:
    """A table name no other test uses, dropped after the test."""
    import psycopg

    table = f"t_{secrets.token_hex(6)}"
    yield table
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")


def sql(url: str, query: str, args: tuple = ()) -> list[tuple]:
    """Run *query* on its own connection; the rows it returns (if any)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, args)
        return cur.fetchall() if cur.description else []

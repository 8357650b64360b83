"""The remotes `benchmarks/sync.py` syncs with: a folder, a moto S3 server, a throwaway PostgreSQL cluster.

Each kind gives a fresh location per run, the extra `mirror remote add` arguments and environment it
needs, and the bytes and objects the remote then holds. The servers listen on 127.0.0.1 only, are
started by this process (moto_server beside the benchmark's Python; PostgreSQL's initdb and pg_ctl
as tests/pg_helpers.py and .ci/postgres.sh run them: as the postgres user when root, fsync off) and
stopped by their PID. boto3 and psycopg are imported here only to measure the remote, never timed.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Folder:
    name = "folder"
    env: dict[str, str] = {}

    def __init__(self, work: Path) -> None:
        self.work = work

    def location(self, tag: str) -> tuple[str, list[str]]:
        return str(self.work / f"remote-{tag}"), ["--mkdir"]

    def measure(self, location: str) -> tuple[int, int, dict[str, int]]:
        total, count, per = 0, 0, {}
        root = Path(location)
        for p in root.rglob("*"):
            if p.is_file():
                total += p.stat().st_size
                count += 1
                parts = p.relative_to(root).parts
                top = parts[0] if len(parts) > 1 else p.name
                per[top] = per.get(top, 0) + 1
        return total, count, per

    def drop(self, location: str) -> None:
        shutil.rmtree(location, ignore_errors=True)

    def stop(self) -> None:
        pass


class S3:
    """moto_server on 127.0.0.1 and one bucket; *library* is MIRROR_S3_LIBRARY for the mirror processes."""

    def __init__(self, work: Path, library: str) -> None:
        import boto3  # the benchmark's own view of the bucket

        self.name = f"s3 ({library})"
        exe = Path(sys.executable).with_name("moto_server")
        if not exe.exists():
            raise SystemExit(f"no {exe}: pip install 'moto[s3]' flask flask-cors (the dev extra)")
        port = free_port()
        self.log = open(work / f"moto-{library}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.endpoint = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                urllib.request.urlopen(self.endpoint, timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None:
                    raise SystemExit(f"moto_server exited {self.proc.returncode}; see {self.log.name}") from None
                time.sleep(0.1)
        else:
            self.stop()
            raise SystemExit("moto_server did not come up in 20 s")
        self.client = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="bench",
                                   aws_secret_access_key="bench", region_name="us-east-1")
        self.bucket = f"bench-{secrets.token_hex(4)}"
        self.client.create_bucket(Bucket=self.bucket)
        self.env = {**S3_CREDENTIALS, "MIRROR_S3_LIBRARY": library}

    def location(self, tag: str) -> tuple[str, list[str]]:
        return f"s3://{self.bucket}/{tag}", ["--endpoint-url", self.endpoint]

    def _objects(self, location: str):
        prefix = location.split("/", 3)[3] + "/"
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", ()):
                yield obj["Key"][len(prefix):], obj["Size"]

    def measure(self, location: str) -> tuple[int, int, dict[str, int]]:
        total, count, per = 0, 0, {}
        for key, size in self._objects(location):
            total += size
            count += 1
            top = key.split("/")[0] if "/" in key else key
            per[top] = per.get(top, 0) + 1
        return total, count, per

    def drop(self, location: str) -> None:
        keys = [{"Key": location.split("/", 3)[3] + "/" + k} for k, _ in self._objects(location)]
        for i in range(0, len(keys), 1000):
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys[i:i + 1000]})

    def stop(self) -> None:
        """Stop moto_server by its PID."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Postgres:
    """A throwaway cluster on 127.0.0.1 (socket in a temp folder, fsync off); one table per run."""

    name = "postgres"
    env: dict[str, str] = {}

    def __init__(self, work: Path) -> None:
        import psycopg  # the benchmark's own view of the table

        self._psycopg = psycopg
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
        if not bins:
            raise SystemExit("no PostgreSQL server binaries (apt-get install postgresql-15)")
        self.bin = bins[-1]
        port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="mirror-bench-pg-", dir=work)
        if os.geteuid() == 0:
            shutil.chown(self.tmp, "postgres", "postgres")
            os.chmod(work, 0o711)  # the postgres user must reach self.tmp
        self.data = os.path.join(self.tmp, "data")
        subprocess.run(self._as_pg([f"{self.bin}/initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E",
                                    "UTF8", "--locale=C.UTF-8", "-N"]), check=True, capture_output=True)
        subprocess.run(self._as_pg([f"{self.bin}/pg_ctl", "-D", self.data, "-l", os.path.join(self.tmp, "server.log"),
                                    "-w", "-t", "30", "-o", f"-k {self.tmp} -p {port} -c listen_addresses=127.0.0.1 "
                                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off", "start"]),
                       check=True, capture_output=True)
        with open(os.path.join(self.data, "postmaster.pid")) as fh:
            self.pid = int(fh.readline())
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self.version = os.path.basename(os.path.dirname(self.bin))

    def _as_pg(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args

    def location(self, tag: str) -> tuple[str, list[str]]:
        return f"{self.url}?table=bench_{tag.replace('-', '_')}", []

    def measure(self, location: str) -> tuple[int, int, dict[str, int]]:
        table = location.rsplit("table=", 1)[1]
        with self._psycopg.connect(self.url) as conn:
            rows = conn.execute(f"SELECT name, octet_length(body) FROM {table}").fetchall()
            self.relation = conn.execute(f"SELECT pg_total_relation_size('{table}')").fetchone()[0]
        per: dict[str, int] = {}
        for name, _ in rows:
            top = name.split("/")[0] if "/" in name else name
            per[top] = per.get(top, 0) + 1
        return sum(size for _, size in rows), len(rows), per

    def drop(self, location: str) -> None:
        table = location.rsplit("table=", 1)[1]
        with self._psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")

    def stop(self) -> None:
        """Stop the cluster (pg_ctl, then its PID) and remove its folder."""
        subprocess.run(self._as_pg([f"{self.bin}/pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"]),
                       capture_output=True)
        for _ in range(50):
            if not os.path.exists(f"/proc/{self.pid}"):
                break
            time.sleep(0.1)
        else:
            try:
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def open_remotes(kinds: list[str], work: Path) -> list:
    """The remotes named by --remotes (folder, s3, postgres), servers started."""
    made: list = []
    try:
        for kind in kinds:
            if kind == "folder":
                made.append(Folder(work))
            elif kind in ("s3", "s3-boto3"):
                made.append(S3(work, "boto3"))
            elif kind == "s3-obstore":
                raise SystemExit("s3-obstore: the obstore candidate was measured on branch h14bench and not kept "
                                 "(benchmarks/README.md says why); main's S3 remote is boto3")
            elif kind in ("postgres", "postgresql"):
                made.append(Postgres(work))
            else:
                raise SystemExit(f"unknown remote kind {kind!r}: folder, s3 or postgres")
    except BaseException:
        for r in made:
            r.stop()
        raise
    return made

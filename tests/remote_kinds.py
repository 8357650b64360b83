"""The three kinds of remote for the one conformance suite (tests/core/remotes/test_conformance.py).

Each :class:`Kind` holds a fresh, empty remote of its backend and what a test needs to look at that
backend from outside, without the Remote under test: :meth:`Kind.stored` (every file, key or row it
holds, temp files and unfinished multipart uploads included, so "nothing left behind" can be
checked), :meth:`Kind.reopen` (another remote at the same place, with its own handle or
connection) and :meth:`Kind.wipe`. The ``kind`` fixture of tests/core/remotes/conftest.py yields one
of each.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import s3_server
from pg_helpers import sql, with_table
from mirror_cli.remotes.base import Exists, Remote
from mirror_cli.remotes.folder import FolderRemote
from mirror_cli.remotes.url import open_remote


class Kind:
    name = ""
    race_rounds = 20  # rounds of two writers racing put_new on one name
    examples = 40  # hypothesis examples of the model test
    peak_limit: int | None = 8 << 20  # bytes a 20 MB put_file + get_file may hold at once (None: not measured)

    def __init__(self, remote: Remote) -> None:
        self.remote = remote

    def stored(self) -> list[str]:
        """Everything the backend holds for this remote, as seen from outside it, sorted."""
        raise NotImplementedError

    def reopen(self) -> Remote:
        """Another remote at the same place (its own handle or connection); the caller closes it."""
        raise NotImplementedError

    def wipe(self) -> None:
        """Remove every object, from outside the Remote under test."""
        raise NotImplementedError

    @contextlib.contextmanager
    def racer(self) -> Iterator[Remote]:
        """A remote for one of several threads writing at once: its own (a connection is not shared)."""
        with contextlib.closing(self.reopen()) as remote:
            yield remote

    def close(self) -> None:
        self.remote.close()

    def __repr__(self) -> str:
        return self.name


class FolderKind(Kind):
    name = "folder"
    race_rounds = 40
    examples = 100

    def __init__(self, root: Path) -> None:
        self.root = root
        super().__init__(FolderRemote(root, mkdir=True))

    def stored(self) -> list[str]:
        return files_under(self.root)

    def reopen(self) -> Remote:
        return FolderRemote(self.root)

    def wipe(self) -> None:
        for child in self.root.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()


class S3Kind(Kind):
    name = "s3"
    race_rounds = 5
    examples = 25

    def __init__(self, endpoint: str, bucket: str, measure_memory: bool, cls: type | None = None) -> None:
        """*cls*: the class of S3 remote (S3Remote; another S3 library's is tested the same way)."""
        from mirror_cli.remotes.s3 import PART_SIZE, S3Remote

        self.endpoint, self.bucket, self.prefix = endpoint, bucket, "my/prefix"
        # an in-process moto holds the objects in this very heap: memory is measured only against .ci/run's server
        self.peak_limit = 4 * PART_SIZE if measure_memory else None
        make = cls or S3Remote
        self._make = lambda: make(bucket, self.prefix, endpoint_url=endpoint)
        super().__init__(self._make())

    def stored(self) -> list[str]:
        client = s3_server.client(self.endpoint)
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=self.bucket).get("Contents", ())]
        uploads = [f"(upload) {u['Key']}"
                   for u in client.list_multipart_uploads(Bucket=self.bucket).get("Uploads", ())]
        return sorted(k.removeprefix(f"{self.prefix}/") for k in keys) + sorted(uploads)

    def reopen(self) -> Remote:
        return self._make()

    @contextlib.contextmanager
    def racer(self) -> Iterator[Remote]:
        yield self.remote  # boto3 clients are thread-safe, and a new one costs ~0.5 s

    def wipe(self) -> None:
        client = s3_server.client(self.endpoint)
        keys = [{"Key": o["Key"]} for o in client.list_objects_v2(Bucket=self.bucket).get("Contents", ())]
        if keys:
            client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})


class PostgresKind(Kind):
    name = "postgres"

    def __init__(self, url: str, table: str) -> None:
        self.url, self.table = url, table
        self.location = with_table(url, table)
        super().__init__(open_remote(self.location))

    def stored(self) -> list[str]:
        return [name for (name,) in sql(self.url, f"SELECT name FROM {self.table} ORDER BY name")]

    def reopen(self) -> Remote:
        return open_remote(self.location)

    def wipe(self) -> None:
        sql(self.url, f"TRUNCATE {self.table}")


def files_under(path: Path) -> list[str]:
    """Every file and link below *path* (dot-files and temps included), relative, sorted."""
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file() or p.is_symlink())


def race_put_new(kind: Kind, rounds: int) -> None:
    """Two writers put_new one name at once (each with its own connection where that matters): exactly one wins."""
    for i in range(rounds):
        barrier = threading.Barrier(2)
        outcome: dict[str, object] = {}

        def writer(who: str, i: int = i) -> None:
            with kind.racer() as r:
                barrier.wait()
                try:
                    outcome[who] = r.put_new(f"h/n{i}", who.encode() * 1000)
                except Exists as exc:
                    outcome[who] = exc

        threads = [threading.Thread(target=writer, args=(who,)) for who in "ab"]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [who for who, result in outcome.items() if isinstance(result, str)]
        assert len(winners) == 1 and len(outcome) == 2, outcome
        assert kind.remote.get(f"h/n{i}") == winners[0].encode() * 1000
    assert [n for n in kind.stored() if n.startswith("h/")] == sorted(f"h/n{i}" for i in range(rounds))  # no temp

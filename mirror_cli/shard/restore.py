"""``mirror shard restore``: the original file again, from any k intact shards."""

from __future__ import annotations

import contextlib
from pathlib import Path

from mirror_cli.localfs import open_output, refuse_database_target
from mirror_cli.shard import stripes
from mirror_cli.shard.locations import Remotes, local_path
from mirror_cli.shard.results import RestoreResult, ShardStatus
from mirror_cli.shard.verify import Finder, load, unrecoverable


def restore(manifest: Path | str, output: Path | str, progress: stripes.Progress = None, *,
            into_folder: bool = False, protect: Path | None = None) -> RestoreResult:
    """Rebuild the original file from any k intact shards and write it atomically to *output*
    (into it, under the original's name, when it is a folder or *into_folder*: made if missing).
    *protect* is the live database: never a restore target, nor its -wal/-shm."""
    m, mpath = load(manifest)
    with Remotes() as remotes, Finder(m, mpath, remotes) as finder:
        statuses: dict[int, ShardStatus] = {}
        chosen: list[int] = []
        for i in range(m.n):  # data shards first: they need no decoding
            statuses[i] = finder.check(i, keep=True)
            if statuses[i].status == "intact":
                chosen.append(i)
                if len(chosen) == m.k:
                    break
        if len(chosen) < m.k:
            raise unrecoverable(m, len(chosen), "restore")
        out = local_path(output)
        if into_folder or out.is_dir():
            out = out / m.original_name
        if protect is not None:
            refuse_database_target(out, protect, option="-o")
        new_dirs: list[Path] = []  # folders of -o that do not exist yet, deepest first
        parent = out.parent
        while not parent.exists() and parent != parent.parent:
            new_dirs.append(parent)
            parent = parent.parent
        shards = [(statuses[i].stream, statuses[i].path) for i in chosen]
        try:
            # A device or FIFO is written through, as a shell would; a file atomically, only when its SHA-256 matches.
            with open_output(out, "wb") as fh:
                digest = stripes.decode(m, chosen, shards, fh, out, progress)
        except BaseException:
            for made in new_dirs:  # a failed restore leaves nothing, not even its folders
                with contextlib.suppress(OSError):
                    made.rmdir()
            raise
    return RestoreResult(out, m.original_size, digest, chosen)

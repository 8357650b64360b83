"""``mirror shard verify``: every shard of a set checked by hash, nothing decoded.

:class:`Finder` finds a shard where the manifest says, then beside the manifest (a disk mounted
at another path), and checks it against the manifest as it reads it from its remote; restore
and repair find their shards with it too, and decode from the very streams it checked.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from mirror_cli.errors import VerificationError
from mirror_cli.remotes.base import NotFound, RemoteError
from mirror_cli.shard import format as fmt
from mirror_cli.shard import manifest as mf
from mirror_cli.shard.locations import Remotes, local_path, shown, where
from mirror_cli.shard.results import ShardStatus, VerifyReport


def verify(manifest: Path | str) -> VerifyReport:
    """Check every shard of a set by hash, without decoding anything.

    Never raises for damage (the report says it); a bad manifest raises
    InvalidInputError (exit 5). The CLI exits 3 when ``not report.recoverable``.
    """
    m, mpath = load(manifest)
    with Remotes() as remotes, Finder(m, mpath, remotes) as finder:
        return report(m, mpath, [finder.check(i) for i in range(m.n)])


def load(manifest: Path | str) -> tuple[mf.Manifest, Path]:
    """The manifest file given on the command line, read and validated, and its absolute path."""
    path = local_path(manifest)
    return mf.load(path), path


class Finder:
    """Finds and checks the shards of the set *m*; the streams it keeps are closed with it."""

    def __init__(self, m: mf.Manifest, manifest_path: Path, remotes: Remotes) -> None:
        self.m, self.remotes = m, remotes
        self.beside = str(manifest_path.parent)  # a location too: the disk the manifest is on
        self._kept = contextlib.ExitStack()

    def check(self, index: int, *, keep: bool = False) -> ShardStatus:
        """Shard *index*: intact (its checked stream kept open in ``status.stream`` when *keep*), damaged or missing."""
        entry = self.m.shards[index]
        header = self.m.header(index)
        damaged: ShardStatus | None = None
        for location in dict.fromkeys([entry.location, self.beside]):
            remote = self.remotes.get(location)
            if remote is None:
                continue
            path = where(remote, entry.file)
            try:
                fh = remote.open(entry.file)
            except NotFound:
                continue
            except RemoteError as exc:
                damaged = damaged or ShardStatus(index, "damaged", path, [f"cannot read: {exc.message}"],
                                                 location=location)
                continue
            with contextlib.ExitStack() as this:
                this.enter_context(fh)
                result = fmt.check_shard(fh, header, entry.sha256)
                if result.ok:
                    if keep:
                        self._kept.enter_context(this.pop_all())
                    return ShardStatus(index, "intact", path, location=location, stream=fh if keep else None)
            damaged = damaged or ShardStatus(index, "damaged", path, result.problems, result.bad_stripes, location)
        return damaged or ShardStatus(index, "missing", shown(entry.location, entry.file), ["not found"])

    def close(self) -> None:
        self._kept.close()

    def __enter__(self) -> Finder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def report(m: mf.Manifest, manifest_path: Path, statuses: list[ShardStatus]) -> VerifyReport:
    intact = sum(1 for s in statuses if s.status == "intact")
    problems = [f"shard {s.index} ({s.path}): {'; '.join(s.problems)}" for s in statuses if s.status != "intact"]
    return VerifyReport(
        ok=intact == m.n,
        recoverable=intact >= m.k,
        k=m.k,
        n=m.n,
        intact=intact,
        missing=[s.index for s in statuses if s.status == "missing"],
        damaged=[s.index for s in statuses if s.status == "damaged"],
        problems=problems,
        manifest=manifest_path,
        shards=statuses,
    )


def unrecoverable(m: mf.Manifest, intact: int, action: str) -> VerificationError:
    return VerificationError(
        f"cannot {action}: only {intact} of the {m.n} shards are intact and {m.k} are needed.",
        "Find the missing shards (run 'mirror shard verify' to list them) and try again.",
    )

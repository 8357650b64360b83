"""``mirror shard repair``: missing or damaged shards, and manifest copies, written again."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from mirror_cli.errors import InvalidInputError, OperationError
from mirror_cli.remotes.base import ObjectWriter, RemoteError
from mirror_cli.shard import manifest as mf
from mirror_cli.shard import stripes
from mirror_cli.shard.locations import Remotes, sweep, where
from mirror_cli.shard.results import RepairResult, ShardStatus, record
from mirror_cli.shard.verify import Finder, load, report, unrecoverable

if TYPE_CHECKING:  # only for the annotation: the caller opens the store
    from mirror_cli.db.store import Store


def repair(manifest: Path | str, progress: stripes.Progress = None, *, store: Store | None = None) -> RepairResult:
    """Rewrite missing or damaged shards from k intact ones, each checked against the manifest.

    A damaged shard is replaced where it was found; a missing one goes to its location, or
    beside the manifest when that is where the location's other shards are now (its disk
    mounted at another path). Copies of the manifest that are missing or unreadable in an
    available location are written again too. A location that is not there (disk unplugged) is
    never created, and one that refuses the write is left: the others are repaired, then
    OperationError (exit 1) names it. The repair is recorded in *store*'s audit chain.
    """
    m, mpath = load(manifest)
    with Remotes() as remotes, Finder(m, mpath, remotes) as finder:
        for location in dict.fromkeys(s.location for s in m.shards):
            remote = remotes.get(location)
            if remote is not None:
                sweep(remote)
        statuses: list[ShardStatus] = []
        kept = 0
        for i in range(m.n):
            statuses.append(finder.check(i, keep=kept < m.k))
            kept += statuses[-1].stream is not None
        found = report(m, mpath, statuses)
        if not found.recoverable:
            raise unrecoverable(m, found.intact, "repair the shard set")
        chosen = [s.index for s in statuses if s.stream is not None]
        targets, unplaced = _targets(m, str(mpath.parent), statuses, remotes)
        wanted = sorted(targets)
        written: list[int] = []
        failures: dict[str, str] = {}  # location -> why a write there failed
        if wanted:
            with contextlib.ExitStack() as stack:  # a writer left uncommitted is discarded
                sinks = {i: _Sink(stack, remotes, targets[i], m.shards[i].file) for i in wanted}
                stripes.rebuild(m, chosen, [(statuses[i].stream, statuses[i].path) for i in chosen], wanted,
                                [(sinks[i], sinks[i].label) for i in wanted], progress)
                for index in wanted:
                    error = sinks[index].commit()
                    if error is not None:
                        unplaced[index] = targets[index]
                        failures.setdefault(targets[index], error.message)
                        continue
                    written.append(index)
        manifests = _repair_manifests(m, mpath, remotes, failures)
        if unplaced or failures:
            raise _incomplete(written, unplaced, failures)
        result = RepairResult(written, [where(remotes.get(targets[i]), m.shards[i].file) for i in written],
                              chosen if wanted else [], m.k, m.n, manifests)
    if result.repaired or result.manifests:
        record(store, "shard.repaired", {"repaired": result.repaired, "k": result.k, "n": result.n,
                                         "manifests": len(result.manifests)})
    return result


class _Sink:
    """A rebuilt shard on its way to its location. A location that refuses it (read-only, full)
    does not stop the others: the failure is kept, the bytes dropped, and nothing is published there."""

    def __init__(self, stack: contextlib.ExitStack, remotes: Remotes, location: str, name: str) -> None:
        remote = remotes.get(location)
        assert remote is not None
        self.label = where(remote, name)
        self.error: RemoteError | None = None
        self._out: ObjectWriter | None = None
        try:
            self._out = stack.enter_context(remote.put_stream(name))
        except RemoteError as exc:
            self.error = exc

    def write(self, data: bytes | memoryview) -> int:
        if self._out is not None and self.error is None:
            try:
                self._out.write(data)
            except RemoteError as exc:
                self.error = exc
        return len(data)

    def commit(self) -> RemoteError | None:
        """Publish the shard; the failure, if it could not be."""
        if self._out is not None and self.error is None:
            try:
                self._out.commit()
            except RemoteError as exc:
                self.error = exc
        return self.error


def _targets(m: mf.Manifest, beside: str, statuses: list[ShardStatus],
             remotes: Remotes) -> tuple[dict[int, str], dict[int, str]]:
    """(index -> the location to write it in, index -> the location that is not there) for every shard not intact."""
    targets: dict[int, str] = {}
    unplaced: dict[int, str] = {}
    for s in statuses:
        if s.status == "intact":
            continue
        entry = m.shards[s.index]
        if s.status == "damaged" and s.location is not None:
            targets[s.index] = s.location
        elif remotes.get(entry.location) is not None:
            targets[s.index] = entry.location
        elif any(o.status == "intact" and o.location == beside and m.shards[o.index].location == entry.location
                 for o in statuses):
            # The location's disk was mounted elsewhere: the manifest sits on it now.
            targets[s.index] = beside
        else:
            unplaced[s.index] = entry.location
    return targets, unplaced


def _repair_manifests(m: mf.Manifest, mpath: Path, remotes: Remotes, failures: dict[str, str]) -> list[str]:
    """Write the manifest again in every available location whose copy is missing or unreadable,
    always under the set's own name (whatever the copy given was called); return where."""
    text = m.dumps().encode("utf-8")
    name = m.file_name()
    fixed: list[str] = []
    for location in dict.fromkeys(s.location for s in m.shards):
        remote = remotes.get(location)
        if remote is None or where(remote, name) == str(mpath):
            continue  # not there, or the very copy given (read just now)
        try:
            mf.loads(remote.get(name), where(remote, name))
            continue  # a readable copy is left as it is
        except (RemoteError, InvalidInputError):
            pass  # missing, unreadable or damaged: written again
        try:
            remote.put(name, text)
        except RemoteError as exc:
            failures.setdefault(location, exc.message)
            continue
        fixed.append(where(remote, name))
    return fixed


def _incomplete(written: list[int], unplaced: dict[int, str], failures: dict[str, str]) -> OperationError:
    locations = ", ".join(sorted({*unplaced.values(), *failures}))
    what = f"shard(s) {sorted(unplaced)}" if unplaced else "a copy of the manifest"
    why = next(iter(failures.values()), "")
    return OperationError(
        f"repaired shard(s) {written or 'none'}, but {what} could not be rewritten: "
        f"{locations} is not available or not writable.",
        f"{why + ' ' if why else ''}Attach or mount that location (writable) and run the repair again.",
    )

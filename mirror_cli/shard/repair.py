"""``mirror shard repair``: missing or damaged shards, and manifest copies, written again."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from mirror_cli.errors import InvalidInputError, OperationError
from mirror_cli.remotes.base import ObjectWriter, Remote, RemoteError
from mirror_cli.shard import format as fmt
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

    A manifest is checksummed, not authenticated: anyone who can write it can name any folder.
    So repair writes only where the set demonstrably is (:func:`_holding`): the folder of the
    manifest given, and the locations that hold an intact shard of the set or a copy of its
    manifest, or an empty folder of this user's (a replacement disk). A location that holds nothing
    of it is left (OperationError names it), and a file that is a shard of another set is never
    overwritten.
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
        holding = _holding(m, mpath, statuses, remotes)
        targets, unplaced = _targets(m, str(mpath.parent), statuses, remotes)
        refused = _refuse_foreign(m, statuses, targets, holding, remotes)
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
        manifests = _repair_manifests(m, mpath, remotes, failures, holding)
        if refused:
            raise _refused(written, refused)
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


def _holding(m: mf.Manifest, mpath: Path, statuses: list[ShardStatus], remotes: Remotes) -> set[str]:
    """The locations that demonstrably hold the set: the folder of the manifest given (the user named
    it), those where an intact shard of it was found, and those with a readable copy of its manifest.
    A manifest may name any folder; only these are written to."""
    holding = {str(mpath.parent)} | {s.location for s in statuses if s.status == "intact" and s.location}
    name = m.file_name()
    for location in dict.fromkeys(s.location for s in m.shards):
        remote = remotes.get(location)
        if remote is None or location in holding:
            continue
        if _fresh_folder(location):  # a new, empty disk mounted where the lost one was
            holding.add(location)
            continue
        with contextlib.suppress(RemoteError, InvalidInputError, OSError):
            if _copy(remote, name).set_id == m.set_id:
                holding.add(location)
    return holding


def _copy(remote: Remote, name: str) -> mf.Manifest:
    """The copy of the manifest *name* in *remote*, validated; no more than a manifest's worth of it is read."""
    with remote.open(name) as fh:
        return mf.loads(fh.read(mf.MAX_BYTES + 1), where(remote, name))


def _fresh_folder(location: str) -> bool:
    """Whether *location* is a local folder of this user's with nothing in it (``lost+found`` aside): a
    replacement disk. Another user cannot make one, and nothing of anyone's is there to overwrite."""
    try:
        if os.stat(location).st_uid != os.getuid():
            return False
        with os.scandir(location) as entries:
            return all(e.name == "lost+found" for e in entries)
    except (OSError, ValueError):  # not a local folder (a URL), or unreadable
        return False


def _refuse_foreign(m: mf.Manifest, statuses: list[ShardStatus], targets: dict[int, str], holding: set[str],
                    remotes: Remotes) -> dict[int, str]:
    """Take out of *targets* (in place) the shards that would go where the set is not, or over a shard of
    another set; index -> why, for the error."""
    refused: dict[int, str] = {}
    for index, location in list(targets.items()):
        if location not in holding:
            refused[index] = (f"{location} holds no shard and no manifest of this set, and a manifest can name "
                              "any folder")
        elif statuses[index].status == "damaged" and _other_sets_shard(m, remotes.get(location),
                                                                        m.shards[index].file):
            refused[index] = f"{statuses[index].path} is a shard of another set"
        else:
            continue
        del targets[index]
    return refused


def _other_sets_shard(m: mf.Manifest, remote, name: str) -> bool:
    """Whether the file *name* in *remote* starts with a valid shard header of a set other than *m*."""
    try:
        with remote.open(name) as fh:
            header = fmt.ShardHeader.unpack(fh.read(fmt.HEADER_SIZE))
    except (RemoteError, OSError, fmt.FormatError):
        return False
    return header.set_id.hex() != m.set_id


def _refused(written: list[int], refused: dict[int, str]) -> OperationError:
    return OperationError(
        f"repaired shard(s) {written or 'none'}, but did not write shard(s) {sorted(refused)}: "
        f"{'; '.join(dict.fromkeys(refused.values()))}.",
        "If that location is yours, copy the manifest into it and run the repair again; "
        "nothing was written there.")


def _repair_manifests(m: mf.Manifest, mpath: Path, remotes: Remotes, failures: dict[str, str],
                      holding: set[str]) -> list[str]:
    """Write the manifest again in every available location of *holding* whose copy is missing or
    unreadable, always under the set's own name (whatever the copy given was called); return where."""
    text = m.dumps().encode("utf-8")
    name = m.file_name()
    fixed: list[str] = []
    for location in dict.fromkeys(s.location for s in m.shards):
        remote = remotes.get(location)
        if remote is None or location not in holding or where(remote, name) == str(mpath):
            continue  # not there, not known to hold the set, or the very copy given (read just now)
        try:
            _copy(remote, name)
            continue  # a readable copy is left as it is
        except (RemoteError, InvalidInputError, OSError):
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

"""Shard operations the CLI calls: create, verify, restore, repair.

No printing: each returns a dataclass (with ``to_json()`` giving the
CONTRACT.md ``--json`` shape) or raises a :class:`~mirror_cli.errors.MirrorError`.
NumPy (through :mod:`mirror_cli.shard.codec`) is imported only when a file is
actually encoded or decoded.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from mirror_cli.errors import InvalidInputError, OperationError, UsageError, VerificationError
from mirror_cli.localfs import atomic_write, io_error, open_output
from mirror_cli.shard import format as fmt
from mirror_cli.shard import manifest as mf

Progress = Callable[[int, int], None] | None

LEVELS: dict[str, tuple[int, int]] = {
    "minimal": (2, 3),
    "personal": (3, 5),
    "federation": (5, 9),
    "paranoid": (7, 15),
}

MANIFEST_SUFFIX = mf.MANIFEST_SUFFIX
SHARD_SUFFIX = mf.SHARD_SUFFIX


def resolve_level(level: str | None = None, k: int | None = None, n: int | None = None) -> tuple[int, int]:
    """(k, n) from a level name or explicit values; UsageError when neither or both are valid."""
    if level is not None:
        if k is not None or n is not None:
            raise UsageError("give either --level or -k/-n, not both.")
        try:
            return LEVELS[level]
        except KeyError:
            names = ", ".join(LEVELS)
            raise UsageError(f"unknown redundancy level {level!r}.", f"Choose one of: {names}.") from None
    if k is None or n is None:
        raise UsageError("give a redundancy level (--level) or both -k and -n.")
    check_kn(k, n)
    return k, n


def check_kn(k: int, n: int) -> None:
    if (not isinstance(k, int) or not isinstance(n, int) or isinstance(k, bool) or isinstance(n, bool)
            or not 1 <= k <= n <= 255):
        raise UsageError(
            f"invalid shard counts k={k}, n={n}.",
            "K (shards needed) and N (shards written) must satisfy 1 <= K <= N <= 255.",
        )


def level_name(k: int, n: int) -> str | None:
    for name, kn in LEVELS.items():
        if kn == (k, n):
            return name
    return None


# -- results ------------------------------------------------------------------

@dataclass
class CreateResult:
    k: int
    n: int
    manifests: list[Path]
    shards: list[Path]  # in shard-index order
    set_id: str = ""
    level: str | None = None
    source: Path | None = None
    bytes: int = 0
    sha256: str = ""
    shard_sha256: list[str] = field(default_factory=list)
    merkle_root: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "n": self.n,
            "manifests": [str(p) for p in self.manifests],
            "shards": [str(p) for p in self.shards],
            "set_id": self.set_id,
            "level": self.level,
            "source": str(self.source) if self.source else None,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "merkle_root": self.merkle_root,
        }


@dataclass
class ShardStatus:
    index: int
    status: str  # "intact" | "missing" | "damaged"
    path: Path | None  # where it was found (or, when missing, where the manifest says it lives)
    problems: list[str] = field(default_factory=list)
    bad_stripes: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "status": self.status, "path": str(self.path) if self.path else None,
                "problems": self.problems, "bad_stripes": self.bad_stripes}


@dataclass
class VerifyReport:
    ok: bool  # all n shards intact
    recoverable: bool  # at least k intact
    k: int
    n: int
    intact: int
    missing: list[int]
    damaged: list[int]
    problems: list[str]
    manifest: Path | None = None
    shards: list[ShardStatus] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "recoverable": self.recoverable,
            "k": self.k,
            "n": self.n,
            "intact": self.intact,
            "missing": self.missing,
            "damaged": self.damaged,
            "problems": self.problems,
            "manifest": str(self.manifest) if self.manifest else None,
            "shards": [s.to_json() for s in self.shards],
        }


@dataclass
class RestoreResult:
    path: Path
    bytes: int
    sha256: str
    used: list[int]

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "bytes": self.bytes, "sha256": self.sha256, "used": self.used}


@dataclass
class RepairResult:
    repaired: list[int]
    paths: list[Path] = field(default_factory=list)
    used: list[int] = field(default_factory=list)
    k: int = 0
    n: int = 0
    manifests: list[Path] = field(default_factory=list)  # manifest copies written again

    def to_json(self) -> dict[str, Any]:
        return {"repaired": self.repaired, "paths": [str(p) for p in self.paths], "used": self.used,
                "k": self.k, "n": self.n, "manifests": [str(p) for p in self.manifests]}


# -- helpers ------------------------------------------------------------------

def _abs(path: Path | str) -> Path:
    return Path(os.path.abspath(os.path.expanduser(str(path))))


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _header(m: mf.Manifest, index: int) -> fmt.ShardHeader:
    from mirror_cli.shard.codec import MATRIX_ID

    geo = fmt.Geometry(m.k, m.original_size, m.stripe_size)
    return fmt.ShardHeader(m.k, m.n, index, MATRIX_ID, bytes.fromhex(m.set_id), m.original_size,
                           m.stripe_size, geo.stripe_count, geo.data_length)


def _read_exact(fh, mv: memoryview, path: Path) -> None:
    try:
        got = fh.readinto(mv)
    except OSError as exc:
        raise io_error("read", path, exc) from None
    if got != len(mv):
        raise OperationError(f"{path} changed or was truncated while it was being read.", "Run the command again.")


def _workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


class _Pipeline:
    """Run each stripe's I/O and hashing jobs on worker threads while the next stripe is encoded.

    ``submit(jobs)`` first waits for the previous stripe's jobs (so the jobs
    of one file run in order and a double buffer is enough), then starts
    these. hashlib, file writes and NumPy release the GIL, so two cores help.
    """

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        workers = _workers()
        self._pool = ThreadPoolExecutor(workers) if workers > 1 else None
        self._pending: list = []

    def submit(self, jobs: list[Callable[[], None]]) -> None:
        self.wait()
        if self._pool is None:
            for job in jobs:
                job()
        else:
            self._pending = [self._pool.submit(job) for job in jobs]

    def wait(self) -> None:
        pending, self._pending = self._pending, []
        error: BaseException | None = None
        for fut in pending:
            exc = fut.exception()
            if exc is not None and error is None:
                error = exc
        if error is not None:
            raise error

    def close(self) -> None:
        # Never leave a job writing to a file that is about to be closed.
        for fut in self._pending:
            fut.exception()
        self._pending = []
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> _Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _map(fn: Callable[[int], Any], items: Sequence[int]) -> list[Any]:
    """``[fn(i) for i in items]``, on worker threads when there are several."""
    if len(items) < 2 or _workers() < 2:
        return [fn(i) for i in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(_workers()) as pool:
        return list(pool.map(fn, items))


# -- create -------------------------------------------------------------------

def create(src: Path, locations: Sequence[Path], k: int, n: int, progress: Progress = None, *,
           stripe_size: int | None = None) -> CreateResult:
    """Erasure-code ``src`` into ``n`` shards (any ``k`` restore it) spread over ``locations``."""
    check_kn(k, n)
    if not locations:
        raise UsageError("no location given for the shards.", "Name at least one folder with --to.")
    src = _abs(src)
    if not src.is_file():
        raise UsageError(f"{src} does not exist or is not a file.")
    locs = [_abs(p) for p in locations]
    for loc in locs:
        if loc.exists() and not loc.is_dir():
            raise UsageError(f"the shard location {loc} is not a folder.")
    stripe = stripe_size or fmt.default_stripe_size(k, n)
    problem = fmt.stripe_problem(stripe, n)
    if problem:
        raise UsageError(f"{problem}.")

    # A set id whose file names are free in every location.
    while True:
        set_id = os.urandom(16)
        short = set_id.hex()[:8]
        shard_paths = [locs[i % len(locs)] / f"{src.name}.{short}.{i:03d}{SHARD_SUFFIX}" for i in range(n)]
        manifest_paths = list(dict.fromkeys(loc / f"{src.name}.{short}{MANIFEST_SUFFIX}" for loc in locs))
        if not any(p.exists() for p in shard_paths + manifest_paths):
            break

    try:
        size = src.stat().st_size
    except OSError as exc:
        raise io_error("read", src, exc) from None
    geo = fmt.Geometry(k, size, stripe)
    created: list[Path] = []
    try:
        digests, src_sha = _write_shards(src, shard_paths, set_id, geo, n, progress, created)
        root = mf.merkle_root(digests)
        entries = [
            mf.ShardEntry(i, p.name, str(p.parent), geo.shard_bytes, digests[i], mf.merkle_proof(digests, i))
            for i, p in enumerate(shard_paths)
        ]
        from mirror_cli.shard.codec import MATRIX_NAME

        manifest = mf.Manifest(set_id.hex(), _now(), k, n, level_name(k, n), MATRIX_NAME, stripe,
                               src.name, size, src_sha, root, entries)
        text = manifest.dumps()
        for path in manifest_paths:
            with atomic_write(path, "w") as fh:
                fh.write(text)
            created.append(path)
    except BaseException:
        for path in created:
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    return CreateResult(k, n, manifest_paths, shard_paths, set_id.hex(), level_name(k, n), src, size,
                        src_sha, digests, root)


def _write_shards(src: Path, paths: list[Path], set_id: bytes, geo: fmt.Geometry, n: int,
                  progress: Progress, created: list[Path]) -> tuple[list[str], str]:
    import numpy as np

    from mirror_cli.shard.codec import MATRIX_ID, Codec

    k = geo.k
    codec = Codec(k, n)
    src_hash = hashlib.sha256()
    bufs = [np.zeros(n * max(geo.stripe_size, fmt.ALIGN), dtype=np.uint8) for _ in range(2)]
    total = geo.size
    done = 0
    if progress:
        progress(0, total)

    def writer_job(w: fmt.ShardWriter, block: np.ndarray, path: Path) -> Callable[[], None]:
        def job() -> None:
            try:
                w.write_block(block)
            except OSError as exc:
                raise io_error("write", path, exc) from None
        return job

    with contextlib.ExitStack() as stack:
        try:
            fin = stack.enter_context(open(src, "rb"))
        except OSError as exc:
            raise io_error("read", src, exc) from None
        writers: list[fmt.ShardWriter] = []
        for i, path in enumerate(paths):
            fh = stack.enter_context(atomic_write(path, "wb"))
            header = fmt.ShardHeader(k, n, i, MATRIX_ID, set_id, geo.size, geo.stripe_size,
                                     geo.stripe_count, geo.data_length)
            try:
                writers.append(fmt.ShardWriter(fh, header))
            except OSError as exc:
                raise io_error("write", path, exc) from None
        pipe = stack.enter_context(_Pipeline())
        for s in range(geo.stripe_count):
            buf = bufs[s % 2]
            b = geo.block_length(s)
            nbytes = geo.stripe_bytes(s)
            data = buf[: k * b]
            _read_exact(fin, memoryview(data)[:nbytes], src)
            if nbytes < k * b:
                data[nbytes:] = 0
            blocks = list(buf[: n * b].reshape(n, b))
            codec.encode_blocks(blocks[:k], blocks[k:])
            jobs = [writer_job(w, blocks[i], paths[i]) for i, w in enumerate(writers)]
            jobs.append(lambda mv=memoryview(data)[:nbytes]: src_hash.update(mv))
            pipe.submit(jobs)
            done += nbytes
            if progress:
                progress(done, total)
        pipe.wait()
        if fin.read(1):
            raise OperationError(f"{src} grew while it was being sharded.", "Run the command again.")
        digests = []
        for i, w in enumerate(writers):
            try:
                digests.append(w.finish()[0])
            except OSError as exc:
                raise io_error("write", paths[i], exc) from None
        # Shards are renamed into place as the stack unwinds; record them for cleanup on failure.
        created.extend(paths)
    return digests, src_hash.hexdigest()


# -- verify -------------------------------------------------------------------

def _candidates(m: mf.Manifest, manifest_path: Path, index: int) -> list[Path]:
    entry = m.shards[index]
    return list(dict.fromkeys([entry.path, manifest_path.parent / entry.file]))


def _check(m: mf.Manifest, manifest_path: Path, index: int) -> ShardStatus:
    entry = m.shards[index]
    header = _header(m, index)
    first_damaged: ShardStatus | None = None
    for path in _candidates(m, manifest_path, index):
        if not path.is_file():
            continue
        result = fmt.check_shard(path, header, entry.sha256)
        if result.ok:
            return ShardStatus(index, "intact", path)
        if first_damaged is None:
            first_damaged = ShardStatus(index, "damaged", path, result.problems, result.bad_stripes)
    if first_damaged is not None:
        return first_damaged
    return ShardStatus(index, "missing", entry.path, ["not found"])


def _load(manifest_path: Path) -> tuple[mf.Manifest, Path]:
    manifest_path = _abs(manifest_path)
    return mf.load(manifest_path), manifest_path


def _report(m: mf.Manifest, manifest_path: Path, statuses: list[ShardStatus]) -> VerifyReport:
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


def verify(manifest: Path) -> VerifyReport:
    """Check every shard of a set by hash, without decoding anything.

    Shards are looked for where the manifest says, then beside the manifest.
    Never raises for damage (the report says it); a bad manifest raises
    InvalidInputError (exit 5). The CLI exits 3 when ``not report.recoverable``.
    """
    m, path = _load(manifest)
    return _report(m, path, _map(lambda i: _check(m, path, i), range(m.n)))


def _pick(m: mf.Manifest, manifest_path: Path, statuses: dict[int, ShardStatus]) -> list[int]:
    """Up to k intact shards, data shards first (they need no decoding); checks lazily."""
    chosen: list[int] = []
    todo = list(range(m.n))
    while todo and len(chosen) < m.k:
        batch, todo = todo[: m.k - len(chosen)], todo[m.k - len(chosen) :]
        for i, status in zip(batch, _map(lambda i: _check(m, manifest_path, i), batch)):
            statuses[i] = status
            if status.status == "intact":
                chosen.append(i)
    return sorted(chosen)


def _unrecoverable(m: mf.Manifest, intact: int, action: str) -> VerificationError:
    return VerificationError(
        f"cannot {action}: only {intact} of the {m.n} shards are intact and {m.k} are needed.",
        "Find the missing shards (run 'mirror shard verify' to list them) and try again.",
    )


# -- restore ------------------------------------------------------------------

def restore(manifest: Path, output: Path, progress: Progress = None, *, into_folder: bool = False,
            protect: Path | None = None) -> RestoreResult:
    """Rebuild the original file from any k intact shards; write it atomically to ``output``
    (into it, under the original's name, when it is a folder or *into_folder*: made if missing)."""
    m, mpath = _load(manifest)
    statuses: dict[int, ShardStatus] = {}
    chosen = _pick(m, mpath, statuses)
    if len(chosen) < m.k:
        for i in range(m.n):
            statuses.setdefault(i, _check(m, mpath, i))
        raise _unrecoverable(m, sum(s.status == "intact" for s in statuses.values()), "restore")
    out = _abs(output)
    if into_folder or out.is_dir():
        out = out / m.original_name
    if protect is not None:  # the live database (or its -wal/-shm) is never a restore target
        from mirror_cli.localfs import refuse_database_target

        refuse_database_target(out, protect, option="-o")
    shard_paths = [statuses[i].path for i in chosen]
    new_dirs: list[Path] = []  # folders of -o that do not exist yet, deepest first
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        new_dirs.append(parent)
        parent = parent.parent
    try:
        digest = _decode_to(m, chosen, shard_paths, out, progress)
    except BaseException:
        for folder in new_dirs:  # a failed restore leaves nothing, not even its folders
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return RestoreResult(out, m.original_size, digest, chosen)


def _open_shards(stack: contextlib.ExitStack, paths: list) -> list[tuple[IO[bytes], Path]]:
    """Each chosen shard file opened (closed with *stack*) and placed at its first stripe."""
    fins = []
    for p in paths:
        assert p is not None
        try:
            fh = stack.enter_context(open(p, "rb"))
            fh.seek(fmt.HEADER_SIZE)
        except OSError as exc:
            raise io_error("read", p, exc) from None
        fins.append((fh, p))
    return fins


def _decode_to(m: mf.Manifest, chosen: list[int], paths: list[Path | None], out: Path,
               progress: Progress) -> str:
    import numpy as np

    from mirror_cli.shard.codec import Codec

    k = m.k
    geo = fmt.Geometry(k, m.original_size, m.stripe_size)
    codec = Codec(k, m.n)
    missing = [i for i in range(k) if i not in chosen]
    kernel = codec.transform(chosen, missing) if missing else None
    width = max(geo.stripe_size, fmt.ALIGN)
    inbufs = [np.empty((k, width), dtype=np.uint8) for _ in range(2)]
    outbufs = [np.empty((max(len(missing), 1), width), dtype=np.uint8) for _ in range(2)]
    pos = {idx: p for p, idx in enumerate(chosen)}
    h = hashlib.sha256()
    done = 0
    if progress:
        progress(0, geo.size)
    with contextlib.ExitStack() as stack:
        fins = _open_shards(stack, paths)
        fout = stack.enter_context(open_output(out, "wb"))  # a device or FIFO written through, as a shell would
        pipe = stack.enter_context(_Pipeline())

        # Writing and hashing a stripe are two jobs, so they run side by side (both release the GIL).
        def write_job(pieces: list[memoryview]) -> Callable[[], None]:
            def job() -> None:
                for piece in pieces:
                    try:
                        fout.write(piece)
                    except OSError as exc:
                        raise io_error("write", out, exc) from None
            return job

        def hash_job(pieces: list[memoryview]) -> Callable[[], None]:
            def job() -> None:
                for piece in pieces:
                    h.update(piece)
            return job

        for s in range(geo.stripe_count):
            b = geo.block_length(s)
            inputs = [inbufs[s % 2][j, :b] for j in range(k)]
            for j, (fh, p) in enumerate(fins):
                _read_exact(fh, memoryview(inputs[j]), p)
            outputs = [outbufs[s % 2][j, :b] for j in range(len(missing))]
            if kernel is not None:
                kernel.apply(inputs, outputs)
            remaining = geo.stripe_bytes(s)
            pieces = []
            for i in range(k):
                if remaining <= 0:
                    break
                block = inputs[pos[i]] if i in pos else outputs[missing.index(i)]
                piece = memoryview(block)[: min(b, remaining)]
                pieces.append(piece)
                remaining -= len(piece)
            pipe.submit([write_job(pieces), hash_job(pieces)])
            done += geo.stripe_bytes(s)
            if progress:
                progress(done, geo.size)
        pipe.wait()
        if h.hexdigest() != m.original_sha256:
            raise VerificationError(
                "the restored file does not match the SHA-256 recorded in the manifest; nothing was written.",
                "A shard may have changed during the restore; run 'mirror shard verify' and try again.",
            )
    return h.hexdigest()


# -- repair -------------------------------------------------------------------

def repair(manifest: Path, progress: Progress = None) -> RepairResult:
    """Rewrite missing or damaged shards (atomically) from k intact ones.

    Copies of the manifest that are missing or unreadable in an available location are
    written again too. A location that is not there (disk unplugged) is never created:
    the other shards are repaired and OperationError (exit 1) names it.
    """
    m, mpath = _load(manifest)
    report = _report(m, mpath, _map(lambda i: _check(m, mpath, i), range(m.n)))
    if report.ok:
        return RepairResult([], [], [], m.k, m.n, _repair_manifests(m, mpath))
    if not report.recoverable:
        raise _unrecoverable(m, report.intact, "repair the shard set")
    statuses = report.shards
    chosen = [s.index for s in statuses if s.status == "intact"][: m.k]
    beside = mpath.parent
    targets: dict[int, Path] = {}
    unplaced: list[int] = []
    for s in statuses:
        if s.status == "intact":
            continue
        entry = m.shards[s.index]
        if s.status == "damaged" and s.path is not None:
            targets[s.index] = s.path
        elif Path(entry.location).is_dir():
            targets[s.index] = entry.path
        elif any(o.status == "intact" and o.path is not None and o.path.parent == beside
                 and m.shards[o.index].location == entry.location for o in statuses):
            # The location's disk was mounted elsewhere: the manifest sits on it now.
            targets[s.index] = beside / entry.file
        else:
            unplaced.append(s.index)
    for index, target in list(targets.items()):
        if not os.access(target.parent, os.W_OK):  # a read-only disk: repair the others, then say so
            del targets[index]
            unplaced.append(index)
    unplaced.sort()
    wanted = sorted(targets)
    if wanted:
        _encode_missing(m, chosen, [statuses[i].path for i in chosen], wanted, [targets[i] for i in wanted],
                        progress)
    manifests = _repair_manifests(m, mpath)
    if unplaced:
        locs = sorted({m.shards[i].location for i in unplaced})
        raise OperationError(
            f"repaired shard(s) {wanted or 'none'}, but shard(s) {unplaced} could not be rewritten: "
            f"{', '.join(locs)} is not available or not writable.",
            "Attach or mount that location (writable) and run the repair again.",
        )
    return RepairResult(wanted, [targets[i] for i in wanted], chosen, m.k, m.n, manifests)


def _repair_manifests(m: mf.Manifest, mpath: Path) -> list[Path]:
    """Write the manifest again in every available location whose copy is missing or unreadable."""
    text = m.dumps()
    fixed: list[Path] = []
    for location in dict.fromkeys(s.location for s in m.shards):
        folder = Path(location)
        target = folder / m.file_name()  # its own name, whatever the copy given was called
        if not folder.is_dir() or target == mpath or not os.access(folder, os.W_OK):
            continue
        try:
            mf.load(target)
            continue  # a readable copy is left as it is
        except InvalidInputError:
            pass
        with atomic_write(target, "w") as fh:
            fh.write(text)
        fixed.append(target)
    return fixed


def _encode_missing(m: mf.Manifest, chosen: list[int], paths: list[Path | None], wanted: list[int],
                    targets: list[Path], progress: Progress) -> None:
    import numpy as np

    from mirror_cli.shard.codec import Codec

    k = m.k
    geo = fmt.Geometry(k, m.original_size, m.stripe_size)
    kernel = Codec(k, m.n).transform(chosen, wanted)
    width = max(geo.stripe_size, fmt.ALIGN)
    inbuf = np.empty((k, width), dtype=np.uint8)
    outbuf = np.empty((len(wanted), width), dtype=np.uint8)
    done = 0
    if progress:
        progress(0, geo.size)
    with contextlib.ExitStack() as stack:
        fins = _open_shards(stack, paths)
        writers = []
        for idx, target in zip(wanted, targets):
            fh = stack.enter_context(atomic_write(target, "wb"))
            try:
                writers.append(fmt.ShardWriter(fh, _header(m, idx)))
            except OSError as exc:
                raise io_error("write", target, exc) from None
        for s in range(geo.stripe_count):
            b = geo.block_length(s)
            inputs = [inbuf[j, :b] for j in range(k)]
            for j, (fh, p) in enumerate(fins):
                _read_exact(fh, memoryview(inputs[j]), p)
            outputs = [outbuf[j, :b] for j in range(len(wanted))]
            kernel.apply(inputs, outputs)
            for w, block, target in zip(writers, outputs, targets):
                try:
                    w.write_block(block)
                except OSError as exc:
                    raise io_error("write", target, exc) from None
            done += geo.stripe_bytes(s)
            if progress:
                progress(done, geo.size)
        for idx, w, target in zip(wanted, writers, targets):
            try:
                digest, _ = w.finish()
            except OSError as exc:
                raise io_error("write", target, exc) from None
            if digest != m.shards[idx].sha256:
                raise VerificationError(
                    f"the rebuilt shard {idx} does not match the manifest; nothing was rewritten.",
                    "A shard may have changed during the repair; run 'mirror shard verify' and try again.",
                )

"""The stripe loops: a file into n shards, k shards back into the file, k shards into the lost
ones. Shards are read from and written to streams (a remote's ``open`` and ``put_stream``, each
paired with the label that names it in messages); one stripe of the whole set in memory at a
time, read, coded and written in order on one thread.

This is the one module of the package that needs NumPy (through :mod:`.codec`). NumPy takes
50-130 ms to import, so only create, restore and repair import this module; verify never
does, and the CLI imports each of them inside its command.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from mirror_cli.errors import OperationError, VerificationError
from mirror_cli.localfs import io_error
from mirror_cli.shard import format as fmt
from mirror_cli.shard.codec import Codec
from mirror_cli.shard.manifest import Manifest

Progress = Callable[[int, int], None] | None
Stream = tuple[IO[bytes], str]  # an open shard, and where it is (for messages)


def encode(src: Path, outs: Sequence[Stream], headers: Sequence[fmt.ShardHeader],
           progress: Progress = None) -> tuple[list[str], str]:
    """Write shard i of *src* into ``outs[i]`` with ``headers[i]``; return (each shard's SHA-256, the source's).

    The outputs are left open: their owner publishes (or discards) them."""
    n = len(outs)
    geo = headers[0].geometry
    k = geo.k
    codec = Codec(k, n)
    src_hash = hashlib.sha256()
    buf = np.zeros(n * max(geo.stripe_size, fmt.ALIGN), dtype=np.uint8)
    done = 0
    if progress:
        progress(0, geo.size)
    with contextlib.ExitStack() as stack:
        fin = _open(stack, src, "rb")
        writers = []
        for (fh, label), header in zip(outs, headers):
            with _writing(label):
                writers.append(fmt.ShardWriter(fh, header))
        for s in range(geo.stripe_count):
            b = geo.block_length(s)
            nbytes = geo.stripe_bytes(s)
            data = buf[: k * b]
            _read_exact(fin, memoryview(data)[:nbytes], src)
            if nbytes < k * b:
                data[nbytes:] = 0
            src_hash.update(memoryview(data)[:nbytes])
            blocks = list(buf[: n * b].reshape(n, b))
            codec.encode_blocks(blocks[:k], blocks[k:])
            for writer, block, (_, label) in zip(writers, blocks, outs):
                with _writing(label):
                    writer.write_block(block)
            done += nbytes
            if progress:
                progress(done, geo.size)
        if fin.read(1):
            raise OperationError(f"{src} grew while it was being sharded.", "Run the command again.")
        digests = []
        for writer, (_, label) in zip(writers, outs):
            with _writing(label):
                digests.append(writer.finish()[0])
    return digests, src_hash.hexdigest()


def decode(m: Manifest, chosen: Sequence[int], shards: Sequence[Stream], out: IO[bytes], out_path: Path,
           progress: Progress = None) -> str:
    """Write the original file to *out* from the k intact shards *chosen* (open as *shards*);
    return its SHA-256. VerificationError when that is not the manifest's: the caller writes nothing."""
    k = m.k
    geo = fmt.Geometry(k, m.original_size, m.stripe_size)
    missing = [i for i in range(k) if i not in chosen]
    kernel = Codec(k, m.n).transform(chosen, missing) if missing else None
    width = max(geo.stripe_size, fmt.ALIGN)
    inbuf = np.empty((k, width), dtype=np.uint8)
    outbuf = np.empty((max(len(missing), 1), width), dtype=np.uint8)
    pos = {idx: p for p, idx in enumerate(chosen)}
    h = hashlib.sha256()
    done = 0
    if progress:
        progress(0, geo.size)
    _start(shards)
    for s in range(geo.stripe_count):
        b = geo.block_length(s)
        inputs = _read_stripe(shards, inbuf, b)
        outputs = [outbuf[j, :b] for j in range(len(missing))]
        if kernel is not None:
            kernel.apply(inputs, outputs)
        remaining = geo.stripe_bytes(s)
        for i in range(k):
            if remaining <= 0:
                break
            block = inputs[pos[i]] if i in pos else outputs[missing.index(i)]
            piece = memoryview(block)[: min(b, remaining)]
            with _writing(out_path):
                out.write(piece)
            h.update(piece)
            remaining -= len(piece)
        done += geo.stripe_bytes(s)
        if progress:
            progress(done, geo.size)
    if h.hexdigest() != m.original_sha256:
        raise VerificationError(
            "the restored file does not match the SHA-256 recorded in the manifest; nothing was written.",
            "A shard may have changed during the restore; run 'mirror shard verify' and try again.",
        )
    return h.hexdigest()


def rebuild(m: Manifest, chosen: Sequence[int], shards: Sequence[Stream], wanted: Sequence[int],
            outs: Sequence[Stream], progress: Progress = None) -> None:
    """Write shards *wanted* into *outs* from the k intact shards *chosen* (open as *shards*), each
    checked against the manifest's SHA-256 (VerificationError when one differs: the caller
    publishes none of them). The outputs are left open: their owner publishes (or discards) them."""
    k = m.k
    geo = fmt.Geometry(k, m.original_size, m.stripe_size)
    kernel = Codec(k, m.n).transform(chosen, wanted)
    width = max(geo.stripe_size, fmt.ALIGN)
    inbuf = np.empty((k, width), dtype=np.uint8)
    outbuf = np.empty((len(wanted), width), dtype=np.uint8)
    done = 0
    if progress:
        progress(0, geo.size)
    _start(shards)
    writers = []
    for index, (fh, label) in zip(wanted, outs):
        with _writing(label):
            writers.append(fmt.ShardWriter(fh, m.header(index)))
    for s in range(geo.stripe_count):
        b = geo.block_length(s)
        inputs = _read_stripe(shards, inbuf, b)
        outputs = [outbuf[j, :b] for j in range(len(wanted))]
        kernel.apply(inputs, outputs)
        for writer, block, (_, label) in zip(writers, outputs, outs):
            with _writing(label):
                writer.write_block(block)
        done += geo.stripe_bytes(s)
        if progress:
            progress(done, geo.size)
    for index, writer, (_, label) in zip(wanted, writers, outs):
        with _writing(label):
            digest, _ = writer.finish()
        if digest != m.shards[index].sha256:
            raise VerificationError(
                f"the rebuilt shard {index} does not match the manifest; nothing was rewritten.",
                "A shard may have changed during the repair; run 'mirror shard verify' and try again.",
            )


@contextlib.contextmanager
def _writing(label: Path | str):
    """An OSError while writing *label* becomes a one-line OperationError naming it."""
    try:
        yield
    except OSError as exc:
        raise io_error("write", label, exc) from None


def _open(stack: contextlib.ExitStack, path: Path, mode: str) -> IO[bytes]:
    try:
        return stack.enter_context(open(path, mode))  # noqa: SIM115 - closed by the stack
    except OSError as exc:
        raise io_error("read" if "r" in mode else "write", path, exc) from None


def _start(shards: Sequence[Stream]) -> None:
    """Place each shard at its first stripe."""
    for fh, label in shards:
        try:
            fh.seek(fmt.HEADER_SIZE)
        except OSError as exc:
            raise io_error("read", label, exc) from None


def _read_stripe(shards: Sequence[Stream], inbuf: Any, b: int) -> list[Any]:
    """The next *b* bytes of each of the k shards, read into the rows of *inbuf* (views, no copies)."""
    inputs = [inbuf[j, :b] for j in range(len(shards))]
    for j, (fh, label) in enumerate(shards):
        _read_exact(fh, memoryview(inputs[j]), label)
    return inputs


def _read_exact(fh: IO[bytes], mv: memoryview, label: str) -> None:
    try:
        got = fh.readinto(mv)
    except OSError as exc:
        raise io_error("read", label, exc) from None
    if got != len(mv):
        raise OperationError(f"{label} changed or was truncated while it was being read.", "Run the command again.")

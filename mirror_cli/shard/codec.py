"""Systematic MDS Reed-Solomon erasure code over GF(2^8), vectorised with NumPy.

A file is cut into ``k`` data blocks; ``n - k`` parity blocks are computed
with the generator matrix ``G = [I_k; P]`` where ``P`` is a (normalised)
Cauchy matrix (:func:`mirror_cli.shard.gf256.cauchy_parity`). Shards
``0..k-1`` are the data itself; any ``k`` of the ``n`` shards restore it,
because every ``k x k`` submatrix of ``G`` is invertible.

Everything reduces to one operation: *given some blocks, compute other blocks
as GF(256) linear combinations of them* -- encoding (data -> parity), decoding
(any k -> missing data) and repair (any k -> missing shards) are all
:class:`Kernel` instances built from a small matrix. A kernel is planned
once (per erasure pattern) and applied to many stripes:

* rows whose coefficients are all 0/1 are plain XORs (the normalised Cauchy
  matrix makes the first parity row one of those);
* a row that stands alone uses a ``uint16 -> uint16`` table per coefficient,
  multiplying two bytes per gather (coefficient 1 is a plain XOR);
* other rows are grouped four at a time: one ``uint16 -> uint64`` gather per
  input block yields its contribution to four outputs at once, accumulated
  with XOR in interleaved form and de-interleaved at the end.

No per-byte Python loops; block lengths must be multiples of 8
(:data:`ALIGN`), which the shard format guarantees by zero padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from mirror_cli.shard import gf256

ALIGN = 8
MAX_N = 255
# The matrix's id and name (format.MATRIX_ID, format.MATRIX_NAME) live in the numpy-free format module.
MAX_GROUP_TABLES = 64
SMALL = 1024  # block length below which the convenience API skips the table kernels


def check_params(k: int, n: int) -> None:
    """Raise ValueError unless ``1 <= k <= n <= 255``."""
    if not isinstance(k, int) or not isinstance(n, int) or isinstance(k, bool) or isinstance(n, bool):
        raise ValueError("k and n must be integers")
    if not 1 <= k <= n <= MAX_N:
        raise ValueError(f"need 1 <= k <= n <= {MAX_N}, got k={k}, n={n}")


@dataclass
class _Plan:
    copy_rows: list[tuple[int, int]] = field(default_factory=list)  # (out, in)
    zero_rows: list[int] = field(default_factory=list)
    xor_rows: list[tuple[int, list[int]]] = field(default_factory=list)  # (out, ins)
    single_rows: list[tuple[int, list[tuple[int, int]]]] = field(default_factory=list)  # (out, [(in, c)])
    groups: list[tuple[list[int], list[tuple[int, np.ndarray]]]] = field(default_factory=list)


class Kernel:
    """``outputs[r] = XOR_j matrix[r, j] * inputs[j]`` over GF(256), planned once."""

    def __init__(self, matrix: np.ndarray) -> None:
        self.matrix = np.array(matrix, dtype=np.uint8)
        if self.matrix.ndim != 2:
            raise ValueError("matrix must be 2-D")
        self.rows, self.cols = self.matrix.shape
        self._plan = self._make_plan()
        self._scratch: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def _make_plan(self) -> _Plan:
        plan = _Plan()
        mul_rows: list[int] = []
        for r in range(self.rows):
            row = self.matrix[r]
            nz = [int(j) for j in np.nonzero(row)[0]]
            if not nz:
                plan.zero_rows.append(r)
            elif all(row[j] == 1 for j in nz):
                if len(nz) == 1:
                    plan.copy_rows.append((r, nz[0]))
                else:
                    plan.xor_rows.append((r, nz))
            else:
                mul_rows.append(r)
        # Grouped tables are built per (group, input) and cost 512 KiB each; for very
        # wide codes fall back to the per-coefficient tables (at most 256 of them).
        n_tables = sum(
            int(np.count_nonzero(self.matrix[mul_rows[s : s + 4]].any(axis=0)))
            for s in range(0, len(mul_rows), 4)
        )
        step = 4 if n_tables <= MAX_GROUP_TABLES else 1
        for start in range(0, len(mul_rows), step):
            grp = mul_rows[start : start + step]
            if len(grp) == 1:
                r = grp[0]
                plan.single_rows.append((r, [(j, int(c)) for j, c in enumerate(self.matrix[r]) if c]))
                continue
            cols: list[tuple[int, np.ndarray]] = []
            for j in range(self.cols):
                coeffs = tuple(int(self.matrix[r, j]) for r in grp)
                if any(coeffs):
                    cols.append((j, gf256.mul_table64(coeffs)))
            plan.groups.append((grp, cols))
        for r, terms in plan.single_rows:
            for _, c in terms:
                if c != 1:
                    gf256.mul_table16(c)
        return plan

    def _buffers(self, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        buf = self._scratch.get(length)
        if buf is None:
            half = length // 2
            buf = (np.empty(half, dtype="<u8"), np.empty(half, dtype="<u8"), np.empty(half, dtype="<u2"))
            self._scratch = {length: buf}  # keep only the latest size
        return buf

    def apply(self, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray]) -> None:
        """Fill each ``outputs[r]`` (uint8, same length as the inputs, a multiple of 8)."""
        if len(inputs) != self.cols or len(outputs) != self.rows:
            raise ValueError("wrong number of blocks")
        length = len(outputs[0]) if outputs else (len(inputs[0]) if inputs else 0)
        if length % ALIGN:
            raise ValueError(f"block length must be a multiple of {ALIGN}")
        if length == 0:
            return
        plan = self._plan
        in64 = [np.asarray(b).view("<u8") for b in inputs]
        in16 = [np.asarray(b).view("<u2") for b in inputs]
        out64 = [np.asarray(b).view("<u8") for b in outputs]
        out16 = [np.asarray(b).view("<u2") for b in outputs]
        for r in plan.zero_rows:
            out64[r].fill(0)
        for r, j in plan.copy_rows:
            np.copyto(out64[r], in64[j])
        for r, js in plan.xor_rows:
            np.bitwise_xor(in64[js[0]], in64[js[1]], out=out64[r])
            for j in js[2:]:
                np.bitwise_xor(out64[r], in64[j], out=out64[r])
        acc, tmp, tmp16 = self._buffers(length)
        for r, terms in plan.single_rows:
            first = True
            for j, c in terms:
                if c == 1:
                    if first:
                        np.copyto(out64[r], in64[j])
                    else:
                        np.bitwise_xor(out64[r], in64[j], out=out64[r])
                else:
                    table = gf256.mul_table16(c)
                    if first:
                        np.take(table, in16[j], out=out16[r], mode="wrap")
                    else:
                        np.take(table, in16[j], out=tmp16, mode="wrap")
                        np.bitwise_xor(out16[r], tmp16, out=out16[r])
                first = False
        for grp, cols in plan.groups:
            first = True
            for j, table in cols:
                if first:
                    np.take(table, in16[j], out=acc, mode="wrap")
                    first = False
                else:
                    np.take(table, in16[j], out=tmp, mode="wrap")
                    np.bitwise_xor(acc, tmp, out=acc)
            lanes = acc.view("<u2").reshape(-1, 4)
            for lane, r in enumerate(grp):
                if first:  # no input contributes (cannot happen for a group, kept for safety)
                    out64[r].fill(0)
                else:
                    np.copyto(out16[r], lanes[:, lane])


class Codec:
    """Reed-Solomon code with ``k`` data shards out of ``n``."""

    def __init__(self, k: int, n: int) -> None:
        check_params(k, n)
        self.k = k
        self.n = n
        self.generator = gf256.generator_matrix(k, n)
        self._encoder: Kernel | None = None

    @property
    def encoder(self) -> Kernel:
        if self._encoder is None:
            self._encoder = Kernel(self.generator[self.k :])
        return self._encoder

    def encode_blocks(self, data: Sequence[np.ndarray], parity: Sequence[np.ndarray]) -> None:
        """Compute the ``n - k`` parity blocks from the ``k`` data blocks."""
        if self.n > self.k:
            self.encoder.apply(data, parity)

    def transform(self, present: Sequence[int], wanted: Sequence[int]) -> Kernel | _ParityFixup:
        """A kernel computing shards ``wanted`` from the ``k`` shards ``present`` (in that order)."""
        present = [int(i) for i in present]
        if len(present) != self.k or len(set(present)) != self.k:
            raise ValueError(f"need exactly {self.k} distinct shards")
        if any(not 0 <= i < self.n for i in list(present) + list(wanted)):
            raise ValueError("shard index out of range")
        return _transform(self.k, self.n, tuple(present), tuple(int(w) for w in wanted))

    def decoder(self, present: Sequence[int]) -> Kernel | _ParityFixup:
        """A kernel computing all ``k`` data blocks from the shards ``present``."""
        return self.transform(present, range(self.k))

    # Convenience for small in-memory buffers (tests, benchmarks).
    def block_size(self, size: int) -> int:
        per = -(-size // self.k) if size else 0
        return -(-per // ALIGN) * ALIGN

    def encode(self, data: bytes) -> list[bytes]:
        """Split ``data`` into ``n`` equal shards (zero padded)."""
        length = self.block_size(len(data))
        buf = np.zeros((self.n, length), dtype=np.uint8)
        buf.reshape(-1)[: len(data)] = np.frombuffer(data, dtype=np.uint8)
        self.encode_blocks(list(buf[: self.k]), list(buf[self.k :]))
        return [row.tobytes() for row in buf]

    def decode(self, shards: dict[int, bytes], size: int) -> bytes:
        """Rebuild the original ``size`` bytes from any ``k`` of the shards."""
        present = sorted(shards)[: self.k]
        if len(present) < self.k:
            raise ValueError(f"need {self.k} shards, got {len(present)}")
        length = self.block_size(size)
        inputs = [np.frombuffer(shards[i], dtype=np.uint8)[:length] for i in present]
        if length <= SMALL:
            # Tiny buffers: a direct matrix product beats building gather tables.
            inverse = gf256.mat_inv(self.generator[present])
            out = gf256.mat_mul(inverse, np.stack(inputs) if inputs else np.zeros((self.k, 0), np.uint8))
        else:
            out = np.empty((self.k, length), dtype=np.uint8)
            self.decoder(present).apply(inputs, list(out))
        return out.reshape(-1)[:size].tobytes()


class _ParityFixup:
    """Decode all lost data blocks but one with a kernel; the last is a plain XOR.

    Parity shard ``k`` is the XOR of all data shards (the first Cauchy row is
    all ones), so when it is present the last lost data block equals it XOR
    every other data block -- one matrix row fewer to multiply.
    """

    def __init__(self, kernel: Kernel, k: int, present: tuple[int, ...], wanted: tuple[int, ...]) -> None:
        self.kernel = kernel
        self.last = len(wanted) - 1
        pos = {idx: j for j, idx in enumerate(present)}
        self.parity_in = pos[k]
        self.data_in = [pos[i] for i in range(k) if i in pos]
        self.rows, self.cols = len(wanted), k

    def apply(self, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray]) -> None:
        self.kernel.apply(inputs, outputs[: self.last])
        out = np.asarray(outputs[self.last]).view("<u8")
        np.copyto(out, np.asarray(inputs[self.parity_in]).view("<u8"))
        for block in [inputs[j] for j in self.data_in] + list(outputs[: self.last]):
            np.bitwise_xor(out, np.asarray(block).view("<u8"), out=out)


@lru_cache(maxsize=16)
def _transform(k: int, n: int, present: tuple[int, ...], wanted: tuple[int, ...]) -> Kernel | _ParityFixup:
    gen = gf256.generator_matrix(k, n)
    inverse = gf256.mat_inv(gen[list(present)])
    data_only = all(w < k and w not in present for w in wanted) and len(set(wanted)) == len(wanted)
    if n > k and k > 1 and k in present and len(wanted) >= 1 and data_only:
        # Wanted are exactly some lost data rows; are they *all* the lost ones?
        lost = {i for i in range(k) if i not in present}
        if set(wanted) == lost:
            head = list(wanted[:-1])
            matrix = gf256.mat_mul(gen[head], inverse) if head else np.zeros((0, k), dtype=np.uint8)
            return _ParityFixup(Kernel(matrix), k, present, wanted)
    matrix = gf256.mat_mul(gen[list(wanted)], inverse) if wanted else np.zeros((0, k), dtype=np.uint8)
    return Kernel(matrix)

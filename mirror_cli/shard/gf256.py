"""Arithmetic in GF(2^8) with the reducing polynomial 0x11d (x^8+x^4+x^3+x^2+1).

Addition is XOR. Multiplication goes through log/exp tables (generator 2),
and :data:`MUL` holds the full 256 x 256 product table as a NumPy array so
that whole rows can be scaled at once (``MUL[c][row]``).

The codec's fast kernels use wider tables built from :data:`MUL`:

* :func:`mul_table16` -- for a coefficient ``c``, a 65 536-entry
  ``uint16 -> uint16`` table that multiplies two bytes at once (data viewed
  as little-endian ``uint16``);
* :func:`mul_table64` -- for up to four coefficients ``(c0, c1, c2, c3)``, a
  65 536-entry ``uint16 -> uint64`` table whose 16-bit lane ``r`` holds the
  product of the two input bytes with ``c_r``: one gather yields the
  contribution of one input block to four output blocks.

All tables are cached, so they are built once per coefficient (tuple).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

POLY = 0x11D
GENERATOR = 2


def _build_tables() -> tuple[np.ndarray, np.ndarray]:
    exp = np.zeros(512, dtype=np.uint8)
    log = np.zeros(256, dtype=np.int32)
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x <<= 1
        if x & 0x100:
            x ^= POLY
    exp[255:510] = exp[0:255]
    log[0] = -1  # undefined; never used for 0
    return exp, log


EXP, LOG = _build_tables()


def _build_mul() -> np.ndarray:
    a = np.arange(256)
    la = LOG[a][:, None]
    lb = LOG[a][None, :]
    table = EXP[(la + lb) % 255].astype(np.uint8)
    table[0, :] = 0
    table[:, 0] = 0
    return table


MUL = _build_mul()
MUL.setflags(write=False)


def mul(a: int, b: int) -> int:
    """Product of two field elements."""
    if a == 0 or b == 0:
        return 0
    return int(EXP[int(LOG[a]) + int(LOG[b])])


def inv(a: int) -> int:
    """Multiplicative inverse; ``a`` must be non-zero."""
    if a == 0:
        raise ZeroDivisionError("0 has no inverse in GF(256)")
    return int(EXP[255 - int(LOG[a])])


def div(a: int, b: int) -> int:
    return mul(a, inv(b))


def mat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Matrix product over GF(256) of two small uint8 matrices."""
    a = np.asarray(a, dtype=np.uint8)
    b = np.asarray(b, dtype=np.uint8)
    rows, inner = a.shape
    inner2, cols = b.shape
    if inner != inner2:
        raise ValueError("shape mismatch")
    out = np.zeros((rows, cols), dtype=np.uint8)
    for t in range(inner):
        # out[r, :] ^= a[r, t] * b[t, :]
        out ^= MUL[a[:, t][:, None], b[t][None, :]]
    return out


def mat_inv(m: np.ndarray) -> np.ndarray:
    """Inverse of a square matrix over GF(256) (Gauss-Jordan).

    Raises :class:`ValueError` when the matrix is singular.
    """
    m = np.array(m, dtype=np.uint8)
    size = m.shape[0]
    if m.shape != (size, size):
        raise ValueError("matrix must be square")
    aug = np.concatenate([m, np.eye(size, dtype=np.uint8)], axis=1)
    for col in range(size):
        pivots = np.nonzero(aug[col:, col])[0]
        if pivots.size == 0:
            raise ValueError("matrix is singular over GF(256)")
        p = col + int(pivots[0])
        if p != col:
            aug[[col, p]] = aug[[p, col]]
        pivot_inv = inv(int(aug[col, col]))
        aug[col] = MUL[pivot_inv][aug[col]]
        factors = aug[:, col].copy()
        factors[col] = 0
        nz = np.nonzero(factors)[0]
        if nz.size:
            aug[nz] ^= MUL[factors[nz][:, None], aug[col][None, :]]
    return aug[:, size:].copy()


def cauchy_parity(k: int, n: int) -> np.ndarray:
    """The ``(n-k) x k`` parity block of the systematic generator matrix.

    A Cauchy matrix ``P[i][j] = 1 / (x_i + y_j)`` with ``x_i = k + i`` and
    ``y_j = j`` (all distinct since ``n <= 256``): every square submatrix of
    a Cauchy matrix is non-singular, so ``[I_k; P]`` is MDS (any ``k`` rows
    are invertible). Scaling columns and rows by non-zero constants keeps
    that property; we scale so that the first parity row and the first
    column are all ones, which turns those products into plain XORs.
    """
    if not 1 <= k <= n <= 256:
        raise ValueError("need 1 <= k <= n <= 256")
    m = n - k
    p = np.zeros((m, k), dtype=np.uint8)
    for i in range(m):
        for j in range(k):
            p[i, j] = inv((k + i) ^ j)
    if m == 0:
        return p
    # Columns: make row 0 all ones.
    for j in range(k):
        s = inv(int(p[0, j]))
        p[:, j] = MUL[s][p[:, j]]
    # Rows: make column 0 all ones.
    for i in range(m):
        s = inv(int(p[i, 0]))
        p[i, :] = MUL[s][p[i, :]]
    return p


def generator_matrix(k: int, n: int) -> np.ndarray:
    """The ``n x k`` systematic generator: identity on top of the Cauchy block."""
    return np.concatenate([np.eye(k, dtype=np.uint8), cauchy_parity(k, n)], axis=0)


_LO = np.arange(65536, dtype=np.uint32) & 0xFF
_HI = np.arange(65536, dtype=np.uint32) >> 8


@lru_cache(maxsize=256)
def mul_table16(c: int) -> np.ndarray:
    """``uint16 -> uint16`` table: both bytes of a little-endian pair times ``c``."""
    row = MUL[c].astype(np.uint16)
    t = (row[_LO] | (row[_HI] << 8)).astype("<u2")
    t.setflags(write=False)
    return t


@lru_cache(maxsize=128)
def mul_table64(coeffs: tuple[int, ...]) -> np.ndarray:
    """``uint16 -> uint64`` table; lane ``r`` (bits 16r..16r+15) = pair times ``coeffs[r]``."""
    if not 1 <= len(coeffs) <= 4:
        raise ValueError("one to four coefficients")
    t = np.zeros(65536, dtype="<u8")
    for r, c in enumerate(coeffs):
        if c:
            t |= mul_table16(c).astype(np.uint64) << np.uint64(16 * r)
    t.setflags(write=False)
    return t

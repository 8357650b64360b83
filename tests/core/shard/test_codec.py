"""GF(256) arithmetic and the Reed-Solomon codec (mirror_cli.shard.gf256 / codec)."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirror_cli.shard import gf256
from mirror_cli.shard.codec import Codec, Kernel, check_params
from mirror_cli.shard.levels import LEVELS


def slow_mul(a: int, b: int) -> int:
    """Carry-less multiply then reduce by 0x11d: the definition, no tables."""
    r = 0
    while b:
        if b & 1:
            r ^= a
        b >>= 1
        a <<= 1
        if a & 0x100:
            a ^= 0x11D
    return r


def test_mul_table_matches_definition():
    a = np.arange(256)
    expected = np.array([[slow_mul(int(x), int(y)) for y in a] for x in a], dtype=np.uint8)
    assert np.array_equal(gf256.MUL, expected)
    assert gf256.mul(0x53, 0xCA) == slow_mul(0x53, 0xCA)


def test_inverse_of_every_nonzero_element():
    for a in range(1, 256):
        assert gf256.mul(a, gf256.inv(a)) == 1
        assert gf256.div(a, a) == 1
    with pytest.raises(ZeroDivisionError):
        gf256.inv(0)


def test_wide_tables_multiply_two_bytes_at_once():
    x = np.arange(65536, dtype=np.uint32)
    for c in (0, 1, 2, 0x8E, 255):
        t = gf256.mul_table16(c)
        assert np.array_equal(t & 0xFF, gf256.MUL[c][x & 0xFF])
        assert np.array_equal(t >> 8, gf256.MUL[c][x >> 8])
    coeffs = (3, 0, 1, 200)
    t64 = gf256.mul_table64(coeffs)
    for lane, c in enumerate(coeffs):
        assert np.array_equal((t64 >> np.uint64(16 * lane)) & np.uint64(0xFFFF), gf256.mul_table16(c))


@settings(max_examples=30, deadline=None)
@given(size=st.integers(1, 12), seed=st.integers(0, 2**32 - 1))
def test_matrix_inverse(size, seed):
    rng = np.random.default_rng(seed)
    m = rng.integers(0, 256, (size, size), dtype=np.uint8)
    try:
        inv = gf256.mat_inv(m)
    except ValueError:
        # Singular: some row is a combination of the others; the Cauchy matrices never are.
        return
    assert np.array_equal(gf256.mat_mul(m, inv), np.eye(size, dtype=np.uint8))
    assert np.array_equal(gf256.mat_mul(inv, m), np.eye(size, dtype=np.uint8))


def test_singular_matrix_is_refused():
    m = np.array([[1, 2], [2, 4]], dtype=np.uint8)  # row 2 = 2 * row 1
    assert gf256.mul(2, 2) == 4
    with pytest.raises(ValueError):
        gf256.mat_inv(m)


def test_cauchy_block_is_normalised():
    p = gf256.cauchy_parity(7, 15)
    assert p.shape == (8, 7)
    assert (p[0] == 1).all() and (p[:, 0] == 1).all()
    assert (p != 0).all()


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_every_k_subset_decodes(level):
    """The MDS property, exhaustively: any k of the n shards restore the data (6435 subsets at 7/15)."""
    k, n = LEVELS[level]
    codec = Codec(k, n)
    data = bytes(random.Random(level).randrange(256) for _ in range(8 * k - 3))
    shards = codec.encode(data)
    assert b"".join(shards[:k])[: len(data)] == data  # systematic
    count = 0
    for subset in itertools.combinations(range(n), k):
        assert codec.decode({i: shards[i] for i in subset}, len(data)) == data, subset
        count += 1
    assert count == len(list(itertools.combinations(range(n), k)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_subsets_decode_with_the_fast_kernels(data):
    n = data.draw(st.integers(1, 255), label="n")
    k = data.draw(st.integers(1, n), label="k")
    size = data.draw(st.integers(1030, 1400), label="size")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    payload = rng.integers(0, 256, size * k, dtype=np.uint8).tobytes()  # > SMALL: table kernels
    codec = Codec(k, n)
    shards = codec.encode(payload)
    subset = sorted(random.Random(seed).sample(range(n), k))
    if data.draw(st.booleans(), label="worst case") and n > k:
        lost_n = min(k, n - k)  # as many data shards lost as possible, parity 0 among the rest
        subset = list(range(lost_n, k)) + list(range(k, k + lost_n))
    assert codec.decode({i: shards[i] for i in subset}, len(payload)) == payload
    # Restore direction: exactly the lost data blocks (uses the parity-0 XOR shortcut when it can).
    lost = [i for i in range(k) if i not in subset]
    if lost:
        length = len(shards[0])
        outs = [np.empty(length, np.uint8) for _ in lost]
        codec.transform(subset, lost).apply([np.frombuffer(shards[i], np.uint8) for i in subset], outs)
        assert [o.tobytes() for o in outs] == [shards[i] for i in lost]
    # Repair direction: rebuild some other shards from the subset.
    others = [i for i in range(n) if i not in subset][:5]
    if others:
        length = len(shards[0])
        outs = [np.empty(length, np.uint8) for _ in others]
        codec.transform(subset, others).apply([np.frombuffer(shards[i], np.uint8) for i in subset], outs)
        assert [o.tobytes() for o in outs] == [shards[i] for i in others]


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 10), cols=st.integers(1, 10), seed=st.integers(0, 2**32 - 1),
       blocks=st.integers(1, 64), density=st.sampled_from([0.0, 0.3, 1.0]), ones=st.booleans())
def test_kernel_matches_reference_matrix_product(rows, cols, seed, blocks, density, ones):
    rng = np.random.default_rng(seed)
    m = rng.integers(0, 256, (rows, cols), dtype=np.uint8)
    m[rng.random((rows, cols)) >= density] = 0
    if ones:
        m[rng.random((rows, cols)) < 0.5] = 1
    length = 8 * blocks
    inputs = rng.integers(0, 256, (cols, length), dtype=np.uint8)
    outputs = np.full((rows, length), 0xAA, dtype=np.uint8)
    Kernel(m).apply(list(inputs), list(outputs))
    assert np.array_equal(outputs, gf256.mat_mul(m, inputs))


def test_parameters_are_checked():
    for k, n in [(0, 3), (4, 3), (1, 256), (-1, 2)]:
        with pytest.raises(ValueError):
            check_params(k, n)
    with pytest.raises(ValueError):
        Codec(3, 5).transform([0, 1], [2])
    assert Codec(1, 1).encode(b"abc")[0][:3] == b"abc"


@pytest.mark.parametrize("k,n", [(4, 6), (10, 14), (17, 40), (64, 128), (100, 255), (128, 255), (200, 255), (254, 255)])
def test_random_k_subsets_of_custom_codes_are_invertible(k, n):
    """MDS for custom sizes up to n = 255: random k-subsets of the generator rows are invertible,
    and the inverse really is one (a wrong Gauss-Jordan would not give the identity)."""
    gen = gf256.generator_matrix(k, n)
    assert np.array_equal(gen[:k], np.eye(k, dtype=np.uint8))  # systematic
    rng = random.Random(f"{k}/{n}")
    subsets = {tuple(range(n - k, n))}  # every parity row, as few data rows as possible
    while len(subsets) < min(40, math.comb(n, k)):
        subsets.add(tuple(sorted(rng.sample(range(n), k))))
    for subset in subsets:
        sub = gen[list(subset)]
        inverse = gf256.mat_inv(sub)  # raises ValueError if singular
        assert np.array_equal(gf256.mat_mul(sub, inverse), np.eye(k, dtype=np.uint8)), subset


def test_a_plain_vandermonde_matrix_would_not_pass_this_proof():
    """The check can fail: the ISA-L style [I; Vandermonde] at 7/15 has singular 7-subsets; ours has none."""
    k, n = 7, 15
    vand = np.zeros((n, k), dtype=np.uint8)
    vand[:k] = np.eye(k, dtype=np.uint8)
    for i in range(k, n):  # gf_gen_rs_matrix: row i = gen^j for gen = 2^(i-k)
        g, p = 1, 1
        for _ in range(i - k):
            g = gf256.mul(g, 2)
        for j in range(k):
            vand[i, j] = p
            p = gf256.mul(p, g)
    singular = 0
    for subset in itertools.combinations(range(n), k):
        try:
            gf256.mat_inv(vand[list(subset)])
        except ValueError:
            singular += 1
    assert singular == 36  # of 6435, as ISA-L's gf_gen_rs_matrix
    cauchy = gf256.generator_matrix(k, n)
    for subset in itertools.combinations(range(n), k):
        gf256.mat_inv(cauchy[list(subset)])


@pytest.mark.parametrize("level", ["minimal", "personal", "federation"])
def test_every_k_subset_decodes_with_the_fast_kernels(level):
    """Every erasure pattern of the smaller levels through the table kernels (and the parity-0 XOR
    shortcut), not the small-buffer matrix product: blocks longer than SMALL. (All 6435 patterns
    of 7/15 this way take ~35 s, mostly building tables; the proof above covers them, and the
    kernels are checked against the reference matrix product on random matrices.)"""
    k, n = LEVELS[level]
    codec = Codec(k, n)
    data = np.random.default_rng(k * n).integers(0, 256, 2048 * k + 5, dtype=np.uint8).tobytes()
    shards = codec.encode(data)
    for subset in itertools.combinations(range(n), k):
        assert codec.decode({i: shards[i] for i in subset}, len(data)) == data, subset
        others = [i for i in range(n) if i not in subset]
        outs = [np.empty(len(shards[0]), np.uint8) for _ in others]
        codec.transform(subset, others).apply([np.frombuffer(shards[i], np.uint8) for i in subset], outs)
        assert [o.tobytes() for o in outs] == [shards[i] for i in others], subset

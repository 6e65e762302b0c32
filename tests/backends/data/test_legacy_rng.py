"""Bulk ``RandomState.permutation`` draws equal the one-by-one loop, stream included."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from backends.data import _legacy_rng
from backends.data._legacy_rng import permutations


def _loop(seed, rows: int, L: int) -> tuple[np.ndarray, int]:
    rng = np.random.RandomState(seed)
    out = np.array([rng.permutation(L) for _ in range(rows)]).reshape(rows, L)
    return out, rng.randint(1 << 30)


@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(0, 300), L=st.integers(0, 40))
def test_bulk_permutations_equal_the_loop(seed, rows, L):
    rng = np.random.RandomState(seed)
    bulk = permutations(rng, rows, L)
    expected, next_value = _loop(seed, rows, L)
    np.testing.assert_array_equal(bulk, expected)
    assert rng.randint(1 << 30) == next_value  # the stream continues where the loop left it


def test_gaussian_cache_survives():
    rng, ref = np.random.RandomState(3), np.random.RandomState(3)
    rng.standard_normal(), ref.standard_normal()  # leaves a cached Gaussian in the state
    np.testing.assert_array_equal(permutations(rng, 50, 7), [ref.permutation(7) for _ in range(50)])
    assert rng.standard_normal() == ref.standard_normal()


@given(seed=st.integers(0, 1000), rows=st.integers(1, 60), L=st.integers(2, 12))
def test_small_blocks_and_retries(seed, rows, L):
    with_patch = {"_ROWS_PER_BLOCK": 7, "_MARGIN": 0.2, "_SLACK": 0}
    saved = {k: getattr(_legacy_rng, k) for k in with_patch}
    try:
        for k, v in with_patch.items():
            setattr(_legacy_rng, k, v)
        rng = np.random.RandomState(seed)
        bulk = permutations(rng, rows, L)
    finally:
        for k, v in saved.items():
            setattr(_legacy_rng, k, v)
    expected, next_value = _loop(seed, rows, L)
    np.testing.assert_array_equal(bulk, expected)
    assert rng.randint(1 << 30) == next_value


def test_other_bit_generators_fall_back_to_the_loop():
    rng = np.random.RandomState(np.random.PCG64(5))
    ref = np.random.RandomState(np.random.PCG64(5))
    np.testing.assert_array_equal(permutations(rng, 20, 6), [ref.permutation(6) for _ in range(20)])

"""Whole-object and grid-mode reassembly helpers (physics.md 8.3)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends import physics


def test_whole_object_is_the_sum_of_row_merges() -> None:
    rng = np.random.default_rng(0)
    patches = rng.normal(size=(3, 8, 8, 1)) + 1j * rng.normal(size=(3, 8, 8, 1))
    offsets = rng.uniform(-5, 5, size=(3, 1, 2, 1)).astype(np.float32)
    size = 30
    out = physics.reassemble_whole_object(patches, offsets, size)
    assert out.shape == (size, size, 1)
    expected = sum(
        physics.merge_patches(patches[b : b + 1], offsets[b : b + 1], size)[0] for b in range(3)
    )
    np.testing.assert_allclose(out, expected, rtol=1e-14, atol=1e-14)
    # chunking the rows changes nothing
    np.testing.assert_array_equal(
        physics.reassemble_whole_object(patches, offsets, size, chunk_size=1),
        physics.reassemble_whole_object(patches, offsets, size, chunk_size=2),
    )


def test_whole_object_uncovered_border_keeps_the_1000_factor() -> None:
    N, size = 8, 12
    patch = np.ones((1, N, N, 1))
    out = physics.reassemble_whole_object(patch, np.zeros((1, 1, 2, 1)), size)[:, :, 0]
    p = (size - N) // 2
    assert out[p + N // 2, p + N // 2] == pytest.approx(1 / 1.001, rel=1e-15)
    assert out[p, p] == pytest.approx(1000, rel=1e-12)
    assert out[0, 0] == 0


def test_whole_object_norm_divides_by_the_ones_expression() -> None:
    rng = np.random.default_rng(1)
    patches = rng.normal(size=(2, 8, 8, 4))
    offsets = rng.uniform(-3, 3, size=(2, 1, 2, 4))
    raw = physics.reassemble_whole_object(patches, offsets, 20)
    ones = physics.reassemble_whole_object(np.ones_like(patches), offsets, 20)
    normed = physics.reassemble_whole_object(patches, offsets, 20, norm=True)
    covered = ones[..., 0] != 0
    assert covered.any() and not covered.all()
    np.testing.assert_allclose(normed[covered], raw[covered] / ones[covered], rtol=1e-14)
    # pixels no patch reaches are 0 / 0, as in the reference
    assert np.all(np.isnan(normed[~covered]))


def test_grid_windows_by_hand() -> None:
    x = np.arange(2 * 7 * 9, dtype=np.float64).reshape(2, 7, 9, 1)
    N, offset = 3, 2
    out = physics.extract_patches_grid(x, N, offset)
    assert out.shape == (2, 3, 4, N * N)
    for b in range(2):
        for r in range(3):
            for c in range(4):
                window = x[b, r * offset : r * offset + N, c * offset : c * offset + N, 0]
                np.testing.assert_array_equal(out[b, r, c], window.reshape(-1))


@given(st.integers(1, 3), st.integers(2, 8), st.integers(1, 4))
def test_grid_reassembly_average_inverts_extraction(g: int, N: int, offset: int) -> None:
    if offset > N:
        offset = N
    big = N + (g - 1) * offset
    rng = np.random.default_rng(g * 100 + N * 10 + offset)
    x = rng.normal(size=(2, big, big, 1))
    windows = physics.extract_patches_grid(x, N, offset)  # (2, g, g, N*N)
    channels = windows.reshape(2, g * g, N, N).transpose(0, 2, 3, 1)
    out = physics.reassemble_patches_real(channels, average=True, offset=offset)
    np.testing.assert_allclose(out, x, rtol=1e-14, atol=1e-15)


def test_grid_reassembly_sum_counts_coverage() -> None:
    g, N, offset = 2, 4, 2
    out = physics.reassemble_patches_real(np.ones((1, N, N, g * g)), average=False, offset=offset)
    expected = np.zeros((6, 6))
    for c in range(4):
        r0, c0 = (c // g) * offset, (c % g) * offset
        expected[r0 : r0 + N, c0 : c0 + N] += 1
    np.testing.assert_array_equal(out[0, :, :, 0], expected)
    assert expected.max() == 4


def test_grid_reassembly_channel_order_is_row_major() -> None:
    N, offset = 2, 2
    channels = np.zeros((1, N, N, 4))
    channels[..., 1] = 7.0  # cell (0, 1): rows [0, 2), cols [2, 4)
    out = physics.reassemble_patches_real(channels, average=False, offset=offset)[0, :, :, 0]
    assert np.all(out[0:2, 2:4] == 7.0) and out.sum() == 7.0 * 4


def test_grid_reassembly_rejects_non_square_channel_count() -> None:
    with pytest.raises(ValueError, match="gridsize"):
        physics.reassemble_patches_real(np.ones((1, 4, 4, 3)))

"""Pad/trim, layouts, in-model extraction (7.2) and merge (8.1), ground-truth patches (7.3)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends import physics


def _random_complex(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.normal(size=shape) + 1j * rng.normal(size=shape)


@given(st.integers(1, 3), st.integers(1, 12), st.integers(0, 6), st.integers(1, 3))
def test_pad_then_trim_is_identity(B: int, N: int, half_margin: int, C: int) -> None:
    rng = np.random.default_rng(N)
    x = _random_complex(rng, (B, N, N, C))
    M = N + 2 * half_margin
    padded = physics.pad_to(x, M)
    assert padded.shape == (B, M, M, C)
    np.testing.assert_array_equal(physics.trim(padded, N), x)
    # the border is zero and carries nothing
    assert np.sum(np.abs(padded)) == pytest.approx(np.sum(np.abs(x)), rel=1e-14)


def test_odd_margin_is_refused() -> None:
    with pytest.raises(ValueError, match="odd"):
        physics.pad_to(np.ones((1, 8, 8, 1)), 11)
    with pytest.raises(ValueError, match="odd"):
        physics.trim(np.ones((1, 11, 11, 1)), 8)
    with pytest.raises(ValueError, match="smaller"):
        physics.trim(np.ones((1, 6, 6, 1)), 8)


@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 6), st.integers(1, 6))
def test_flat_channel_round_trip_and_index(B: int, C: int, H: int, W: int) -> None:
    x = np.arange(B * H * W * C, dtype=np.float64).reshape(B, H, W, C)
    flat = physics.channel_to_flat(x)
    assert flat.shape == (B * C, H, W, 1)
    for b in range(B):
        for c in range(C):
            np.testing.assert_array_equal(flat[b * C + c, :, :, 0], x[b, :, :, c])
    np.testing.assert_array_equal(physics.flat_to_channel(flat, C), x)


@pytest.mark.parametrize("g", [1, 2, 3])
def test_grid_layout(g: int) -> None:
    B, N = 2, 4
    flat = np.arange(B * g * g * N * N, dtype=np.float64).reshape(B * g * g, N, N, 1)
    grid = physics.flat_to_grid(flat, g)
    assert grid.shape == (B, g, g, N, N, 1)
    for c in range(g * g):
        np.testing.assert_array_equal(grid[1, c // g, c % g], flat[g * g + c])
    np.testing.assert_array_equal(
        physics.grid_to_channel(grid), physics.flat_to_channel(flat, g * g)
    )


def test_flat_to_channel_rejects_bad_batch() -> None:
    with pytest.raises(ValueError, match="multiple"):
        physics.flat_to_channel(np.ones((5, 4, 4, 1)), 2)


@given(st.integers(1, 3), st.sampled_from([4, 8, 12]), st.integers(0, 6))
def test_extract_at_c1_with_zero_positions_is_trim(B: int, N: int, half_margin: int) -> None:
    rng = np.random.default_rng(B * N + half_margin)
    M = N + 2 * half_margin
    canvas = _random_complex(rng, (B, M, M, 1))
    patches = physics.extract_patches(canvas, np.zeros((B, 1, 2, 1), dtype=np.float32), N)
    np.testing.assert_array_equal(patches, physics.trim(canvas, N))


@given(st.lists(st.integers(-6, 6), min_size=8, max_size=8))
def test_extract_integer_positions_is_a_shifted_window(values: list[int]) -> None:
    B, C, N, M = 2, 2, 8, 18
    rng = np.random.default_rng(7)
    canvas = _random_complex(rng, (B, M, M, 1))
    positions = np.array(values, dtype=np.float32).reshape(B, 1, 2, C)
    patches = physics.extract_patches(canvas, positions, N)
    assert patches.shape == (B * C, N, N, 1)
    p = (M - N) // 2
    for b in range(B):
        for c in range(C):
            rx, ry = int(positions[b, 0, 0, c]), int(positions[b, 0, 1, c])
            expected = np.zeros((N, N), dtype=complex)
            for i in range(N):
                for j in range(N):
                    si, sj = p + i - ry, p + j - rx
                    if 0 <= si < M and 0 <= sj < M:
                        expected[i, j] = canvas[b, si, sj, 0]
            np.testing.assert_array_equal(patches[b * C + c, :, :, 0], expected)
            # the patch centre samples the canvas at M/2 + (pos - centroid) = M/2 - r
            si, sj = M // 2 - ry, M // 2 - rx
            if 0 <= si < M and 0 <= sj < M:
                assert patches[b * C + c, N // 2, N // 2, 0] == canvas[b, si, sj, 0]


def test_merge_at_c1_amplifies_the_border_by_1000() -> None:
    N, M = 8, 14
    rng = np.random.default_rng(3)
    patch = _random_complex(rng, (1, N, N, 1))
    canvas = physics.merge_patches(patch, np.zeros((1, 1, 2, 1)), M)
    assert canvas.shape == (1, M, M, 1)
    inner = physics.trim(canvas, N)[0, :, :, 0]
    q = physics.center_mask(N)
    centre = q == 1
    np.testing.assert_allclose(inner[centre], patch[0, :, :, 0][centre] / 1.001, rtol=1e-15)
    np.testing.assert_allclose(inner[~centre], patch[0, :, :, 0][~centre] * 1000, rtol=1e-12)
    outside = np.ones((M, M), dtype=bool)
    outside[3 : 3 + N, 3 : 3 + N] = False
    assert np.all(canvas[0, :, :, 0][outside] == 0)


def test_merge_integer_positions_by_hand() -> None:
    B, C, N, M = 1, 4, 8, 16
    rng = np.random.default_rng(5)
    patches = _random_complex(rng, (B, N, N, C))
    r = np.array([[2, -1], [-2, 0], [1, 3], [0, -2]], dtype=np.float32)  # [x, y] per channel
    positions = r.T[None, None, :, :]  # (1, 1, 2, 4)
    canvas = physics.merge_patches(patches, positions, M)[0, :, :, 0]
    p = (M - N) // 2
    num = np.zeros((M, M), dtype=complex)
    den = np.zeros((M, M))
    q = physics.center_mask(N)
    for c in range(C):
        # translation by -r_c: the patch's top-left corner moves to (p - ry, p - rx)
        top, left = p - int(r[c, 1]), p - int(r[c, 0])
        num[top : top + N, left : left + N] += patches[0, :, :, c]
        den[top : top + N, left : left + N] += q
    expected = num.real / (den + 0.001) + 1j * (num.imag / (den + 0.001))
    np.testing.assert_allclose(canvas, expected, rtol=1e-14, atol=0)


@given(st.lists(st.floats(-3, 3), min_size=8, max_size=8))
def test_merge_of_centre_masks_gives_coverage_ratio(values: list[float]) -> None:
    B, C, N, M = 1, 4, 8, 18
    positions = np.array(values, dtype=np.float32).reshape(B, 1, 2, C)
    q = np.repeat(physics.center_mask(N)[None, :, :, None], C, axis=3)
    canvas = physics.merge_patches(q, positions, M)[0, :, :, 0]
    # numerator and denominator are the same translated sum S: canvas = S / (S + 0.001)
    s = 0.001 * canvas / (1 - canvas)
    assert np.all(canvas >= 0) and np.all(canvas < 1)
    np.testing.assert_allclose(s.sum(), C * (N // 2) ** 2, rtol=1e-6)


def test_merge_then_extract_at_c1() -> None:
    N, M = 8, 18
    rng = np.random.default_rng(9)
    patch = _random_complex(rng, (2, N, N, 1))
    pos = np.zeros((2, 1, 2, 1))
    out = physics.extract_patches(physics.merge_patches(patch, pos, M), pos, N)
    q = physics.center_mask(N)[None, :, :, None]
    np.testing.assert_allclose(out, patch / (q + 0.001), rtol=1e-14)


def test_merge_rejects_mismatched_positions() -> None:
    with pytest.raises(ValueError, match=r"\(B, 1, 2, C\)"):
        physics.merge_patches(np.ones((1, 8, 8, 4)), np.zeros((1, 1, 2, 1)), 12)


def test_center_channels_undoes_extraction_offsets() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 8, 8, 2))
    positions = np.array([[[[1.0, -2.0], [0.0, 3.0]]]])  # x = (1, -2), y = (0, 3)
    out = physics.center_channels(x, positions)
    # channel 0 moves by -(1, 0): out[i, j] = x[i, j + 1]
    np.testing.assert_array_equal(out[0, :, :7, 0], x[0, :, 1:, 0])
    # channel 1 moves by -(-2, 3): out[i, j] = x[i + 3, j - 2]
    np.testing.assert_array_equal(out[0, :5, 2:, 1], x[0, 3:, :6, 1])


def test_object_patches_at_integer_positions() -> None:
    rng = np.random.default_rng(4)
    obj = _random_complex(rng, (20, 24))
    N = 8
    xy = np.array([[5.0, 7.0], [0.0, 0.0], [23.0, 19.0]])
    patches = physics.extract_object_patches(obj, xy, N)
    assert patches.shape == (3, N, N)
    for k, (x, y) in enumerate(xy.astype(int)):
        for r in range(N):
            for c in range(N):
                oy, ox = y + r - N // 2, x + c - N // 2
                inside = 0 <= oy < 20 and 0 <= ox < 24
                assert patches[k, r, c] == (obj[oy, ox] if inside else 0)


def test_object_patch_sub_pixel_hand_value() -> None:
    obj = np.arange(1.0, 26.0).reshape(5, 5)
    patch = physics.extract_object_patches(obj, np.array([[2.5, 2.25]]), 4)[0]
    # patch[2, 2] samples obj at (y, x) = (2.25, 2.5): bilinear of obj[2:4, 2:4]
    expected = 0.75 * 0.5 * 13 + 0.75 * 0.5 * 14 + 0.25 * 0.5 * 18 + 0.25 * 0.5 * 19
    assert patch[2, 2] == pytest.approx(expected, abs=1e-13)

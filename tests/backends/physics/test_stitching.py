"""Post-hoc stitching (physics.md 8.2)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from backends import physics


def _patches(P: int, N: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(P, N, N, 1)) + 1j * rng.normal(size=(P, N, N, 1))).astype(np.complex64)


def test_single_patch_is_the_crop() -> None:
    patches = _patches(1, 32, 0)
    out = physics.stitch(patches, np.array([[[[17.3], [-4.2]]]]), crop=20)
    assert out.shape == (20, 20, 1)
    expected = patches[0, 6:26, 6:26].astype(np.complex128) / (1 + 1e-9)
    np.testing.assert_allclose(out, expected, rtol=1e-15)
    assert not np.array_equal(out, patches[0, 6:26, 6:26])


def test_two_patches_by_hand() -> None:
    crop = 6
    patches = np.zeros((2, 8, 8, 1), dtype=np.complex64)
    patches[0] = 1.0
    patches[1] = 3.0
    offsets = np.array([[0.0, 5.0], [2.0, 5.0]]).reshape(2, 1, 2, 1)  # x = 0 and 2, same y
    out = physics.stitch(patches, offsets, crop=crop)[:, :, 0]
    # d = (-1, 0), (+1, 0); pad = ceil(1) = 1 -> even 2; canvas side crop + 4
    assert out.shape == (crop + 4, crop + 4)
    expected = np.zeros((crop + 4, crop + 4))
    count = np.zeros_like(expected)
    expected[2 : 2 + crop, 1 : 1 + crop] += 1.0
    count[2 : 2 + crop, 1 : 1 + crop] += 1
    expected[2 : 2 + crop, 3 : 3 + crop] += 3.0
    count[2 : 2 + crop, 3 : 3 + crop] += 1
    np.testing.assert_allclose(out, expected / (count + 1e-9), rtol=1e-15, atol=0)
    assert out[3, 4] == pytest.approx(2.0, rel=1e-8)


@pytest.mark.parametrize(("spread", "pad"), [(2.0, 2), (2.5, 4), (3.0, 4), (0.25, 2), (0.0, 0)])
def test_pad_is_the_even_ceiling_of_the_largest_offset(spread: float, pad: int) -> None:
    offsets = np.array([[-spread, 3.0], [spread, 3.0]])
    _, got = physics.stitch_offsets(offsets, 2)
    assert got == pad
    out = physics.stitch(_patches(2, 16, 1), offsets.reshape(2, 1, 2, 1), crop=10)
    assert out.shape == (10 + 2 * pad, 10 + 2 * pad, 1)


def test_offsets_are_centred_in_float32() -> None:
    offsets = np.array([[0.1, 100.3], [7.7, 50.05], [-3.3, 12.9]])
    d, _ = physics.stitch_offsets(offsets, 3)
    assert d.dtype == np.float32
    off32 = offsets.astype(np.float32)
    np.testing.assert_array_equal(
        d, off32 - off32.astype(np.float64).mean(axis=0).astype(np.float32)
    )
    # float64 offsets give the same image as the same offsets handed over in float32
    patches = _patches(3, 16, 2)
    np.testing.assert_array_equal(
        physics.stitch(patches, offsets.reshape(3, 1, 2, 1), crop=8),
        physics.stitch(patches, off32.reshape(3, 1, 2, 1), crop=8),
    )


offset_arrays = st.integers(1, 9).flatmap(
    lambda P: arrays(np.float64, (P, 2), elements=st.integers(-40, 40).map(lambda k: k / 4))
)


@given(offset_arrays, st.integers(1, 5))
def test_chunking_does_not_change_the_result(offsets: np.ndarray, chunk: int) -> None:
    P = offsets.shape[0]
    patches = _patches(P, 16, P)
    whole = physics.stitch(patches, offsets.reshape(P, 1, 2, 1), crop=8, chunk_size=1024)
    chunked = physics.stitch(patches, offsets.reshape(P, 1, 2, 1), crop=8, chunk_size=chunk)
    np.testing.assert_array_equal(whole, chunked)


# a power-of-two count keeps the float32 mean of quarter-pixel offsets exact
dyadic_offset_arrays = st.sampled_from([1, 2, 4, 8]).flatmap(
    lambda P: arrays(np.float64, (P, 2), elements=st.integers(-40, 40).map(lambda k: k / 4))
)


@given(dyadic_offset_arrays, st.integers(-100, 100), st.integers(-100, 100))
def test_common_offset_does_not_change_the_result(offsets: np.ndarray, kx: int, ky: int) -> None:
    P = offsets.shape[0]
    patches = _patches(P, 16, P + 1)
    moved = offsets + np.array([kx, ky])
    np.testing.assert_array_equal(
        physics.stitch(patches, offsets.reshape(P, 1, 2, 1), crop=8),
        physics.stitch(patches, moved.reshape(P, 1, 2, 1), crop=8),
    )


def test_both_offset_layouts_are_accepted() -> None:
    offsets = np.array([[1.5, -2.0], [0.0, 3.25], [4.0, 1.0]])
    patches = _patches(3, 16, 3)
    np.testing.assert_array_equal(
        physics.stitch(patches, offsets.reshape(3, 1, 2, 1), crop=8),
        physics.stitch(patches, offsets.reshape(3, 1, 1, 2), crop=8),
    )


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="crop"):
        physics.stitch(_patches(1, 16, 0), np.zeros((1, 1, 2, 1)), crop=7)
    with pytest.raises(ValueError, match="crop"):
        physics.stitch(_patches(1, 16, 0), np.zeros((1, 1, 2, 1)), crop=18)
    with pytest.raises(ValueError, match="offsets"):
        physics.stitch(_patches(2, 16, 0), np.zeros((3, 1, 2, 1)), crop=8)
    with pytest.raises(ValueError, match=r"\(P, N, N, 1\)"):
        physics.stitch(np.ones((1, 16, 16, 2)), np.zeros((1, 1, 2, 1)), crop=8)


@given(offset_arrays)
def test_stitch_is_the_literal_shift_and_sum(offsets: np.ndarray) -> None:
    P, N, crop = offsets.shape[0], 16, 8
    rng = np.random.default_rng(P)
    offsets = offsets + rng.uniform(-0.5, 0.5, size=offsets.shape)
    patches = _patches(P, N, P + 2)
    d, pad = physics.stitch_offsets(offsets, P)
    lo = N // 2 - crop // 2
    padded = np.pad(
        patches[:, lo : lo + crop, lo : lo + crop], ((0, 0), (pad, pad), (pad, pad), (0, 0))
    )
    moved = physics.translate(padded, d)
    moved_ones = physics.translate(
        np.pad(np.ones((P, crop, crop, 1)), ((0, 0), (pad, pad), (pad, pad), (0, 0))), d
    )
    total = np.zeros(moved.shape[1:], dtype=complex)
    weight = np.zeros(moved.shape[1:])
    for k in range(P):
        total += moved[k]
        weight += moved_ones[k]
    expected = total.real / (weight + 1e-9) + 1j * (total.imag / (weight + 1e-9))
    np.testing.assert_array_equal(
        physics.stitch(patches, offsets.reshape(P, 1, 2, 1), crop=crop), expected
    )

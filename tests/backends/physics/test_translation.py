"""Bilinear translation (physics.md 7.1): integer exactness, hand values, float32 coordinates,
composition and adjoint properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from backends import physics


def _shift_with_zero_fill(images: np.ndarray, tx: int, ty: int) -> np.ndarray:
    """out[i, j] = images[i - ty, j - tx] inside the frame, 0 outside (independent reference)."""
    out = np.zeros_like(images)
    H, W = images.shape[:2]
    for i in range(H):
        for j in range(W):
            si, sj = i - ty, j - tx
            if 0 <= si < H and 0 <= sj < W:
                out[i, j] = images[si, sj]
    return out


@st.composite
def integer_cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    B = draw(st.integers(1, 3))
    H = draw(st.integers(1, 10))
    W = draw(st.integers(1, 10))
    C = draw(st.integers(1, 2))
    values = draw(arrays(np.float64, (B, H, W, C), elements=st.floats(-1e6, 1e6)))
    if draw(st.booleans()):
        imag = draw(arrays(np.float64, (B, H, W, C), elements=st.floats(-1e6, 1e6)))
        values = values + 1j * imag
    shifts = draw(arrays(np.int64, (B, 2), elements=st.integers(-12, 12)))
    return values, shifts


@given(integer_cases())
def test_integer_shifts_are_exact(case: tuple[np.ndarray, np.ndarray]) -> None:
    images, shifts = case
    out = physics.translate(images, shifts.astype(np.float32))
    for b in range(images.shape[0]):
        expected = _shift_with_zero_fill(images[b], int(shifts[b, 0]), int(shifts[b, 1]))
        np.testing.assert_array_equal(out[b], expected)


def test_positive_shift_moves_content_to_larger_indices() -> None:
    img = np.zeros((1, 5, 5, 1))
    img[0, 1, 2, 0] = 1.0
    out = physics.translate(img, np.array([[1.0, 2.0]]))
    assert out[0, 3, 3, 0] == 1.0 and out.sum() == 1.0


def test_sub_pixel_hand_values_with_per_corner_zero_fill() -> None:
    img = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    out = physics.translate(img, np.array([[0.25, 0.5]]))[0, :, :, 0]
    # (x=1, y=1) samples (0.75, 0.5): 0.125*1 + 0.375*2 + 0.125*4 + 0.375*5
    assert out[1, 1] == pytest.approx(3.25, abs=1e-15)
    # (x=0, y=0) samples (-0.25, -0.5): only corner (0, 0) is inside, weight 0.75*0.5
    assert out[0, 0] == pytest.approx(0.375, abs=1e-15)
    # (x=2, y=2) samples (1.75, 1.5): 0.125*5 + 0.375*6 + 0.125*8 + 0.375*9
    assert out[2, 2] == pytest.approx(7.25, abs=1e-15)
    # (x=2, y=0) samples (1.75, -0.5): corners (1, 0) and (2, 0), weights 0.25*0.5, 0.75*0.5
    assert out[0, 2] == pytest.approx(0.125 * 2 + 0.375 * 3, abs=1e-15)


def test_sample_coordinate_is_formed_in_float32() -> None:
    W = 128
    ramp = np.broadcast_to(np.arange(W, dtype=np.float64), (2, W)).reshape(1, 2, W, 1)
    tx = 0.1
    out = physics.translate(ramp, np.array([[tx, 0.0]]))[0, 0, :, 0]
    x = np.arange(1, W)
    coordinate32 = (x.astype(np.float32) - np.float32(tx)).astype(np.float64)
    # bilinear sampling reproduces a linear ramp: the output is the sample coordinate itself
    np.testing.assert_allclose(out[1:], coordinate32, rtol=0, atol=1e-12)
    assert np.max(np.abs(out[1:] - (x - tx))) > 1e-7


def test_float64_shift_is_rounded_to_float32_first() -> None:
    rng = np.random.default_rng(0)
    img = rng.normal(size=(1, 16, 16, 1))
    a = physics.translate(img, np.array([[0.1, -2.3]]))
    b = physics.translate(img, np.array([[0.1, -2.3]], dtype=np.float32))
    np.testing.assert_array_equal(a, b)


@given(
    st.floats(-3, 3),
    st.floats(-3, 3),
    st.floats(-2, 2),
    st.floats(-2, 2),
    st.floats(-5, 5),
)
def test_linear_images_are_translated_exactly_in_the_interior(
    a: float, b: float, c: float, tx: float, ty: float
) -> None:
    H = W = 12
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    img = (a * x + b * y + c)[None, :, :, None]
    out = physics.translate(img, np.array([[tx, ty]]))[0, :, :, 0]
    xs = (np.arange(W, dtype=np.float32) - np.float32(tx)).astype(np.float64)
    ys = (np.arange(H, dtype=np.float32) - np.float32(ty)).astype(np.float64)
    inside_x = (np.floor(xs) >= 0) & (np.floor(xs) + 1 <= W - 1)
    inside_y = (np.floor(ys) >= 0) & (np.floor(ys) + 1 <= H - 1)
    expected = a * xs[None, :] + b * ys[:, None] + c
    sel = inside_y[:, None] & inside_x[None, :]
    np.testing.assert_allclose(out[sel], expected[sel], rtol=0, atol=1e-12)


dyadic = st.integers(-24, 24).map(lambda k: k / 8)


@given(st.integers(-3, 3), st.integers(-3, 3), dyadic, dyadic, st.integers(0, 2**31 - 1))
def test_integer_then_sub_pixel_composes(ax: int, ay: int, bx: float, by: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    img = np.zeros((1, 24, 24, 1), dtype=np.complex128)
    img[0, 10:14, 10:14, 0] = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    once = physics.translate(img, np.array([[ax + bx, ay + by]]))
    twice = physics.translate(
        physics.translate(img, np.array([[bx, by]])), np.array([[float(ax), float(ay)]])
    )
    np.testing.assert_array_equal(once, twice)


@given(dyadic, dyadic, st.integers(2, 10), st.integers(2, 10), st.integers(0, 2**31 - 1))
def test_adjoint_is_the_opposite_shift(tx: float, ty: float, H: int, W: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(1, H, W, 1))
    v = rng.normal(size=(1, H, W, 1))
    t = np.array([[tx, ty]])
    lhs = np.sum(physics.translate(u, t) * v)
    rhs = np.sum(u * physics.translate(v, -t))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


def test_complex_parts_are_translated_separately() -> None:
    rng = np.random.default_rng(1)
    re = rng.normal(size=(2, 9, 7, 2))
    im = rng.normal(size=(2, 9, 7, 2))
    shifts = np.array([[0.3, -1.7], [2.25, 0.6]], dtype=np.float32)
    z = physics.translate(re + 1j * im, shifts)
    np.testing.assert_array_equal(z.real, physics.translate(re, shifts))
    np.testing.assert_array_equal(z.imag, physics.translate(im, shifts))


def test_output_dtype_and_shape() -> None:
    img = np.ones((2, 5, 6, 3), dtype=np.float32)
    out = physics.translate(img, np.zeros((2, 2), dtype=np.float32))
    assert out.dtype == np.float64 and out.shape == img.shape
    out_c = physics.translate(img.astype(np.complex64), np.zeros((2, 2)))
    assert out_c.dtype == np.complex128


def test_nearest_interpolation_is_refused() -> None:
    with pytest.raises(ValueError, match="bilinear"):
        physics.translate(np.ones((1, 4, 4, 1)), np.zeros((1, 2)), interpolation="nearest")


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"\(B, H, W, C\)"):
        physics.translate(np.ones((4, 4)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        physics.translate(np.ones((2, 4, 4, 1)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="finite"):
        physics.translate(np.ones((1, 4, 4, 1)), np.array([[np.nan, 0.0]]))

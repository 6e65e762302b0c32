"""Gaussian smoothing (physics.md section 9) against hand values and scipy's correlate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import ndimage

from backends import physics

SCIPY_MODE = {"REFLECT": "mirror", "SYMMETRIC": "reflect", "CONSTANT": "constant"}


def test_three_tap_kernel_by_hand() -> None:
    e = math.exp(-0.5)
    expected = np.array([e, 1.0, e]) / (1 + 2 * e)
    np.testing.assert_allclose(physics.gaussian_kernel_1d(3, 1.0), expected, rtol=1e-15)
    k2 = physics.gaussian_kernel_2d(3, 1.0)
    np.testing.assert_allclose(k2, np.outer(expected, expected), rtol=1e-15)


@given(st.integers(1, 7), st.integers(1, 7), st.floats(0.3, 20), st.floats(0.3, 20))
def test_kernel_sums_to_one(h: int, w: int, sy: float, sx: float) -> None:
    k = physics.gaussian_kernel_2d((h, w), (sy, sx))
    assert k.shape == (h, w)
    assert k.sum() == pytest.approx(1.0, abs=1e-14)
    assert np.all(k > 0)


def test_even_filter_taps_follow_the_reference_range() -> None:
    # taps -1, 0, 1, 2 for a 4-tap filter
    w = physics.gaussian_kernel_1d(4, 1.0)
    e = np.exp(-np.array([1.0, 0.0, 1.0, 4.0]) / 2)
    np.testing.assert_allclose(w, e / e.sum(), rtol=1e-15)


@given(
    st.sampled_from(["REFLECT", "SYMMETRIC", "CONSTANT"]),
    st.sampled_from([(3, 3), (1, 3), (5, 3), (4, 2), (3, 4)]),
    st.floats(0.2, 3),
    st.floats(0.2, 3),
    st.integers(5, 9),
    st.integers(5, 9),
    st.floats(-2, 2),
)
def test_matches_scipy_correlate(
    padding: str,
    shape: tuple[int, int],
    sy: float,
    sx: float,
    H: int,
    W: int,
    cval: float,
) -> None:
    rng = np.random.default_rng(H * 10 + W)
    x = rng.normal(size=(2, H, W, 3))
    out = physics.gaussian_smooth(
        x, (sy, sx), filter_shape=shape, padding=padding, constant_values=cval
    )
    kernel = np.outer(
        physics.gaussian_kernel_1d(shape[0], sy), physics.gaussian_kernel_1d(shape[1], sx)
    )
    # scipy centres an even kernel one tap later; the reference pads (n-1)//2 before
    origin = [0, -1 if shape[0] % 2 == 0 else 0, -1 if shape[1] % 2 == 0 else 0, 0]
    expected = ndimage.correlate(
        x, kernel[None, :, :, None], mode=SCIPY_MODE[padding], cval=cval, origin=origin
    )
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-13)


def test_reflect_differs_from_symmetric_at_the_edge() -> None:
    x = np.zeros((1, 5, 5, 1))
    x[0, 0, 2, 0] = 1.0
    reflect = physics.gaussian_smooth(x, 1.0)
    symmetric = physics.gaussian_smooth(x, 1.0, padding="SYMMETRIC")
    w = physics.gaussian_kernel_1d(3, 1.0)
    # REFLECT mirrors row 1 into the pad (zero here); SYMMETRIC mirrors row 0 (the impulse)
    assert reflect[0, 0, 2, 0] == pytest.approx(w[1] * w[1], rel=1e-15)
    assert symmetric[0, 0, 2, 0] == pytest.approx((w[1] + w[0]) * w[1], rel=1e-15)


def test_complex_parts_are_smoothed_separately_and_layouts() -> None:
    rng = np.random.default_rng(0)
    re = rng.normal(size=(6, 7))
    im = rng.normal(size=(6, 7))
    z = physics.gaussian_smooth(re + 1j * im, 0.8)
    np.testing.assert_array_equal(z.real, physics.gaussian_smooth(re, 0.8))
    np.testing.assert_array_equal(z.imag, physics.gaussian_smooth(im, 0.8))
    four = physics.gaussian_smooth(re[None, :, :, None], 0.8)
    three = physics.gaussian_smooth(re[:, :, None], 0.8)
    np.testing.assert_array_equal(four[0, :, :, 0], z.real)
    np.testing.assert_array_equal(three[:, :, 0], z.real)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="sigma"):
        physics.gaussian_smooth(np.ones((4, 4)), 0.0)
    with pytest.raises(ValueError, match="padding"):
        physics.gaussian_smooth(np.ones((4, 4)), 1.0, padding="WRAP")
    with pytest.raises(ValueError, match="too wide"):
        physics.gaussian_smooth(np.ones((1, 1)), 1.0)

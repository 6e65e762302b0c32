"""Loss terms (physics.md section 10), values derived by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backends import physics


def test_poisson_nll_by_hand() -> None:
    pred = np.array([1.0, math.e, 4.0])
    target = np.array([2.0, 3.0, 0.0])
    expected = ((1 - 2 * 0) + (math.e - 3 * 1) + (4 - 0)) / 3
    assert physics.poisson_nll(pred, target) == pytest.approx(expected, rel=1e-15)


def test_poisson_nll_floor() -> None:
    # I_hat = 0: ln is taken of 1e-12, so the term is -I ln(1e-12) instead of infinity
    value = physics.poisson_nll(np.array([0.0, 0.0]), np.array([1.0, 0.0]))
    assert value == pytest.approx((-math.log(1e-12) + 0.0) / 2, rel=1e-15)
    assert math.isfinite(value)
    # above the floor nothing changes
    assert physics.poisson_nll(np.array([2e-12]), np.array([1.0])) == pytest.approx(
        2e-12 - math.log(2e-12), rel=1e-15
    )


def test_mae_by_hand() -> None:
    pred = np.array([[1.0, 2.0], [3.0, 4.0]])
    target = np.array([[0.0, 2.5], [3.0, 6.0]])
    assert physics.mae(pred, target) == pytest.approx((1 + 0.5 + 0 + 2) / 4, rel=1e-15)


def test_total_variation_by_hand() -> None:
    z = np.array([[1 + 2j, 3 + 0j], [0 + 0j, 1j]]).reshape(1, 2, 2, 1)
    # Re = [[1, 3], [0, 0]]: width (3-1)^2 + 0 = 4, height (0-1)^2 + (0-3)^2 = 10
    # Im = [[2, 0], [0, 1]]: width (0-2)^2 + (1-0)^2 = 5, height (0-2)^2 + (1-0)^2 = 5
    assert physics.total_variation(z) == pytest.approx(24.0, rel=1e-15)
    a = np.abs(z)[0, :, :, 0]
    amp = (a[0, 1] - a[0, 0]) ** 2 + (a[1, 1] - a[1, 0]) ** 2
    amp += (a[1, 0] - a[0, 0]) ** 2 + (a[1, 1] - a[0, 1]) ** 2
    assert physics.total_variation(z, amp_only=True) == pytest.approx(amp, rel=1e-15)


def test_total_variation_sums_over_the_batch() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 5, 6, 1)) + 1j * rng.normal(size=(2, 5, 6, 1))
    b = rng.normal(size=(3, 5, 6, 1)) + 1j * rng.normal(size=(3, 5, 6, 1))
    both = physics.total_variation(np.concatenate([a, b]))
    assert both == pytest.approx(physics.total_variation(a) + physics.total_variation(b), rel=1e-14)


def test_complex_mae_by_hand() -> None:
    z = np.array([3 + 4j, 1 + 0j, 0 - 2j])
    t = np.array([0.0, 1.0, 0.0])
    assert physics.complex_mae(t, z) == pytest.approx((5 + 0 + 2) / 3, rel=1e-15)


def test_realspace_loss_weights_and_centre_mask() -> None:
    N = 8
    rng = np.random.default_rng(1)
    z = rng.normal(size=(2, N, N, 1)) + 1j * rng.normal(size=(2, N, N, 1))
    t = rng.normal(size=(2, N, N, 1))
    full = physics.realspace_loss(z, t, 0.5, 2.0, probe_big=True)
    expected = 0.5 * physics.total_variation(z) + 2.0 * physics.complex_mae(t, z)
    assert full == pytest.approx(expected, rel=1e-14)
    assert physics.realspace_loss(z, t, 0.0, 0.0, probe_big=True) == 0.0
    q = physics.center_mask(N)[None, :, :, None]
    masked = physics.realspace_loss(z, t, 0.5, 2.0, probe_big=False)
    expected_masked = 0.5 * physics.total_variation(z * q) + 2.0 * physics.complex_mae(t, z * q)
    assert masked == pytest.approx(expected_masked, rel=1e-14)
    # with probe_big=False the border of z is ignored
    z2 = z.copy()
    z2[:, 0, :, :] += 100
    assert physics.realspace_loss(z2, t, 0.5, 2.0, probe_big=False) == pytest.approx(
        masked, rel=1e-14
    )


def test_total_loss_combines_the_weighted_terms() -> None:
    pred_amp = np.array([1.0, 2.0]).reshape(1, 1, 2, 1)
    target_amp = np.array([1.5, 2.0]).reshape(1, 1, 2, 1)
    z = np.array([[1 + 1j, 1 + 0j]]).reshape(1, 1, 2, 1)
    t = np.zeros((1, 1, 2, 1))
    out = physics.total_loss(
        pred_amp,
        pred_amp**2,
        target_amp,
        target_amp**2,
        nll_weight=2.0,
        mae_weight=0.25,
        realspace_weight=0.5,
        trimmed_obj=z,
        realspace_target=t,
        tv_weight=1.0,
        realspace_mae_weight=3.0,
    )
    nll = ((1 - 2.25 * math.log(1)) + (4 - 4 * math.log(4))) / 2
    mae = 0.25
    tv = 0.0 + 1.0  # width differences: Re 0, Im (0 - 1)^2; no height differences
    cmae = (math.sqrt(2) + 1) / 2
    rs = 1.0 * tv + 3.0 * cmae
    assert out["nll"] == pytest.approx(nll, rel=1e-15)
    assert out["mae"] == pytest.approx(mae, rel=1e-15)
    assert out["realspace"] == pytest.approx(rs, rel=1e-15)
    assert out["total"] == pytest.approx(0.5 * rs + 0.25 * mae + 2.0 * nll, rel=1e-15)


def test_default_total_is_the_poisson_term() -> None:
    rng = np.random.default_rng(2)
    a = rng.uniform(0.1, 3, size=(2, 4, 4, 1))
    y = rng.uniform(0.1, 3, size=(2, 4, 4, 1))
    out = physics.total_loss(a, a**2, y, y**2)
    assert out["total"] == out["nll"] == physics.poisson_nll(a**2, y**2)
    assert out["realspace"] == 0.0


def test_realspace_mae_needs_realspace_weight() -> None:
    a = np.ones((1, 2, 2, 1))
    with pytest.raises(ValueError, match="realspace_weight"):
        physics.total_loss(a, a, a, a, realspace_mae_weight=1.0)


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        physics.poisson_nll(np.ones((2, 2)), np.ones((2, 3)))


def test_realspace_target_is_the_centred_channel_0() -> None:
    rng = np.random.default_rng(3)
    y = rng.uniform(size=(2, 8, 8, 4))
    zero = physics.realspace_target(y, np.zeros((2, 1, 2, 4)))
    np.testing.assert_array_equal(zero, y[..., :1])
    positions = np.zeros((2, 1, 2, 4))
    positions[:, 0, 0, 0] = 2.0  # channel 0 at x offset r = 2: moved by -2 columns
    moved = physics.realspace_target(y, positions)
    np.testing.assert_array_equal(moved[:, :, :6, 0], y[:, :, 2:, 0])
    assert np.all(moved[:, :, 6:, 0] == 0)

"""Reconstruction metrics: values derived by hand and from their definitions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import ndimage

from backends import physics
from backends.metrics import (
    align_phase,
    align_to_truth,
    covered_box,
    frc_curve,
    frc_resolution,
    half_bit_threshold,
    json_safe,
    psnr,
    reconstruction_metrics,
    ring_pixels,
    ssim,
    wrap_phase,
)


def _object(n: int = 48, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    amp = 0.5 + 0.5 * np.clip(ndimage.gaussian_filter(rng.standard_normal((n, n)), 1.5) * 3, -1, 1)
    phase = np.linspace(-1.0, 1.0, n)[None, :] * np.ones((n, 1))
    return (amp * np.exp(1j * phase)).astype(np.complex64)


def test_identical_images() -> None:
    obj = _object()
    m = reconstruction_metrics(obj, obj)
    for part in ("amplitude", "phase"):
        assert m[part]["mae"] == 0.0
        assert m[part]["psnr"] == math.inf
        assert m[part]["ssim"] == 1.0
        assert m[part]["frc"]["threshold_half-bit"]["crossed"] is False
        assert m[part]["frc"]["threshold_half-bit"]["resolution_px"] == pytest.approx(2.0)
        assert np.allclose(m[part]["frc"]["curve"], 1.0)
    assert m["phase_offset"] == 0.0


def test_constant_phase_offset_is_removed() -> None:
    obj = _object().astype(np.complex128)
    shifted = obj * np.exp(1j * 0.7)
    m = reconstruction_metrics(shifted, obj)
    assert m["phase_offset"] == pytest.approx(0.7, abs=1e-12)
    assert m["phase"]["mae"] < 1e-12
    assert m["amplitude"]["mae"] < 1e-12
    assert m["phase"]["psnr"] > 200
    assert m["phase"]["ssim"] == pytest.approx(1.0, abs=1e-12)


def test_phase_offset_across_the_wrap() -> None:
    """An offset that carries phases across +-pi is still no error."""
    obj = _object().astype(np.complex128)
    m = reconstruction_metrics(obj * np.exp(1j * 3.0), obj)
    assert m["phase"]["mae"] < 1e-12


def test_amplitude_mae_and_psnr_by_hand() -> None:
    truth = np.ones((16, 16), np.complex128)
    truth[:8] = 3.0  # data range L = 2
    recon = truth + 0.1  # amplitudes 3.1 and 1.1 on equal halves, no phase
    a = (3.1 * 3.0 + 1.1 * 1.0) / (3.1**2 + 1.1**2)  # least-squares amplitude scale
    errors = np.array([a * 3.1 - 3.0, a * 1.1 - 1.0])
    m = reconstruction_metrics(recon, truth)
    assert m["amplitude_scale"] == pytest.approx(a)
    assert m["amplitude"]["mae"] == pytest.approx(np.mean(np.abs(errors)))
    assert m["amplitude"]["data_range"] == 2.0
    assert m["amplitude"]["psnr"] == pytest.approx(10 * math.log10(4 / np.mean(errors**2)))


def test_a_global_amplitude_scale_is_not_an_error() -> None:
    truth = _object().astype(np.complex128)
    m = reconstruction_metrics(0.25 * truth, truth)
    assert m["amplitude_scale"] == pytest.approx(4.0)
    assert m["amplitude"]["mae"] == pytest.approx(0.0, abs=1e-12)


def test_psnr_decreases_monotonically_with_noise() -> None:
    obj = _object().astype(np.complex128)
    rng = np.random.default_rng(3)
    noise = rng.standard_normal(obj.shape) + 1j * rng.standard_normal(obj.shape)
    results = [reconstruction_metrics(obj + s * noise, obj) for s in (0.01, 0.03, 0.1, 0.3)]
    for key in ("psnr", "ssim"):
        amp = [r["amplitude"][key] for r in results]
        assert amp == sorted(amp, reverse=True)
    maes = [r["amplitude"]["mae"] for r in results]
    assert maes == sorted(maes)
    res = [r["amplitude"]["frc"]["threshold_half-bit"]["frequency"] for r in results]
    assert res[0] >= res[-1]


def test_ssim_matches_definition_on_constant_images() -> None:
    """Constant images a and b: sigma terms vanish, SSIM = (2ab + C1) / (a^2 + b^2 + C1)."""
    a, b, L = 0.4, 0.6, 1.0
    c1 = (0.01 * L) ** 2
    got = ssim(np.full((20, 20), a), np.full((20, 20), b), L)
    assert got == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-12)


def test_ssim_rejects_small_images() -> None:
    with pytest.raises(ValueError, match="at least 11"):
        ssim(np.zeros((8, 8)), np.zeros((8, 8)), 1.0)


def test_psnr_definition() -> None:
    assert psnr(np.zeros(4), np.zeros(4), 1.0) == math.inf
    assert psnr(np.full(4, 0.1), np.zeros(4), 1.0) == pytest.approx(20.0)


def test_frc_of_independent_noise_is_low_and_crosses() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((64, 64))
    b = rng.standard_normal((64, 64))
    freqs, curve = frc_curve(a, b)
    assert freqs[0] == 0 and freqs[-1] == pytest.approx(0.5)
    assert len(curve) == 33
    assert np.mean(np.abs(curve[2:])) < 0.25
    r = frc_resolution(freqs, curve, 0.5)
    assert r["crossed"] is True


def test_frc_low_pass_crossing() -> None:
    """b keeps only frequencies below 0.2 cycles/pixel of a: the FRC is ~1 there and 0 beyond."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((64, 64))
    F = np.fft.fft2(a)
    f = np.sqrt(np.fft.fftfreq(64)[:, None] ** 2 + np.fft.fftfreq(64)[None, :] ** 2)
    b = np.fft.ifft2(np.where(f < 0.2, F, 0)).real
    freqs, curve = frc_curve(a, b)
    assert np.all(curve[freqs < 0.17] > 0.9)
    assert np.all(curve[freqs > 0.23] < 1e-9)
    for name in ("0.5", "1/7"):
        r = frc_resolution(freqs, curve, 0.5 if name == "0.5" else 1 / 7)
        assert 0.17 < r["frequency"] < 0.23
        assert r["resolution_px"] == pytest.approx(1 / r["frequency"])


def test_frc_resolution_interpolates() -> None:
    freqs = np.array([0.0, 0.1, 0.2, 0.3])
    curve = np.array([1.0, 0.8, 0.4, 0.1])
    r = frc_resolution(freqs, curve, 0.5)
    assert r["frequency"] == pytest.approx(0.1 + 0.1 * (0.3 / 0.4))


@given(phi=st.floats(-20, 20))
def test_wrap_phase_range(phi: float) -> None:
    w = float(wrap_phase(np.array(phi)))
    assert -math.pi - 1e-12 < w <= math.pi + 1e-12
    assert math.cos(w - phi) == pytest.approx(1.0, abs=1e-9)


@given(offset=st.floats(-3.1, 3.1), seed=st.integers(0, 5))
def test_align_phase_recovers_offset(offset: float, seed: int) -> None:
    obj = _object(24, seed).astype(np.complex128)
    aligned, found = align_phase(obj * np.exp(1j * offset), obj)
    assert found == pytest.approx(offset, abs=1e-9)
    np.testing.assert_allclose(aligned, obj, atol=1e-9)


def test_shape_and_input_errors() -> None:
    with pytest.raises(ValueError, match="align_to_truth"):
        reconstruction_metrics(np.ones((16, 16)), np.ones((20, 20)))
    with pytest.raises(ValueError, match="finite"):
        reconstruction_metrics(np.full((16, 16), np.nan), np.ones((16, 16)))
    with pytest.raises(ValueError, match="crop"):
        reconstruction_metrics(np.ones((16, 16)), np.ones((16, 16)), crop=8)


def test_crop_and_trailing_axis() -> None:
    obj = _object(32)
    recon = obj.copy()
    recon[0, 0] = 5.0  # an error on the border only
    m = reconstruction_metrics(recon[..., None], obj[..., None], crop=2)
    assert m["shape"] == [28, 28]
    assert m["amplitude"]["mae"] == 0.0


def test_align_to_truth_recovers_object_region() -> None:
    """Patches cut from a known object at integer positions, stitched by the oracle: the
    matched truth region equals the stitched image wherever patches cover it."""
    obj = _object(80, seed=2).astype(np.complex128)
    N, crop = 16, 8
    positions = np.array([[30.0, 34.0], [36.0, 34.0], [30.0, 40.0], [36.0, 40.0], [33.0, 37.0]])
    patches = np.stack(
        [
            obj[int(y) - N // 2 : int(y) + N // 2, int(x) - N // 2 : int(x) + N // 2]
            for x, y in positions
        ]
    )[..., None]
    stitched = physics.stitch(patches, positions.reshape(-1, 1, 2, 1), crop=crop)
    rec, truth = align_to_truth(stitched, obj, positions.reshape(-1, 1, 2, 1))
    assert rec.shape == truth.shape == stitched.shape[:2]
    covered = np.abs(rec) > 0
    assert covered.sum() > 100
    np.testing.assert_allclose(rec[covered], truth[covered], rtol=1e-6, atol=1e-6)


def test_align_to_truth_clips_to_object() -> None:
    obj = np.ones((20, 20), np.complex64)
    rec = np.ones((12, 12), np.complex64)
    r, t = align_to_truth(rec, obj, np.array([[2.0, 3.0]]))
    # pixel (i, j) sits at row 3 - 6 + i, column 2 - 6 + j: negative coordinates are cut
    assert r.shape == (9, 8)
    assert t.shape == (9, 8)
    with pytest.raises(ValueError, match="does not overlap"):
        align_to_truth(rec, obj, np.array([[200.0, 200.0]]))


def test_json_safe() -> None:
    m = reconstruction_metrics(_object(), _object())
    text = json.dumps(json_safe(m), allow_nan=False)
    assert '"psnr": "inf"' in text
    assert json_safe({"a": np.float32(1.5), "b": [-math.inf, math.nan]}) == {
        "a": 1.5,
        "b": ["-inf", "nan"],
    }


def test_covered_box() -> None:
    m = np.zeros((10, 12), bool)
    m[2:8, 3:10] = True  # 6 x 7
    m[2, 3] = False  # a missing corner: best is rows 3-7 x cols 3-9 (5 x 7) or 6 x 6
    m[0, 0:12] = True  # a 1 x 12 strip is smaller
    rs, cs = covered_box(m)
    assert m[rs, cs].all()
    assert (rs.stop - rs.start) * (cs.stop - cs.start) == 36
    assert (rs, cs) == (slice(2, 8), slice(4, 10))
    with pytest.raises(ValueError, match="empty"):
        covered_box(np.zeros((3, 3), bool))


@given(st.integers(0, 2**32 - 1))
def test_covered_box_is_maximal(seed: int) -> None:
    """Brute force over every rectangle of a small random mask."""
    rng = np.random.default_rng(seed)
    m = rng.random((6, 7)) < 0.7
    if not m.any():
        return
    rs, cs = covered_box(m)
    assert m[rs, cs].all()
    area = (rs.stop - rs.start) * (cs.stop - cs.start)
    best = max(
        (r1 - r0) * (c1 - c0)
        for r0 in range(6)
        for r1 in range(r0 + 1, 7)
        for c0 in range(7)
        for c1 in range(c0 + 1, 8)
        if m[r0:r1, c0:c1].all()
    )
    assert area == best


def test_align_to_truth_with_coverage() -> None:
    """Uncovered canvas pixels (zero) are excluded, so identical content gives perfect metrics."""
    obj = _object(80, seed=4).astype(np.complex128)
    N, crop = 16, 12
    positions = np.array([[30.0, 30.0], [40.0, 30.0], [30.0, 40.0], [40.0, 40.0], [35.0, 35.0]])
    patches = np.stack(
        [
            obj[int(y) - N // 2 : int(y) + N // 2, int(x) - N // 2 : int(x) + N // 2]
            for x, y in positions
        ]
    )[..., None]
    offsets = positions.reshape(-1, 1, 2, 1)
    stitched = physics.stitch(patches, offsets, crop=crop)
    coverage = physics.stitch(np.ones_like(patches), offsets, crop=crop)
    assert (np.abs(coverage) < 0.5).any()  # the scan leaves gaps on this canvas
    rec, truth = align_to_truth(stitched, obj, offsets, coverage=coverage)
    assert min(rec.shape) >= 11
    m = reconstruction_metrics(rec, truth)
    assert m["amplitude"]["mae"] < 1e-6
    assert m["amplitude"]["ssim"] > 0.999999


def _smooth_object(n: int = 64, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    amp = 1.0 + ndimage.gaussian_filter(rng.standard_normal((n, n)), 2.0) * 4
    phase = ndimage.gaussian_filter(rng.standard_normal((n, n)), 2.0) * 6
    return amp * np.exp(1j * phase)


def test_a_known_subpixel_shift_is_recovered() -> None:
    truth = _smooth_object()
    moved = np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(truth), (1.3, -0.6)))
    m = reconstruction_metrics(moved, truth)
    # the shift that moves the reconstruction back onto the truth
    np.testing.assert_allclose(m["registration"]["shift"], [-1.3, 0.6], atol=0.05)
    assert m["registration"]["shift_applied"] is True
    assert m["shape"] == [60, 60]  # cut by ceil(1.3) = 2 on every side
    unregistered = reconstruction_metrics(moved, truth, max_shift=0.1)
    assert unregistered["registration"]["shift_applied"] is False
    assert m["amplitude"]["psnr"] > unregistered["amplitude"]["psnr"] + 10


def test_a_plane_phase_ramp_is_removed_exactly() -> None:
    truth = _smooth_object()
    rows, cols = np.mgrid[0:64, 0:64]
    ramp = 0.05 * rows - 0.08 * cols + 2.0  # wraps across +-pi several times over the image
    m = reconstruction_metrics(truth * np.exp(1j * ramp), truth)
    np.testing.assert_allclose(m["registration"]["phase_ramp"], [0.05, -0.08], atol=1e-12)
    assert m["phase"]["mae"] < 1e-10
    assert m["amplitude"]["mae"] < 1e-12


def test_half_bit_threshold_values() -> None:
    # T(n) = (0.2071 + 1.9102/sqrt(n)) / (1.2071 + 0.9102/sqrt(n)); by hand for n = 1, 100, inf
    assert half_bit_threshold(1) == pytest.approx(2.1173 / 2.1173)
    assert half_bit_threshold(100) == pytest.approx((0.2071 + 0.19102) / (1.2071 + 0.09102))
    assert half_bit_threshold(1e12) == pytest.approx(0.2071 / 1.2071, rel=1e-5)
    counts = ring_pixels((64, 64))
    assert counts[0] == 1 and counts[1] == 8  # the DC pixel; (+-1, 0), (0, +-1), (+-1, +-1)
    assert counts.sum() <= 64 * 64


def test_frc_resolution_in_metres_and_thresholds() -> None:
    freqs = np.array([0.0, 0.1, 0.2, 0.3])
    curve = np.array([1.0, 0.5, 0.1, 0.0])
    r = frc_resolution(freqs, curve, 1.0 / 7.0, pixel_size=2e-8)
    # crossing between 0.1 (0.5) and 0.2 (0.1): frac = (0.5 - 1/7) / 0.4
    f = 0.1 + 0.1 * (0.5 - 1 / 7) / 0.4
    assert r["frequency"] == pytest.approx(f)
    assert r["resolution_m"] == pytest.approx(2e-8 / f)
    per_ring = frc_resolution(freqs, curve, np.array([1.0, 0.4, 0.3, 0.2]))
    # above at ring 1 (0.5 > 0.4), below at ring 2 (0.1 < 0.3): gaps 0.1 and -0.2
    assert per_ring["frequency"] == pytest.approx(0.1 + 0.1 * 0.1 / 0.3)
    # below at the first ring (the half-bit threshold is 1 at the DC ring): that ring's frequency
    first = frc_resolution(freqs, curve, np.array([1.0, 0.6, 0.6, 0.6]))
    assert first["frequency"] == pytest.approx(0.1) and first["resolution_px"] == pytest.approx(10)


def test_frc_of_identical_images_is_one() -> None:
    obj = _smooth_object()
    m = reconstruction_metrics(obj, obj, pixel_size=1e-8)
    for part in ("amplitude", "phase"):
        np.testing.assert_allclose(m[part]["frc"]["curve"], 1.0)
        for t in ("threshold_1/7", "threshold_half-bit"):
            assert m[part]["frc"][t]["resolution_m"] == pytest.approx(2e-8)


def test_a_constant_ground_truth_is_warned_about() -> None:
    import warnings

    from backends.metrics import reconstruction_metrics

    rng = np.random.default_rng(0)
    recon = (rng.uniform(0.5, 1, (32, 32)) * np.exp(1j * rng.uniform(-1, 1, (32, 32)))).astype(
        np.complex64
    )
    with pytest.warns(UserWarning, match="ground truth is constant"):
        reconstruction_metrics(recon, np.ones((32, 32), np.complex64))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        reconstruction_metrics(recon, recon)

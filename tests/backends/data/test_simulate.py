"""Simulator (data.md section 10) and the physics pieces it uses (physics.md 2.1, 3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.ndimage import gaussian_filter

from backends.data import (
    RawData,
    default_probe,
    diffraction_intensity,
    extract_object_patches,
    group,
    make_object,
    simulate_dataset,
    simulate_scan,
)
from backends.data.objects import grf, line_pixels, lines, phase_from_amplitude
from backends.data.simulate import raster_positions
from tests.backends.data._reference import bresenham_loop


# ----------------------------------------------------------------- probe
@pytest.mark.parametrize(("N", "count"), [(64, 376), (128, 1500), (256, 5980)])
def test_default_probe_check_values(N, count):
    probe = default_probe(N)
    assert probe.shape == (N, N) and probe.dtype == np.complex64
    assert np.all(probe.imag == 0)
    # The disk before smoothing: the 0.5 level of the separable window.
    sigma = N / (0.7 * math.pi**2)
    n = np.arange(N) - (N - 1) / 2
    window = np.exp(-0.5 * (n / sigma) ** 2)
    disk = np.outer(window, window) > 0.5
    assert disk.sum() == count
    assert float(np.sum(probe.real.astype(np.float64))) == pytest.approx(
        count + N * N * 1e-9, rel=1e-6
    )
    assert float(probe.real.max()) == pytest.approx(1.0, abs=1e-7)


# ----------------------------------------------------------------- objects
@given(r0=st.integers(0, 40), c0=st.integers(0, 40), r1=st.integers(0, 40), c1=st.integers(0, 40))
def test_line_pixels_match_the_bresenham_loop(r0, c0, r1, c1):
    rows, cols = line_pixels(r0, c0, r1, c1)
    assert list(zip(rows.tolist(), cols.tolist())) == bresenham_loop(r0, c0, r1, c1)
    assert (rows[0], cols[0]) == (r0, c0) and (rows[-1], cols[-1]) == (r1, c1)
    # 8-connected, one pixel per major-axis step
    assert len(rows) == max(abs(r1 - r0), abs(c1 - c0)) + 1
    assert np.all(np.abs(np.diff(rows)) <= 1) and np.all(np.abs(np.diff(cols)) <= 1)


def test_lines_object_matches_a_scalar_draw_rederivation():
    size = 24
    out = lines(size, np.random.RandomState(5))
    r = np.random.RandomState(5)
    canvas = np.zeros((2 * size, 2 * size))
    for _ in range(400):
        r0, c0, r1, c1 = (int(2 * size * r.uniform()) for _ in range(4))
        for rr, cc in bresenham_loop(r0, c0, r1, c1):
            canvas[rr, cc] = 1
    img = (
        gaussian_filter(canvas, 1)
        + 2 * gaussian_filter(canvas, 5)
        + 5 * gaussian_filter(canvas, 10)
    )
    lo, hi = size // 2, 2 * size - math.ceil(size / 2)
    np.testing.assert_array_equal(out, img[lo:hi, lo:hi])
    assert out.shape == (size, size)
    odd = lines(25, np.random.RandomState(5))
    assert odd.shape == (25, 25)


def test_grf_object_shape_range_and_determinism():
    a = grf(64, np.random.RandomState(3))
    b = grf(64, np.random.RandomState(3))
    c = grf(64, np.random.RandomState(4))
    assert a.shape == (64, 64)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0.0 and a.max() <= 1.0 and a.max() - a.min() > 0.3
    with pytest.raises(ValueError, match="even"):
        grf(63, np.random.RandomState(3))


def test_set_phi_phase():
    amp = np.abs(make_object("lines", 32, 1))
    obj = make_object("lines", 32, 1, set_phi=True)
    A = amp.astype(np.float64)
    phase = np.pi * np.tanh((A - A.max() / 2) / (3 * A.mean()))
    np.testing.assert_allclose(np.angle(obj), phase, atol=1e-5)
    np.testing.assert_allclose(np.abs(obj), amp, rtol=1e-6)
    np.testing.assert_array_equal(phase_from_amplitude(np.zeros(4)), np.zeros(4))


# ----------------------------------------------------------------- diffraction
def test_energy_identity_and_centring():
    r = np.random.RandomState(0)
    psi = r.normal(size=(5, 16, 16)) + 1j * r.normal(size=(5, 16, 16))
    intensity = diffraction_intensity(psi)
    np.testing.assert_allclose(
        intensity.sum(axis=(1, 2)), (np.abs(psi) ** 2).sum(axis=(1, 2)), rtol=1e-12
    )
    flat = np.ones((16, 16), complex)
    centred = diffraction_intensity(flat)
    assert centred[8, 8] == pytest.approx(256.0) and centred.sum() == pytest.approx(256.0)


# ----------------------------------------------------------------- simulation
def _small(**kw) -> RawData:
    defaults = {"N": 16, "object_size": 56, "n_images": 40}
    defaults.update(kw)
    return simulate_dataset(**defaults)


def test_simulation_is_deterministic_and_seeded():
    a, b = _small(), _small()
    for key in ("diff3d", "xcoords", "ycoords", "objectGuess", "ground_truth_patches"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    c = _small(poisson_seed=7)
    np.testing.assert_array_equal(a.xcoords, c.xcoords)
    assert not np.array_equal(a.diff3d, c.diff3d)
    d = _small(positions_seed=9)
    assert not np.array_equal(a.xcoords, d.xcoords)


def test_positions_follow_randomstate_uniform_with_buffer():
    raw = _small()
    r = np.random.RandomState(42)
    np.testing.assert_array_equal(raw.xcoords, r.uniform(8, 56 - 8, 40))
    np.testing.assert_array_equal(raw.ycoords, r.uniform(8, 56 - 8, 40))
    np.testing.assert_array_equal(raw.xcoords_start, raw.xcoords)
    assert raw.metadata["physics_parameters"]["buffer"] == 8


def test_simulation_physics_step_by_step():
    raw = _small(n_images=30, nphotons=1e7)
    obj, probe = raw.objectGuess, raw.probeGuess
    patches = extract_object_patches(obj, raw.xcoords, raw.ycoords, 16)
    np.testing.assert_array_equal(raw.ground_truth_patches[..., 0], patches.astype(np.complex64))
    s = math.sqrt(
        1e7 / np.mean(np.sum((np.abs(patches) * np.abs(probe.astype(complex))) ** 2, axis=(1, 2)))
    )
    assert raw.metadata["physics_parameters"]["intensity_scale"] == pytest.approx(s, rel=1e-12)
    rates = diffraction_intensity(s * patches * probe.astype(np.complex128))
    counts = np.random.default_rng(1001).poisson(rates)  # one call on the whole array
    np.testing.assert_array_equal(raw.diff3d, (np.sqrt(counts) / s).astype(np.float32))
    # Mean photons per pattern: expected exactly nphotons; observed within Poisson noise.
    assert np.mean(rates.sum(axis=(1, 2))) == pytest.approx(1e7, rel=1e-12)
    observed = np.mean(np.sum((s * raw.diff3d.astype(np.float64)) ** 2, axis=(1, 2)))
    assert abs(observed - 1e7) < 5 * math.sqrt(1e7 / 30)
    # Observed intensities are photon counts.
    np.testing.assert_allclose(
        (s * raw.diff3d.astype(np.float64)) ** 2, counts, rtol=1e-5, atol=1e-3
    )


def test_blockwise_poisson_equals_one_call():
    # 600 patterns at N = 64 exceed one simulation block (512 patterns).
    raw = simulate_dataset(N=64, object_size=120, n_images=600, nphotons=1e6)
    patches = extract_object_patches(raw.objectGuess, raw.xcoords, raw.ycoords, 64)
    s = raw.metadata["physics_parameters"]["intensity_scale"]
    rates = diffraction_intensity(s * patches * raw.probeGuess.astype(np.complex128))
    counts = np.random.default_rng(1001).poisson(rates)
    np.testing.assert_array_equal(raw.diff3d, (np.sqrt(counts) / s).astype(np.float32))


def test_metadata_records_photons_and_seeds():
    raw = _small(nphotons=3e6, object_seed=5, positions_seed=6, poisson_seed=7, gridsize=2)
    meta = raw.metadata
    assert raw.nphotons == 3e6 and meta["physics_parameters"]["nphotons"] == 3e6
    assert meta["seeds"] == {"object_seed": 5, "positions_seed": 6, "poisson_seed": 7}
    assert meta["gridsize"] == 2 and meta["object"]["kind"] == "lines"


def test_raster_scan_is_jittered_grid_inside_bounds():
    x, y = raster_positions(100, 80, 30, 10.0, seed=3, jitter=0.25)
    assert x.shape == (30,) and y.shape == (30,)
    assert x.min() >= 10 and x.max() <= 70 and y.min() >= 10 and y.max() <= 90
    x0, y0 = raster_positions(100, 80, 30, 10.0, seed=3, jitter=0.0)
    assert len(np.unique(x0)) * len(np.unique(y0)) >= 30  # a grid
    assert np.max(np.abs(x - x0)) <= 0.25 * 60 / len(np.unique(x0)) + 1e-9
    x2, _ = raster_positions(100, 80, 30, 10.0, seed=3, jitter=0.25)
    np.testing.assert_array_equal(x, x2)
    raw = _small(scan="raster")
    assert raw.metadata["scan"]["kind"] == "raster"


def test_ground_truth_from_object_equals_simulated_patches():
    raw = _small()
    g = group(raw, gridsize=1, n_groups=40, rng=np.random.RandomState(0))
    idx = g["nn_indices"][:, 0]
    np.testing.assert_array_equal(g["Y"][..., 0], raw.ground_truth_patches[idx, ..., 0])


def test_simulation_input_errors():
    obj = np.ones((40, 40), np.complex64)
    probe = default_probe(8)
    with pytest.raises(ValueError, match="n_images"):
        simulate_scan(obj, probe, n_images=0)
    with pytest.raises(ValueError, match="nphotons"):
        simulate_scan(obj, probe, nphotons=float("nan"))
    with pytest.raises(ValueError, match="scan="):
        simulate_scan(obj, probe, scan="spiral")
    with pytest.raises(ValueError, match="zero under the probe"):
        simulate_scan(np.zeros((40, 40)), probe, n_images=3)
    with pytest.raises(ValueError, match="unknown object kind"):
        simulate_dataset(object_kind="points", N=8)


def test_agrees_with_the_physics_oracle():
    """The data side's own copies of probe, diffraction and 7.3 extraction match the oracle."""
    geometry = pytest.importorskip("backends.physics.geometry")
    probe_mod = pytest.importorskip("backends.physics.probe")
    diffraction = pytest.importorskip("backends.physics.diffraction")
    for N in (64, 128):
        np.testing.assert_array_equal(
            default_probe(N), probe_mod.default_probe(N).astype(np.complex64)
        )
    r = np.random.RandomState(2)
    obj = r.normal(size=(50, 60)) + 1j * r.normal(size=(50, 60))
    xy = np.column_stack([r.uniform(-5, 65, 20), r.uniform(-5, 55, 20)])
    ours = extract_object_patches(obj, xy[:, 0], xy[:, 1], 16)
    theirs = geometry.extract_object_patches(obj, xy, 16)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    psi = r.normal(size=(3, 16, 16, 1)) + 1j * r.normal(size=(3, 16, 16, 1))
    np.testing.assert_allclose(
        np.sqrt(diffraction_intensity(psi[..., 0])), diffraction.diffract(psi)[..., 0], rtol=1e-12
    )

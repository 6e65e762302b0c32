"""Illumination: product, smoothing after the product, mask last (physics.md 2.4)."""

from __future__ import annotations

import numpy as np

from backends import physics


def _obj(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.normal(size=shape) + 1j * rng.normal(size=shape)


def test_product_only_by_default() -> None:
    rng = np.random.default_rng(0)
    obj = _obj(rng, (3, 16, 16, 1))
    probe = physics.normalize_probe(physics.default_probe(16), 4.0)
    np.testing.assert_array_equal(physics.illuminate(obj, probe), obj * probe[None, :, :, None])


def test_broadcast_over_channels() -> None:
    rng = np.random.default_rng(1)
    obj = _obj(rng, (2, 8, 8, 4))
    probe = _obj(rng, (8, 8))
    out = physics.illuminate(obj, probe)
    for c in range(4):
        np.testing.assert_array_equal(out[..., c], obj[..., c] * probe)


def test_mask_multiplies_the_exit_wave() -> None:
    rng = np.random.default_rng(2)
    obj = _obj(rng, (2, 16, 16, 1))
    probe = _obj(rng, (16, 16))
    out = physics.illuminate(obj, probe, mask=True)
    m = physics.probe_mask(16)[None, :, :, None]
    np.testing.assert_array_equal(out, obj * probe[None, :, :, None] * m)
    assert np.all(out[:, 0, 0] == 0)


def test_smoothing_comes_after_the_product_and_before_the_mask() -> None:
    rng = np.random.default_rng(3)
    obj = _obj(rng, (2, 16, 16, 1))
    probe = _obj(rng, (16, 16))
    m = physics.probe_mask(16)[None, :, :, None]
    psi = obj * probe[None, :, :, None]
    out = physics.illuminate(obj, probe, sigma=0.7, mask=True)
    np.testing.assert_array_equal(out, physics.gaussian_smooth(psi, 0.7) * m)
    other_order = physics.gaussian_smooth(psi * m, 0.7)
    assert np.max(np.abs(out - other_order)) > 1e-3
    smoothed_obj_first = physics.gaussian_smooth(obj, 0.7) * probe[None, :, :, None] * m
    assert np.max(np.abs(out - smoothed_obj_first)) > 1e-3

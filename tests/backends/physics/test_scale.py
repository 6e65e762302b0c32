"""Intensity scale (physics.md section 5)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backends import physics


@pytest.mark.parametrize(("N", "s"), [(64, 988.2118), (128, 494.1059), (256, 247.0529)])
def test_closed_form_check_values(N: int, s: float) -> None:
    assert physics.intensity_scale(1e9, N) == pytest.approx(s, abs=5e-5)


def test_dataset_form_by_hand() -> None:
    N, p = 8, 0.5
    Y_I = np.ones((3, N, N))
    probe = np.full((N, N), p * np.exp(0.3j))
    # S = N^2 p^2 for every patch, s = sqrt(nphotons / S)
    expected = math.sqrt(1e6) / (N * p)
    assert physics.intensity_scale_from_patches(Y_I, probe, 1e6) == pytest.approx(
        expected, rel=1e-15
    )


def test_dataset_form_on_normalised_data_is_the_closed_form() -> None:
    N = 16
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(10, N, N, 1))
    X *= math.sqrt((N / 2) ** 2 / np.mean(np.sum(X**2, axis=(1, 2, 3))))
    s = physics.intensity_scale_from_patches(X, np.ones((N, N)), 1e9)
    assert s == pytest.approx(physics.intensity_scale(1e9, N), rel=1e-13)


def test_dataset_form_averages_every_patch_of_every_group() -> None:
    N = 4
    rng = np.random.default_rng(1)
    grouped = rng.uniform(size=(2, N, N, 4))
    flat = grouped.transpose(0, 3, 1, 2).reshape(8, N, N)
    probe = rng.uniform(size=(N, N))
    energy = np.mean([np.sum((flat[k] * probe) ** 2) for k in range(8)])
    expected = math.sqrt(1e4 / energy)
    assert physics.intensity_scale_from_patches(grouped, probe, 1e4) == pytest.approx(
        expected, rel=1e-14
    )
    assert physics.intensity_scale_from_patches(flat, probe, 1e4) == pytest.approx(
        expected, rel=1e-14
    )


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="nphotons"):
        physics.intensity_scale(0.0, 64)
    with pytest.raises(ValueError, match="probe"):
        physics.intensity_scale_from_patches(np.ones((2, 8, 8)), np.ones((4, 4)), 1e9)

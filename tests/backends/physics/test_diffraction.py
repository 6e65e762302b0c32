"""Far-field diffraction (physics.md section 3)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends import physics


@given(st.integers(1, 3), st.sampled_from([2, 4, 8, 16, 64]), st.integers(0, 2**31 - 1))
def test_energy_identity(B: int, N: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    psi = rng.normal(size=(B, N, N, 1)) + 1j * rng.normal(size=(B, N, N, 1))
    A = physics.diffract(psi)
    assert A.shape == psi.shape and A.dtype == np.float64
    np.testing.assert_allclose(
        np.sum(A**2, axis=(1, 2, 3)), np.sum(np.abs(psi) ** 2, axis=(1, 2, 3)), rtol=1e-12
    )


@pytest.mark.parametrize("N", [8, 64])
def test_constant_field_puts_all_energy_at_index_n_over_2(N: int) -> None:
    c = 0.6 - 0.8j
    A = physics.diffract(np.full((1, N, N, 1), c))[0, :, :, 0]
    assert A[N // 2, N // 2] == pytest.approx(N * abs(c), rel=1e-14)
    rest = A.copy()
    rest[N // 2, N // 2] = 0
    assert np.max(rest) < 1e-12


@pytest.mark.parametrize(("kx", "ky"), [(1, 0), (0, 3), (-2, 5), (7, -8)])
def test_plane_wave_lands_at_shifted_frequency(kx: int, ky: int) -> None:
    N = 16
    i, j = np.mgrid[0:N, 0:N]
    psi = np.exp(2j * np.pi * (kx * j + ky * i) / N)[None, :, :, None]
    A = physics.diffract(psi)[0, :, :, 0]
    row, col = (N // 2 + ky) % N, (N // 2 + kx) % N
    assert A[row, col] == pytest.approx(N, rel=1e-12)
    assert np.sum(A**2) == pytest.approx(N * N, rel=1e-12)


def test_matches_an_explicit_dft() -> None:
    N = 8
    rng = np.random.default_rng(0)
    psi = rng.normal(size=(N, N)) + 1j * rng.normal(size=(N, N))
    k = np.arange(N)
    W = np.exp(-2j * np.pi * np.outer(k, k) / N)
    F = W @ psi @ W.T
    intensity = np.abs(F) ** 2 / N**2
    shifted = np.roll(intensity, (N // 2, N // 2), axis=(0, 1))
    np.testing.assert_allclose(
        physics.diffract(psi[None, :, :, None])[0, :, :, 0], np.sqrt(shifted), rtol=1e-12
    )


@pytest.mark.parametrize("N", [8, 64])
def test_padded_variant_sizes_and_normalisation(N: int) -> None:
    rng = np.random.default_rng(N)
    psi = rng.normal(size=(2, N, N, 1)) + 1j * rng.normal(size=(2, N, N, 1))
    A, padded = physics.diffract_padded(psi)
    side = N + 2 * (N // 4)
    assert A.shape == (2, side, side, 1) and padded.shape == (2, side, side, 1)
    q = N // 4
    np.testing.assert_array_equal(padded[:, q : q + N, q : q + N], psi)
    assert np.sum(np.abs(padded)) == pytest.approx(np.sum(np.abs(psi)), rel=1e-14)
    # divided by the unpadded N*N: Parseval gives (side/N)**2 times the field energy
    np.testing.assert_allclose(
        np.sum(A**2, axis=(1, 2, 3)),
        (side / N) ** 2 * np.sum(np.abs(psi) ** 2, axis=(1, 2, 3)),
        rtol=1e-12,
    )

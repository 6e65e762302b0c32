"""Intensity scale (physics.md section 5)."""

from __future__ import annotations

import math

import numpy as np

from backends.physics._arrays import as_complex, as_real


def _check_photons(nphotons: float) -> None:
    if isinstance(nphotons, bool) or not nphotons > 0:
        raise ValueError(f"nphotons={nphotons!r} is not allowed; it must be > 0")


def intensity_scale(nphotons: float, N: int) -> float:
    """Closed form ``sqrt(nphotons) / (N / 2)`` used in training and inference (5.2)."""
    _check_photons(nphotons)
    if N <= 0:
        raise ValueError(f"N={N!r} must be > 0")
    return math.sqrt(nphotons) / (N / 2)


def intensity_scale_from_patches(Y_I: np.ndarray, probe: np.ndarray, nphotons: float) -> float:
    """Dataset form (5.1): ``sqrt(nphotons / mean_patches sum_hw (Y_I |P|)**2)``.

    ``Y_I`` amplitude patches (P, N, N), (P, N, N, 1) or (B, N, N, C) (every N x N patch
    counts once); ``probe`` the raw (N, N) probe.
    """
    _check_photons(nphotons)
    y = as_real(Y_I, "Y_I")
    p = np.abs(as_complex(probe, "probe"))
    if p.ndim != 2:
        raise ValueError(f"probe must have shape (N, N), got {p.shape}")
    if y.ndim == 4:
        y = y.transpose(0, 3, 1, 2).reshape(-1, y.shape[1], y.shape[2])
    if y.ndim != 3 or y.shape[1:] != p.shape:
        raise ValueError(f"Y_I patches of shape {np.shape(Y_I)} do not match the probe {p.shape}")
    energy = np.sum((y * p[None]) ** 2, axis=(1, 2))
    S = float(np.mean(energy))
    if S <= 0:
        raise ValueError("the illuminated patches carry no energy; the scale is undefined")
    return math.sqrt(nphotons / S)

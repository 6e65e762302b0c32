"""The few physics pieces the data side needs, float64 NumPy (docs/physics.md 2.1, 3, 7.3).

Kept here so that data preparation never depends on the oracle package; the oracle implements
the same formulas independently and the tests cross-check where both exist.
"""

from __future__ import annotations

import math

import numpy as np

_CHUNK = 256  # positions per vectorised extraction block (bounds the temporaries)


def default_probe(N: int, default_probe_scale: float = 0.7) -> np.ndarray:
    """The idealised probe of physics.md 2.1: a smoothed disk, real, peak ``1 + 1e-9``.

    Returns an ``(N, N)`` complex64 array (zero phase), not normalised.
    """
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 1:
        raise ValueError(f"probe size N={N!r} is not allowed; it must be a positive integer")
    sigma_w = N / (default_probe_scale * math.pi**2)
    n = np.arange(N, dtype=np.float64) - (N - 1) / 2.0
    window = np.exp(-0.5 * (n / sigma_w) ** 2)
    disk = (np.outer(window, window) > 0.5).astype(np.float64)
    from scipy.ndimage import gaussian_filter  # scipy.ndimage: 0.3 s to import, rarely needed

    smoothed = gaussian_filter(disk, sigma=1.0, mode="reflect", truncate=4.0) + 1e-9
    return smoothed.astype(np.complex64)


def defocused_probe(N: int, edge_phase: float, default_probe_scale: float = 0.7) -> np.ndarray:
    """The default probe's amplitude with the quadratic (paraxial defocus) phase
    ``phi(r) = edge_phase * r^2 / (N/4)^2``, ``r`` the distance from the probe centre
    ``((N-1)/2, (N-1)/2)`` in pixels: a focused beam observed out of focus, whose wavefront
    curvature reaches ``edge_phase`` radians at the probe-mask radius N/4 (physics.md 2.2).

    Returns an ``(N, N)`` complex64 array, not normalised.
    """
    amplitude = np.abs(default_probe(N, default_probe_scale).astype(np.complex128))
    n = np.arange(N, dtype=np.float64) - (N - 1) / 2.0
    r2 = n[:, None] ** 2 + n[None, :] ** 2
    phase = edge_phase * r2 / (N / 4.0) ** 2
    return (amplitude * np.exp(1j * phase)).astype(np.complex64)


def _bilinear_axis(coords32: np.ndarray, offset: float, size: int) -> tuple[np.ndarray, ...]:
    """Corner indices (into an array padded by one zero on each side) and weights for one axis.

    ``coords32`` are float32 sample coordinates in the zero-padded frame; ``offset`` converts
    them to object coordinates (N/2). Indices outside the object land on the zero border.
    """
    coords = coords32.astype(np.float64) - offset
    lo = np.floor(coords)
    w = coords - lo
    lo_i = lo.astype(np.int64)
    i0 = np.clip(lo_i + 1, 0, size + 1)
    i1 = np.clip(lo_i + 2, 0, size + 1)
    return i0, i1, w


def extract_object_patches(obj: np.ndarray, x: np.ndarray, y: np.ndarray, N: int) -> np.ndarray:
    """Ground-truth patches of physics.md 7.3: ``patch[r, c] = O_bilin(y + r - N/2, x + c - N/2)``.

    ``obj`` is ``(H, W)`` complex, ``x``/``y`` are ``(n,)`` positions in object pixels. The
    sample coordinate is formed in float32 exactly as the translation of 7.1 does for the
    zero-padded object shifted by ``-(x, y)``; weights are then float64 with per-corner zero
    fill. Returns ``(n, N, N)`` complex128.
    """
    obj = np.asarray(obj)
    if obj.ndim != 2:
        raise ValueError(f"object must be 2-D (H, W); got shape {obj.shape}")
    H, W = obj.shape
    padded = np.zeros((H + 2, W + 2), dtype=np.complex128)
    padded[1:-1, 1:-1] = obj
    flat = padded.ravel()
    x32 = np.asarray(x, dtype=np.float64).astype(np.float32).reshape(-1)
    y32 = np.asarray(y, dtype=np.float64).astype(np.float32).reshape(-1)
    if x32.shape != y32.shape:
        raise ValueError(f"x and y must have the same length; got {x32.shape} and {y32.shape}")
    grid = np.arange(N, dtype=np.float32)
    out = np.empty((x32.size, N, N), dtype=np.complex128)
    for start in range(0, x32.size, _CHUNK):
        stop = min(start + _CHUNK, x32.size)
        xs = grid[None, :] + x32[start:stop, None]  # float32 sum, as in the translation
        ys = grid[None, :] + y32[start:stop, None]
        xi0, xi1, wx = _bilinear_axis(xs, N / 2.0, W)
        yi0, yi1, wy = _bilinear_axis(ys, N / 2.0, H)
        r0, r1 = (yi0 * (W + 2))[:, :, None], (yi1 * (W + 2))[:, :, None]  # flat row offsets
        c0, c1 = xi0[:, None, :], xi1[:, None, :]
        wx_, wy_ = wx[:, None, :], wy[:, :, None]
        out[start:stop] = (
            ((1 - wx_) * (1 - wy_)) * flat.take(r0 + c0)
            + (wx_ * (1 - wy_)) * flat.take(r0 + c1)
            + ((1 - wx_) * wy_) * flat.take(r1 + c0)
            + (wx_ * wy_) * flat.take(r1 + c1)
        )
    return out


def diffraction_intensity(psi: np.ndarray) -> np.ndarray:
    """Far-field intensity of physics.md 3 (pad=False) for ``(..., N, N)`` exit waves, float64.

    ``I = fftshift(Re(conj(F) F) / (N*N))`` with ``F`` the unnormalised 2-D FFT over the last
    two axes; the zero frequency lands at index ``N/2``.
    """
    psi = np.asarray(psi, dtype=np.complex128)
    h, w = psi.shape[-2:]
    F = np.fft.fft2(psi, axes=(-2, -1))
    intensity = (F.real * F.real + F.imag * F.imag) / (h * w)
    return np.fft.fftshift(intensity, axes=(-2, -1))

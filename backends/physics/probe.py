"""Default probe, probe mask, centre mask and probe normalisation (physics.md 2.1-2.3, 8.1)."""

from __future__ import annotations

import numpy as np

from backends.physics._arrays import as_complex


def _check_size(N: int) -> None:
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N <= 0:
        raise ValueError(f"N={N!r} is not allowed; it must be a positive integer")


def default_probe(N: int, default_probe_scale: float = 0.7) -> np.ndarray:
    """The idealised probe of physics.md 2.1: a smoothed disk, (N, N) complex128, zero phase.

    ``sigma_w = N / (default_probe_scale * pi**2)``; disk where ``L[i] L[j] > 0.5`` for the
    symmetric Gaussian window ``L``; then ``gaussian_filter(disk, sigma=1)`` (scipy defaults)
    plus ``1e-9``.
    """
    _check_size(N)
    if not default_probe_scale > 0:
        raise ValueError(f"default_probe_scale={default_probe_scale!r} must be > 0")
    sigma_w = N / (default_probe_scale * np.pi**2)
    from scipy.signal import windows  # scipy.signal costs 0.4 s to import; only needed here

    window = windows.gaussian(N, std=sigma_w, sym=True)
    disk = (np.outer(window, window) > 0.5).astype(np.float64)
    from scipy.ndimage import gaussian_filter  # imported where used: 0.3 s

    smoothed = gaussian_filter(disk, sigma=1) + 1e-9
    return smoothed.astype(np.complex128)


def probe_mask(N: int) -> np.ndarray:
    """(N, N) float64 mask: 1 where the distance to ``(N/2 - 1/2, N/2 - 1/2)`` is < ``N // 4``."""
    _check_size(N)
    centre = N / 2 - 0.5
    i = np.arange(N, dtype=np.float64)
    d = np.sqrt((i[:, None] - centre) ** 2 + (i[None, :] - centre) ** 2)
    return (d < N // 4).astype(np.float64)


def center_mask(N: int) -> np.ndarray:
    """(N, N) float64 centre mask Q: ones on rows/cols ``[N/4, 3N/4)``, zeros elsewhere."""
    _check_size(N)
    if N % 4:
        raise ValueError(f"N={N} must be a multiple of 4 for the centre mask")
    q = np.zeros((N, N), dtype=np.float64)
    q[N // 4 : 3 * N // 4, N // 4 : 3 * N // 4] = 1.0
    return q


def probe_divisor(probe: np.ndarray, probe_scale: float) -> float:
    """``probe_scale * mean(|M_probe * P|)``, the divisor of :func:`normalize_probe`."""
    p = as_complex(probe, "probe")
    if p.ndim == 3 and p.shape[-1] == 1:
        p = p[..., 0]
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise ValueError(f"probe must have shape (N, N) or (N, N, 1), got {p.shape}")
    if isinstance(probe_scale, bool) or not probe_scale > 0:
        raise ValueError(f"probe_scale={probe_scale!r} is not allowed; it must be > 0")
    return float(probe_scale * np.mean(np.abs(probe_mask(p.shape[0]) * p)))


def normalize_probe(probe: np.ndarray, probe_scale: float) -> np.ndarray:
    """``P / (probe_scale * mean(|M_probe * P|))`` (physics.md 2.3), complex128, for an (N, N)
    or (N, N, 1) probe, returned in the probe's layout.

    The probe mask is always used in the divisor, whatever the model's ``probe_mask`` flag.
    """
    divisor = probe_divisor(probe, probe_scale)
    if divisor == 0.0:
        raise ValueError("probe is zero everywhere inside the probe mask; it cannot be normalised")
    return as_complex(probe, "probe") / divisor

"""Far-field diffraction amplitude (physics.md section 3)."""

from __future__ import annotations

import numpy as np

from backends.physics._arrays import as_complex, require_ndim


def _amplitude(field: np.ndarray, h: int, w: int) -> np.ndarray:
    F = np.fft.fft2(field, axes=(1, 2))
    intensity = np.real(np.conj(F) * F) / (h * w)
    return np.sqrt(np.fft.fftshift(intensity, axes=(1, 2)))


def diffract(psi: np.ndarray) -> np.ndarray:
    """``sqrt(fftshift(Re(conj(F) F) / (h*w)))`` with ``F`` the unnormalised FFT2 of each slice.

    ``psi`` (B, N, N, 1) (any trailing channel count works per channel); float64 output of
    the same shape. Zero frequency lands at index ``N/2``; ``sum A**2 == sum |psi|**2``.
    """
    field = as_complex(psi, "psi")
    require_ndim(field, 4, "psi", "(B, N, N, 1)")
    return _amplitude(field, field.shape[1], field.shape[2])


def diffract_padded(psi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``pad=True`` form: zero-pad ``h//4`` rows and ``w//4`` columns on each side first.

    Returns ``(amplitude, padded_field)``, both of side ``N + 2*(N//4)``; the intensity is
    still divided by the unpadded ``h*w``.
    """
    field = as_complex(psi, "psi")
    require_ndim(field, 4, "psi", "(B, N, N, 1)")
    h, w = field.shape[1], field.shape[2]
    padded = np.pad(field, ((0, 0), (h // 4, h // 4), (w // 4, w // 4), (0, 0)))
    return _amplitude(padded, h, w), padded

"""Input checking and dtype helpers shared by the oracle modules (float64 / complex128)."""

from __future__ import annotations

import numpy as np


def as_field(x: object, name: str) -> np.ndarray:
    """``x`` as complex128 when complex, float64 when real (a copy only when needed)."""
    a = np.asarray(x)
    if a.dtype.kind == "c":
        return a.astype(np.complex128, copy=False)
    if a.dtype.kind in "biuf":
        return a.astype(np.float64, copy=False)
    raise TypeError(f"{name} must be a real or complex numeric array, got dtype {a.dtype}")


def as_real(x: object, name: str) -> np.ndarray:
    """``x`` as float64; complex input is refused."""
    a = np.asarray(x)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    return a.astype(np.float64, copy=False)


def as_complex(x: object, name: str) -> np.ndarray:
    """``x`` as complex128 (real input gets a zero imaginary part)."""
    a = np.asarray(x)
    if a.dtype.kind not in "biufc":
        raise TypeError(f"{name} must be a numeric array, got dtype {a.dtype}")
    return a.astype(np.complex128, copy=False)


def make_complex(real: np.ndarray, imag: np.ndarray) -> np.ndarray:
    """``real + i*imag`` assembled component-wise (no arithmetic on the parts)."""
    out = np.empty(np.broadcast_shapes(real.shape, imag.shape), dtype=np.complex128)
    out.real = real
    out.imag = imag
    return out


def divide_parts(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Real and imaginary parts of ``numerator`` each divided by the real ``denominator``."""
    if numerator.dtype.kind == "c":
        return make_complex(numerator.real / denominator, numerator.imag / denominator)
    return numerator / denominator


def require_ndim(a: np.ndarray, ndim: int, name: str, layout: str) -> None:
    """Raise ValueError unless ``a`` has ``ndim`` axes (``layout`` names them)."""
    if a.ndim != ndim:
        raise ValueError(f"{name} must have shape {layout}, got shape {a.shape}")


def require_even_margin(M: int, N: int, what: str = "canvas") -> int:
    """Return ``(M - N) // 2``; raise ValueError if ``M < N`` or ``M - N`` is odd."""
    if M < N:
        raise ValueError(f"{what} size M={M} is smaller than the patch size N={N}")
    if (M - N) % 2:
        raise ValueError(
            f"{what} size M={M} minus patch size N={N} is odd; pad/trim needs an even "
            "difference (physics.md section 6)"
        )
    return (M - N) // 2


def positions_to_shifts(positions: np.ndarray, batch: int, channels: int) -> np.ndarray:
    """Positions ``(B, 1, 2, C)`` [x, y] to shifts ``(B*C, 2)``, flat index ``b*C + c``."""
    pos = as_real(positions, "positions")
    if pos.shape != (batch, 1, 2, channels):
        raise ValueError(
            f"positions must have shape (B, 1, 2, C) = ({batch}, 1, 2, {channels}), got {pos.shape}"
        )
    return np.ascontiguousarray(pos[:, 0, :, :].transpose(0, 2, 1)).reshape(batch * channels, 2)

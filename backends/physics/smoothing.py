"""Separable softmax-Gaussian smoothing (physics.md section 9)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from backends.physics._arrays import as_field, make_complex

PADDING_MODES = {"REFLECT": "reflect", "SYMMETRIC": "symmetric", "CONSTANT": "constant"}


def _pair(value: float | Sequence[float], name: str) -> tuple[float, float]:
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value), float(value)
    items = tuple(value)  # type: ignore[arg-type]
    if len(items) != 2:
        raise ValueError(f"{name} must be a number or a pair (y, x), got {value!r}")
    return float(items[0]), float(items[1])


def gaussian_kernel_1d(size: int, sigma: float) -> np.ndarray:
    """``softmax_k(-k**2 / (2 sigma**2))`` over taps ``k = -size//2 + 1 ... size//2``."""
    if isinstance(size, bool) or int(size) != size or size < 1:
        raise ValueError(f"filter size {size!r} must be a positive integer")
    if not sigma > 0:
        raise ValueError(f"sigma={sigma!r} must be > 0 for smoothing")
    taps = np.arange((-size) // 2 + 1, size // 2 + 1, dtype=np.float64)
    e = np.exp(-(taps**2) / (2.0 * sigma**2))
    return e / e.sum()


def gaussian_kernel_2d(
    filter_shape: int | Sequence[int] = 3, sigma: float | Sequence[float] = 1.0
) -> np.ndarray:
    """2-D kernel ``w_y (h taps, sigma_y) outer w_x (w taps, sigma_x)``, shape (h, w)."""
    h, w = (int(v) for v in _pair(filter_shape, "filter_shape"))
    sy, sx = _pair(sigma, "sigma")
    return np.outer(gaussian_kernel_1d(h, sy), gaussian_kernel_1d(w, sx))


def _smooth_real(
    x: np.ndarray, kernel: np.ndarray, mode: str, constant_values: float
) -> np.ndarray:
    kh, kw = kernel.shape
    top, left = (kh - 1) // 2, (kw - 1) // 2
    pad = ((0, 0), (top, kh - 1 - top), (left, kw - 1 - left), (0, 0))
    if mode == "constant":
        padded = np.pad(x, pad, mode="constant", constant_values=constant_values)
    else:
        padded = np.pad(x, pad, mode=mode)  # type: ignore[call-overload]
    H, W = x.shape[1], x.shape[2]
    out = np.zeros_like(x)
    for a in range(kh):
        for b in range(kw):
            out += kernel[a, b] * padded[:, a : a + H, b : b + W, :]
    return out


def gaussian_smooth(
    x: np.ndarray,
    sigma: float | Sequence[float],
    filter_shape: int | Sequence[int] = 3,
    padding: str = "REFLECT",
    constant_values: float = 0.0,
) -> np.ndarray:
    """Gaussian-smooth images (physics.md 9): depthwise valid correlation after padding.

    ``x`` is (H, W), (H, W, C) or (B, H, W, C), real or complex (real and imaginary parts are
    smoothed separately). ``padding`` is ``REFLECT`` (mirror without the edge pixel, the
    default), ``SYMMETRIC`` (mirror with the edge pixel) or ``CONSTANT`` (``constant_values``).
    Padding is ``(n - 1) // 2`` before and the rest after. Returns float64 / complex128.
    """
    a = as_field(x, "x")
    mode = PADDING_MODES.get(str(padding).upper())
    if mode is None:
        raise ValueError(
            f"padding={padding!r} is not allowed; choose one of: {', '.join(PADDING_MODES)}"
        )
    original_ndim = a.ndim
    if original_ndim == 2:
        a4 = a[None, :, :, None]
    elif original_ndim == 3:
        a4 = a[None]
    elif original_ndim == 4:
        a4 = a
    else:
        raise ValueError(f"x must be (H, W), (H, W, C) or (B, H, W, C), got shape {a.shape}")
    kernel = gaussian_kernel_2d(filter_shape, sigma)
    largest_pad = [k - 1 - (k - 1) // 2 for k in kernel.shape]
    too_small = (mode == "reflect" and any(p >= n for p, n in zip(largest_pad, a4.shape[1:3]))) or (
        mode == "symmetric" and any(p > n for p, n in zip(largest_pad, a4.shape[1:3]))
    )
    if too_small:
        raise ValueError(
            f"{padding} padding of {largest_pad} pixels is too wide for images of size "
            f"{a4.shape[1:3]}; use a smaller filter_shape or larger images"
        )
    if a4.dtype.kind == "c":
        out = make_complex(
            _smooth_real(a4.real.copy(), kernel, mode, constant_values),
            _smooth_real(a4.imag.copy(), kernel, mode, constant_values),
        )
    else:
        out = _smooth_real(a4, kernel, mode, constant_values)
    if original_ndim == 2:
        return out[0, :, :, 0]
    if original_ndim == 3:
        return out[0]
    return out

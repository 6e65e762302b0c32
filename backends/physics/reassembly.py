"""Reassembly helpers outside the model (physics.md 8.3)."""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from backends.physics._arrays import as_field, divide_parts, require_ndim
from backends.physics.geometry import merge_patches


def reassemble_whole_object(
    patches: np.ndarray,
    offsets: np.ndarray,
    size: int = 226,
    norm: bool = False,
    chunk_size: int = 16,
) -> np.ndarray:
    """Sum over rows b of the 8.1 merge of ``patches[b]`` at ``offsets[b]`` on a size x size
    canvas (patches move by ``-offset``; ``+0.001`` centre-mask denominator), shape
    (size, size, 1). ``norm=True`` divides by the same expression for all-ones patches
    (pixels no patch reaches become 0/0 = NaN, as in the reference).
    """
    a = as_field(patches, "patches")
    require_ndim(a, 4, "patches", "(B, N, N, C)")
    off = np.asarray(offsets)
    total = np.zeros((size, size, 1), dtype=a.dtype)
    for start in range(0, a.shape[0], chunk_size):
        stop = start + chunk_size
        for canvas in merge_patches(a[start:stop], off[start:stop], size):
            total += canvas
    if norm:
        ones = reassemble_whole_object(np.ones(a.shape), off, size, False, chunk_size)
        with np.errstate(invalid="ignore", divide="ignore"):
            return divide_parts(total, ones.real)
    return total


def extract_patches_grid(x: np.ndarray, N: int, offset: int) -> np.ndarray:
    """Every complete N x N window of (B, H, W, 1) at stride ``offset``, flattened row-major:
    (B, n_rows, n_cols, N*N)."""
    a = as_field(x, "x")
    require_ndim(a, 4, "x", "(B, H, W, 1)")
    if a.shape[3] != 1:
        raise ValueError(f"x must have one channel (B, H, W, 1), got {a.shape}")
    if min(a.shape[1], a.shape[2]) < N or offset < 1:
        raise ValueError(f"windows of size N={N}, stride {offset} do not fit images {a.shape[1:3]}")
    windows = sliding_window_view(a[..., 0], (N, N), axis=(1, 2))[:, ::offset, ::offset]
    B, rows, cols = windows.shape[:3]
    return windows.reshape(B, rows, cols, N * N).copy()


def reassemble_patches_real(
    channels: np.ndarray, average: bool = True, offset: int = 4
) -> np.ndarray:
    """Grid-mode reassembly: channel c (cell ``(c // g, c % g)``) added at rows
    ``[(c//g)*offset, +N)``, cols ``[(c%g)*offset, +N)`` of a zero bigN x bigN canvas,
    ``bigN = N + (g-1)*offset``; ``average`` divides by the number of covering windows
    (0/0 -> NaN where no window covers a pixel). Returns (B, bigN, bigN, 1)."""
    a = as_field(channels, "channels")
    require_ndim(a, 4, "channels", "(B, N, N, C)")
    B, N, _, C = a.shape
    g = math.isqrt(C)
    if g * g != C:
        raise ValueError(f"channel count C={C} is not a square gridsize**2")
    big = N + (g - 1) * offset
    canvas = np.zeros((B, big, big), dtype=a.dtype)
    count = np.zeros((big, big))
    for c in range(C):
        r0, c0 = (c // g) * offset, (c % g) * offset
        canvas[:, r0 : r0 + N, c0 : c0 + N] += a[..., c]
        count[r0 : r0 + N, c0 : c0 + N] += 1.0
    if average:
        with np.errstate(invalid="ignore", divide="ignore"):
            canvas = divide_parts(canvas, count[None])
    return canvas[..., None]

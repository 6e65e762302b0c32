"""Canvas geometry: pad/trim, flat/channel/grid layouts, in-model extraction and merge
(physics.md sections 0, 6, 7.2, 7.3, 8.1)."""

from __future__ import annotations

import numpy as np

from backends.physics._arrays import (
    as_field,
    divide_parts,
    positions_to_shifts,
    require_even_margin,
    require_ndim,
)
from backends.physics.probe import center_mask
from backends.physics.translation import check_shifts, translate_window

MERGE_EPSILON = 0.001


def pad_to(x: np.ndarray, M: int) -> np.ndarray:
    """Zero-pad (B, N, N, C) to (B, M, M, C) with ``(M - N) // 2`` on every side."""
    a = as_field(x, "x")
    require_ndim(a, 4, "x", "(B, N, N, C)")
    if a.shape[1] != a.shape[2]:
        raise ValueError(f"x must have square images (B, N, N, C), got {a.shape}")
    p = require_even_margin(M, a.shape[1])
    return np.pad(a, ((0, 0), (p, p), (p, p), (0, 0)))


def trim(canvas: np.ndarray, N: int) -> np.ndarray:
    """Central N x N of a (B, M, M, C) canvas."""
    a = as_field(canvas, "canvas")
    require_ndim(a, 4, "canvas", "(B, M, M, C)")
    if a.shape[1] != a.shape[2]:
        raise ValueError(f"canvas must be square (B, M, M, C), got {a.shape}")
    p = require_even_margin(a.shape[1], N)
    return a[:, p : p + N, p : p + N, :].copy()


def flat_to_channel(x: np.ndarray, C: int) -> np.ndarray:
    """(B*C, H, W, 1) -> (B, H, W, C); flat index ``b*C + c`` becomes channel c of row b."""
    a = np.asarray(x)
    require_ndim(a, 4, "x", "(B*C, H, W, 1)")
    if a.shape[3] != 1:
        raise ValueError(f"x must have one channel (B*C, H, W, 1), got {a.shape}")
    if C < 1 or a.shape[0] % C:
        raise ValueError(f"flat batch {a.shape[0]} is not a multiple of C={C}")
    B, H, W = a.shape[0] // C, a.shape[1], a.shape[2]
    return np.ascontiguousarray(a.reshape(B, C, H, W).transpose(0, 2, 3, 1))


def channel_to_flat(x: np.ndarray) -> np.ndarray:
    """(B, H, W, C) -> (B*C, H, W, 1), flat index ``b*C + c``."""
    a = np.asarray(x)
    require_ndim(a, 4, "x", "(B, H, W, C)")
    B, H, W, C = a.shape
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2)).reshape(B * C, H, W, 1)


def flat_to_grid(x: np.ndarray, gridsize: int) -> np.ndarray:
    """(B*g*g, N, N, 1) -> (B, g, g, N, N, 1) (a plain reshape; channel c is cell (c//g, c%g))."""
    a = np.asarray(x)
    require_ndim(a, 4, "x", "(B*C, N, N, 1)")
    C = gridsize * gridsize
    if a.shape[0] % C or a.shape[3] != 1:
        raise ValueError(f"x of shape {a.shape} is not (B*{C}, N, N, 1) for gridsize {gridsize}")
    return a.reshape(-1, gridsize, gridsize, a.shape[1], a.shape[2], 1)


def grid_to_channel(grid: np.ndarray) -> np.ndarray:
    """(B, g, g, N, N, 1) -> (B, N, N, g*g), grid axes moved last in row-major order."""
    a = np.asarray(grid)
    require_ndim(a, 6, "grid", "(B, g, g, N, N, 1)")
    B, g1, g2, H, W, _ = a.shape
    return np.ascontiguousarray(a.transpose(0, 3, 4, 1, 2, 5)).reshape(B, H, W, g1 * g2)


def extract_patches(canvas: np.ndarray, positions: np.ndarray, N: int) -> np.ndarray:
    """In-model extraction (physics.md 7.2): ``patch[b*C + c] = trim_N(T_{+r_c}(canvas[b]))``.

    ``canvas`` (B, M, M, 1), ``positions`` (B, 1, 2, C) [x, y]; returns (B*C, N, N, 1).
    """
    a = as_field(canvas, "canvas")
    require_ndim(a, 4, "canvas", "(B, M, M, 1)")
    B, M, M2, one = a.shape
    if M != M2 or one != 1:
        raise ValueError(f"canvas must have shape (B, M, M, 1), got {a.shape}")
    pos = np.asarray(positions)
    if pos.ndim != 4:
        raise ValueError(f"positions must have shape (B, 1, 2, C), got {pos.shape}")
    C = pos.shape[3]
    shifts = positions_to_shifts(pos, B, C)
    p = require_even_margin(M, N)
    source = np.repeat(np.arange(B), C)
    return translate_window(a, shifts, p, p, N, N, source=source)


def _shift_padded(flat: np.ndarray, shifts: np.ndarray, M: int) -> np.ndarray:
    """``T_shift(pad_M(flat))`` for (K, N, N, 1) patches, computed on the canvas grid."""
    return translate_window(pad_to(flat, M), shifts, 0, 0, M, M)


def merge_patches(patches: np.ndarray, positions: np.ndarray, M: int) -> np.ndarray:
    """In-model merge (physics.md 8.1), literally, real and imaginary parts separately.

    ``num_b = sum_c T_{-r_c}(pad_M(obj_{b,c}))``, ``den_b = sum_c T_{-r_c}(pad_M(Q)) + 0.001``,
    canvas ``num / den`` of shape (B, M, M, 1). The full patch enters the numerator, only the
    centre mask Q the denominator; nothing is clamped or masked.
    """
    a = as_field(patches, "patches")
    require_ndim(a, 4, "patches", "(B, N, N, C)")
    B, N, N2, C = a.shape
    if N != N2:
        raise ValueError(f"patches must be square (B, N, N, C), got {a.shape}")
    shifts = -positions_to_shifts(np.asarray(positions), B, C)
    require_even_margin(M, N)
    moved = _shift_padded(channel_to_flat(a), shifts, M)
    numerator = flat_to_channel(moved, C).sum(axis=3)
    ones = np.broadcast_to(center_mask(N)[None, :, :, None], (B * C, N, N, 1))
    coverage = flat_to_channel(_shift_padded(ones, shifts, M), C).sum(axis=3)
    return divide_parts(numerator, coverage + MERGE_EPSILON)[..., None]


def center_channels(channels: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``T_{-r_c}`` applied to each channel of (B, N, N, C) (no padding): the group-centred frame."""
    a = as_field(channels, "channels")
    require_ndim(a, 4, "channels", "(B, N, N, C)")
    B, _, _, C = a.shape
    shifts = -positions_to_shifts(np.asarray(positions), B, C)
    flat = channel_to_flat(a)
    moved = translate_window(flat, shifts, 0, 0, flat.shape[1], flat.shape[2])
    return flat_to_channel(moved, C)


def extract_object_patches(obj: np.ndarray, positions: np.ndarray, N: int) -> np.ndarray:
    """Ground-truth patches (physics.md 7.3): top-left N x N of ``T_{-(x,y)}(pad_{N/2}(obj))``.

    ``obj`` (H, W) real or complex, ``positions`` (P, 2) [x, y] at the true scan positions;
    returns (P, N, N), ``patch[r, c] = obj_bilin(y + r - N/2, x + c - N/2)`` (0 outside).
    """
    o = as_field(obj, "obj")
    require_ndim(o, 2, "obj", "(H, W)")
    if N % 2:
        raise ValueError(f"N={N} must be even")
    shifts = -check_shifts(positions, np.asarray(positions).shape[0])
    padded = np.pad(o, N // 2)[None, :, :, None]
    source = np.zeros(shifts.shape[0], dtype=np.int64)
    return translate_window(padded, shifts, 0, 0, N, N, source=source)[..., 0]

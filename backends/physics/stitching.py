"""Post-hoc stitching of per-group object patches (physics.md 8.2, ``reassemble_position``)."""

from __future__ import annotations

import math

import numpy as np

from backends.physics._arrays import as_field, as_real, divide_parts, require_ndim
from backends.physics.translation import translate_window

WEIGHT_EPSILON = 1e-9


def stitch_offsets(offsets: np.ndarray, count: int) -> tuple[np.ndarray, int]:
    """Centred float32 offsets ``d`` (P, 2) [x, y] and the even canvas pad of 8.2 steps 2-3.

    The offsets are cast to float32 first; their mean is the float32 rounding of the exact
    mean of those float32 values; ``d = offset - mean`` in float32;
    ``pad = ceil(max |d|)``, plus one if odd.
    """
    off = as_real(offsets, "offsets")
    if off.shape[0] != count or off.size != 2 * count:
        raise ValueError(
            f"offsets must have shape (P, 1, 2, 1), (P, 1, 1, 2) or (P, 2) with P={count}, "
            f"got {off.shape}"
        )
    if not np.all(np.isfinite(off)):
        raise ValueError("offsets must be finite (found NaN or infinity)")
    off32 = off.reshape(count, 2).astype(np.float32)
    centre = off32.astype(np.float64).mean(axis=0).astype(np.float32)
    d = off32 - centre
    pad = math.ceil(float(np.max(np.abs(d)))) if count else 0
    if pad % 2:
        pad += 1
    return d, pad


def stitch(
    patches: np.ndarray, offsets: np.ndarray, crop: int = 20, chunk_size: int = 64
) -> np.ndarray:
    """Stitch (P, N, N, 1) patches at global offsets into one (S, S, 1) image.

    Each patch is cropped to rows/cols ``[N/2 - crop/2, N/2 + crop/2)``, zero padded by the
    even ``pad`` of :func:`stitch_offsets`, translated by ``+d_p`` and summed (``S``); ``W`` is
    the same sum for all-ones patches; the result ``S / (W + 1e-9)`` has shape
    ``(crop + 2*pad, crop + 2*pad, 1)``.
    Patches are accumulated one by one in order, so ``chunk_size`` (which only bounds memory)
    never changes the result.
    """
    a = as_field(patches, "patches")
    require_ndim(a, 4, "patches", "(P, N, N, 1)")
    P, N, N2, one = a.shape
    if N != N2 or one != 1:
        raise ValueError(f"patches must have shape (P, N, N, 1), got {a.shape}")
    if P == 0:
        raise ValueError("stitch needs at least one patch")
    if isinstance(crop, bool) or crop <= 0 or crop % 2 or crop > N:
        raise ValueError(f"crop={crop!r} must be an even integer in [2, N={N}]")
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size!r} must be >= 1")
    d, pad = stitch_offsets(offsets, P)
    lo = N // 2 - crop // 2
    cropped = a[:, lo : lo + crop, lo : lo + crop, :]
    side = crop + 2 * pad
    # T_d(zero_pad(crop)) is exactly zero outside rows/cols floor(pad + d) - 1 .. + crop + 1,
    # so each patch is evaluated on that window only (same coordinates, same values).
    span = crop + 3
    first = np.floor(pad + d.astype(np.float64)).astype(np.int64) - 1  # (P, 2) [col, row]
    ones = np.ones((1, crop, crop, 1))
    total = np.zeros((side, side, 1), dtype=a.dtype)
    weight = np.zeros((side, side, 1), dtype=np.float64)
    for start in range(0, P, chunk_size):
        stop = min(start + chunk_size, P)
        part, col0, row0 = d[start:stop], first[start:stop, 0], first[start:stop, 1]
        moved = translate_window(
            cropped[start:stop], part, row0, col0, span, span, origin=(pad, pad)
        )
        moved_ones = translate_window(
            ones, part, row0, col0, span, span, np.zeros(stop - start, np.int64), (pad, pad)
        )
        for k in range(stop - start):
            r, c = int(row0[k]), int(col0[k])
            rows = slice(max(r, 0), min(r + span, side))
            cols = slice(max(c, 0), min(c + span, side))
            inner = (slice(rows.start - r, rows.stop - r), slice(cols.start - c, cols.stop - c))
            total[rows, cols] += moved[k][inner]
            weight[rows, cols] += moved_ones[k][inner]
    return divide_parts(total, weight + WEIGHT_EPSILON)

"""Sketches: what a slim baseline keeps of a large tensor, so that a regression can still see it.

A norm and a maximum do not change when a tensor is rolled, transposed, flipped or (for the
maximum of ``|x|``) negated. A sketch keeps two things that do:

**Random projections.** ``p_k = sum_i r_ki x_i`` for ``k < K`` (``K = 16``), with ``r_ki`` drawn
from a standard normal generator with a fixed seed (the same numbers on every machine and in every
run, generated in fixed chunks so memory stays bounded). Complex tensors give complex ``p_k``.
For a change ``d = x_now - x_base``, ``p_k(now) - p_k(base) = sum_i r_ki d_i`` is, for any fixed
``d``, normal with variance ``||d||^2`` (Gaussian ``r``), independently over ``k``. So

    e = sqrt(mean_k |dp_k|^2)

estimates ``||d||``: ``K e^2 / ||d||^2`` follows chi-square with ``K`` degrees of freedom for real
``d`` (for complex ``d`` a weighted sum of two chi-squares whose tails are lighter, so the same
bounds hold). A permutation of the elements (roll, transpose, flip) or a sign change is a ``d`` of
the size of the tensor itself unless the tensor is symmetric under it, and ``e`` sees it.

**Tolerance of the projections.** The regression tolerance is an element tolerance
(``|d_i| <= atol + rtol * max|b|`` in ``scaled`` mode, ``<= atol + rtol * |b_i|`` in
``elementwise`` mode). Every change within it has ``||d|| <= L``, with ``L = sqrt(n) (atol + rtol
max|b|)`` (scaled) or ``L = sqrt(n) atol + rtol ||b||`` (elementwise, by the triangle inequality).
The check passes when ``e <= Q_HI * L`` with ``Q_HI = sqrt(chi2_K.ppf(1 - 1e-6) / K) = 1.91``:
a change that satisfies the element tolerance fails with probability below 1e-6. A change with
``||d|| > (Q_HI / Q_LO) L = 6.3 L`` (``Q_LO = sqrt(chi2_K.ppf(1e-6) / K) = 0.301``) fails with
probability above 1 - 1e-6. Float32 rounding moves ``||d|| / ||b||`` by about 1e-7; a one-pixel
roll of a smooth image moves it by a few per cent, of a speckled diffraction pattern by order one
(docs/harness-regression.md lists the values measured on the built-in scenarios).

**A downsampled copy.** The block means ``T(x)`` of ``x`` over a grid of at most
``THUMB_ELEMENTS`` blocks (each axis halved, largest first, until the grid is small enough),
complex kept, stored in float32 (as the data of the slimmed dataset). The mean of ``d`` over a block is bounded by the
mean of the element bound, so within the element tolerance ``|T(now) - T(base)| <= atol + rtol
max|b|`` holds in every block (in both modes, since ``|b_i| <= max|b|``), up to the float32
storage (``ROUNDING_SLACK max|b|``): the check cannot fail a change that the full-tensor
comparison would pass, and the worst block says where a change lies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

SKETCH_VERSION = 1
PROJECTIONS = 16
PROJECTION_SEED = 0x5EED_13
CHUNK = 1 << 16
THUMB_ELEMENTS = 128
Q_HI = 1.9093
"""``sqrt(chi2(16).ppf(1 - 1e-6) / 16)``: the estimate's factor above ``||d||`` at 1e-6."""
Q_LO = 0.3011
"""``sqrt(chi2(16).ppf(1e-6) / 16)``: the estimate's factor below ``||d||`` at 1e-6."""
ROUNDING_SLACK = 2.5e-7
"""Slack of the block comparison, relative to max|b|: both copies rounded to float32
(``2**-24`` each, 1.2e-7 together) with a factor two for the float64 arithmetic of the means."""


def _as_float(a: np.ndarray) -> np.ndarray:
    return a.astype(np.complex128 if np.iscomplexobj(a) else np.float64, copy=False)


_CHUNK_CACHE: list[np.ndarray] = []
"""The projection stream in chunks of ``PROJECTIONS * CHUNK`` normals: every tensor draws the
same stream from the start, so it is generated once per process and reused."""
_CHUNK_CACHE_STATE: list[Mapping[str, Any]] = []
"""The generator's state after each cached chunk, to continue the stream past the cache."""
CACHE_LIMIT_BYTES = 256 << 20


def _stream_chunk(index: int) -> np.ndarray | None:
    """Chunk ``index`` of the projection stream (flat), or None beyond the cache limit."""
    while len(_CHUNK_CACHE) <= index:
        if (len(_CHUNK_CACHE) + 1) * PROJECTIONS * CHUNK * 8 > CACHE_LIMIT_BYTES:
            return None
        rng = np.random.default_rng(PROJECTION_SEED)
        if _CHUNK_CACHE:
            rng.bit_generator.state = _CHUNK_CACHE_STATE[-1]
        _CHUNK_CACHE.append(rng.standard_normal(PROJECTIONS * CHUNK))
        _CHUNK_CACHE_STATE.append(rng.bit_generator.state)
    return _CHUNK_CACHE[index]


def projections(arr: np.ndarray) -> np.ndarray:
    """The ``PROJECTIONS`` fixed random projections of ``arr`` (flattened in C order); complex
    for a complex tensor. Non-finite elements count as 0 (they are counted separately).

    Chunk ``c`` of the tensor (``CHUNK`` elements, the last one shorter) is projected on the next
    ``PROJECTIONS * len(chunk)`` normals of one seeded stream, shaped ``(PROJECTIONS, len)``."""
    flat = _as_float(np.asarray(arr)).reshape(-1)
    rng: np.random.Generator | None = None
    out = np.zeros(PROJECTIONS, dtype=flat.dtype)
    for index, start in enumerate(range(0, flat.size, CHUNK)):
        block = flat[start : start + CHUNK]
        block = np.where(np.isfinite(block), block, 0)
        cached = None if rng is not None else _stream_chunk(index)
        if cached is not None:
            r = cached[: PROJECTIONS * block.size].reshape(PROJECTIONS, block.size)
        else:
            if rng is None:
                rng = np.random.default_rng(PROJECTION_SEED)
                if index:
                    rng.bit_generator.state = _CHUNK_CACHE_STATE[index - 1]
            r = rng.standard_normal((PROJECTIONS, block.size))
        out += r @ block
    return out


def thumb_grid(shape: tuple[int, ...], limit: int = THUMB_ELEMENTS) -> list[int]:
    """The block grid of the downsampled copy: every axis halved, largest first, until the grid
    has at most ``limit`` blocks."""
    grid = [int(s) for s in shape]
    while math.prod(grid) > limit and max(grid) > 1:
        i = int(np.argmax(grid))
        grid[i] = (grid[i] + 1) // 2
    return grid


def block_means(arr: np.ndarray, grid: list[int]) -> np.ndarray:
    """Means of ``arr`` over the blocks of ``grid`` (blocks of nearly equal size along each axis)."""
    out = _as_float(np.asarray(arr))
    out = np.where(np.isfinite(out), out, 0)
    for axis, (size, cells) in enumerate(zip(out.shape, grid)):
        if cells == size:
            continue
        starts = (np.arange(cells) * size) // cells
        counts = np.diff(np.append(starts, size))
        sums = np.add.reduceat(out, starts, axis=axis)
        shape = [1] * out.ndim
        shape[axis] = cells
        out = sums / counts.reshape(shape)
    return out


def _pack(values: np.ndarray, single: bool = False) -> dict[str, Any]:
    values = np.asarray(values)

    def listed(part: np.ndarray) -> list[float]:
        return (part.astype(np.float32) if single else part).reshape(-1).tolist()

    packed: dict[str, Any] = {"re": listed(values.real)}
    if np.iscomplexobj(values):
        packed["im"] = listed(values.imag)
    return packed


def pack_thumb(values: np.ndarray) -> dict[str, Any]:
    """The downsampled copy as stored in a sketch (float32 values, complex kept)."""
    return _pack(values, single=True)


def thumb_array(sk: dict[str, Any]) -> np.ndarray:
    """The downsampled copy of a sketch as a float32 or complex64 array of its grid's shape."""
    values = _unpack(sk["thumb"])
    dtype = np.complex64 if np.iscomplexobj(values) else np.float32
    return values.astype(dtype).reshape(sk["grid"])


def _unpack(packed: dict[str, Any]) -> np.ndarray:
    re = np.asarray(packed["re"], dtype=np.float64)
    if "im" in packed:
        return re + 1j * np.asarray(packed["im"], dtype=np.float64)
    return re


def sketch(arr: np.ndarray) -> dict[str, Any]:
    """The sketch of ``arr`` (JSON-ready): projections, the downsampled copies, their grid, the
    count of non-finite elements."""
    a = np.asarray(arr)
    if a.dtype.kind not in "biufc":
        raise TypeError(f"cannot sketch a tensor of dtype {a.dtype}")
    if a.dtype.kind == "b":
        a = a.astype(np.uint8)
    grid = thumb_grid(a.shape)
    return {
        "version": SKETCH_VERSION,
        "projections": _pack(projections(a)),
        "grid": grid,
        "thumb": pack_thumb(block_means(a, grid)),
        "nonfinite": int(a.size - np.count_nonzero(np.isfinite(a))) if a.dtype.kind in "fc" else 0,
    }


def element_bound_l2(
    n: int, l2: float, max_abs: float, rtol: float, atol: float, mode: str
) -> float:
    """``L``: the largest ``||d||`` a change within the element tolerance can have."""
    if mode == "elementwise":
        return math.sqrt(n) * atol + rtol * l2
    return math.sqrt(n) * (atol + rtol * max_abs)


def compare(
    now: dict[str, Any], base: dict[str, Any], *, rtol: float, atol: float, mode: str
) -> dict[str, Any]:
    """Compare two summaries that carry sketches (same shape). Returns ``ok``, ``ratio`` (the
    worse of the two checks as a fraction of its allowance), ``rel_change`` (the estimate of
    ``||d|| / ||b||``), ``rel_allowed`` (``Q_HI L / ||b||``), the thumbnail's worst block and
    its allowance, and ``evidence`` (one sentence)."""
    s_now, s_base = now["sketch"], base["sketch"]
    n = math.prod(base["shape"])
    l2, max_abs = float(base["l2"]), float(base["max_abs"])
    if s_now["nonfinite"] != s_base["nonfinite"]:
        return {
            "ok": False,
            "ratio": math.inf,
            "rel_change": math.inf,
            "rel_allowed": 0.0,
            "evidence": f"{s_now['nonfinite']} non-finite elements, baseline {s_base['nonfinite']}",
        }
    dp = _unpack(s_now["projections"]) - _unpack(s_base["projections"])
    estimate = float(np.sqrt(np.mean(np.abs(dp) ** 2)))
    allowed = Q_HI * element_bound_l2(n, l2, max_abs, rtol, atol, mode)
    denom = l2 if l2 > 0 else 1.0
    proj_ratio = estimate / allowed if allowed > 0 else (0.0 if estimate == 0 else math.inf)

    t_now, t_base = _unpack(s_now["thumb"]), _unpack(s_base["thumb"])
    t_allowed = atol + rtol * max_abs + ROUNDING_SLACK * max_abs
    t_diff = np.abs(t_now - t_base).reshape(-1)
    worst = int(np.argmax(t_diff)) if t_diff.size else 0
    moved = float(t_diff[worst]) if t_diff.size else 0.0
    thumb_ratio = moved / t_allowed if t_allowed > 0 else (0.0 if moved == 0 else math.inf)
    block = [int(i) for i in np.unravel_index(worst, s_base["grid"])] if t_diff.size else []
    ratio = max(proj_ratio, thumb_ratio)
    evidence = (
        f"projections: relative change ~{estimate / denom:.3g} (allowed {allowed / denom:.3g}); "
        f"downsampled {'x'.join(map(str, s_base['grid']))}: worst block {block} moved "
        f"{moved:.3g} (allowed {t_allowed:.3g})"
    )
    return {
        "ok": ratio <= 1.0,
        "ratio": ratio,
        "rel_change": estimate / denom,
        "rel_allowed": allowed / denom,
        "thumb_block": block,
        "evidence": evidence,
    }

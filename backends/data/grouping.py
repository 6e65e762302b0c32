"""Subsampling, grouping, coordinates, normalisation and labels (docs/data.md sections 3-7).

The random stream is a caller-owned ``numpy.random.RandomState``; every draw happens in the
order the spec defines, so the same stream gives the same groups in any process.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from backends.data._geometry import extract_object_patches
from backends.data._legacy_rng import permutations
from backends.data.npz import RawData


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_counts(
    *,
    n_subsample: int | None = None,
    n_groups: int | None = None,
    neighbor_count: int | None = None,
) -> None:
    """Row "n_subsample, n_groups or K < 1" of data.md section 2 (checked before subsampling)."""
    for name, value in (
        ("n_subsample", n_subsample),
        ("n_groups", n_groups),
        ("neighbor_count (K)", neighbor_count),
    ):
        if value is not None and (not _is_int(value) or value < 1):
            raise ValueError(f"{name}={value!r} is not allowed; it must be an integer >= 1")


def subsample(
    raw: RawData,
    *,
    n_subsample: int | None,
    n_groups: int | None,
    rng: np.random.RandomState,
) -> RawData:
    """Images used for grouping (data.md section 3).

    ``n_use = min(n_subsample, M)`` if set, else ``min(n_groups, M)`` (legacy coupling), else
    all. When ``n_use < M`` the rows ``sort(rng.choice(M, n_use, replace=False))`` are kept;
    otherwise nothing is drawn. The result records ``sample_indices``.
    """
    check_counts(n_subsample=n_subsample, n_groups=n_groups)
    M = raw.n_patterns
    if n_subsample is not None:
        n_use = min(n_subsample, M)
    elif n_groups is not None:
        n_use = min(n_groups, M)
    else:
        n_use = M
    sel = np.sort(rng.choice(M, n_use, replace=False)) if n_use < M else np.arange(M)
    return raw.select(sel)


def _neighbours(points: np.ndarray, seeds: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` nearest points of each seed's position (ascending distance, cKDTree order)."""
    from scipy.spatial import cKDTree

    tree = cKDTree(points)
    _, idx = tree.query(points[seeds], k=k)
    return np.asarray(idx, dtype=np.int64).reshape(len(seeds), k)


def group_indices(
    x: np.ndarray,
    y: np.ndarray,
    *,
    gridsize: int,
    n_groups: int,
    neighbor_count: int = 4,
    rng: np.random.RandomState,
    sequential_sampling: bool = False,
    enable_oversampling: bool = False,
    neighbor_pool_size: int | None = None,
    seed: int | None = None,
) -> np.ndarray:
    """``nn_indices`` (G, C) int64 of data.md section 4 for positions ``(x, y)``.

    Consumes ``rng`` exactly as the spec says (seed draw, then one member draw per seed in
    seed order; or the oversampling pool draw). ``seed`` replaces ``rng`` by a fresh
    ``RandomState(seed)`` in random and oversampling modes (the caller's stream is left as
    is); sequential mode draws members from ``RandomState(0)``.
    """
    if not _is_int(gridsize) or gridsize < 1:
        raise ValueError(f"gridsize={gridsize!r} is not allowed; it must be an integer >= 1")
    check_counts(n_groups=n_groups, neighbor_count=neighbor_count)
    if neighbor_pool_size is not None and (
        not _is_int(neighbor_pool_size) or neighbor_pool_size < 0
    ):
        raise ValueError(
            f"neighbor_pool_size={neighbor_pool_size!r} is not allowed; it must be an integer "
            ">= 1 (None or 0 means neighbor_count)"
        )
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    P = int(x.shape[0])
    C = gridsize * gridsize
    K = int(neighbor_count)
    oversample = C > 1 and n_groups > P
    Kp = int(neighbor_pool_size or K)
    if oversample and not enable_oversampling:
        raise ValueError(
            f"n_groups={n_groups} exceeds the {P} available points at gridsize {gridsize} "
            f"(C={C}); set enable_oversampling=True to form groups from K-choose-C "
            "neighbour combinations, or lower n_groups"
        )
    if oversample and Kp < C:
        raise ValueError(
            f"oversampling needs a neighbour pool of at least C={C} points; "
            f"neighbor_pool_size (or neighbor_count) is {Kp}"
        )
    if P < C:
        raise ValueError(f"dataset has only {P} points but C={C} (gridsize {gridsize}) requested")
    if not oversample and K < C:
        raise ValueError(f"K must be ≥ C: neighbor_count K={K} < C={C} (gridsize {gridsize})")
    points = np.column_stack([x, y])
    if oversample:
        return _oversampled(points, C, Kp, n_groups, rng, sequential_sampling, seed)

    # Step A: seeds.
    if sequential_sampling:
        seeds = np.arange(min(n_groups, P), dtype=np.int64)
        rng = np.random.RandomState(0)
    else:
        if seed is not None:
            rng = np.random.RandomState(seed)
        G = min(n_groups, P)
        seeds = rng.choice(P, G, replace=False) if G < P else np.arange(P, dtype=np.int64)
    seeds = np.asarray(seeds, dtype=np.int64)
    if C == 1:
        return seeds[:, None].copy()

    # Step B: members, random K-nearest neighbours (the seed itself normally excluded).
    k = min(K + 1, P)
    found = _neighbours(points, seeds, k)
    available = found[:, 1 : K + 1] if k > K else found[:, :K]
    if available.shape[1] < C:
        available = np.concatenate([seeds[:, None], available], axis=1)
    L = available.shape[1]
    if L >= C:
        # One choice(available, C, replace=False) per seed, in seed order, drawn in bulk.
        picks = permutations(rng, len(seeds), L)[:, :C]
        return np.ascontiguousarray(np.take_along_axis(available, picks, axis=1))
    members = np.empty((len(seeds), C), dtype=np.int64)
    for g in range(len(seeds)):
        members[g] = available[g, rng.randint(0, L, C)]
    return members


def _oversampled(
    points: np.ndarray,
    C: int,
    Kp: int,
    n_groups: int,
    rng: np.random.RandomState,
    sequential: bool,
    seed: int | None,
) -> np.ndarray:
    """The K-choose-C oversampling mode of data.md section 4."""
    P = points.shape[0]
    per = math.comb(Kp, C)
    need = -(-n_groups // per)
    ns = min(2 * need, P)
    if seed is not None:
        rng = np.random.RandomState(seed)
    if sequential:
        seeds = np.arange(ns, dtype=np.int64)
    else:
        seeds = rng.choice(P, ns, replace=False) if ns < P else np.arange(P, dtype=np.int64)
    seeds = np.asarray(seeds, dtype=np.int64)
    k = min(Kp + 1, P)
    found = _neighbours(points, seeds, k)
    if k > Kp:
        lists = found[:, 1 : Kp + 1]
    elif k >= 2:
        lists = found[:, 1:]
    else:
        lists = found
    if lists.shape[1] < C:
        lists = np.concatenate([seeds[:, None], lists], axis=1)
    combos = np.array(list(itertools.combinations(range(lists.shape[1]), C)), dtype=np.int64)
    # Seed by seed, every combination in lexicographic order, stopping at 2 * n_groups tuples.
    pool = lists[:, combos].reshape(-1, C)[: 2 * n_groups]
    rows = rng.choice(len(pool), n_groups, replace=n_groups > len(pool))
    return np.ascontiguousarray(pool[rows], dtype=np.int64)


def _coordinates(x: np.ndarray, y: np.ndarray, nn: np.ndarray) -> tuple[np.ndarray, ...]:
    coords_nn = np.stack([x[nn], y[nn]], axis=1)[:, None, :, :]  # (G, 1, 2, C)
    offsets = np.mean(coords_nn, axis=3, keepdims=True)
    relative = -(coords_nn - offsets)
    return coords_nn, offsets, relative


def normalisation_factor(diff3d: np.ndarray, nn_indices: np.ndarray) -> float:
    """``f = sqrt((N/2)^2 / mean_{g,c} sum_{h,w} d^2)`` over the grouped patterns, float64."""
    N = diff3d.shape[-1]
    energy = np.einsum("mij,mij->m", diff3d, diff3d, dtype=np.float64, optimize=False)
    mean_energy = float(np.mean(energy[nn_indices]))
    if not mean_energy > 0:
        raise ValueError(
            "cannot normalise the diffraction: every pattern in the selected groups is zero"
        )
    return math.sqrt((N / 2) ** 2 / mean_energy)


def assemble(raw: RawData, nn_indices: np.ndarray) -> dict[str, Any]:
    """The grouped dictionary of data.md section 8 for given ``nn_indices`` (G, C)."""
    nn = np.asarray(nn_indices, dtype=np.int64)
    assert raw.xcoords_start is not None and raw.ycoords_start is not None
    coords_nn, offsets, relative = _coordinates(raw.xcoords, raw.ycoords, nn)
    start_nn, start_offsets, start_relative = _coordinates(raw.xcoords_start, raw.ycoords_start, nn)
    f = normalisation_factor(raw.diff3d, nn)
    unique, inverse = np.unique(nn, return_inverse=True)
    inverse = inverse.reshape(nn.shape)
    scaled = (raw.diff3d[unique].astype(np.float64) * f).astype(np.float32)
    x_full = np.ascontiguousarray(np.transpose(scaled[inverse], (0, 2, 3, 1)))
    diffraction = np.ascontiguousarray(np.transpose(raw.diff3d[nn], (0, 2, 3, 1)))
    if raw.Y is not None:
        Y: np.ndarray | None = np.ascontiguousarray(
            np.transpose(raw.Y[nn], (0, 2, 3, 1)), dtype=np.complex64
        )
    elif raw.objectGuess is not None:
        patches = extract_object_patches(
            raw.objectGuess, raw.xcoords[unique], raw.ycoords[unique], raw.N
        ).astype(np.complex64)
        Y = np.ascontiguousarray(np.transpose(patches[inverse], (0, 2, 3, 1)))
    else:
        Y = None
    grouped: dict[str, Any] = {
        "diffraction": diffraction,
        "X_full": x_full,
        "Y": Y,
        "coords_offsets": offsets,
        "coords_relative": relative,
        "coords_start_offsets": start_offsets,
        "coords_start_relative": start_relative,
        "coords_nn": coords_nn,
        "coords_start_nn": start_nn,
        "nn_indices": nn,
        "objectGuess": raw.objectGuess,
    }
    if raw.sample_indices is not None:
        grouped["sample_indices"] = raw.sample_indices
    return grouped


def group(
    raw: RawData,
    *,
    gridsize: int,
    n_groups: int,
    neighbor_count: int = 4,
    rng: np.random.RandomState,
    sequential_sampling: bool = False,
    enable_oversampling: bool = False,
    neighbor_pool_size: int | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """Group a (subsampled) scan and build the arrays of data.md sections 4-7.

    Returns the grouped dictionary: ``diffraction`` and ``X_full`` (G, N, N, C), ``Y``
    complex64 or None, ``coords_*`` (G, 1, 2, C) / (G, 1, 2, 1) float64, ``nn_indices``
    (G, C) int64, ``objectGuess``, and ``sample_indices`` when the scan was subsampled.
    """
    nn = group_indices(
        raw.xcoords,
        raw.ycoords,
        gridsize=gridsize,
        n_groups=n_groups,
        neighbor_count=neighbor_count,
        rng=rng,
        sequential_sampling=sequential_sampling,
        enable_oversampling=enable_oversampling,
        neighbor_pool_size=neighbor_pool_size,
        seed=seed,
    )
    return assemble(raw, nn)

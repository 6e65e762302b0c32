"""Straightforward re-derivations of docs/data.md used as independent expectations.

Written as literally as the spec reads: one KD-tree query per seed, ``RandomState.choice`` on
the candidate list, explicit loops. Deliberately slow and simple.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.spatial import cKDTree


def reference_group(
    x: np.ndarray,
    y: np.ndarray,
    *,
    gridsize: int,
    n_groups: int,
    K: int,
    rng: np.random.RandomState,
    sequential: bool = False,
    oversampling: bool = False,
    pool_size: int | None = None,
    seed: int | None = None,
) -> np.ndarray:
    C = gridsize * gridsize
    P = len(x)
    points = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    if C > 1 and n_groups > P:
        assert oversampling
        return _reference_oversampled(points, C, pool_size or K, n_groups, rng, sequential, seed)
    if sequential:
        seeds = list(range(min(n_groups, P)))
        rng = np.random.RandomState(0)
    else:
        if seed is not None:
            rng = np.random.RandomState(seed)
        G = min(n_groups, P)
        seeds = list(rng.choice(P, G, replace=False)) if G < P else list(range(P))
    if C == 1:
        return np.array([[s] for s in seeds], dtype=np.int64)
    tree = cKDTree(points)
    rows = []
    for s in seeds:
        k = min(K + 1, P)
        _, idx = tree.query(points[s], k=k)
        idx = list(np.atleast_1d(idx))
        available = idx[1 : K + 1] if len(idx) > K else idx[:K]
        if len(available) < C:
            available = [s, *available]
        members = rng.choice(available, C, replace=len(available) < C)
        rows.append(list(members))
    return np.array(rows, dtype=np.int64)


def _reference_oversampled(points, C, Kp, n_groups, rng, sequential, seed):
    P = len(points)
    per = math.comb(Kp, C)
    need = math.ceil(n_groups / per)
    ns = min(2 * need, P)
    if seed is not None:
        rng = np.random.RandomState(seed)
    if sequential:
        seeds = list(range(ns))
    else:
        seeds = list(rng.choice(P, ns, replace=False)) if ns < P else list(range(P))
    tree = cKDTree(points)
    pool: list[tuple[int, ...]] = []
    for s in seeds:
        _, idx = tree.query(points[s], k=min(Kp + 1, P))
        idx = list(np.atleast_1d(idx))
        if len(idx) > Kp:
            lst = idx[1 : Kp + 1]
        elif len(idx) >= 2:
            lst = idx[1:]
        else:
            lst = idx
        if len(lst) < C:
            lst = [s, *lst]
        done = False
        for combo in itertools.combinations(lst, C):
            pool.append(combo)
            if len(pool) == 2 * n_groups:
                done = True
                break
        if done:
            break
    rows = rng.choice(len(pool), n_groups, replace=n_groups > len(pool))
    return np.array([pool[r] for r in rows], dtype=np.int64)


def bresenham_loop(r0: int, c0: int, r1: int, c1: int) -> list[tuple[int, int]]:
    """The classic error-term Bresenham loop (step the minor axis while d >= 0)."""
    steep = abs(r1 - r0) > abs(c1 - c0)
    r, c = r0, c0
    dr, dc = abs(r1 - r0), abs(c1 - c0)
    sr = 1 if r1 - r0 > 0 else -1
    sc = 1 if c1 - c0 > 0 else -1
    if steep:
        r, c = c, r
        dr, dc = dc, dr
        sr, sc = sc, sr
    d = 2 * dr - dc
    out = []
    for _ in range(dc):
        out.append((c, r) if steep else (r, c))
        while d >= 0:
            r += sr
            d -= 2 * dc
        c += sc
        d += 2 * dr
    out.append((r1, c1))
    return out


def bilinear_sample(obj: np.ndarray, yy: float, xx: float) -> complex:
    """Bilinear value of ``obj`` at (row yy, col xx) with per-corner zero fill (physics 7.1)."""
    H, W = obj.shape
    x0, y0 = math.floor(xx), math.floor(yy)
    wx, wy = xx - x0, yy - y0
    total = 0j
    for dx, dy, w in (
        (0, 0, (1 - wx) * (1 - wy)),
        (1, 0, wx * (1 - wy)),
        (0, 1, (1 - wx) * wy),
        (1, 1, wx * wy),
    ):
        cx, cy = x0 + dx, y0 + dy
        if 0 <= cx < W and 0 <= cy < H:
            total += w * complex(obj[cy, cx])
    return total

"""Inputs and timing shared by the backends' benchmark modules (framework-free)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from backends.base import Batch

N = 64
BATCH = 16


def synthetic_batch(gridsize: int, seed: int = 0, N: int = N, batch: int = BATCH) -> Batch:
    """A reproducible batch of uniform diffraction and positions; zero positions at gridsize 1
    (coords_relative is identically zero there)."""
    C = gridsize * gridsize
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (batch, N, N, C)).astype(np.float32)
    positions = rng.uniform(-2, 2, (batch, 1, 2, C)).astype(np.float32)
    if C == 1:
        positions[:] = 0.0
    return Batch(X=X, positions=positions)


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Wall seconds of ``repeats`` calls of ``fn``."""
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return time.perf_counter() - start

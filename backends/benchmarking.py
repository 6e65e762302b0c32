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


def timed(fn: Callable[[], object], repeats: int = 1, warmup: int = 0) -> float:
    """Wall seconds of ``repeats`` calls of ``fn``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return time.perf_counter() - start


def train_row(
    gridsize: int, steps: int, seconds: float, kind: str = "train"
) -> tuple[str, float, str]:
    """A training-speed row; both backends name it alike, so the ratio can be printed."""
    return (f"{kind} N={N} gs={gridsize} batch={BATCH}", steps / seconds, "steps/s")


def infer_row(gridsize: int, batches: int, seconds: float) -> tuple[str, float, str]:
    """An inference-speed row in diffraction patterns per second (gridsize² per group)."""
    patterns = batches * BATCH * gridsize * gridsize
    return (f"infer N={N} gs={gridsize} batch={BATCH}", patterns / seconds, "patterns/s")


def first_call_row(kind: str, gridsize: int, seconds: float) -> tuple[str, float, str]:
    """The wall time of a freshly built model's first call (``kind`` "train" or "infer"): what
    tracing or lazy set-up costs before the steady rate of :func:`train_row`/:func:`infer_row`."""
    return (f"first {kind} call N={N} gs={gridsize} batch={BATCH}", seconds, "s")


def print_rows(rows: list[tuple[str, float, str]]) -> None:
    """Print ``(name, value, unit)`` rows, one a line (a bench module run as a script)."""
    for name, value, unit in rows:
        print(f"{name}: {value:.3f} {unit}")

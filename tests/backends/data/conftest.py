"""Fixtures of the data tests: small valid scans and an isolated built-in cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def make_arrays(
    M: int = 12, N: int = 8, seed: int = 0, with_object: bool = True
) -> dict[str, np.ndarray]:
    """A small valid scan in the NPZ contract (positions inside a 40x40 object)."""
    r = np.random.RandomState(seed)
    arrays: dict[str, np.ndarray] = {
        "diff3d": r.uniform(0.1, 2.0, (M, N, N)).astype(np.float32),
        "xcoords": r.uniform(N / 2, 40 - N / 2, M),
        "ycoords": r.uniform(N / 2, 40 - N / 2, M),
        "probeGuess": (r.uniform(0.5, 1.0, (N, N)) * np.exp(1j * r.uniform(-1, 1, (N, N)))).astype(
            np.complex64
        ),
    }
    arrays["xcoords_start"] = arrays["xcoords"] + 0.25
    arrays["ycoords_start"] = arrays["ycoords"] - 0.25
    if with_object:
        arrays["objectGuess"] = (
            r.uniform(0.5, 1.0, (40, 40)) * np.exp(1j * r.uniform(-2, 2, (40, 40)))
        ).astype(np.complex64)
    return arrays


@pytest.fixture
def arrays() -> dict[str, np.ndarray]:
    return make_arrays()


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private built-in cache for the test."""
    path = tmp_path / "cache"
    monkeypatch.setenv("PTYCHOPINN_CACHE_DIR", str(path))
    return path

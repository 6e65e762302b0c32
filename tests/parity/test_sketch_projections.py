"""Sketch projections: the cached projection stream gives the numbers of the definition (one
seeded normal stream, drawn chunk by chunk), so baselines recorded before the cache still hold."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parity import bench, sketch


def projections_by_definition(arr: np.ndarray) -> np.ndarray:
    """p_k = sum_i r_ki x_i, r drawn afresh from the seeded stream in (K, chunk) blocks."""
    flat = np.asarray(arr).astype(np.complex128 if np.iscomplexobj(arr) else np.float64).ravel()
    rng = np.random.default_rng(sketch.PROJECTION_SEED)
    out = np.zeros(sketch.PROJECTIONS, dtype=flat.dtype)
    for start in range(0, flat.size, sketch.CHUNK):
        block = flat[start : start + sketch.CHUNK]
        block = np.where(np.isfinite(block), block, 0)
        out += rng.standard_normal((sketch.PROJECTIONS, block.size)) @ block
    return out


@pytest.fixture
def small_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache of two chunks, so that larger tensors continue the stream past it."""
    monkeypatch.setattr(sketch, "_CHUNK_CACHE", [])
    monkeypatch.setattr(sketch, "_CHUNK_CACHE_STATE", [])
    monkeypatch.setattr(sketch, "CACHE_LIMIT_BYTES", 2 * sketch.PROJECTIONS * sketch.CHUNK * 8)


@pytest.mark.usefixtures("small_cache")
@pytest.mark.parametrize(
    "size", [1, 7, sketch.CHUNK - 1, sketch.CHUNK, sketch.CHUNK + 1, 3 * sketch.CHUNK + 5]
)
def test_projections_equal_the_definition_across_chunks_and_past_the_cache(size: int) -> None:
    rng = np.random.default_rng(size)
    x = rng.standard_normal(size).astype(np.float32)
    x[::97] = np.nan
    assert np.array_equal(sketch.projections(x), projections_by_definition(x))
    # a second call reads the cache and still agrees
    assert np.array_equal(sketch.projections(x), projections_by_definition(x))


@settings(max_examples=25, deadline=None)
@given(
    size=st.integers(1, 2 * sketch.CHUNK + 3), seed=st.integers(0, 2**16), complex_=st.booleans()
)
def test_projections_of_any_tensor_equal_the_definition(
    size: int, seed: int, complex_: bool
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(size)
    if complex_:
        x = x + 1j * rng.standard_normal(size)
    assert np.array_equal(sketch.projections(x), projections_by_definition(x))


def test_stage_times_read_the_plain_progress_lines() -> None:
    stderr = "\n".join(
        [
            "2026-01-01T00:00:00Z parity: stage tensorflow: backend",
            "2026-01-01T00:00:05Z parity: ok tensorflow: backend (5.5 s)",
            "2026-01-01T00:00:07Z parity: error pytorch: training (12.0 s)",
            "a line of something else (3 s)",
        ]
    )
    assert bench.stage_times(stderr) == [("tensorflow: backend", 5.5), ("pytorch: training", 12.0)]

"""Inference inputs, batching and the stitched object's amplitude and phase."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.core.inference import (
    amplitude_phase,
    batch_slices,
    model_inputs,
    predict_in_batches,
)


@given(groups=st.integers(0, 300), batch_size=st.integers(1, 70))
def test_batches_cover_every_group_once_in_order(groups: int, batch_size: int) -> None:
    slices = batch_slices(groups, batch_size)
    covered = [i for part in slices for i in range(groups)[part]]
    assert covered == list(range(groups))
    assert all(len(range(groups)[part]) <= batch_size for part in slices)
    assert len(slices) == -(-groups // batch_size)


@pytest.mark.parametrize("bad", [0, -1, True, 2.0])
def test_batch_size_must_be_a_positive_integer(bad) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        batch_slices(10, bad)


def test_inputs_are_scaled_float32_and_group_counts_must_match() -> None:
    X = np.full((3, 4, 4, 1), 2.0)
    positions = np.zeros((3, 1, 2, 1))
    x, pos = model_inputs(X, positions, 0.5)
    assert x.dtype == np.float32 and pos.dtype == np.float32
    assert np.all(x == 1.0)
    with pytest.raises(ValueError, match="3 diffraction groups but 2 position groups"):
        model_inputs(X, positions[:2], 0.5)


def test_amplitude_and_phase_of_a_known_field() -> None:
    amp, phase = amplitude_phase(np.array([[3 + 4j, -2 + 0j]]))
    np.testing.assert_allclose(amp, [[5.0, 2.0]])
    np.testing.assert_allclose(phase, [[np.arctan2(4, 3), np.pi]], rtol=1e-6)
    assert amp.dtype == np.float32 and phase.dtype == np.float32


def test_batched_prediction_keeps_the_group_order_and_handles_no_groups() -> None:
    x = np.arange(5 * 2 * 2, dtype=np.float32).reshape(5, 2, 2, 1)
    positions = np.zeros((5, 1, 2, 1), np.float32)
    calls: list[int] = []

    def predict(xb: np.ndarray, pb: np.ndarray) -> np.ndarray:
        calls.append(len(xb))
        return (xb * 1j).astype(np.complex64)  # row i comes back as i's own values

    out = predict_in_batches(predict, x, positions, batch_slices(5, 2), 2)
    assert calls == [2, 2, 1]
    np.testing.assert_array_equal(out, x * 1j)
    empty = predict_in_batches(predict, x[:0], positions[:0], [], 2)
    assert empty.shape == (0, 2, 2, 1) and empty.dtype == np.complex64
